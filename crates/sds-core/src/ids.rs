//! Entry ids, the well-known items and their aliases (SPEC §1.2, §1.3).

use std::cmp::Ordering;

/// Id of the Root item.
pub const ROOT_ID: &str = "00000000-0000-4000-8000-000000000000";
/// Id of the Trash item.
pub const TRASH_ID: &str = "00000000-0000-4000-8000-000000000001";
/// Id of the LostAndFound item.
pub const LOST_AND_FOUND_ID: &str = "00000000-0000-4000-8000-000000000002";

/// Whether `id` is one of the three well-known items.
pub fn is_well_known(id: &str) -> bool {
    id == ROOT_ID || id == TRASH_ID || id == LOST_AND_FOUND_ID
}

/// A fresh random (version 4) UUID in lowercase hyphenated form, as new entries get.
pub fn new_entry_id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

/// Generates entry ids: random version-4 UUIDs, or a reproducible sequence of UUIDs of the
/// same form when seeded (see `StoreOptions::replica_seed`).
#[derive(Debug, Clone)]
pub(crate) struct IdGenerator {
    state: Option<u64>,
}

impl IdGenerator {
    pub(crate) fn new(seed: Option<u64>) -> Self {
        IdGenerator { state: seed }
    }

    pub(crate) fn next_id(&mut self) -> String {
        let Some(state) = &mut self.state else {
            return new_entry_id();
        };
        let mut bytes = [0u8; 16];
        for chunk in bytes.chunks_mut(8) {
            // SplitMix64: a tiny, well-distributed generator; quality only needs to avoid
            // collisions within one test.
            *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = *state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .hyphenated()
            .to_string()
    }
}

/// Resolves the aliases `root`, `trash`, `lost-and-found` and `lostandfound`
/// (case-insensitive) to the well-known ids; every other string is returned unchanged.
pub fn resolve_alias(id: &str) -> &str {
    if id.eq_ignore_ascii_case("root") {
        ROOT_ID
    } else if id.eq_ignore_ascii_case("trash") {
        TRASH_ID
    } else if id.eq_ignore_ascii_case("lost-and-found") || id.eq_ignore_ascii_case("lostandfound") {
        LOST_AND_FOUND_ID
    } else {
        id
    }
}

/// Compares two strings by their UTF-16 code unit sequences, which is how ids and ordering keys
/// compare in JS SDS (SPEC §1.3, §6.3).
///
/// UTF-8 byte order equals code point order, and UTF-16 order differs from it only when a
/// supplementary character (a surrogate pair, units `D800..DFFF`) meets a BMP character in
/// `E000..FFFF`. So the fast byte comparison is exact except at that one kind of mismatch.
pub fn cmp_utf16(a: &str, b: &str) -> Ordering {
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let Some(pos) = ab.iter().zip(bb).position(|(x, y)| x != y) else {
        return ab.len().cmp(&bb.len());
    };
    if ab[pos] < 0xEE && bb[pos] < 0xEE {
        // Both differing characters are below U+E000 (or are continuation bytes of characters
        // that share their lead byte), so code point order is UTF-16 order.
        return ab[pos].cmp(&bb[pos]);
    }
    // Find the start of the character containing `pos` (same prefix in both strings).
    let mut start = pos;
    while start > 0 && !a.is_char_boundary(start) {
        start -= 1;
    }
    a[start..].encode_utf16().cmp(b[start..].encode_utf16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_resolve_case_insensitively() {
        assert_eq!(resolve_alias("ROOT"), ROOT_ID);
        assert_eq!(resolve_alias("Trash"), TRASH_ID);
        assert_eq!(resolve_alias("Lost-And-Found"), LOST_AND_FOUND_ID);
        assert_eq!(resolve_alias("lostandfound"), LOST_AND_FOUND_ID);
        assert_eq!(resolve_alias("other"), "other");
    }

    #[test]
    fn new_ids_are_lowercase_v4_uuids() {
        let id = new_entry_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(id, id.to_lowercase());
    }

    #[test]
    fn seeded_ids_repeat_and_look_like_v4_uuids() {
        let mut a = IdGenerator::new(Some(7));
        let mut b = IdGenerator::new(Some(7));
        let (x, y) = (a.next_id(), b.next_id());
        assert_eq!(x, y);
        assert_ne!(a.next_id(), x);
        assert_eq!(&x[14..15], "4");
        assert!(matches!(&x[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn utf16_order_differs_from_code_point_order_for_supplementary_characters() {
        // U+1F600 is D83D DE00 in UTF-16, which sorts before U+FF21 (FF21) although its code
        // point is larger.
        assert_eq!(cmp_utf16("\u{1F600}", "\u{FF21}"), Ordering::Less);
        assert_eq!(cmp_utf16("a\u{1F600}", "a\u{FF21}"), Ordering::Less);
        assert_eq!(cmp_utf16("a0", "a1"), Ordering::Less);
        assert_eq!(cmp_utf16("a0", "a0"), Ordering::Equal);
        assert_eq!(cmp_utf16("a0", "a0V"), Ordering::Less);
        assert_eq!(cmp_utf16("é", "z"), Ordering::Greater);
        for (x, y) in [
            ("\u{E000}", "\u{10000}"),
            ("ab", "a\u{FFFF}"),
            ("\u{D7FF}", "\u{E000}"),
        ] {
            assert_eq!(
                cmp_utf16(x, y),
                x.encode_utf16().cmp(y.encode_utf16()),
                "{x:?} {y:?}"
            );
        }
    }
}
