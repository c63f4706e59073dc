//! The command line, the JSON configuration file and their resolution into a [`Config`]
//! (SPEC §17.2).

use crate::triggers::{Scope, Trigger, Webhook};
use clap::Parser;
use sds_sync::Backoff;
use serde_json::{Map, Value as JsonValue};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The command line of `sds-sidecar` (SPEC §17.2). Options with an environment variable read
/// it when the option is absent; the configuration file fills in what both leave open.
#[derive(Debug, Clone, Default, Parser)]
#[command(
    name = "sds-sidecar",
    version,
    about = "Keeps a local replica of one sds store in sync and POSTs webhooks when changes match triggers"
)]
pub struct Args {
    /// The server URL (`ws://` or `wss://`).
    #[arg(value_name = "ws-url", env = "SDS_SERVER_URL")]
    pub server_url: Option<String>,
    /// The store id.
    #[arg(value_name = "store-id", env = "SDS_STORE_ID")]
    pub store_id: Option<String>,
    /// The JWT for the server.
    #[arg(long, value_name = "jwt", env = "SDS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A JSON configuration file.
    #[arg(long, value_name = "file")]
    pub config: Option<PathBuf>,
    /// Where the store's SQLite file lives (default `~/.sds`).
    #[arg(long, value_name = "path", env = "SDS_PERSISTENCE_DIR")]
    pub persistence_dir: Option<PathBuf>,
    /// The CRDT backend: `yrs` (default) or `loro`.
    #[arg(long, value_name = "yrs|loro", env = "SDS_BACKEND")]
    pub backend: Option<String>,
    /// One inline webhook URL (needs at least one `--on`).
    #[arg(long, value_name = "url")]
    pub webhook_url: Option<String>,
    /// Bearer token of every outgoing call.
    #[arg(
        long,
        value_name = "t",
        env = "SDS_WEBHOOK_TOKEN",
        hide_env_values = true
    )]
    pub webhook_token: Option<String>,
    /// Secret of the `X-SDS-Signature` HMAC-SHA256 header.
    #[arg(
        long,
        value_name = "s",
        env = "SDS_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    pub webhook_secret: Option<String>,
    /// Failed attempts after which a webhook call is given up (default 20).
    #[arg(long, value_name = "n", allow_hyphen_values = true)]
    pub webhook_max_attempts: Option<String>,
    /// `Topic` of the inline webhook's bodies.
    #[arg(long, value_name = "s")]
    pub topic: Option<String>,
    /// Only entries in the subtree of this entry (inline webhook).
    #[arg(long, value_name = "id")]
    pub watch: Option<String>,
    /// Largest depth below the watched entry (direct child = 1).
    #[arg(long, value_name = "n", allow_hyphen_values = true)]
    pub depth: Option<String>,
    /// A trigger of the inline webhook: `change`, `create`, `delete`, `value`,
    /// `value:<mime-glob>`, `info:<key>=<value>`. Repeatable.
    #[arg(
        long = "on",
        value_name = "trigger",
        help = "A trigger of the inline webhook: change, create, delete, value, \
                value:<mime-glob>, info:<key>=<value>. Repeatable"
    )]
    pub on: Vec<String>,
    /// URL that is POSTed once when the server refuses the token.
    #[arg(long, value_name = "url", env = "SDS_ON_AUTH_ERROR")]
    pub on_auth_error: Option<String>,
    /// Logs every received patch and remote change.
    #[arg(
        long,
        env = "SDS_VERBOSE",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub verbose: bool,
    /// First reconnect delay in ms (default 1000, at least 100).
    #[arg(long, value_name = "ms", allow_hyphen_values = true)]
    pub reconnect_initial: Option<String>,
    /// Largest reconnect delay in ms (default 60000).
    #[arg(long, value_name = "ms", allow_hyphen_values = true)]
    pub reconnect_max: Option<String>,
    /// Relative reconnect jitter between 0 and 1 (default 0.1).
    #[arg(long, value_name = "f", allow_hyphen_values = true)]
    pub reconnect_jitter: Option<String>,
}

