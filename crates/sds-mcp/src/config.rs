//! Startup flags and environment (SPEC §16.1, §16.2), and the per-call resolution of the
//! store, directory, server and credentials: tool parameter → startup flag → environment
//! variable → default.

use crate::params::{Params, ToolError, ToolResult};
use std::path::PathBuf;

/// The CRDT backend a call works with.
pub use sds_core::BackendKind;

/// The startup flags, each already merged with its environment variable.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `--store` / `SDS_STORE_ID`.
    pub store: Option<String>,
    /// `--persistence-dir` / `SDS_PERSISTENCE_DIR`.
    pub persistence_dir: Option<PathBuf>,
    /// `--server` / `SDS_SERVER_URL`.
    pub server: Option<String>,
    /// `--token` / `SDS_TOKEN`.
    pub token: Option<String>,
    /// `--admin-token` / `SDS_ADMIN_TOKEN`.
    pub admin_token: Option<String>,
    /// `--backend` / `SDS_BACKEND`, or `yrs`.
    pub backend: BackendKind,
}

const FLAGS: [(&str, &str); 6] = [
    ("--store", "SDS_STORE_ID"),
    ("--persistence-dir", "SDS_PERSISTENCE_DIR"),
    ("--server", "SDS_SERVER_URL"),
    ("--token", "SDS_TOKEN"),
    ("--admin-token", "SDS_ADMIN_TOKEN"),
    ("--backend", "SDS_BACKEND"),
];

/// Whether `url` is a `ws://` or `wss://` URL.
pub fn is_server_url(url: &str) -> bool {
    sds_sync::protocol::is_server_url(url)
}

/// `url` if it is a `ws://` or `wss://` URL.
pub fn check_server_url(url: String) -> ToolResult<String> {
    if is_server_url(&url) {
        Ok(url)
    } else {
        Err(ToolError::new(format!(
            "invalid ServerURL '{url}' — must start with 'ws://' or 'wss://'"
        )))
    }
}

impl Config {
    /// Parses the command line (without the program name) and merges the environment.
    /// Unknown arguments are reported through `warn` and ignored; an invalid `--server` or
    /// `--backend` is an error (exit 2).
    pub fn from_args(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
        mut warn: impl FnMut(String),
    ) -> Result<Config, String> {
        let mut values: [Option<String>; 6] = Default::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) if name.starts_with("--") => (name, Some(value.to_owned())),
                _ => (arg.as_str(), None),
            };
            match FLAGS.iter().position(|(flag, _)| *flag == name) {
                Some(i) => match inline.or_else(|| args.next()) {
                    Some(value) => values[i] = Some(value),
                    None => warn(format!("sds-mcp: missing value for '{name}'")),
                },
                None => {
                    let known = FLAGS.map(|(flag, _)| flag).join(", ");
                    warn(format!(
                        "sds-mcp: unknown argument '{arg}' — known flags: {known}"
                    ));
                }
            }
        }
        for (value, (_, var)) in values.iter_mut().zip(FLAGS) {
            if value.is_none() {
                *value = env(var).filter(|v| !v.is_empty());
            }
        }
        let [store, dir, server, token, admin_token, backend] = values;
        if let Some(url) = &server
            && !is_server_url(url)
        {
            return Err(format!(
                "sds-mcp: invalid '--server' URL '{url}' — must start with 'ws://' or 'wss://'"
            ));
        }
        let backend = match backend {
            None => BackendKind::Yrs,
            Some(raw) => BackendKind::parse(&raw).ok_or_else(|| {
                format!("sds-mcp: invalid '--backend' '{raw}' — must be 'yrs' or 'loro'")
            })?,
        };
        Ok(Config {
            store,
            persistence_dir: dir.map(PathBuf::from),
            server,
            token,
            admin_token,
            backend,
        })
    }

    /// The store id of a call: `StoreId`, `--store`, `SDS_STORE_ID`.
    pub fn store_id(&self, params: &Params<'_>) -> ToolResult<String> {
        params
            .string("StoreId")?
            .filter(|s| !s.is_empty())
            .or_else(|| self.store.clone())
            .ok_or_else(|| ToolError::new("StoreId is required"))
    }

    /// The persistence directory of a call: `PersistenceDir`, `--persistence-dir`,
    /// `SDS_PERSISTENCE_DIR`, `~/.sds`.
    pub fn persistence_dir(&self, params: &Params<'_>) -> ToolResult<PathBuf> {
        Ok(match params.string("PersistenceDir")? {
            Some(dir) => PathBuf::from(dir),
            None => self.persistence_dir.clone().unwrap_or_else(|| {
                std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .unwrap_or_default()
                    .join(".sds")
            }),
        })
    }

    /// The backend of a call: `Backend`, `--backend`, `SDS_BACKEND`, `yrs`.
    pub fn backend(&self, params: &Params<'_>) -> ToolResult<BackendKind> {
        match params.string("Backend")? {
            None => Ok(self.backend),
            Some(raw) => BackendKind::parse(&raw).ok_or_else(|| {
                ToolError::new(format!("'Backend' must be 'yrs' or 'loro' — got '{raw}'"))
            }),
        }
    }

    /// The server URL of a call (`ServerURL`, `--server`, `SDS_SERVER_URL`), checked.
    pub fn server_url(&self, params: &Params<'_>) -> ToolResult<String> {
        let url = params
            .string("ServerURL")?
            .or_else(|| self.server.clone())
            .ok_or_else(|| ToolError::new("ServerURL is required"))?;
        check_server_url(url)
    }

    /// The client token of a call: `Token`, `--token`, `SDS_TOKEN`.
    pub fn token(&self, params: &Params<'_>) -> ToolResult<String> {
        params
            .string("Token")?
            .or_else(|| self.token.clone())
            .ok_or_else(|| ToolError::new("Token is required"))
    }

    /// The admin token of a call: `AdminToken`, `--admin-token`, `SDS_ADMIN_TOKEN`.
    pub fn admin_token(&self, params: &Params<'_>) -> ToolResult<String> {
        params
            .string("AdminToken")?
            .or_else(|| self.admin_token.clone())
            .ok_or_else(|| ToolError::new("AdminToken is required"))
    }
}
