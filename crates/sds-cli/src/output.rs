//! Results, errors and exit codes (SPEC §15.6, §15.7): results go to stdout as text or as
//! pretty-printed JSON, errors go to stderr as `sds: error: <message>` or as one JSON line.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value as JsonValue;
use std::fmt;
use std::io::Write;

/// Exit code 0: success, help, version.
pub const EXIT_OK: u8 = 0;
/// Exit code 1: unexpected failures and store errors not mapped elsewhere.
pub const EXIT_GENERAL: u8 = 1;
/// Exit code 2: invalid or missing options or values, invalid JSON, backend mismatch.
pub const EXIT_USAGE: u8 = 2;
/// Exit code 3: store, entry, container, target, input file or script file not found.
pub const EXIT_NOT_FOUND: u8 = 3;
/// Exit code 4: missing admin token, HTTP 401, close code 4001.
pub const EXIT_UNAUTHORIZED: u8 = 4;
/// Exit code 5: connection or HTTP transport failure.
pub const EXIT_NETWORK: u8 = 5;
/// Exit code 6: refused move, deleting a well-known item, restore or purge outside the Trash,
/// HTTP 403, close code 4003.
pub const EXIT_FORBIDDEN: u8 = 6;

/// The output format chosen with `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Human-readable lines.
    #[default]
    Text,
    /// Pretty-printed JSON.
    Json,
}

impl Format {
    /// Parses `--format` case-insensitively.
    pub fn parse(raw: &str) -> Result<Format, CliError> {
        match raw.to_ascii_lowercase().as_str() {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            _ => Err(CliError::usage(format!(
                "'--format' accepts 'text' or 'json' — got '{raw}'"
            ))),
        }
    }
}

/// A failed command: the message and the exit code of SPEC §15.7.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// The exit code.
    pub code: u8,
    /// The message, without the `sds: error: ` prefix.
    pub message: String,
    /// For errors of the argument parser: the usage help printed after the message at the
    /// top level.
    pub parser_help: Option<String>,
}

impl CliError {
    /// An error with an exit code.
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
            parser_help: None,
        }
    }

    /// Exit code 1.
    pub fn general(message: impl Into<String>) -> Self {
        CliError::new(EXIT_GENERAL, message)
    }

    /// Exit code 2.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::new(EXIT_USAGE, message)
    }

    /// Exit code 3.
    pub fn not_found(message: impl Into<String>) -> Self {
        CliError::new(EXIT_NOT_FOUND, message)
    }

    /// Exit code 4.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        CliError::new(EXIT_UNAUTHORIZED, message)
    }

    /// Exit code 5.
    pub fn network(message: impl Into<String>) -> Self {
        CliError::new(EXIT_NETWORK, message)
    }

    /// Exit code 6.
    pub fn forbidden(message: impl Into<String>) -> Self {
        CliError::new(EXIT_FORBIDDEN, message)
    }

    /// An error found by the argument parser (exit code 2), with the help to show.
    pub fn parser(message: impl Into<String>, help: String) -> Self {
        CliError {
            code: EXIT_USAGE,
            message: message.into(),
            parser_help: Some(help),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl From<sds_core::Error> for CliError {
    /// Store errors that a command does not map itself get the code of their kind.
    fn from(error: sds_core::Error) -> Self {
        use sds_core::ErrorCode as C;
        let code = match error.code() {
            C::InvalidArgument | C::InvalidData => EXIT_USAGE,
            C::NotFound => EXIT_NOT_FOUND,
            C::MoveWouldCycle | C::DeleteNotPermitted | C::PurgeNotInTrash => EXIT_FORBIDDEN,
            _ => EXIT_GENERAL,
        };
        CliError::new(code, error.message())
    }
}

impl From<sds_sync::SyncError> for CliError {
    fn from(error: sds_sync::SyncError) -> Self {
        match error {
            sds_sync::SyncError::Store(e) => e.into(),
            other => CliError::general(other.to_string()),
        }
    }
}

/// What a successful command prints.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Text lines (each followed by a newline) and the JSON shown with `--format json`.
    Result {
        /// The lines of the text format.
        lines: Vec<String>,
        /// The value of the JSON format.
        json: Json,
    },
    /// Bytes written to stdout as they are, whatever the format (`store export`).
    Raw(Vec<u8>),
    /// Text printed as it is in both formats (help, completions).
    Plain(String),
}

impl Output {
    /// A one-line text result.
    pub fn line(text: impl Into<String>, json: Json) -> Output {
        Output::Result {
            lines: vec![text.into()],
            json,
        }
    }

    /// Writes the result to `out` (stdout, or the answer of the background process).
    pub fn write_to(&self, out: &mut dyn Write, format: Format) -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(out);
        match self {
            Output::Result { lines, json } => match format {
                Format::Text => {
                    for line in lines {
                        out.write_all(line.as_bytes())?;
                        out.write_all(b"\n")?;
                    }
                }
                Format::Json => {
                    serde_json::to_writer_pretty(&mut out, json)?;
                    out.write_all(b"\n")?;
                }
            },
            Output::Raw(bytes) => out.write_all(bytes)?,
            Output::Plain(text) => out.write_all(text.as_bytes())?,
        }
        out.flush()
    }
}

