//! UTF-16 unit arithmetic on Rust strings: lengths, offsets and the minimal splice (SPEC §7.5).

/// Length of `s` in UTF-16 code units.
pub fn utf16_len(s: &str) -> usize {
    // ASCII is by far the most common case and is one unit per byte.
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().map(char::len_utf16).sum()
    }
}

/// A text edit in UTF-16 units: delete `delete` units at `index`, then insert `insert` there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splice {
    /// Position of the edit in UTF-16 units.
    pub index: usize,
    /// Number of UTF-16 units removed at `index`.
    pub delete: usize,
    /// Text inserted at `index`.
    pub insert: String,
}

/// The minimal splice turning `old` into `new` (common prefix and suffix kept, boundaries never
/// inside a surrogate pair), or `None` when the texts are equal.
pub fn minimal_splice(old: &str, new: &str) -> Option<Splice> {
    if old == new {
        return None;
    }
    // Work on characters: a character boundary is never inside a surrogate pair, which is the
    // adjustment SPEC §7.5 asks for.
    let prefix_bytes = common_prefix_bytes(old, new);
    let old_rest = &old[prefix_bytes..];
    let new_rest = &new[prefix_bytes..];
    let suffix_bytes = common_suffix_bytes(old_rest, new_rest);
    let deleted = &old_rest[..old_rest.len() - suffix_bytes];
    let inserted = &new_rest[..new_rest.len() - suffix_bytes];
    Some(Splice {
        index: utf16_len(&old[..prefix_bytes]),
        delete: utf16_len(deleted),
        insert: inserted.to_owned(),
    })
}

fn common_prefix_bytes(a: &str, b: &str) -> usize {
    let mut len = 0;
    for (x, y) in a.chars().zip(b.chars()) {
        if x != y {
            break;
        }
        len += x.len_utf8();
    }
    len
}

fn common_suffix_bytes(a: &str, b: &str) -> usize {
    let mut len = 0;
    for (x, y) in a.chars().rev().zip(b.chars().rev()) {
        if x != y {
            break;
        }
        len += x.len_utf8();
    }
    len
}

/// Converts a UTF-16 offset into a byte offset of `s`. Returns `None` when the offset is past
/// the end or falls inside a surrogate pair.
pub fn byte_offset(s: &str, utf16_offset: usize) -> Option<usize> {
    let mut units = 0;
    for (byte, ch) in s.char_indices() {
        if units == utf16_offset {
            return Some(byte);
        }
        units += ch.len_utf16();
        if units > utf16_offset {
            return None;
        }
    }
    (units == utf16_offset).then_some(s.len())
}

/// Applies a splice to `s`; `None` when the range is out of bounds or splits a surrogate pair.
pub fn apply_splice(s: &str, splice: &Splice) -> Option<String> {
    let start = byte_offset(s, splice.index)?;
    let end = start + byte_offset(&s[start..], splice.delete)?;
    let mut out = String::with_capacity(s.len() - (end - start) + splice.insert.len());
    out.push_str(&s[..start]);
    out.push_str(&splice.insert);
    out.push_str(&s[end..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_count_utf16_units() {
        assert_eq!(utf16_len(""), 0);
        assert_eq!(utf16_len("abc"), 3);
        assert_eq!(utf16_len("é"), 1);
        assert_eq!(utf16_len("😀"), 2);
    }

    #[test]
    fn minimal_splice_keeps_prefix_and_suffix() {
        assert_eq!(minimal_splice("same", "same"), None);
        let s = minimal_splice("Hello, World!", "Hello, SDS!").unwrap();
        assert_eq!(
            s,
            Splice {
                index: 7,
                delete: 5,
                insert: "SDS".into()
            }
        );
        let s = minimal_splice("abc", "abXc").unwrap();
        assert_eq!(
            s,
            Splice {
                index: 2,
                delete: 0,
                insert: "X".into()
            }
        );
        let s = minimal_splice("aaa", "aa").unwrap();
        assert_eq!(
            s,
            Splice {
                index: 2,
                delete: 1,
                insert: String::new()
            }
        );
    }

    #[test]
    fn minimal_splice_never_splits_surrogate_pairs() {
        // U+1F600 and U+1F601 share their high surrogate; a unit-wise diff would keep it.
        let s = minimal_splice("x😀y", "x😁y").unwrap();
        assert_eq!(
            s,
            Splice {
                index: 1,
                delete: 2,
                insert: "😁".into()
            }
        );
        assert_eq!(apply_splice("x😀y", &s).unwrap(), "x😁y");
    }

    #[test]
    fn offsets_inside_surrogate_pairs_are_rejected() {
        assert_eq!(byte_offset("a😀b", 1), Some(1));
        assert_eq!(byte_offset("a😀b", 2), None);
        assert_eq!(byte_offset("a😀b", 3), Some(5));
        assert_eq!(byte_offset("a😀b", 4), Some(6));
        assert_eq!(byte_offset("a😀b", 5), None);
    }
}