/// The CRDT backend of the replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// yrs (the default).
    #[default]
    Yrs,
    /// loro.
    Loro,
}

/// Timing of webhook delivery (SPEC §17.7). The defaults are the SPEC's; tests shorten them.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryOptions {
    /// The delay after the first failed attempt (1 s); it doubles with every further one.
    pub retry_base: Duration,
    /// The largest delay between attempts (1 h).
    pub retry_max: Duration,
    /// Relative jitter of a delay (±10 %).
    pub retry_jitter: f64,
    /// Timeout of one request (10 s).
    pub request_timeout: Duration,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(3_600),
            retry_jitter: 0.1,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// The resolved configuration of a sidecar.
#[derive(Clone)]
pub struct Config {
    /// `ws://` or `wss://` base URL of the server.
    pub server_url: String,
    /// The store id.
    pub store_id: String,
    /// The JWT.
    pub token: String,
    /// The absolute persistence directory.
    pub persistence_dir: PathBuf,
    /// The CRDT backend.
    pub backend: BackendChoice,
    /// The webhooks: the inline one first, then the file's.
    pub webhooks: Vec<Webhook>,
    /// Bearer token of every outgoing call.
    pub webhook_token: Option<String>,
    /// HMAC secret of the signature header.
    pub webhook_secret: Option<String>,
    /// Failed attempts after which a row is marked failed.
    pub webhook_max_attempts: u32,
    /// The URL POSTed once on an authentication refusal.
    pub on_auth_error: Option<String>,
    /// Verbose logging.
    pub verbose: bool,
    /// Reconnect backoff.
    pub reconnect: Backoff,
    /// Delivery timing (not configurable from the command line).
    pub delivery: DeliveryOptions,
    /// The TLS client configuration of `wss://` and `https://` connections; `None` trusts
    /// the public web PKI roots ([`sds_ws::tls::default_config`]). Embedding applications
    /// with a private certificate authority build one with [`sds_ws::tls::config_trusting`].
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tokens and secrets are credentials: never printed.
        let redacted = |value: &Option<String>| value.as_ref().map(|_| "<redacted>");
        f.debug_struct("Config")
            .field("server_url", &self.server_url)
            .field("store_id", &self.store_id)
            .field("token", &"<redacted>")
            .field("persistence_dir", &self.persistence_dir)
            .field("backend", &self.backend)
            .field("webhooks", &self.webhooks)
            .field("webhook_token", &redacted(&self.webhook_token))
            .field("webhook_secret", &redacted(&self.webhook_secret))
            .field("webhook_max_attempts", &self.webhook_max_attempts)
            .field("on_auth_error", &self.on_auth_error)
            .field("verbose", &self.verbose)
            .field("reconnect", &self.reconnect)
            .field("delivery", &self.delivery)
            .field("tls", &self.tls.as_ref().map(|_| "custom"))
            .finish()
    }
}

impl Config {
    /// A configuration with the defaults, for embedding and tests.
    pub fn new(
        server_url: impl Into<String>,
        store_id: impl Into<String>,
        token: impl Into<String>,
        persistence_dir: impl Into<PathBuf>,
    ) -> Config {
        Config {
            server_url: server_url.into(),
            store_id: store_id.into(),
            token: token.into(),
            persistence_dir: persistence_dir.into(),
            backend: BackendChoice::Yrs,
            webhooks: Vec::new(),
            webhook_token: None,
            webhook_secret: None,
            webhook_max_attempts: DEFAULT_MAX_ATTEMPTS,
            on_auth_error: None,
            verbose: false,
            reconnect: Backoff::default(),
            delivery: DeliveryOptions::default(),
            tls: None,
        }
    }
}

