//! The JS SDS wire protocol (SPEC §12): frames, hashes on the wire, chunking and reassembly of
//! large values, presence messages and URLs. Everything here is plain data in, data out; the
//! engine, the WebSocket provider and the relay server share it.

use sds_core::{blob_hash, hash_from_bytes, hash_to_bytes};
use serde_json::{Map, Value as JsonValue};
use std::collections::HashMap;

/// Frame type bytes (SPEC §12.3).
pub mod frame_type {
    /// A CRDT patch.
    pub const PATCH: u8 = 0x01;
    /// A whole blob: hash ‖ bytes.
    pub const VALUE: u8 = 0x02;
    /// A request for a blob by hash.
    pub const REQ_VALUE: u8 = 0x03;
    /// A presence state (UTF-8 JSON).
    pub const PRESENCE: u8 = 0x04;
    /// One chunk of a large blob.
    pub const VALUE_CHUNK: u8 = 0x05;
    /// A sync request carrying the sender's cursor.
    pub const SYNC_REQ: u8 = 0x06;
    /// A peer left (sds extension; JS peers ignore it).
    pub const PRESENCE_LEAVE: u8 = 0x07;
}

/// Blobs larger than this travel as chunks of exactly this size (the last one shorter).
pub const MAX_CHUNK_SIZE: usize = 1_048_576;

/// Default limit of a blob a receiver reassembles (SPEC §12.5).
pub const DEFAULT_MAX_VALUE_SIZE: usize = 256 * 1024 * 1024;

/// Reassembly state of a hash is dropped after this long without a new chunk (ms).
pub const REASSEMBLY_IDLE_MS: u64 = 60_000;

/// One message of the `/ws` protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `0x01`: a CRDT patch.
    Patch(Vec<u8>),
    /// `0x02`: a whole blob with its SHA-256 hash.
    Value {
        /// SHA-256 digest of `bytes`.
        hash: [u8; 32],
        /// The blob.
        bytes: Vec<u8>,
    },
    /// `0x03`: a request for the blob with this hash.
    RequestValue([u8; 32]),
    /// `0x04`: a presence state (a JSON object with a string `PeerId`).
    Presence(Map<String, JsonValue>),
    /// `0x05`: one chunk of a large blob.
    ValueChunk {
        /// SHA-256 digest of the whole blob.
        hash: [u8; 32],
        /// Chunk index, `0..count`.
        index: u32,
        /// Number of chunks.
        count: u32,
        /// The chunk's bytes.
        bytes: Vec<u8>,
    },
    /// `0x06`: the sender's cursor (may be empty).
    SyncRequest(Vec<u8>),
    /// `0x07`: a peer left (sds extension).
    PresenceLeave {
        /// The peer that left.
        peer_id: String,
    },
}

impl Frame {
    /// The frame as the bytes of one binary WebSocket message.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Frame::Patch(patch) => prefixed(frame_type::PATCH, &[patch]),
            Frame::Value { hash, bytes } => prefixed(frame_type::VALUE, &[hash, bytes]),
            Frame::RequestValue(hash) => prefixed(frame_type::REQ_VALUE, &[hash]),
            Frame::Presence(state) => {
                let json = serde_json::to_vec(state).unwrap_or_default();
                prefixed(frame_type::PRESENCE, &[&json])
            }
            Frame::ValueChunk {
                hash,
                index,
                count,
                bytes,
            } => prefixed(
                frame_type::VALUE_CHUNK,
                &[hash, &index.to_be_bytes(), &count.to_be_bytes(), bytes],
            ),
            Frame::SyncRequest(cursor) => prefixed(frame_type::SYNC_REQ, &[cursor]),
            Frame::PresenceLeave { peer_id } => {
                let json = serde_json::json!({ "PeerId": peer_id }).to_string();
                prefixed(frame_type::PRESENCE_LEAVE, &[json.as_bytes()])
            }
        }
    }

    /// Decodes one binary message; `None` for everything a receiver must ignore (SPEC §12.3):
    /// empty frames, unknown types, short VALUE / VALUE_CHUNK payloads, REQ_VALUE payloads not
    /// exactly 32 bytes, presence that is not a JSON object with a string `PeerId`.
    pub fn decode(message: &[u8]) -> Option<Frame> {
        let (&kind, payload) = message.split_first()?;
        match kind {
            frame_type::PATCH => Some(Frame::Patch(payload.to_vec())),
            frame_type::VALUE => {
                let (hash, bytes) = split_hash(payload)?;
                Some(Frame::Value {
                    hash,
                    bytes: bytes.to_vec(),
                })
            }
            frame_type::REQ_VALUE => Some(Frame::RequestValue(payload.try_into().ok()?)),
            frame_type::PRESENCE => Some(Frame::Presence(presence_object(payload)?)),
            frame_type::VALUE_CHUNK => {
                let (hash, rest) = split_hash(payload)?;
                let index = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
                let count = u32::from_be_bytes(rest.get(4..8)?.try_into().ok()?);
                Some(Frame::ValueChunk {
                    hash,
                    index,
                    count,
                    bytes: rest[8..].to_vec(),
                })
            }
            frame_type::SYNC_REQ => Some(Frame::SyncRequest(payload.to_vec())),
            frame_type::PRESENCE_LEAVE => {
                let object = presence_object(payload)?;
                let peer_id = object.get("PeerId")?.as_str()?.to_owned();
                Some(Frame::PresenceLeave { peer_id })
            }
            _ => None,
        }
    }

    /// The frames that carry a blob: one VALUE for at most 1 MiB, VALUE_CHUNKs above
    /// (SPEC §12.5). `None` when `hash` is not SHA-256-shaped (such hashes never travel).
    pub fn for_blob(hash: &str, bytes: &[u8]) -> Option<Vec<Frame>> {
        let digest = hash_to_bytes(hash)?;
        if bytes.len() <= MAX_CHUNK_SIZE {
            return Some(vec![Frame::Value {
                hash: digest,
                bytes: bytes.to_vec(),
            }]);
        }
        let count = bytes.len().div_ceil(MAX_CHUNK_SIZE) as u32;
        Some(
            bytes
                .chunks(MAX_CHUNK_SIZE)
                .enumerate()
                .map(|(index, chunk)| Frame::ValueChunk {
                    hash: digest,
                    index: index as u32,
                    count,
                    bytes: chunk.to_vec(),
                })
                .collect(),
        )
    }
}

