//! Configuration of the server (SPEC §14.1) and the generated secret of the easy start.

use crate::error::{Result, ServerError};
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The shortest accepted JWT secret, in characters (SPEC §14.1).
pub const MIN_SECRET_CHARS: usize = 32;

/// Default `--max-frame-size`: 16 MiB.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;

/// Default `--outbound-queue-limit`: 64 MiB of queued frames per connection.
pub const DEFAULT_OUTBOUND_QUEUE_LIMIT: usize = 64 * 1024 * 1024;

/// Default `--max-connections`: WebSocket connections (`/ws` and `/signal` together) held at
/// once. Further upgrade requests are refused with HTTP 503.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// The file in the data directory that holds the generated secret of the easy start.
pub const SECRET_FILE_NAME: &str = "jwt-secret";

/// The CRDT backend of the durable replicas.
pub use sds_core::BackendKind;

/// The HMAC key of the server's tokens. Its `Debug` output never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtSecret(String);

impl JwtSecret {
    /// Wraps a secret; [`ServerConfig::validate`] checks its length.
    pub fn new(secret: impl Into<String>) -> Self {
        JwtSecret(secret.into())
    }

    /// The key bytes (the UTF-8 bytes of the secret).
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Length in characters.
    pub fn char_count(&self) -> usize {
        self.0.chars().count()
    }
}

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret(<redacted>)")
    }
}

/// Everything [`crate::run`] needs. Build it with [`ServerConfig::new`] and adjust fields.
///
/// The timing fields have the SPEC defaults; tests shorten them.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The HMAC-SHA256 key of every token (at least 32 characters).
    pub jwt_secret: JwtSecret,
    /// When set, tokens must carry this `iss`, and issued tokens carry it.
    pub issuer: Option<String>,
    /// Enables persistent mode (SPEC §14.7): one SQLite file per store in this directory.
    pub data_dir: Option<PathBuf>,
    /// Backend of the durable replicas (persistent mode only).
    pub backend: BackendKind,
    /// Largest accepted WebSocket message in bytes; larger ones close the connection with 1009.
    pub max_frame_size: usize,
    /// Bytes of frames queued for one connection; a frame that does not fit closes the
    /// connection with 1013.
    pub outbound_queue_limit: usize,
    /// Accept tokens without `exp` (they never expire).
    pub allow_tokens_without_exp: bool,
    /// WebSocket connections held at once; upgrade requests beyond it get HTTP 503.
    pub max_connections: usize,
    /// Interval of the server's WebSocket pings (SPEC: 30 s).
    pub ping_interval: Duration,
    /// A connection without any inbound frame (pongs included) for this long is closed with
    /// 1001 (SPEC: 60 s).
    pub idle_timeout: Duration,
    /// A durable replica is checkpointed and unloaded this long after its last client left
    /// (SPEC: 60 s).
    pub unload_after: Duration,
    /// How long the server waits for a closing frame to be written and for the client to end
    /// the connection after it, before it drops the connection.
    pub close_timeout: Duration,
}

impl ServerConfig {
    /// A configuration with the SPEC defaults: pure relay, no issuer, `exp` required.
    pub fn new(jwt_secret: impl Into<String>) -> Self {
        ServerConfig {
            jwt_secret: JwtSecret::new(jwt_secret),
            issuer: None,
            data_dir: None,
            backend: BackendKind::Yrs,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            outbound_queue_limit: DEFAULT_OUTBOUND_QUEUE_LIMIT,
            allow_tokens_without_exp: false,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            unload_after: Duration::from_secs(60),
            close_timeout: Duration::from_secs(5),
        }
    }

