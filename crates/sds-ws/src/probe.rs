//! The connection probe of `sds store ping` (SPEC §15.5).

use crate::options::WsOptions;
use crate::socket;
use futures_util::StreamExt;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// What [`probe`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The socket opened and the server did not refuse the token.
    Reachable,
    /// The server closed with 4001 (`Unauthorized`) or 4003 (`Forbidden`).
    Rejected {
        /// The close code.
        code: u16,
        /// The close reason (may be empty).
        reason: String,
    },
    /// The socket did not open, or closed for another reason; the message says why (it never
    /// contains the URL, whose query carries the token).
    Unreachable(String),
}

/// Opens the sync socket `url` (token included, see [`sds_sync::protocol::sync_url`]), waits
/// up to `wait` after the upgrade for a 4001/4003 close, then closes normally (1000). Sends no
/// frame. The attempt itself is bounded by the default connect timeout
/// ([`WsOptions::connect_timeout`]); a `wss://` server must present a certificate issued by
/// one of the public web PKI roots ([`tls::default_config`](crate::tls::default_config)).
/// [`probe_with_options`] takes other timeouts or TLS trust.
///
/// ```no_run
/// use sds_sync::protocol::sync_url;
/// use sds_ws::{ProbeOutcome, probe};
/// use std::time::Duration;
///
/// # async fn ping() {
/// let url = sync_url("ws://127.0.0.1:8080", "notes", "<jwt>");
/// match probe(&url, Duration::from_millis(1000)).await {
///     ProbeOutcome::Reachable => println!("reachable"),
///     ProbeOutcome::Rejected { code, reason } => println!("token rejected by server: {code} {reason}"),
///     ProbeOutcome::Unreachable(message) => println!("unreachable — {message}"),
/// }
/// # }
/// ```
pub async fn probe(url: &str, wait: Duration) -> ProbeOutcome {
    probe_with_options(url, wait, &WsOptions::default()).await
}

/// [`probe`] with explicit options: the connect and close timeouts, the message size limit
/// and, for `wss://` URLs, the TLS configuration ([`WsOptions::tls`]) are taken from
/// `options`; the keep-alive and grace options play no part.
///
/// ```no_run
/// use sds_sync::protocol::sync_url;
/// use sds_ws::rustls::pki_types::CertificateDer;
/// use sds_ws::{ProbeOutcome, WsOptions, probe_with_options, tls};
/// use std::time::Duration;
///
/// # async fn ping(private_ca: CertificateDer<'static>) -> Result<(), Box<dyn std::error::Error>> {
/// let options = WsOptions {
///     tls: Some(tls::config_trusting_only([private_ca])?),
///     ..WsOptions::default()
/// };
/// let url = sync_url("wss://sync.internal.example:8443", "notes", "<jwt>");
/// let outcome = probe_with_options(&url, Duration::from_millis(1000), &options).await;
/// assert_eq!(outcome, ProbeOutcome::Reachable);
/// # Ok(())
/// # }
/// ```
pub async fn probe_with_options(url: &str, wait: Duration, options: &WsOptions) -> ProbeOutcome {
    let mut socket = match socket::open(url, options).await {
        Ok(socket) => socket,
        Err(message) => return ProbeOutcome::Unreachable(message),
    };
    let deadline = Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            // No refusal in time: the token was accepted.
            Err(_) => break,
            Ok(Some(Ok(Message::Close(frame)))) => {
                let (code, reason) = socket::close_details(frame);
                socket::finish_close(socket, options).await;
                return if socket::is_refusal(code) {
                    ProbeOutcome::Rejected { code, reason }
                } else if reason.is_empty() {
                    ProbeOutcome::Unreachable(format!("the server closed the connection ({code})"))
                } else {
                    ProbeOutcome::Unreachable(format!(
                        "the server closed the connection ({code} {reason})"
                    ))
                };
            }
            // Whatever the server sends meanwhile is not for the probe.
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(error))) => return ProbeOutcome::Unreachable(error.to_string()),
            Ok(None) => {
                return ProbeOutcome::Unreachable("the connection closed".into());
            }
        }
    }
    socket::close(socket, CloseCode::Normal, "", options).await;
    ProbeOutcome::Reachable
}