fn prefixed(kind: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
    out.push(kind);
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

fn split_hash(payload: &[u8]) -> Option<([u8; 32], &[u8])> {
    let hash: [u8; 32] = payload.get(..32)?.try_into().ok()?;
    Some((hash, &payload[32..]))
}

fn presence_object(payload: &[u8]) -> Option<Map<String, JsonValue>> {
    match serde_json::from_slice::<JsonValue>(payload).ok()? {
        JsonValue::Object(map) if map.get("PeerId").is_some_and(JsonValue::is_string) => Some(map),
        _ => None,
    }
}

/// A blob that arrived whole and whose bytes match its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedValue {
    /// 64 lowercase hex characters.
    pub hash: String,
    /// The blob.
    pub bytes: Vec<u8>,
}

/// Verifies a VALUE frame's content (SPEC §7.7): `None` when the bytes do not match the hash.
pub fn verify_value(hash: &[u8; 32], bytes: Vec<u8>) -> Option<VerifiedValue> {
    let hex = hash_from_bytes(hash);
    (blob_hash(&bytes) == hex).then_some(VerifiedValue { hash: hex, bytes })
}

struct Partial {
    count: u32,
    chunks: Vec<Option<Vec<u8>>>,
    received: u32,
    buffered: usize,
    last_chunk_ms: u64,
}

/// Reassembles VALUE_CHUNK frames per hash (SPEC §12.5): chunks in any order and duplicated;
/// inconsistent counts, out-of-range indices, idle reassemblies (60 s) and blobs beyond the
/// size limit are dropped; a complete blob is verified before it is delivered.
pub struct Reassembler {
    partial: HashMap<[u8; 32], Partial>,
    max_value_size: usize,
}

impl std::fmt::Debug for Reassembler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reassembler")
            .field("in_progress", &self.partial.len())
            .finish()
    }
}

impl Default for Reassembler {
    fn default() -> Self {
        Reassembler::new(DEFAULT_MAX_VALUE_SIZE)
    }
}

impl Reassembler {
    /// A reassembler accepting blobs up to `max_value_size` bytes.
    pub fn new(max_value_size: usize) -> Self {
        Reassembler {
            partial: HashMap::new(),
            max_value_size,
        }
    }

