//! Webhook requests (SPEC §17.6) and the delivery worker (§17.7).

use crate::config::DeliveryOptions;
use crate::outbox::{Outbox, OutboxRow};
use crate::runner::{SidecarEvent, send_event};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// What every outgoing call carries besides its body: the headers' credentials, and the TLS
/// trust of `https://` calls.
#[derive(Clone, Default)]
pub struct Credentials {
    /// `Authorization: Bearer <token>`.
    pub bearer: Option<String>,
    /// The HMAC-SHA256 key of `X-SDS-Signature`.
    pub secret: Option<String>,
    /// The TLS client configuration of `https://` calls; `None` trusts the public web PKI
    /// roots ([`sds_ws::tls::default_config`]).
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("bearer", &self.bearer.as_ref().map(|_| "<redacted>"))
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls.as_ref().map(|_| "custom"))
            .finish()
    }
}

/// `sha256=<lowercase hex HMAC-SHA256(secret, body)>` (SPEC §17.6).
///
/// ```
/// let signature = sds_sidecar::signature("key", b"The quick brown fox jumps over the lazy dog");
/// assert_eq!(
///     signature,
///     "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
/// );
/// ```
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut text = String::with_capacity(7 + 64);
    text.push_str("sha256=");
    for byte in digest {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// Why a request did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostError {
    /// The server answered with a status other than 2xx.
    Status {
        /// The status code.
        code: u16,
        /// The reason phrase (`Internal Server Error`).
        text: String,
    },
    /// No answer: connection refused, TLS failure, timeout, broken connection, bad URL.
    Transport(String),
}

impl std::fmt::Display for PostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PostError::Status { code, text } => write!(f, "{code} {text}"),
            PostError::Transport(message) => f.write_str(message),
        }
    }
}

/// POSTs `body` to `url` with the headers of SPEC §17.6, within `timeout`, on a connection
/// of its own.
pub async fn post_json(
    url: &str,
    body: &str,
    event_id: Option<&str>,
    credentials: &Credentials,
    timeout: Duration,
) -> Result<(), PostError> {
    Pool::default()
        .post(url, body, event_id, credentials, timeout)
        .await
}

fn transport(error: impl std::fmt::Display) -> PostError {
    PostError::Transport(error.to_string())
}