/// Prints an error to stderr. `top_level` decides whether a parser error is followed by the
/// usage help (SPEC §15.6: not inside the REPL or a script).
pub fn print_error(error: &CliError, format: Format, top_level: bool) {
    write_error(&mut std::io::stderr().lock(), error, format, top_level);
}

/// Writes an error to `err` as [`print_error`] writes it to stderr.
pub fn write_error(err: &mut dyn Write, error: &CliError, format: Format, top_level: bool) {
    // Failing to report an error on stderr leaves nothing better to do.
    let _ = match (&error.parser_help, format) {
        (Some(help), _) if top_level => write!(err, "sds: {}\n\n{help}", error.message),
        (Some(_), _) => writeln!(err, "sds: {}", error.message),
        (None, Format::Text) => writeln!(err, "sds: error: {}", error.message),
        (None, Format::Json) => {
            let line = Json::object()
                .with("error", error.message.as_str())
                .with("exitCode", u64::from(error.code));
            writeln!(err, "{}", serde_json::to_string(&line).unwrap_or_default())
        }
    };
}

/// A JSON value whose objects keep their members in the order they were added (the result
/// shapes of SPEC §15.5 list members in a fixed order; `serde_json::Map` sorts them).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number or string, or any value whose own member order does not matter.
    Value(JsonValue),
    /// An array.
    Array(Vec<Json>),
    /// An object with members in insertion order.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// An empty object.
    pub fn object() -> Json {
        Json::Object(Vec::new())
    }

    /// Appends a member (on objects; other values are returned unchanged).
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Json>) -> Json {
        if let Json::Object(members) = &mut self {
            members.push((key.into(), value.into()));
        }
        self
    }
}

impl From<&str> for Json {
    fn from(s: &str) -> Self {
        Json::Value(JsonValue::String(s.to_owned()))
    }
}

impl From<String> for Json {
    fn from(s: String) -> Self {
        Json::Value(JsonValue::String(s))
    }
}

impl From<bool> for Json {
    fn from(b: bool) -> Self {
        Json::Bool(b)
    }
}

impl From<u64> for Json {
    fn from(n: u64) -> Self {
        Json::Value(n.into())
    }
}

impl From<usize> for Json {
    fn from(n: usize) -> Self {
        Json::Value((n as u64).into())
    }
}

impl From<JsonValue> for Json {
    fn from(v: JsonValue) -> Self {
        Json::Value(v)
    }
}

impl From<Vec<Json>> for Json {
    fn from(items: Vec<Json>) -> Self {
        Json::Array(items)
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => serializer.serialize_unit(),
            Json::Bool(b) => serializer.serialize_bool(*b),
            Json::Value(v) => v.serialize(serializer),
            Json::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (key, value) in members {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_keep_their_member_order() {
        let json = Json::object()
            .with("id", "x")
            .with("created", true)
            .with("kind", "item")
            .with("at", Json::Null);
        assert_eq!(
            serde_json::to_string_pretty(&json).unwrap(),
            "{\n  \"id\": \"x\",\n  \"created\": true,\n  \"kind\": \"item\",\n  \"at\": null\n}"
        );
    }

    #[test]
    fn formats_parse_case_insensitively() {
        assert_eq!(Format::parse("JSON").unwrap(), Format::Json);
        assert_eq!(Format::parse("Text").unwrap(), Format::Text);
        let error = Format::parse("xml").unwrap_err();
        assert_eq!(error.code, EXIT_USAGE);
        assert_eq!(
            error.message,
            "'--format' accepts 'text' or 'json' — got 'xml'"
        );
    }
}