    /// Adds one chunk received at `now_ms`; returns the verified blob once complete.
    pub fn add(
        &mut self,
        hash: [u8; 32],
        index: u32,
        count: u32,
        bytes: Vec<u8>,
        now_ms: u64,
    ) -> Option<VerifiedValue> {
        self.expire(now_ms);
        if count == 0 || index >= count {
            self.partial.remove(&hash);
            return None;
        }
        let too_large =
            (count as u64).saturating_sub(1) * MAX_CHUNK_SIZE as u64 > self.max_value_size as u64;
        if too_large {
            self.partial.remove(&hash);
            return None;
        }
        let partial = self.partial.entry(hash).or_insert_with(|| Partial {
            count,
            chunks: vec![None; count as usize],
            received: 0,
            buffered: 0,
            last_chunk_ms: now_ms,
        });
        if partial.count != count {
            self.partial.remove(&hash);
            return None;
        }
        partial.last_chunk_ms = now_ms;
        let slot = &mut partial.chunks[index as usize];
        if slot.is_none() {
            partial.buffered += bytes.len();
            partial.received += 1;
            *slot = Some(bytes);
        }
        if partial.buffered > self.max_value_size {
            self.partial.remove(&hash);
            return None;
        }
        if partial.received < partial.count {
            return None;
        }
        let partial = self.partial.remove(&hash)?;
        let mut blob = Vec::with_capacity(partial.buffered);
        for chunk in partial.chunks.into_iter().flatten() {
            blob.extend_from_slice(&chunk);
        }
        verify_value(&hash, blob)
    }

    /// Drops reassemblies that received no chunk for 60 s.
    pub fn expire(&mut self, now_ms: u64) {
        self.partial
            .retain(|_, p| now_ms.saturating_sub(p.last_chunk_ms) < REASSEMBLY_IDLE_MS);
    }

    /// Drops everything (the connection closed).
    pub fn clear(&mut self) {
        self.partial.clear();
    }

    /// Number of blobs being reassembled.
    pub fn in_progress(&self) -> usize {
        self.partial.len()
    }

    /// Whether a reassembly for `hash` is under way.
    pub fn is_receiving(&self, hash: &[u8; 32]) -> bool {
        self.partial.contains_key(hash)
    }
}

