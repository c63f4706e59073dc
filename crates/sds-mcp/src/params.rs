//! Tool parameters: typed access to the `arguments` object of a call, with the messages of
//! SPEC §16.5 for values of the wrong type.

use serde_json::{Map, Value as JsonValue};

/// A failed call: the message becomes the text of an `isError` result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolError(pub String);

impl ToolError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> ToolError {
        ToolError(message.into())
    }
}

/// Result of a tool step.
pub type ToolResult<T> = Result<T, ToolError>;

/// A store error with its cause.
pub fn describe(error: &sds_core::Error) -> String {
    use std::error::Error as _;
    match error.source() {
        Some(source) => format!("{}: {source}", error.message()),
        None => error.message().to_owned(),
    }
}

impl From<sds_core::Error> for ToolError {
    fn from(error: sds_core::Error) -> ToolError {
        ToolError(describe(&error))
    }
}

/// The JavaScript name of a JSON value's type, for messages.
pub fn type_name(value: &JsonValue) -> &'static str {
    match value {
        JsonValue::Null => "null",
        JsonValue::Bool(_) => "boolean",
        JsonValue::Number(_) => "number",
        JsonValue::String(_) => "string",
        JsonValue::Array(_) => "array",
        JsonValue::Object(_) => "object",
    }
}

/// The arguments of one call. `null` counts as absent.
#[derive(Debug, Clone, Copy)]
pub struct Params<'a>(pub &'a Map<String, JsonValue>);

impl<'a> Params<'a> {
    /// The raw value of `name`, `None` when absent or `null`.
    pub fn get(&self, name: &str) -> Option<&'a JsonValue> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// A string parameter.
    pub fn string(&self, name: &str) -> ToolResult<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(JsonValue::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(ToolError::new(format!(
                "'{name}' must be a string — got {}",
                type_name(other)
            ))),
        }
    }

    /// A string parameter that must be present and not empty (`<name> is required`).
    pub fn required(&self, name: &str) -> ToolResult<String> {
        self.string(name)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ToolError::new(format!("{name} is required")))
    }

    /// An entry id parameter (aliases resolved), required.
    pub fn id(&self, name: &str) -> ToolResult<String> {
        self.required(name)
            .map(|id| sds_core::resolve_alias(&id).to_owned())
    }

    /// An optional entry id parameter with a default (aliases resolved).
    pub fn id_or(&self, name: &str, default: &str) -> ToolResult<String> {
        let id = self.string(name)?.unwrap_or_else(|| default.to_owned());
        Ok(sds_core::resolve_alias(&id).to_owned())
    }

    /// A boolean parameter (absent = false).
    pub fn flag(&self, name: &str) -> ToolResult<bool> {
        match self.get(name) {
            None => Ok(false),
            Some(JsonValue::Bool(b)) => Ok(*b),
            Some(other) => Err(ToolError::new(format!(
                "'{name}' must be a boolean — got {other}"
            ))),
        }
    }

    /// A non-negative JSON integer (`'<name>' must be a non-negative integer — got <v>`).
    pub fn index(&self, name: &str) -> ToolResult<Option<usize>> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        value
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                ToolError::new(format!(
                    "'{name}' must be a non-negative integer — got {value}"
                ))
            })
    }

    /// A positive JSON integer with a default (`'<name>' must be a positive integer — got <v>`).
    pub fn positive(&self, name: &str, default: u64) -> ToolResult<u64> {
        let Some(value) = self.get(name) else {
            return Ok(default);
        };
        value.as_u64().filter(|n| *n > 0).ok_or_else(|| {
            ToolError::new(format!("'{name}' must be a positive integer — got {value}"))
        })
    }

    /// An array of strings.
    pub fn strings(&self, name: &str) -> ToolResult<Option<Vec<String>>> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        value
            .as_array()
            .and_then(|items| {
                items
                    .iter()
                    .map(|item| item.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
            })
            .map(Some)
            .ok_or_else(|| ToolError::new(format!("'{name}' must be an array of strings")))
    }

    /// `only`: `items` or `links` (`None` = both).
    pub fn only(&self) -> ToolResult<Option<sds_core::EntryKind>> {
        match self.string("only")?.as_deref() {
            None => Ok(None),
            Some("items") => Ok(Some(sds_core::EntryKind::Item)),
            Some("links") => Ok(Some(sds_core::EntryKind::Link)),
            Some(other) => Err(ToolError::new(format!(
                "'only' must be 'items' or 'links' — got '{other}'"
            ))),
        }
    }

    /// A string parameter restricted to `choices` (matched case-insensitively), with a
    /// default; `'<name>' must be 'a' or 'b' — got '<v>'` otherwise.
    pub fn choice(
        &self,
        name: &str,
        choices: [&'static str; 2],
        default: Option<&'static str>,
    ) -> ToolResult<Option<&'static str>> {
        match self.string(name)? {
            None => Ok(default),
            Some(raw) => choices
                .into_iter()
                .find(|c| c.eq_ignore_ascii_case(&raw))
                .map(Some)
                .ok_or_else(|| {
                    ToolError::new(format!(
                        "'{name}' must be '{}' or '{}' — got '{raw}'",
                        choices[0], choices[1]
                    ))
                }),
        }
    }
}