/// Where a request goes.
struct Target {
    https: bool,
    /// The host for sockets and TLS (IPv6 literals without brackets).
    host: String,
    port: u16,
    /// The `Host` header.
    authority: String,
    path: String,
    /// `scheme://authority`: the key of a kept connection.
    origin: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, PostError> {
        let uri: hyper::Uri = url.parse().map_err(transport)?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                return Err(PostError::Transport(format!(
                    "unsupported URL '{url}': expected http:// or https://"
                )));
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| PostError::Transport(format!("URL '{url}' has no host")))?;
        let authority = uri
            .authority()
            .map_or_else(|| host.to_owned(), |a| a.as_str().to_owned());
        Ok(Target {
            https,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
            origin: format!("{}://{authority}", if https { "https" } else { "http" }),
            authority,
            path: uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
        })
    }

    fn request(
        &self,
        body: &str,
        event_id: Option<&str>,
        credentials: &Credentials,
    ) -> Result<Request<Full<Bytes>>, PostError> {
        let mut request = Request::post(self.path.as_str())
            .header(HOST, self.authority.as_str())
            .header(CONTENT_TYPE, "application/json");
        if let Some(token) = &credentials.bearer {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(event_id) = event_id {
            request = request.header("X-SDS-Event-Id", event_id);
        }
        if let Some(secret) = &credentials.secret {
            request = request.header("X-SDS-Signature", signature(secret, body.as_bytes()));
        }
        request
            .body(Full::new(Bytes::from(body.to_owned())))
            .map_err(transport)
    }

    async fn connect(&self, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<Sender, PostError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(transport)?;
        tcp.set_nodelay(true).ok();
        if self.https {
            let config = tls.cloned().unwrap_or_else(sds_ws::tls::default_config);
            let connector = tokio_rustls::TlsConnector::from(config);
            let name =
                rustls::pki_types::ServerName::try_from(self.host.clone()).map_err(transport)?;
            let tls = connector.connect(name, tcp).await.map_err(transport)?;
            handshake(TokioIo::new(tls)).await
        } else {
            handshake(TokioIo::new(tcp)).await
        }
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn handshake<T>(io: T) -> Result<Sender, PostError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(transport)?;
    // The connection task ends when the sender is dropped or the server closes.
    tokio::spawn(connection);
    Ok(sender)
}

async fn exchange(
    sender: &mut Sender,
    request: Request<Full<Bytes>>,
) -> Result<hyper::StatusCode, PostError> {
    sender.ready().await.map_err(transport)?;
    let response = sender.send_request(request).await.map_err(transport)?;
    let status = response.status();
    // Read the body so that the connection can carry the next request.
    response.into_body().collect().await.map_err(transport)?;
    Ok(status)
}

/// Kept-alive HTTP/1.1 connections, one per origin: the worker sends rows one after the
/// other, so one connection per endpoint is all it uses.
#[derive(Default)]
pub(crate) struct Pool {
    senders: HashMap<String, Sender>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("origins", &self.senders.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Pool {
    /// POSTs within `timeout`, on a kept connection when there is one.
    pub(crate) async fn post(
        &mut self,
        url: &str,
        body: &str,
        event_id: Option<&str>,
        credentials: &Credentials,
        timeout: Duration,
    ) -> Result<(), PostError> {
        match tokio::time::timeout(timeout, self.post_inner(url, body, event_id, credentials)).await
        {
            Ok(result) => result,
            Err(_) => Err(PostError::Transport(format!(
                "timed out after {} ms",
                timeout.as_millis()
            ))),
        }
    }

    async fn post_inner(
        &mut self,
        url: &str,
        body: &str,
        event_id: Option<&str>,
        credentials: &Credentials,
    ) -> Result<(), PostError> {
        let target = Target::parse(url)?;
        let mut status = None;
        // A kept connection is taken out of the pool while it is used, so a failure or a
        // timeout drops it.
        if let Some(mut sender) = self.senders.remove(&target.origin) {
            // The server may have closed an idle connection; then a fresh one is tried once.
            if let Ok(answer) =
                exchange(&mut sender, target.request(body, event_id, credentials)?).await
            {
                status = Some(answer);
                self.senders.insert(target.origin.clone(), sender);
            }
        }
        let status = match status {
            Some(status) => status,
            None => {
                let mut sender = target.connect(credentials.tls.as_ref()).await?;
                let status =
                    exchange(&mut sender, target.request(body, event_id, credentials)?).await?;
                self.senders.insert(target.origin.clone(), sender);
                status
            }
        };
        if status.is_success() {
            Ok(())
        } else {
            Err(PostError::Status {
                code: status.as_u16(),
                text: status.canonical_reason().unwrap_or("").to_owned(),
            })
        }
    }
}

/// The delay after the `attempts`-th failed attempt: `min(base · 2^(attempts−1), max)` with
/// relative jitter `unit · jitter`, `unit` in [−1, 1] (SPEC §17.7).
pub fn retry_delay(options: &DeliveryOptions, attempts: u32, unit: f64) -> Duration {
    let exponent = attempts.saturating_sub(1).min(40) as i32;
    let base = (options.retry_base.as_secs_f64() * 2f64.powi(exponent))
        .min(options.retry_max.as_secs_f64());
    let factor = 1.0 + options.retry_jitter * unit.clamp(-1.0, 1.0);
    Duration::from_secs_f64((base * factor).max(0.0))
}

/// A uniform number in [−1, 1] from the operating system's randomness (through uuid v4).
fn jitter_unit() -> f64 {
    let bits = (uuid::Uuid::new_v4().as_u128() >> 64) as u64;
    (bits as f64 / u64::MAX as f64) * 2.0 - 1.0
}

/// What the worker needs besides the outbox.
#[derive(Debug)]
pub(crate) struct Worker {
    pub(crate) credentials: Credentials,
    pub(crate) options: DeliveryOptions,
    pub(crate) max_attempts: u32,
    pub(crate) wake: Arc<Notify>,
    pub(crate) events: crate::runner::EventSender,
    /// Endpoints that did not answer at all (connection refused, timeout, TLS failure): the
    /// id of the row that failed and its retry time. Later rows of the endpoint wait for that
    /// retry instead of spending their own attempts, which keeps them in order; an endpoint
    /// that answers with an error status rejected only that row, so the others go on.
    pub(crate) unreachable: HashMap<String, (i64, i64)>,
    /// Kept connections.
    pub(crate) pool: Pool,
}

/// How many due rows one round reads.
const BATCH: usize = 256;

impl Worker {
    /// Delivers due rows until the task is cancelled: first whatever earlier runs left, then
    /// the rows the change handler adds (it wakes the worker through `wake`).
    pub(crate) async fn run(mut self, outbox: Mutex<Outbox>) {
        loop {
            let next = match self.round(&outbox).await {
                Ok(next) => next,
                Err(error) => {
                    eprintln!("[sds-sidecar] webhook outbox error: {error}");
                    Some(crate::now_ms() as i64 + 1_000)
                }
            };
            let notified = self.wake.notified();
            match next {
                Some(at) => {
                    let wait = (at - crate::now_ms() as i64).max(0) as u64;
                    tokio::select! {
                        () = notified => {}
                        () = tokio::time::sleep(Duration::from_millis(wait)) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Sends every due row once, in id order; returns the next due time.
    async fn round(
        &mut self,
        outbox: &Mutex<Outbox>,
    ) -> Result<Option<i64>, crate::outbox::OutboxError> {
        // The connection is used only between requests, never across an await.
        let db = || outbox.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let now = crate::now_ms() as i64;
            let due = db().due(now, BATCH)?;
            if due.is_empty() {
                return db().next_due_at();
            }
            let full_batch = due.len() == BATCH;
            for row in due {
                // Later rows of an unreachable endpoint wait for its next probe.
                if let Some(&(head, at)) = self.unreachable.get(&row.url)
                    && row.id > head
                {
                    db().postpone(row.id, at)?;
                    continue;
                }
                match self.deliver(&row).await {
                    Ok(()) => {
                        self.reachable(&row);
                        db().delete(row.id)?;
                        send_event(&self.events, SidecarEvent::Delivered(row.event_id));
                    }
                    Err(error) => {
                        let attempts = row.attempts + 1;
                        let next = (attempts < self.max_attempts).then(|| {
                            crate::now_ms() as i64
                                + retry_delay(&self.options, attempts, jitter_unit()).as_millis()
                                    as i64
                        });
                        db().record_failure(row.id, attempts, &error.to_string(), next)?;
                        match (&error, next) {
                            (PostError::Transport(_), Some(at)) => {
                                self.unreachable.insert(row.url.clone(), (row.id, at));
                            }
                            _ => self.reachable(&row),
                        }
                        send_event(
                            &self.events,
                            SidecarEvent::AttemptFailed {
                                event_id: row.event_id,
                                attempts,
                            },
                        );
                    }
                }
            }
            if !full_batch {
                return db().next_due_at();
            }
        }
    }

    /// The endpoint of `row` answered (or `row` gave up): rows behind it no longer wait.
    fn reachable(&mut self, row: &OutboxRow) {
        if self
            .unreachable
            .get(&row.url)
            .is_some_and(|&(head, _)| head == row.id)
        {
            self.unreachable.remove(&row.url);
        }
    }

    async fn deliver(&mut self, row: &OutboxRow) -> Result<(), PostError> {
        let result = self
            .pool
            .post(
                &row.url,
                &row.body,
                Some(&row.event_id),
                &self.credentials,
                self.options.request_timeout,
            )
            .await;
        match &result {
            Ok(()) => {}
            Err(PostError::Status { code, text }) => {
                eprintln!("[sds-sidecar] webhook {} returned {code} {text}", row.url);
            }
            Err(PostError::Transport(message)) => {
                eprintln!("[sds-sidecar] webhook {} failed: {message}", row.url);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_up_to_the_maximum() {
        let options = DeliveryOptions::default();
        assert_eq!(retry_delay(&options, 1, 0.0), Duration::from_secs(1));
        assert_eq!(retry_delay(&options, 2, 0.0), Duration::from_secs(2));
        assert_eq!(retry_delay(&options, 4, 0.0), Duration::from_secs(8));
        assert_eq!(retry_delay(&options, 30, 0.0), Duration::from_secs(3_600));
        assert_eq!(retry_delay(&options, 1, 1.0), Duration::from_millis(1_100));
        assert_eq!(retry_delay(&options, 1, -1.0), Duration::from_millis(900));
        for _ in 0..100 {
            let unit = jitter_unit();
            assert!((-1.0..=1.0).contains(&unit));
        }
    }

    #[test]
    fn signatures_are_lowercase_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