/// The default of `WebHookMaxAttempts`.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 20;

/// A configuration error: the message (printed as `sds-sidecar: <message>`) and the exit
/// code (2, or 3 for an unreadable configuration file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    /// The SPEC §17.2 message.
    pub message: String,
    /// The exit code (SPEC §17.9).
    pub exit_code: i32,
}

fn usage(message: impl Into<String>) -> ConfigError {
    ConfigError {
        message: message.into(),
        exit_code: 2,
    }
}

/// Resolves the command line (with its environment fallbacks) and the configuration file
/// into a [`Config`]: command line > environment > file > default (SPEC §17.2).
pub fn resolve(args: Args) -> Result<Config, ConfigError> {
    let file = match &args.config {
        Some(path) => read_config_file(path)?,
        None => Map::new(),
    };
    let file_string = |key: &str| file.get(key).and_then(JsonValue::as_str).map(str::to_owned);

    let server_url = args
        .server_url
        .clone()
        .or_else(|| file_string("ServerURL"))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            usage(
                "no server URL — set SDS_SERVER_URL, use --server, or set \"ServerURL\" in config file",
            )
        })?;
    if !sds_sync::protocol::is_server_url(&server_url) {
        return Err(usage(format!(
            "invalid server URL '{server_url}' — must start with 'ws://' or 'wss://'"
        )));
    }
    let store_id = args
        .store_id
        .clone()
        .or_else(|| file_string("StoreId"))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            usage("no store ID — set SDS_STORE_ID, use --store, or set \"StoreId\" in config file")
        })?;
    let token = args
        .token
        .clone()
        .or_else(|| file_string("Token"))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            usage("no token — set SDS_TOKEN, use --token, or set \"Token\" in config file")
        })?;

    let persistence_dir = args
        .persistence_dir
        .clone()
        .or_else(|| file_string("PersistenceDir").map(PathBuf::from))
        .unwrap_or_else(default_persistence_dir);
    let persistence_dir = absolute(&persistence_dir);

    let backend = match args
        .backend
        .clone()
        .or_else(|| file_string("Backend"))
        .as_deref()
        .map(str::trim)
    {
        None | Some("yrs") => BackendChoice::Yrs,
        Some("loro") => BackendChoice::Loro,
        Some(other) => {
            return Err(usage(format!(
                "invalid backend '{other}' — expected 'yrs' or 'loro'"
            )));
        }
    };

    let reconnect = reconnect(&args, &file)?;

    let webhook_max_attempts = match (&args.webhook_max_attempts, file.get("WebHookMaxAttempts")) {
        (Some(raw), _) => parse_positive(raw.trim()),
        (None, Some(value)) => value.as_u64().and_then(|n| u32::try_from(n).ok()),
        (None, None) => Some(DEFAULT_MAX_ATTEMPTS),
    }
    .filter(|&n| n > 0)
    .ok_or_else(|| usage("--webhook-max-attempts must be a positive integer"))?;

    let mut webhooks = Vec::new();
    if let Some(url) = args.webhook_url.as_deref().map(str::trim) {
        if args.on.is_empty() {
            return Err(usage("--webhook-url given without any --on trigger"));
        }
        let max_depth = match &args.depth {
            None => None,
            Some(raw) => Some(
                raw.trim()
                    .parse::<u64>()
                    .map_err(|_| usage("--depth must be a non-negative integer"))?,
            ),
        };
        let triggers = args
            .on
            .iter()
            .map(|raw| Trigger::parse(raw).map_err(usage))
            .collect::<Result<Vec<_>, _>>()?;
        webhooks.push(Webhook {
            url: url.to_owned(),
            topic: args.topic.clone(),
            scope: Scope {
                watch: args.watch.clone(),
                max_depth,
            },
            triggers,
        });
    } else if let Some(depth) = &args.depth
        && depth.trim().parse::<u64>().is_err()
    {
        return Err(usage("--depth must be a non-negative integer"));
    }
    if let Some(list) = file.get("WebHooks") {
        webhooks.extend(file_webhooks(list)?);
    }

    Ok(Config {
        server_url,
        store_id,
        token,
        persistence_dir,
        backend,
        webhooks,
        webhook_token: args
            .webhook_token
            .clone()
            .or_else(|| file_string("WebHookToken")),
        webhook_secret: args
            .webhook_secret
            .clone()
            .or_else(|| file_string("WebHookSecret")),
        webhook_max_attempts,
        on_auth_error: args
            .on_auth_error
            .clone()
            .or_else(|| file_string("onAuthError"))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
        verbose: args.verbose || file.get("Verbose") == Some(&JsonValue::Bool(true)),
        reconnect,
        delivery: DeliveryOptions::default(),
        tls: None,
    })
}

