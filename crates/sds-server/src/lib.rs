//! # sds-server
//!
//! The relay server of the Shareable Data Store (SPEC §14), speaking the JS SDS wire protocol
//! (SPEC §12) so that sds peers and JS SDS clients can share it.
//!
//! * **Routes.** `/ws/<storeId>` relays sync and presence frames between the clients of a
//!   store; `/signal/<storeId>` relays WebRTC signalling (text as text, binary as binary);
//!   `POST /api/token` issues tokens; `GET /healthz` answers `{"status":"ok"}`.
//! * **Auth.** HS256 JWTs with `sub`, `aud` (the store id), `scope` (`read`, `write`,
//!   `admin`) and `exp`; refused connections are closed with 4001 or 4003 after the upgrade.
//!   `read` clients cannot change documents.
//! * **Limits.** Oversized frames close with 1009; every connection has a bounded outbound
//!   queue, and a client that does not keep up is closed with 1013 (it reconnects and
//!   resynchronises) instead of silently missing frames; pings every 30 s, 60 s of silence
//!   closes with 1001; a connection cap refuses further upgrades with HTTP 503.
//! * **Persistent mode.** With a data directory every store has a durable, passive replica
//!   in SQLite: patches are committed before they are relayed, the server answers sync
//!   requests and value requests itself, so late joiners catch up with nobody else online.
//!
//! Tests and embedding applications start the server on a listener of their own and stop it
//! with any future:
//!
//! ```
//! use sds_server::{ServerConfig, run};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> anyhow::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let address = listener.local_addr()?;
//! let config = ServerConfig::new("a secret of at least thirty-two characters");
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(run(listener, config, async move {
//!     let _ = stopped.await;
//! }));
//!
//! // Clients connect to ws://{address}/ws/<storeId>?token=<jwt>.
//! let mut stream = tokio::net::TcpStream::connect(address).await?;
//! use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
//! stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?;
//! let mut response = String::new();
//! stream.read_to_string(&mut response).await?;
//! assert!(response.starts_with("HTTP/1.1 200"));
//! assert!(response.ends_with(r#"{"status":"ok"}"#));
//!
//! stop.send(()).ok();
//! server.await??;
//! # Ok(())
//! # }
//! ```

mod auth;
mod config;
mod connection;
mod error;
mod replica;
mod room;
mod server;

pub use auth::{
    AuthError, Claims, DEFAULT_TOKEN_LIFETIME_SECONDS, Scope, issue as issue_token, now_seconds,
    parse_duration, verify as verify_token,
};
pub use config::{
    BackendKind, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_FRAME_SIZE, DEFAULT_OUTBOUND_QUEUE_LIMIT,
    JwtSecret, MIN_SECRET_CHARS, SECRET_FILE_NAME, ServerConfig, load_or_create_secret,
    read_secret_file,
};
pub use error::{Result, ServerError};
pub use server::{Server, ServerStats};

use std::future::Future;

/// Runs a server on `listener` until `shutdown` completes (SPEC §14.8): then it stops
/// accepting connections, closes open ones with 1001, checkpoints the loaded replicas and
/// returns. Fails at once on an invalid configuration or an unusable data directory.
pub async fn run(
    listener: tokio::net::TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    Server::new(config)?.serve(listener, shutdown).await
}
