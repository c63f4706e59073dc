//! The global options after their checks (SPEC §15.2): backend, format, error policy, store id,
//! persistence directory, server URL and tokens.

use crate::args::GlobalArgs;
use crate::output::{CliError, Format};
use std::path::PathBuf;

/// The CRDT backend chosen with `--backend`.
pub use sds_core::BackendKind;

/// Parses `--backend` / `SDS_BACKEND` case-insensitively.
pub fn parse_backend(raw: &str) -> Result<BackendKind, CliError> {
    BackendKind::parse(raw).ok_or_else(|| {
        CliError::usage(format!("'--backend' accepts 'yrs' or 'loro' — got '{raw}'"))
    })
}

/// What a script does when a line fails (SPEC §15.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// Return the line's exit code at once (the default).
    #[default]
    Stop,
    /// Go on; the final exit code is the last non-zero one.
    Continue,
    /// Ask on a terminal; behave like `stop` otherwise.
    Ask,
}

impl OnError {
    /// Parses `--on-error` case-insensitively.
    pub fn parse(raw: &str) -> Result<OnError, CliError> {
        match raw.to_ascii_lowercase().as_str() {
            "stop" => Ok(OnError::Stop),
            "continue" => Ok(OnError::Continue),
            "ask" => Ok(OnError::Ask),
            _ => Err(CliError::usage(format!(
                "'--on-error' accepts 'stop', 'continue', or 'ask' — got '{raw}'"
            ))),
        }
    }
}

/// The checked global options.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--store`.
    pub store: Option<String>,
    /// `--persistence-dir`, or `~/.sds`.
    pub persistence_dir: PathBuf,
    /// `--backend`.
    pub backend: BackendKind,
    /// `--format`.
    pub format: Format,
    /// `--on-error`.
    pub on_error: OnError,
    /// `--server` (checked unless the command checks it itself, see [`Settings::for_command`]).
    pub server: Option<String>,
    /// `--token`.
    pub token: Option<String>,
    /// `--admin-token`.
    pub admin_token: Option<String>,
}

impl Settings {
    /// The output format alone, for reporting errors of the other options: an invalid
    /// `--format` is reported as text.
    pub fn format_of(global: &GlobalArgs) -> Format {
        global
            .format
            .as_deref()
            .and_then(|f| Format::parse(f).ok())
            .unwrap_or_default()
    }

    /// Checks the global options in the order of SPEC §15.2's table of rules, for one
    /// command: `token issue` checks the server URL itself, after the admin token and with its
    /// own message (SPEC §15.5).
    pub fn for_command(
        global: &GlobalArgs,
        command: Option<&crate::args::Command>,
    ) -> Result<Settings, CliError> {
        let own_check = matches!(command, Some(crate::args::Command::Token(_)));
        Settings::checked(global, !own_check)
    }

    fn checked(global: &GlobalArgs, check_server: bool) -> Result<Settings, CliError> {
        let format = match &global.format {
            Some(raw) => Format::parse(raw)?,
            None => Format::Text,
        };
        let on_error = match &global.on_error {
            Some(raw) => OnError::parse(raw)?,
            None => OnError::Stop,
        };
        let backend = match &global.backend {
            Some(raw) => parse_backend(raw)?,
            None => BackendKind::Yrs,
        };
        if check_server
            && let Some(url) = &global.server
            && !(url.starts_with("ws://") || url.starts_with("wss://"))
        {
            return Err(CliError::usage(format!(
                "invalid '--server' URL '{url}' — must start with 'ws://' or 'wss://'"
            )));
        }
        let persistence_dir = match global.persistence_dir.as_deref() {
            Some(dir) if !dir.is_empty() => expand_home(dir),
            _ => home_dir().join(".sds"),
        };
        Ok(Settings {
            store: global.store.clone().filter(|s| !s.is_empty()),
            persistence_dir,
            backend,
            format,
            on_error,
            server: global.server.clone().filter(|s| !s.is_empty()),
            token: global.token.clone().filter(|s| !s.is_empty()),
            admin_token: global.admin_token.clone().filter(|s| !s.is_empty()),
        })
    }

    /// The server URL, or exit 2 (SPEC §15.5). Its form was checked with the options.
    pub fn server_url(&self) -> Result<&str, CliError> {
        self.server
            .as_deref()
            .ok_or_else(|| CliError::usage("no server URL — set SDS_SERVER_URL or use --server"))
    }

    /// The client token, or exit 2 (SPEC §15.5).
    pub fn client_token(&self) -> Result<&str, CliError> {
        self.token
            .as_deref()
            .ok_or_else(|| CliError::usage("no client token — set SDS_TOKEN or use --token"))
    }

    /// The store id, or exit 2 (SPEC §15.3).
    pub fn store_id(&self) -> Result<&str, CliError> {
        self.store
            .as_deref()
            .ok_or_else(|| CliError::usage("no store ID — set SDS_STORE_ID or use --store"))
    }
}

fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// `~` and `~/…` name the home directory (for values that come from the environment, where
/// no shell expanded them).
fn expand_home(dir: &str) -> PathBuf {
    if dir == "~" {
        home_dir()
    } else if let Some(rest) = dir.strip_prefix("~/") {
        home_dir().join(rest)
    } else {
        PathBuf::from(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_case_insensitively_with_exact_messages() {
        assert_eq!(parse_backend("LORO").unwrap(), BackendKind::Loro);
        assert_eq!(parse_backend("Yrs").unwrap(), BackendKind::Yrs);
        assert_eq!(
            parse_backend("automerge").unwrap_err().message,
            "'--backend' accepts 'yrs' or 'loro' — got 'automerge'"
        );
        assert_eq!(OnError::parse("Continue").unwrap(), OnError::Continue);
        assert_eq!(
            OnError::parse("never").unwrap_err().message,
            "'--on-error' accepts 'stop', 'continue', or 'ask' — got 'never'"
        );
    }

    #[test]
    fn the_home_directory_expands() {
        assert_eq!(expand_home("/x/y"), PathBuf::from("/x/y"));
        assert_eq!(expand_home("~/d"), home_dir().join("d"));
    }
}
