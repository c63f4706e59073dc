//! Limits and constants of SPEC §1.6.

use std::time::Duration;

/// Maximum label length in UTF-16 units.
pub const MAX_LABEL_LENGTH: usize = 1024;
/// Maximum MIME type length in UTF-16 units (the minimum is 1).
pub const MAX_MIME_TYPE_LENGTH: usize = 256;
/// Maximum Info key length in UTF-16 units (the minimum is 1).
pub const MAX_INFO_KEY_LENGTH: usize = 1024;
/// Maximum size of one Info value as compact UTF-8 JSON, in bytes.
pub const MAX_INFO_VALUE_SIZE: usize = 262_144;
/// Maximum nesting depth of arrays and objects in one Info value. SPEC §1.5 sets no depth
/// limit; sds sets one because deeper values cannot be written, read or exported without
/// risking stack exhaustion in the CRDT encoders and JSON tools.
pub const MAX_INFO_VALUE_DEPTH: usize = 64;
/// Generated ordering keys longer than this trigger a rebalance of the container.
pub const MAX_ORDER_KEY_LENGTH: usize = 200;
/// Default store option: strings longer than this many UTF-16 units become `literal-reference`.
pub const DEFAULT_LITERAL_SIZE_LIMIT: usize = 131_072;
/// Byte arrays longer than this become `binary-reference`.
pub const BINARY_SIZE_LIMIT: usize = 2048;
/// The MIME type an item has when none is given; stored as the empty string.
pub const DEFAULT_MIME_TYPE: &str = "text/plain";
/// Default time entries stay in the Trash before automatic purging (30 days).
pub const DEFAULT_TRASH_TTL: Duration = Duration::from_millis(2_592_000_000);
/// The reserved Info key holding the time an entry was deleted (ms since the Unix epoch).
pub const TRASHED_AT_KEY: &str = "_trashedAt";
