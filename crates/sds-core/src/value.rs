//! Value kinds, blob references and the results of reading a value (SPEC §7).

use sha2::{Digest, Sha256};
use std::fmt;

/// The stored `ValueKind` of an item (SPEC §7.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// No value.
    None,
    /// Inline collaborative text (`literalValue`).
    Literal,
    /// Inline bytes (`binaryValue`), at most 2048.
    Binary,
    /// A long text kept as a blob and referenced by `ValueRef`.
    LiteralReference,
    /// Long bytes kept as a blob and referenced by `ValueRef`.
    BinaryReference,
    /// A kind string sds does not know (including `pending`): reads as none and is left as is.
    Unknown(String),
}

impl ValueKind {
    /// Parses the stored string; unknown strings are kept verbatim.
    pub fn parse(s: &str) -> ValueKind {
        match s {
            "none" => ValueKind::None,
            "literal" => ValueKind::Literal,
            "binary" => ValueKind::Binary,
            "literal-reference" => ValueKind::LiteralReference,
            "binary-reference" => ValueKind::BinaryReference,
            other => ValueKind::Unknown(other.to_owned()),
        }
    }

    /// The string stored in the document.
    pub fn as_str(&self) -> &str {
        match self {
            ValueKind::None => "none",
            ValueKind::Literal => "literal",
            ValueKind::Binary => "binary",
            ValueKind::LiteralReference => "literal-reference",
            ValueKind::BinaryReference => "binary-reference",
            ValueKind::Unknown(s) => s,
        }
    }

    /// The kind as readers see it: unknown kinds read as `none` (SPEC §7.1).
    pub fn effective(&self) -> &ValueKind {
        match self {
            ValueKind::Unknown(_) => &ValueKind::None,
            other => other,
        }
    }

    /// `literal` or `literal-reference`.
    pub fn is_literal(&self) -> bool {
        matches!(self, ValueKind::Literal | ValueKind::LiteralReference)
    }

    /// `binary` or `binary-reference`.
    pub fn is_binary(&self) -> bool {
        matches!(self, ValueKind::Binary | ValueKind::BinaryReference)
    }

    /// One of the two reference kinds.
    pub fn is_reference(&self) -> bool {
        matches!(
            self,
            ValueKind::LiteralReference | ValueKind::BinaryReference
        )
    }
}

impl fmt::Display for ValueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reference to a blob: its hash and its size in bytes (`ValueRef`, SPEC §7.6).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ValueRef {
    /// 64 lowercase hex characters of the SHA-256 digest (or an opaque foreign hash string).
    pub hash: String,
    /// Blob length in bytes.
    pub size: u64,
}

/// A value to write (SPEC §7.2). The storage kind is chosen automatically by size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueInput {
    /// Remove the value (`ValueKind none`).
    None,
    /// A text value.
    Text(String),
    /// A byte value.
    Bytes(Vec<u8>),
}

impl From<&str> for ValueInput {
    fn from(s: &str) -> Self {
        ValueInput::Text(s.to_owned())
    }
}

impl From<String> for ValueInput {
    fn from(s: String) -> Self {
        ValueInput::Text(s)
    }
}

impl From<Vec<u8>> for ValueInput {
    fn from(b: Vec<u8>) -> Self {
        ValueInput::Bytes(b)
    }
}

impl From<&[u8]> for ValueInput {
    fn from(b: &[u8]) -> Self {
        ValueInput::Bytes(b.to_vec())
    }
}

/// The result of reading a value (SPEC §7.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// No value (`none` or an unknown kind).
    None,
    /// Literal text (inline, or a `literal-reference` whose blob is available).
    Text(String),
    /// Bytes (inline, or a `binary-reference` whose blob is available).
    Bytes(Vec<u8>),
    /// A reference whose blob is not available (yet); never silently empty.
    Pending {
        /// The reference kind.
        kind: ValueKind,
        /// The referenced hash, when the `ValueRef` is present.
        hash: Option<String>,
        /// The referenced size, when the `ValueRef` is present.
        size: Option<u64>,
    },
}

impl Value {
    /// Whether this is a pending reference.
    pub fn is_pending(&self) -> bool {
        matches!(self, Value::Pending { .. })
    }

    /// The text, if this is a text value.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes, if this is a byte value.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

/// The inline value of an item, as the CLI and MCP listings show it (SPEC §4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InlineValue {
    /// Inline literal text.
    Text(String),
    /// Inline bytes.
    Bytes(Vec<u8>),
}

/// The blob hash of SPEC §7.6: SHA-256 as 64 lowercase hex characters.
pub fn blob_hash(bytes: &[u8]) -> String {
    hex_lower(&Sha256::digest(bytes))
}

/// Whether `hash` has the SHA-256 shape that may travel on the wire (64 lowercase hex characters).
pub fn is_sha256_hex(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Converts a SHA-256 hex hash to its 32 raw bytes; `None` for any other shape (SPEC §12.4).
pub fn hash_to_bytes(hash: &str) -> Option<[u8; 32]> {
    if !is_sha256_hex(hash) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hash.as_bytes().chunks_exact(2).enumerate() {
        out[i] = (hex_digit(pair[0]) << 4) | hex_digit(pair[1]);
    }
    Some(out)
}

/// Converts 32 raw digest bytes to the 64-character lowercase hex form.
pub fn hash_from_bytes(bytes: &[u8; 32]) -> String {
    hex_lower(bytes)
}

fn hex_digit(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        _ => b - b'a' + 10,
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_abc_matches_the_standard_vector() {
        assert_eq!(
            blob_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hashes_convert_between_hex_and_bytes() {
        let hex = blob_hash(b"abc");
        let raw = hash_to_bytes(&hex).unwrap();
        assert_eq!(hash_from_bytes(&raw), hex);
        assert_eq!(hash_to_bytes("fnv1a-0011aabb-3"), None);
        assert_eq!(hash_to_bytes(&hex.to_uppercase()), None);
    }

    #[test]
    fn unknown_value_kinds_are_kept_and_read_as_none() {
        let k = ValueKind::parse("pending");
        assert_eq!(k.as_str(), "pending");
        assert_eq!(k.effective(), &ValueKind::None);
    }
}