fn parse_positive(raw: &str) -> Option<u32> {
    raw.parse::<u32>().ok()
}

fn read_config_file(path: &Path) -> Result<Map<String, JsonValue>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        message: format!("cannot read config file '{}': {e}", path.display()),
        exit_code: 3,
    })?;
    match serde_json::from_str::<JsonValue>(&text) {
        Ok(JsonValue::Object(map)) => Ok(map),
        Ok(_) => Err(usage(format!(
            "config file '{}' contains invalid JSON: expected an object",
            path.display()
        ))),
        Err(e) => Err(usage(format!(
            "config file '{}' contains invalid JSON: {e}",
            path.display()
        ))),
    }
}

fn file_webhooks(list: &JsonValue) -> Result<Vec<Webhook>, ConfigError> {
    let Some(items) = list.as_array() else {
        return Err(usage("WebHooks: expected an array"));
    };
    let mut webhooks = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(object) = item.as_object() else {
            return Err(usage(format!("WebHooks[{i}]: expected an object")));
        };
        let url = object
            .get("URL")
            .and_then(JsonValue::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| usage(format!("WebHooks[{i}].URL: expected a non-empty string")))?;
        let max_depth = match object.get("maxDepth") {
            None | Some(JsonValue::Null) => None,
            Some(value) => Some(value.as_u64().ok_or_else(|| {
                usage(format!(
                    "WebHooks[{i}].maxDepth: expected a non-negative integer"
                ))
            })?),
        };
        let on = object
            .get("on")
            .and_then(JsonValue::as_array)
            .filter(|on| !on.is_empty())
            .ok_or_else(|| usage(format!("WebHooks[{i}].on: expected a non-empty array")))?;
        let triggers = on
            .iter()
            .enumerate()
            .map(|(j, raw)| {
                let text = match raw {
                    JsonValue::String(s) => s.clone(),
                    other => other.to_string(),
                };
                Trigger::parse(&text).map_err(|e| usage(format!("WebHooks[{i}].on[{j}]: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        webhooks.push(Webhook {
            url: url.to_owned(),
            topic: object
                .get("Topic")
                .and_then(JsonValue::as_str)
                .map(str::to_owned),
            scope: Scope {
                watch: object
                    .get("Watch")
                    .and_then(JsonValue::as_str)
                    .map(str::to_owned),
                max_depth,
            },
            triggers,
        });
    }
    Ok(webhooks)
}

/// Reconnect values: command line > file > default, then the bounds.
fn reconnect(args: &Args, file: &Map<String, JsonValue>) -> Result<Backoff, ConfigError> {
    let section = file.get("reconnect").and_then(JsonValue::as_object);
    let from_file = |key: &str| section.and_then(|s| s.get(key)).and_then(JsonValue::as_f64);
    let defaults = Backoff::default();
    let number = |raw: &Option<String>, key: &str, default: f64| match raw {
        Some(raw) => raw.trim().parse::<f64>().ok(),
        None => Some(from_file(key).unwrap_or(default)),
    };
    let initial = number(
        &args.reconnect_initial,
        "initialDelay",
        defaults.initial_ms as f64,
    )
    .filter(|v| *v >= 100.0)
    .ok_or_else(|| usage("--reconnect-initial must be at least 100 ms"))?;
    let max = number(&args.reconnect_max, "maxDelay", defaults.max_ms as f64)
        .filter(|v| *v >= initial)
        .ok_or_else(|| usage("--reconnect-max must be >= --reconnect-initial"))?;
    let jitter = number(&args.reconnect_jitter, "Jitter", defaults.jitter)
        .filter(|v| (0.0..=1.0).contains(v))
        .ok_or_else(|| usage("--reconnect-jitter must be between 0 and 1"))?;
    Ok(Backoff {
        initial_ms: initial as u64,
        max_ms: max as u64,
        jitter,
    })
}

fn default_persistence_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".sds")
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(path))
            .unwrap_or_else(|_| path.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn args(list: &[&str]) -> Args {
        // Parses without the environment: every test sets what it needs on the command line.
        let mut all = vec!["sds-sidecar"];
        all.extend_from_slice(list);
        Args::try_parse_from(all).unwrap()
    }

    fn base() -> Vec<&'static str> {
        vec![
            "ws://h",
            "store",
            "--token",
            "t",
            "--persistence-dir",
            "/tmp/x",
        ]
    }

    fn error(list: &[&str]) -> String {
        resolve(args(list)).unwrap_err().message
    }

    fn with_file(json: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(json.as_bytes()).unwrap();
        file
    }

    #[test]
    fn defaults_apply() {
        let config = resolve(args(&base())).unwrap();
        assert_eq!(config.backend, BackendChoice::Yrs);
        assert_eq!(config.webhook_max_attempts, 20);
        assert_eq!(config.reconnect, Backoff::default());
        assert!(config.webhooks.is_empty());
        assert!(!config.verbose);
    }

    #[test]
    fn reconnect_bounds_are_validated() {
        let mut list = base();
        list.extend(["--reconnect-initial", "99"]);
        assert_eq!(error(&list), "--reconnect-initial must be at least 100 ms");
        let mut list = base();
        list.extend(["--reconnect-initial", "500", "--reconnect-max", "499"]);
        assert_eq!(
            error(&list),
            "--reconnect-max must be >= --reconnect-initial"
        );
        let mut list = base();
        list.extend(["--reconnect-jitter", "1.5"]);
        assert_eq!(error(&list), "--reconnect-jitter must be between 0 and 1");
        let mut list = base();
        list.extend(["--reconnect-initial", "200", "--reconnect-max", "300"]);
        let backoff = resolve(args(&list)).unwrap().reconnect;
        assert_eq!((backoff.initial_ms, backoff.max_ms), (200, 300));
    }

    #[test]
    fn inline_webhook_rules() {
        let mut list = base();
        list.extend(["--webhook-url", "http://h/x"]);
        assert_eq!(error(&list), "--webhook-url given without any --on trigger");
        list.extend(["--on", "create", "--depth", "-1"]);
        assert_eq!(error(&list), "--depth must be a non-negative integer");
        let mut list = base();
        list.extend([
            "--webhook-url",
            "http://h/x",
            "--on",
            "create",
            "--on",
            "value:image/*",
            "--watch",
            "w",
            "--depth",
            "2",
            "--topic",
            "t",
        ]);
        let config = resolve(args(&list)).unwrap();
        assert_eq!(config.webhooks.len(), 1);
        assert_eq!(config.webhooks[0].scope.max_depth, Some(2));
        assert_eq!(config.webhooks[0].triggers.len(), 2);
    }

    #[test]
    fn command_line_wins_over_the_file_and_the_file_over_defaults() {
        let file = with_file(
            r#"{"ServerURL":" ws://file ","StoreId":"file-store","Token":" ft ","Backend":"loro",
                "WebHookMaxAttempts":3,"Verbose":true,
                "reconnect":{"initialDelay":250,"maxDelay":1000,"Jitter":0.5},
                "WebHooks":[{"URL":" http://file/hook ","on":["delete"],"Watch":"w","maxDepth":0}]}"#,
        );
        let path = file.path().to_str().unwrap();
        let config = resolve(args(&["--config", path, "--persistence-dir", "/tmp/x"])).unwrap();
        assert_eq!(config.server_url, "ws://file");
        assert_eq!(config.store_id, "file-store");
        assert_eq!(config.token, "ft");
        assert_eq!(config.backend, BackendChoice::Loro);
        assert_eq!(config.webhook_max_attempts, 3);
        assert!(config.verbose);
        assert_eq!(config.reconnect.initial_ms, 250);
        assert_eq!(config.reconnect.jitter, 0.5);
        assert_eq!(config.webhooks[0].url, "http://file/hook");
        assert_eq!(config.webhooks[0].scope.max_depth, Some(0));

        let config = resolve(args(&[
            "ws://cli",
            "cli-store",
            "--token",
            "ct",
            "--config",
            path,
            "--backend",
            "yrs",
            "--reconnect-initial",
            "400",
            "--webhook-url",
            "http://cli/hook",
            "--on",
            "change",
        ]))
        .unwrap();
        assert_eq!(config.server_url, "ws://cli");
        assert_eq!(config.store_id, "cli-store");
        assert_eq!(config.backend, BackendChoice::Yrs);
        assert_eq!(config.reconnect.initial_ms, 400);
        assert_eq!(config.reconnect.max_ms, 1000);
        assert_eq!(
            config
                .webhooks
                .iter()
                .map(|w| w.url.as_str())
                .collect::<Vec<_>>(),
            ["http://cli/hook", "http://file/hook"]
        );
    }

    #[test]
    fn file_webhooks_are_validated_with_indexed_messages() {
        let cases = [
            (r#"{"WebHooks":[1]}"#, "WebHooks[0]: expected an object"),
            (
                r#"{"WebHooks":[{"URL":" ","on":["change"]}]}"#,
                "WebHooks[0].URL: expected a non-empty string",
            ),
            (
                r#"{"WebHooks":[{"URL":"http://a","on":["change"]},{"URL":"http://b","on":["change"],"maxDepth":-1}]}"#,
                "WebHooks[1].maxDepth: expected a non-negative integer",
            ),
            (
                r#"{"WebHooks":[{"URL":"http://a","on":[]}]}"#,
                "WebHooks[0].on: expected a non-empty array",
            ),
            (
                r#"{"WebHooks":[{"URL":"http://a","on":["change","nope"]}]}"#,
                "WebHooks[0].on[1]: unknown trigger 'nope' — valid values: change, create, \
                 delete, value, value:<mime-glob>, info:<key>=<value>",
            ),
        ];
        for (json, message) in cases {
            let file = with_file(json);
            let mut list = base();
            list.extend(["--config", file.path().to_str().unwrap()]);
            assert_eq!(error(&list), message, "{json}");
        }
    }

    #[test]
    fn missing_values_name_their_sources() {
        let empty = with_file("{}");
        let path = empty.path().to_str().unwrap();
        assert_eq!(
            error(&["--config", path]),
            "no server URL — set SDS_SERVER_URL, use --server, or set \"ServerURL\" in config file"
        );
        assert_eq!(
            error(&["http://h", "--config", path]),
            "invalid server URL 'http://h' — must start with 'ws://' or 'wss://'"
        );
        assert_eq!(
            error(&["ws://h", "--config", path]),
            "no store ID — set SDS_STORE_ID, use --store, or set \"StoreId\" in config file"
        );
        assert_eq!(
            error(&["ws://h", "s", "--config", path]),
            "no token — set SDS_TOKEN, use --token, or set \"Token\" in config file"
        );
    }
}