    /// Checks the rules of SPEC §14.1; failures are [`ServerError::Config`].
    pub fn validate(&self) -> Result<()> {
        let chars = self.jwt_secret.char_count();
        if chars < MIN_SECRET_CHARS {
            return Err(ServerError::Config(format!(
                "the JWT secret must be at least {MIN_SECRET_CHARS} characters long (it has {chars})"
            )));
        }
        if self.max_frame_size == 0 {
            return Err(ServerError::Config(
                "--max-frame-size must be at least 1".into(),
            ));
        }
        if self.outbound_queue_limit == 0 {
            return Err(ServerError::Config(
                "--outbound-queue-limit must be at least 1".into(),
            ));
        }
        if self.max_connections == 0 {
            return Err(ServerError::Config(
                "--max-connections must be at least 1".into(),
            ));
        }
        if self.issuer.as_deref() == Some("") {
            return Err(ServerError::Config("--issuer must not be empty".into()));
        }
        for (name, value) in [
            ("ping interval", self.ping_interval),
            ("idle timeout", self.idle_timeout),
        ] {
            if value.is_zero() {
                return Err(ServerError::Config(format!("the {name} must not be zero")));
            }
        }
        Ok(())
    }
}

/// Reads a secret file: its content without the trailing line break.
pub fn read_secret_file(path: &Path) -> Result<String> {
    let content = std::fs::read_to_string(path).map_err(|e| {
        ServerError::Config(format!(
            "cannot read the secret file {}: {e}",
            path.display()
        ))
    })?;
    Ok(content
        .strip_suffix('\n')
        .map(|s| s.strip_suffix('\r').unwrap_or(s))
        .unwrap_or(&content)
        .to_owned())
}

/// The secret of the easy start: read from `<data_dir>/jwt-secret`, or generated (64 random
/// hex characters) and written there with permissions 0600 when the file does not exist.
/// Returns the secret and whether it was generated now.
pub fn load_or_create_secret(data_dir: &Path) -> Result<(String, bool)> {
    let data_dir_error = |source| ServerError::DataDir {
        path: data_dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(data_dir_error)?;
    let path = data_dir.join(SECRET_FILE_NAME);
    if path.exists() {
        return read_secret_file(&path).map(|secret| (secret, false));
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| data_dir_error(std::io::Error::other(e.to_string())))?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(&path).map_err(data_dir_error)?;
    file.write_all(format!("{secret}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(data_dir_error)?;
    Ok((secret, true))
}

/// Creates the data directory if needed and checks that files can be written in it.
pub fn prepare_data_dir(data_dir: &Path) -> Result<()> {
    let data_dir_error = |source| ServerError::DataDir {
        path: data_dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(data_dir_error)?;
    let probe = data_dir.join(format!(".sds-server-probe-{}", std::process::id()));
    std::fs::write(&probe, b"probe").map_err(data_dir_error)?;
    std::fs::remove_file(&probe).map_err(data_dir_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_and_zero_limits_are_configuration_errors() {
        assert!(
            ServerConfig::new("x".repeat(31))
                .validate()
                .unwrap_err()
                .is_config()
        );
        // Characters, not bytes: 32 two-byte characters are enough, 31 are not.
        assert!(ServerConfig::new("é".repeat(32)).validate().is_ok());
        assert!(ServerConfig::new("é".repeat(31)).validate().is_err());
        let mut config = ServerConfig::new("s".repeat(32));
        config.max_frame_size = 0;
        assert!(config.validate().is_err());
    }

    #[test]
    fn the_secret_debug_output_is_redacted() {
        let config = ServerConfig::new("super-secret-super-secret-super-secret");
        assert!(!format!("{config:?}").contains("super-secret"));
    }

    #[test]
    fn the_generated_secret_is_kept_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = load_or_create_secret(dir.path()).unwrap();
        assert!(created);
        assert_eq!(first.len(), 64);
        let (again, created) = load_or_create_secret(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(first, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(SECRET_FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn secret_files_lose_their_trailing_line_break_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "  padded secret \r\n").unwrap();
        assert_eq!(read_secret_file(&path).unwrap(), "  padded secret ");
    }
}
