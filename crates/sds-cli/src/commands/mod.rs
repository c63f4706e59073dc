//! The commands of SPEC §15.5. Each one checks its arguments, opens the store
//! ([`crate::session`]), performs its operation and stops the engine; the network commands
//! (`store sync | ping`, `token issue`, in [`network`]) run on a tokio runtime of their own.
//!
//! The command logic is generic over the backend; [`execute`] dispatches once on
//! `--backend`.

mod entry;
mod network;
mod store;
mod trash;
mod tree;

use crate::args::{Command, EntryCommand, StoreCommand, TokenCommand, TrashCommand, TreeCommand};
use crate::info_args::InfoArgs;
use crate::output::{CliError, Output};
use crate::settings::{BackendKind, Settings};
use sds_core::{Backend, EntryKind, EntryRef, InlineValue, NewBackend};
use sds_loro::LoroBackend;
use sds_yrs::YrsBackend;

/// Runs one command (not `shell`, which [`crate::repl`] handles).
pub fn execute(settings: &Settings, command: Command, info: InfoArgs) -> Result<Output, CliError> {
    match command {
        Command::Completions { shell } => Ok(store::completions(shell)),
        Command::Store(StoreCommand::Destroy) => store::destroy(settings),
        Command::Store(StoreCommand::Ping) => network::ping(settings),
        Command::Token(TokenCommand::Issue(args)) => network::token_issue(settings, args),
        Command::Shell => Err(CliError::usage(
            "'shell' is not available inside the shell or a script",
        )),
        command => match settings.backend {
            BackendKind::Yrs => execute_on::<YrsBackend>(settings, command, info),
            BackendKind::Loro => execute_on::<LoroBackend>(settings, command, info),
        },
    }
}

fn execute_on<B: NewBackend + 'static>(
    settings: &Settings,
    command: Command,
    info: InfoArgs,
) -> Result<Output, CliError> {
    match command {
        Command::Store(command) => match command {
            StoreCommand::Info => store::info::<B>(settings),
            StoreCommand::Export { encoding, output } => {
                store::export::<B>(settings, encoding.as_deref(), output.as_deref())
            }
            StoreCommand::Import { input } => store::import::<B>(settings, &input),
            StoreCommand::Destroy => store::destroy(settings),
            StoreCommand::Sync { timeout } => network::sync::<B>(settings, timeout.as_deref()),
            StoreCommand::Ping => network::ping(settings),
        },
        Command::Entry(command) => match command {
            EntryCommand::Create(args) => entry::create::<B>(settings, args, info),
            EntryCommand::Get(args) => entry::get::<B>(settings, args, info),
            EntryCommand::List(args) => entry::list::<B>(settings, args, info),
            EntryCommand::Update(args) => entry::update::<B>(settings, args, info),
            EntryCommand::Move(args) => entry::move_entry::<B>(settings, args),
            EntryCommand::Delete(args) => entry::delete::<B>(settings, &args.id),
            EntryCommand::Restore(args) => entry::restore::<B>(settings, args),
            EntryCommand::Purge(args) => entry::purge::<B>(settings, &args.id),
        },
        Command::Trash(command) => match command {
            TrashCommand::List { only } => trash::list::<B>(settings, only.as_deref()),
            TrashCommand::PurgeAll => trash::purge_all::<B>(settings),
            TrashCommand::PurgeExpired { ttl } => {
                trash::purge_expired::<B>(settings, ttl.as_deref())
            }
        },
        Command::Tree(TreeCommand::Show { depth }) => tree::show::<B>(settings, depth.as_deref()),
        Command::Token(TokenCommand::Issue(args)) => network::token_issue(settings, args),
        Command::Shell | Command::Completions { .. } => {
            unreachable!("handled before the backend dispatch")
        }
    }
}

/// An integer option (SPEC §15.4): decimal digits with an optional sign, nothing else.
pub fn parse_integer(flag: &str, raw: &str) -> Result<i64, CliError> {
    let digits = raw.strip_prefix(['-', '+']).unwrap_or(raw);
    let parsed = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        raw.parse::<i64>().ok()
    } else {
        None
    };
    parsed.ok_or_else(|| {
        CliError::usage(format!(
            "invalid value for {flag}: '{raw}' — expected an integer"
        ))
    })
}

