//! Timing, size and TLS options of the provider and the probe.

use rustls::ClientConfig;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Options of a [`WsProvider`](crate::WsProvider) and of
/// [`probe_with_options`](crate::probe_with_options) (SPEC §12.7, §12.8).
///
/// The defaults follow the SPEC; tests shorten the intervals. Two options are equal when
/// their values are and their [`tls`](WsOptions::tls) configurations are the same one
/// (the same `Arc`, or both `None`).
///
/// ```
/// use sds_ws::WsOptions;
/// use std::time::Duration;
///
/// let quick = WsOptions {
///     ping_interval: Duration::from_millis(100),
///     idle_timeout: Duration::from_millis(300),
///     ..WsOptions::default()
/// };
/// assert_eq!(quick.connect_timeout, WsOptions::default().connect_timeout);
/// ```
#[derive(Clone)]
pub struct WsOptions {
    /// How often a ping is sent while connected (default 30 s).
    pub ping_interval: Duration,
    /// How long the connection may stay without any inbound frame (pongs included) before it
    /// is treated as lost, closed and reconnected (default 60 s).
    pub idle_timeout: Duration,
    /// How long one connection attempt (TCP connect and WebSocket upgrade) may take before it
    /// counts as failed (default 10 s).
    pub connect_timeout: Duration,
    /// How long after the upgrade the provider waits for a refusal (close 4001 or 4003)
    /// before it reports `connected` (default 100 ms). The server refuses a token right after
    /// the upgrade, so its close frame arrives almost together with the upgrade response;
    /// waiting this long lets `connect_to` fail with `auth-failed` instead of succeeding and
    /// failing a moment later. Any inbound frame ends the wait early. Zero reports
    /// `connected` as soon as the socket opens.
    pub auth_grace: Duration,
    /// How long a closing handshake may take before the socket is dropped (default 2 s).
    pub close_timeout: Duration,
    /// The largest message (and frame) accepted from the server, in bytes (default 64 MiB).
    pub max_message_size: usize,
    /// The TLS client configuration of `wss://` connections (ignored for `ws://`): which
    /// servers are trusted, TLS versions, client certificates. `None` (the default) uses
    /// [`tls::default_config`](crate::tls::default_config), which trusts the public web PKI
    /// roots; [`tls::config_trusting`](crate::tls::config_trusting) and
    /// [`tls::config_trusting_only`](crate::tls::config_trusting_only) add a private
    /// certificate authority.
    pub tls: Option<Arc<ClientConfig>>,
}

impl fmt::Debug for WsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A client configuration prints its whole root store: only say which one it is.
        let tls = if self.tls.is_some() {
            "custom"
        } else {
            "default (web PKI roots)"
        };
        f.debug_struct("WsOptions")
            .field("ping_interval", &self.ping_interval)
            .field("idle_timeout", &self.idle_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("auth_grace", &self.auth_grace)
            .field("close_timeout", &self.close_timeout)
            .field("max_message_size", &self.max_message_size)
            .field("tls", &tls)
            .finish()
    }
}

impl PartialEq for WsOptions {
    fn eq(&self, other: &Self) -> bool {
        // Destructured, so that a new field cannot be forgotten here.
        let WsOptions {
            ping_interval,
            idle_timeout,
            connect_timeout,
            auth_grace,
            close_timeout,
            max_message_size,
            tls,
        } = self;
        let same_tls = match (tls, &other.tls) {
            (None, None) => true,
            (Some(mine), Some(theirs)) => Arc::ptr_eq(mine, theirs),
            _ => false,
        };
        *ping_interval == other.ping_interval
            && *idle_timeout == other.idle_timeout
            && *connect_timeout == other.connect_timeout
            && *auth_grace == other.auth_grace
            && *close_timeout == other.close_timeout
            && *max_message_size == other.max_message_size
            && same_tls
    }
}

impl Eq for WsOptions {}

impl Default for WsOptions {
    fn default() -> Self {
        WsOptions {
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            auth_grace: Duration::from_millis(100),
            close_timeout: Duration::from_secs(2),
            max_message_size: 64 << 20,
            tls: None,
        }
    }
}

impl WsOptions {
    pub(crate) fn socket_config(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_message_size))
    }
}