/// Percent-encodes a URL component: every byte outside `A-Z a-z 0-9 - . _ ~` as `%XX`
/// (SPEC §12.1).
pub fn percent_encode(component: &str) -> String {
    let mut out = String::with_capacity(component.len());
    for byte in component.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (invalid escapes are kept verbatim); `None` when the result is not
/// UTF-8.
pub fn percent_decode(component: &str) -> Option<String> {
    let bytes = component.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(text) = std::str::from_utf8(hex)
            && let Ok(value) = u8::from_str_radix(text, 16)
        {
            out.push(value);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Whether a server base URL is acceptable (`^wss?://`).
pub fn is_server_url(url: &str) -> bool {
    url.starts_with("ws://") || url.starts_with("wss://")
}

/// The sync socket URL `<base>/ws/<storeId>?token=<token>` (SPEC §12.1).
pub fn sync_url(base: &str, store_id: &str, token: &str) -> String {
    format!(
        "{}/ws/{}?token={}",
        base.trim_end_matches('/'),
        percent_encode(store_id),
        percent_encode(token)
    )
}

/// The token endpoint `<http base>/api/token` for a `ws://` or `wss://` base URL.
pub fn token_url(base: &str) -> String {
    let http = if let Some(rest) = base.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = base.strip_prefix("ws://") {
        format!("http://{rest}")
    } else {
        base.to_owned()
    };
    format!("{}/api/token", http.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_the_documented_bytes() {
        assert_eq!(
            Frame::Patch(vec![0xaa, 0xbb]).encode(),
            vec![0x01, 0xaa, 0xbb]
        );
        assert_eq!(Frame::SyncRequest(vec![]).encode(), vec![0x06]);
        let hash = [7u8; 32];
        let chunk = Frame::ValueChunk {
            hash,
            index: 2,
            count: 3,
            bytes: vec![9],
        }
        .encode();
        let mut expected = vec![0x05];
        expected.extend_from_slice(&hash);
        expected.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 3, 9]);
        assert_eq!(chunk, expected);
        let leave = Frame::PresenceLeave {
            peer_id: "p".into(),
        }
        .encode();
        assert_eq!(leave[0], 0x07);
        assert_eq!(&leave[1..], br#"{"PeerId":"p"}"#);
    }

    #[test]
    fn every_frame_round_trips() {
        let mut presence = Map::new();
        presence.insert("PeerId".into(), "me".into());
        presence.insert("custom".into(), serde_json::json!({"x": 1}));
        for frame in [
            Frame::Patch(vec![1, 2, 3]),
            Frame::Patch(vec![]),
            Frame::Value {
                hash: [1; 32],
                bytes: vec![5; 10],
            },
            Frame::RequestValue([2; 32]),
            Frame::Presence(presence),
            Frame::ValueChunk {
                hash: [3; 32],
                index: 0,
                count: 1,
                bytes: vec![],
            },
            Frame::SyncRequest(vec![4, 5]),
            Frame::PresenceLeave {
                peer_id: "gone".into(),
            },
        ] {
            assert_eq!(Frame::decode(&frame.encode()), Some(frame));
        }
    }

    #[test]
    fn receivers_ignore_what_they_must() {
        assert_eq!(Frame::decode(&[]), None);
        assert_eq!(Frame::decode(&[0x09, 1, 2]), None);
        assert_eq!(
            Frame::decode(&[0x02; 32]),
            None,
            "VALUE shorter than 32 bytes"
        );
        let mut chunk = vec![0x05];
        chunk.extend_from_slice(&[0; 39]);
        assert_eq!(
            Frame::decode(&chunk),
            None,
            "VALUE_CHUNK shorter than 40 bytes"
        );
        assert_eq!(Frame::decode(&[0x03; 32]), None, "REQ_VALUE of 31 bytes");
        assert_eq!(Frame::decode(&[0x03; 34]), None, "REQ_VALUE of 33 bytes");
        assert_eq!(Frame::decode(b"\x04{\"PeerId\":5}"), None);
        assert_eq!(Frame::decode(b"\x04[1]"), None);
        assert_eq!(Frame::decode(b"\x04not json"), None);
    }

    #[test]
    fn blobs_of_one_mebibyte_travel_whole_and_larger_ones_in_chunks() {
        let one = vec![1u8; MAX_CHUNK_SIZE];
        let frames = Frame::for_blob(&blob_hash(&one), &one).unwrap();
        assert!(matches!(frames.as_slice(), [Frame::Value { .. }]));
        let more = vec![2u8; MAX_CHUNK_SIZE + 1];
        let frames = Frame::for_blob(&blob_hash(&more), &more).unwrap();
        assert_eq!(frames.len(), 2);
        assert!(
            matches!(&frames[1], Frame::ValueChunk { index: 1, count: 2, bytes, .. } if bytes.len() == 1)
        );
        assert!(Frame::for_blob("fnv1a-00-1", b"x").is_none());
    }

    #[test]
    fn chunks_reassemble_in_any_order_with_duplicates() {
        let blob: Vec<u8> = (0..(MAX_CHUNK_SIZE * 2 + 10))
            .map(|i| (i % 251) as u8)
            .collect();
        let frames = Frame::for_blob(&blob_hash(&blob), &blob).unwrap();
        let mut reassembler = Reassembler::default();
        let mut delivered = None;
        for i in [2usize, 0, 0, 1] {
            let Frame::ValueChunk {
                hash,
                index,
                count,
                bytes,
            } = frames[i].clone()
            else {
                panic!()
            };
            if let Some(v) = reassembler.add(hash, index, count, bytes, 0) {
                delivered = Some(v);
            }
        }
        assert_eq!(delivered.unwrap().bytes, blob);
        assert_eq!(reassembler.in_progress(), 0);
    }

    #[test]
    fn bad_reassemblies_are_dropped() {
        let mut r = Reassembler::new(3 * MAX_CHUNK_SIZE);
        let h = [9u8; 32];
        assert!(r.add(h, 0, 2, vec![1], 0).is_none());
        assert!(
            r.add(h, 1, 3, vec![1], 0).is_none(),
            "inconsistent count drops the reassembly"
        );
        assert_eq!(r.in_progress(), 0);
        assert!(r.add(h, 5, 3, vec![1], 0).is_none(), "index out of range");
        assert!(r.add(h, 0, 0, vec![1], 0).is_none(), "zero count");
        assert!(
            r.add(h, 0, 100, vec![1], 0).is_none(),
            "larger than the limit"
        );
        assert_eq!(r.in_progress(), 0);
        r.add(h, 0, 2, vec![1], 0);
        r.expire(REASSEMBLY_IDLE_MS);
        assert_eq!(r.in_progress(), 0, "idle reassemblies expire");
        // A complete blob whose content does not match its hash is discarded.
        r.add(h, 0, 2, vec![1], 0);
        assert!(r.add(h, 1, 2, vec![2], 0).is_none());
    }

    #[test]
    fn urls_are_built_and_encoded() {
        assert_eq!(
            sync_url("ws://h:1/", "a b/c", "t+k"),
            "ws://h:1/ws/a%20b%2Fc?token=t%2Bk"
        );
        assert_eq!(
            token_url("wss://example.org//"),
            "https://example.org/api/token"
        );
        assert_eq!(
            token_url("ws://127.0.0.1:3000"),
            "http://127.0.0.1:3000/api/token"
        );
        assert_eq!(percent_decode("a%20b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(percent_decode("100%").as_deref(), Some("100%"));
        assert!(is_server_url("wss://x") && !is_server_url("http://x"));
    }
}