/// An optional insertion index: an integer ≥ 0.
pub fn parse_index(flag: &str, raw: Option<&str>) -> Result<Option<usize>, CliError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let n = parse_integer(flag, raw)?;
    usize::try_from(n)
        .map(Some)
        .map_err(|_| CliError::usage(format!("'{flag}' must be a non-negative integer — got {n}")))
}

/// An optional depth: an integer ≥ 0 (`None` = unlimited).
pub fn parse_depth(raw: Option<&str>) -> Result<Option<usize>, CliError> {
    parse_index("--depth", raw)
}

/// Which kinds `--only` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    /// Items and links.
    All,
    /// Items only.
    Items,
    /// Links only.
    Links,
}

impl Only {
    /// Parses `--only items|item|links|link`.
    pub fn parse(raw: Option<&str>) -> Result<Only, CliError> {
        match raw {
            None => Ok(Only::All),
            Some("items" | "item") => Ok(Only::Items),
            Some("links" | "link") => Ok(Only::Links),
            Some(other) => Err(CliError::usage(format!(
                "'--only' accepts 'items' or 'links' — got '{other}'"
            ))),
        }
    }

    /// Whether an entry of this kind is shown.
    pub fn keeps(self, kind: EntryKind) -> bool {
        match self {
            Only::All => true,
            Only::Items => kind == EntryKind::Item,
            Only::Links => kind == EntryKind::Link,
        }
    }
}

/// `item` or `link`.
pub fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Item => "item",
        EntryKind::Link => "link",
    }
}

/// The `entry '<id>' not found` error.
pub fn entry_not_found(id: &str) -> CliError {
    CliError::not_found(format!("entry '{id}' not found"))
}

/// The live entry `id`, or exit 3.
pub fn live_entry<'s, B: Backend>(
    store: &'s sds_core::Store<B>,
    id: &str,
) -> Result<EntryRef<'s, B>, CliError> {
    store.entry(id).ok_or_else(|| entry_not_found(id))
}

/// Checks that `id` is a live item, else exit 3 `<role> '<id>' not found or is not an item`.
pub fn require_item<B: Backend>(
    store: &sds_core::Store<B>,
    id: &str,
    role: &str,
) -> Result<(), CliError> {
    match store.entry(id) {
        Some(entry) if entry.is_item() => Ok(()),
        _ => Err(CliError::not_found(format!(
            "{role} '{id}' not found or is not an item"
        ))),
    }
}

/// Inline value as text: the literal, or comma-separated decimal bytes.
pub fn inline_text(value: &InlineValue) -> String {
    match value {
        InlineValue::Text(text) => text.clone(),
        InlineValue::Bytes(bytes) => bytes
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// Inline value as JSON: a string, or the JS shape of bytes (an object from decimal index
/// strings to byte values).
pub fn inline_json(value: Option<&InlineValue>) -> crate::output::Json {
    use crate::output::Json;
    match value {
        None => Json::Null,
        Some(InlineValue::Text(text)) => Json::from(text.as_str()),
        Some(InlineValue::Bytes(bytes)) => Json::Object(
            bytes
                .iter()
                .enumerate()
                .map(|(i, b)| (i.to_string(), Json::from(u64::from(*b))))
                .collect(),
        ),
    }
}

/// Compact JSON text of a value.
pub fn compact(value: &serde_json::Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_strictly_decimal() {
        assert_eq!(parse_integer("--at", "3").unwrap(), 3);
        assert_eq!(parse_integer("--at", "-3").unwrap(), -3);
        assert_eq!(parse_integer("--at", "+3").unwrap(), 3);
        for bad in ["3abc", "", "-", "1.5", "0x10", " 3", "99999999999999999999"] {
            assert_eq!(
                parse_integer("--at", bad).unwrap_err().message,
                format!("invalid value for --at: '{bad}' — expected an integer")
            );
        }
        assert_eq!(
            parse_index("--at", Some("-1")).unwrap_err().message,
            "'--at' must be a non-negative integer — got -1"
        );
        assert_eq!(parse_index("--at", Some("0")).unwrap(), Some(0));
    }

    #[test]
    fn only_accepts_singular_and_plural() {
        assert_eq!(Only::parse(Some("item")).unwrap(), Only::Items);
        assert_eq!(Only::parse(Some("links")).unwrap(), Only::Links);
        assert_eq!(
            Only::parse(Some("both")).unwrap_err().message,
            "'--only' accepts 'items' or 'links' — got 'both'"
        );
    }
}
