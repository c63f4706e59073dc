//! # sds-ws
//!
//! The WebSocket network provider of the Shareable Data Store (SPEC §12): an implementation
//! of [`sds_sync::NetworkProvider`] over tokio-tungstenite that connects an engine to a relay
//! server such as `sds-server` (or a JS SDS server), plus the connection [`probe`] behind
//! `sds store ping`, over `ws://` or `wss://` (TLS, see [below](#wss-tls)).
//!
//! [`WsProvider`] runs each connection as a task on a tokio runtime and exchanges messages
//! with the engine driver's thread through channels, so its methods never block. It follows
//! the connection state machine of SPEC §12.7 (reconnect with exponential backoff and jitter,
//! stop on 4001/4003), the keep-alive of §12.8 (a ping every 30 s, a connection without any
//! inbound frame for 60 s is replaced) and drops what is sent while not connected (§12.9: the
//! engine keeps its own backlog). Frames are the engine's business: the provider moves binary
//! messages and ignores text ones.
//!
//! ```no_run
//! use sds_core::{MemoryPersistence, ROOT_ID};
//! use sds_sync::{Backoff, ConnectOptions, Engine, EngineHandle, EngineOptions};
//! use sds_ws::WsProvider;
//! use sds_yrs::YrsBackend;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::<YrsBackend>::start(
//!     Some(Box::new(MemoryPersistence::new("notes"))),
//!     EngineOptions::default(),
//!     sds_sync::driver::now_ms(),
//! )?;
//! // The provider's connection task runs on the current tokio runtime.
//! let (handle, _events) = EngineHandle::spawn_with_network(engine, Box::new(WsProvider::from_current()))?;
//! handle
//!     .connect_to(
//!         "ws://127.0.0.1:8080",
//!         ConnectOptions {
//!             store_id: "notes".into(),
//!             token: "<jwt>".into(),
//!             backoff: Backoff::default(),
//!         },
//!     )
//!     .await?;
//! // Local changes now reach every peer of the store, and theirs arrive here.
//! handle
//!     .transact(|store| {
//!         let id = store.new_item_at(None, ROOT_ID, None)?;
//!         store.set_label(&id, "shared")
//!     })
//!     .await?;
//! handle.stop().await?;
//! # Ok(())
//! # }
//! ```

//!
//! ## `wss://`: TLS
//!
//! Server URLs may be `ws://` or `wss://` (SPEC §12.1). `wss://` connections use rustls with
//! the *ring* crypto provider and an explicit client configuration, so the application need
//! not (and should not have to) install a process-wide rustls crypto provider. The server's
//! certificate must be valid for the URL's host name (or IP address) and, by default, be
//! issued by one of the public web PKI roots compiled in from `webpki-roots`; the operating
//! system's certificate store is not consulted.
//!
//! A private deployment whose server certificate comes from its own certificate authority
//! passes a configuration that trusts that CA in [`WsOptions::tls`]; [`tls`] builds one from
//! DER certificates (and [`rustls::pki_types::pem::PemObject`] reads them from PEM):
//!
//! ```no_run
//! use sds_ws::rustls::pki_types::CertificateDer;
//! use sds_ws::rustls::pki_types::pem::PemObject;
//! use sds_ws::{WsOptions, WsProvider, tls};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ca = CertificateDer::from_pem_file("/etc/sds/ca.pem")?;
//! let options = WsOptions {
//!     // Only this CA; `tls::config_trusting` keeps the public roots as well.
//!     tls: Some(tls::config_trusting_only([ca])?),
//!     ..WsOptions::default()
//! };
//! let provider = WsProvider::with_options(tokio::runtime::Handle::current(), options);
//! // …then `EngineHandle::spawn_with_network(engine, Box::new(provider))` and
//! // `connect_to("wss://sync.internal.example:8443", …)` as above. `probe_with_options`
//! // takes the same options.
//! # let _ = provider;
//! # Ok(())
//! # }
//! ```
//!
//! A certificate the configuration does not trust fails the attempt like any other
//! connection failure: `AttemptFailed` with a message that names the certificate problem
//! (for example `invalid peer certificate: UnknownIssuer`), then retries with backoff.

mod jitter;
mod options;
mod probe;
mod provider;
mod socket;
pub mod tls;
mod token;

pub use options::WsOptions;
pub use probe::{ProbeOutcome, probe, probe_with_options};
pub use provider::{Closed, WsProvider};
/// The rustls version this crate is built with, for [`WsOptions::tls`] configurations and
/// certificate types.
pub use rustls;
pub use token::{TokenError, TokenRequest, issue_token};
