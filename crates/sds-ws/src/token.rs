//! `POST /api/token` (SPEC §14.2): asking a relay server for a client token with an admin
//! token, over HTTP/1.1 (`https` through rustls with the *ring* provider and the public web PKI
//! roots, like `wss://` connections).
//!
//! ```no_run
//! # async fn example() -> Result<(), sds_ws::TokenError> {
//! use std::time::Duration;
//! let token = sds_ws::issue_token(
//!     "ws://127.0.0.1:3000",
//!     "<admin token>",
//!     &sds_ws::TokenRequest { sub: "ada", scope: "write", exp: "24h" },
//!     Duration::from_secs(30),
//! )
//! .await?;
//! # let _ = token;
//! # Ok(())
//! # }
//! ```

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use sds_sync::protocol::token_url;
use std::fmt;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// The claims a client token is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRequest<'a> {
    /// The subject (`sub`).
    pub sub: &'a str,
    /// `read`, `write` or `admin`.
    pub scope: &'a str,
    /// The lifetime: a number and a unit (`s`, `m`, `h`, `d`).
    pub exp: &'a str,
}

/// Why no token was issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The exchange did not complete (address, connection, TLS, HTTP, time limit).
    Transport {
        /// The URL asked.
        url: String,
        /// The transport's message.
        message: String,
    },
    /// HTTP 401: the admin token is missing, invalid or expired (the server's error text).
    Unauthorized(String),
    /// HTTP 403: the token lacks the admin scope (the server's error text).
    Forbidden(String),
    /// Another status outside 2xx, with the server's error text.
    Status(u16, String),
    /// A 2xx answer without a token in it.
    NoToken,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Transport { url, message } => {
                write!(f, "HTTP request to '{url}' failed: {message}")
            }
            TokenError::Unauthorized(error) => write!(f, "token rejected by server: {error}"),
            TokenError::Forbidden(error) => write!(f, "admin scope required: {error}"),
            TokenError::Status(status, error) => write!(f, "server returned {status}: {error}"),
            TokenError::NoToken => f.write_str("server response did not contain a token"),
        }
    }
}

impl std::error::Error for TokenError {}

/// Asks the server at `server` (a `ws://` or `wss://` base URL, as for connections) for a
/// client token with `request`'s claims, authenticated with `admin_token`. The whole exchange,
/// connection included, is bounded by `limit`.
pub async fn issue_token(
    server: &str,
    admin_token: &str,
    request: &TokenRequest<'_>,
    limit: Duration,
) -> Result<String, TokenError> {
    let url = token_url(server);
    let body = serde_json::json!({"sub": request.sub, "scope": request.scope, "exp": request.exp})
        .to_string();
    let exchange = tokio::time::timeout(limit, post_json(&url, admin_token, body));
    let (status, text) = exchange
        .await
        .unwrap_or_else(|_| Err("timed out".to_owned()))
        .map_err(|message| TokenError::Transport {
            url: url.clone(),
            message,
        })?;
    let field = |name: &str| field_of(&text, name);
    let error = || field("error").unwrap_or_else(|| text.trim().to_owned());
    match status {
        200..=299 => field("token").ok_or(TokenError::NoToken),
        401 => Err(TokenError::Unauthorized(error())),
        403 => Err(TokenError::Forbidden(error())),
        other => Err(TokenError::Status(other, error())),
    }
}

/// The string member `name` of a JSON object text.
fn field_of(text: &str, name: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    value.get(name)?.as_str().map(str::to_owned)
}

/// `POST <url>` with a bearer token and a JSON body. Returns the status and the body as text;
/// errors are the transport's messages.
async fn post_json(url: &str, bearer: &str, body: String) -> Result<(u16, String), String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("invalid URL: {e}"))?;
    let https = uri.scheme_str() == Some("https");
    let authority = uri
        .authority()
        .ok_or_else(|| "the URL has no host".to_owned())?
        .clone();
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let request = hyper::Request::post(path)
        .header(HOST, authority.as_str())
        .header(AUTHORIZATION, format!("Bearer {bearer}"))
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| e.to_string())?;
    if !https {
        return send(tcp, request).await;
    }
    let name = rustls::pki_types::ServerName::try_from(host).map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(crate::tls::default_config())
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    send(tls, request).await
}

async fn send<S>(stream: S, request: hyper::Request<Full<Bytes>>) -> Result<(u16, String), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    drop(sender);
    driver.abort();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_as_json() {
        assert_eq!(field_of(r#"{"token":"t"}"#, "token").as_deref(), Some("t"));
        assert_eq!(field_of("not json", "token"), None);
    }

    #[test]
    fn errors_read_as_the_cli_prints_them() {
        let transport = TokenError::Transport {
            url: "http://x/api/token".into(),
            message: "refused".into(),
        };
        assert_eq!(
            transport.to_string(),
            "HTTP request to 'http://x/api/token' failed: refused"
        );
        assert_eq!(
            TokenError::Status(500, "boom".into()).to_string(),
            "server returned 500: boom"
        );
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_transport_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let error = issue_token(
            &format!("ws://127.0.0.1:{port}"),
            "admin",
            &TokenRequest {
                sub: "a",
                scope: "read",
                exp: "1h",
            },
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&error, TokenError::Transport { url, .. } if url == &format!("http://127.0.0.1:{port}/api/token")),
            "{error}"
        );
    }
}
