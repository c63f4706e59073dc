//! The HTTP side (SPEC §14.2, §14.5), WebSocket upgrades, and the server's lifecycle (§14.8).

use crate::auth::{self, Scope};
use crate::config::ServerConfig;
use crate::connection::{self, Refusal, Route, close_code};
use crate::error::Result;
use crate::replica::Replicas;
use crate::room::Rooms;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt as _;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sds_sync::protocol::percent_decode;
use serde_json::{Value as JsonValue, json};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Notify, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

/// Read buffer of each socket. Small on purpose: an idle connection then costs about 10 KB
/// instead of the ~137 KB of the 128 KiB default; larger frames grow the buffer as needed.
const READ_BUFFER_SIZE: usize = 4 * 1024;

/// Frames written to one socket are gathered up to this size before a write call, so that a
/// burst of small relayed frames costs few system calls.
const WRITE_BUFFER_SIZE: usize = 16 * 1024;

/// State shared by every connection.
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) sync_rooms: Rooms,
    pub(crate) signal_rooms: Rooms,
    pub(crate) replicas: Option<Arc<Replicas>>,
    pub(crate) connections: Connections,
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// Counts WebSocket connections, for the connection cap and for shutdown.
pub(crate) struct Connections {
    count: AtomicUsize,
    max: usize,
    idle: Notify,
}

/// A counted connection; dropping it frees its place.
pub(crate) struct ConnectionSlot {
    shared: Arc<Shared>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let connections = &self.shared.connections;
        if connections.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            connections.idle.notify_waiters();
        }
    }
}

impl Connections {
    fn try_acquire(shared: &Arc<Shared>) -> Option<ConnectionSlot> {
        let connections = &shared.connections;
        connections
            .count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |count| {
                (count < connections.max).then_some(count + 1)
            })
            .ok()
            .map(|_| ConnectionSlot {
                shared: shared.clone(),
            })
    }

    async fn wait_until_none(&self) {
        loop {
            let idle = self.idle.notified();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// Counters of a running server, for tests and monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerStats {
    /// WebSocket connections (both routes), including those being set up or closed.
    pub connections: usize,
    /// Rooms on `/ws`.
    pub sync_rooms: usize,
    /// Rooms on `/signal`.
    pub signal_rooms: usize,
    /// Durable replicas loaded (persistent mode).
    pub loaded_replicas: usize,
}

/// A configured server. [`crate::run`] is `Server::new(config)?.serve(listener, shutdown)`;
/// keeping a clone of the `Server` gives access to [`Server::stats`] while it runs.
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
    shutdown: Arc<watch::Sender<bool>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Validates the configuration and, in persistent mode, prepares the data directory.
    /// Configuration errors are [`crate::ServerError::Config`]; an unusable data directory is
    /// [`crate::ServerError::DataDir`].
    pub fn new(config: ServerConfig) -> Result<Server> {
        config.validate()?;
        let (shutdown_sender, shutdown) = watch::channel(false);
        let replicas = match &config.data_dir {
            Some(dir) => {
                crate::config::prepare_data_dir(dir)?;
                Some(Arc::new(Replicas::new(
                    dir.clone(),
                    config.backend,
                    config.unload_after,
                    shutdown.clone(),
                )))
            }
            None => None,
        };
        let connections = Connections {
            count: AtomicUsize::new(0),
            max: config.max_connections,
            idle: Notify::new(),
        };
        Ok(Server {
            shared: Arc::new(Shared {
                config,
                sync_rooms: Rooms::default(),
                signal_rooms: Rooms::default(),
                replicas,
                connections,
                shutdown,
            }),
            shutdown: Arc::new(shutdown_sender),
        })
    }

    /// Current counters.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            connections: self.shared.connections.count.load(Ordering::Acquire),
            sync_rooms: self.shared.sync_rooms.count(),
            signal_rooms: self.shared.signal_rooms.count(),
            loaded_replicas: self
                .shared
                .replicas
                .as_ref()
                .map_or(0, |replicas| replicas.loaded()),
        }
    }

    /// Connections in the `/ws` room of `store_id`.
    pub fn sync_room_size(&self, store_id: &str) -> usize {
        self.shared.sync_rooms.members_of(store_id)
    }

    /// Serves on `listener` until `shutdown` completes, then stops accepting connections,
    /// closes open ones with 1001, checkpoints the loaded replicas and returns.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<()> {
        let local = listener.local_addr()?;
        let mode = match &self.shared.config.data_dir {
            Some(dir) => format!(
                "persistent mode in {} ({} backend)",
                dir.display(),
                self.shared.config.backend
            ),
            None => "pure relay".to_owned(),
        };
        tracing::info!(address = %local, "sds-server listening, {mode}");
        let listener = listener.tap_io(|tcp| {
            // Relayed frames are small and latency matters more than packet count.
            let _ = tcp.set_nodelay(true);
        });
        let mut stopping = self.shared.shutdown.clone();
        let http =
            axum::serve(listener, router(self.shared.clone())).with_graceful_shutdown(async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            });
        let mut http = tokio::spawn(async move { http.await });
        let mut http_done = false;
        tokio::select! {
            () = shutdown => {}
            result = &mut http => {
                http_done = true;
                tracing::error!(?result, "the HTTP server stopped unexpectedly");
            }
        }
        tracing::info!("shutting down");
        self.shutdown.send_replace(true);
        if !http_done {
            // Open HTTP requests finish; idle keep-alive connections are closed.
            let _ = tokio::time::timeout(self.shared.config.close_timeout * 2, &mut http).await;
            http.abort();
        }
        self.shared.connections.wait_until_none().await;
        if let Some(replicas) = &self.shared.replicas {
            replicas.stop_all().await;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/token", post(issue_token))
        .route("/ws/{store}", get(sync_socket))
        .route("/signal/{store}", get(signal_socket))
        .fallback(not_found)
        .with_state(shared)
}

fn json_response(status: StatusCode, body: JsonValue) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn error_response(status: StatusCode, message: &str) -> Response {
    json_response(status, json!({ "error": message }))
}

async fn healthz() -> Response {
    json_response(StatusCode::OK, json!({ "status": "ok" }))
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not found")
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// `POST /api/token` (SPEC §14.5), with the checks in the documented order.
async fn issue_token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let config = &shared.config;
    let Some(token) = bearer_token(&headers) else {
        return error_response(StatusCode::UNAUTHORIZED, "missing token");
    };
    let now = auth::now_seconds();
    let admin = match auth::verify(token, config, now) {
        Ok(claims) => claims,
        Err(reason) => {
            tracing::info!(%reason, "token issuance refused");
            return error_response(StatusCode::UNAUTHORIZED, "invalid token");
        }
    };
    if admin.scope != Scope::Admin {
        return error_response(StatusCode::FORBIDDEN, "admin scope required");
    }
    let Ok(request) = serde_json::from_slice::<JsonValue>(&body) else {
        return error_response(StatusCode::BAD_REQUEST, "invalid JSON body");
    };
    let (Some(sub), Some(scope)) = (
        request.get("sub").and_then(JsonValue::as_str),
        request.get("scope").and_then(JsonValue::as_str),
    ) else {
        return error_response(StatusCode::BAD_REQUEST, "sub and scope required");
    };
    let Some(scope) = Scope::parse(scope) else {
        return error_response(StatusCode::BAD_REQUEST, "invalid scope");
    };
    let lifetime = request
        .get("exp")
        .and_then(JsonValue::as_str)
        .and_then(auth::parse_duration)
        .unwrap_or(auth::DEFAULT_TOKEN_LIFETIME_SECONDS);
    match auth::issue(
        &config.jwt_secret,
        config.issuer.as_deref(),
        sub,
        &admin.aud,
        scope,
        now,
        lifetime,
    ) {
        Ok(token) => {
            tracing::info!(store = %admin.aud, %sub, %scope, "token issued");
            json_response(StatusCode::OK, json!({ "token": token }))
        }
        Err(error) => {
            tracing::error!(%error, "signing a token failed");
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "signing failed")
        }
    }
}

async fn sync_socket(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    upgrade(shared, Route::Sync, request)
}

async fn signal_socket(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    upgrade(shared, Route::Signal, request)
}

/// The `token` query parameter, percent-decoded.
fn query_token(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "token")
        .and_then(|(_, value)| percent_decode(value))
}

fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|part| part.trim().eq_ignore_ascii_case(token))
        })
    })
}

/// Checks the token of an upgrade request (SPEC §14.3).
fn authorize(
    config: &ServerConfig,
    token: Option<&str>,
    store_id: &str,
) -> std::result::Result<auth::Claims, Refusal> {
    let unauthorized = Refusal {
        code: close_code::UNAUTHORIZED,
        reason: "Unauthorized",
    };
    let Some(token) = token else {
        tracing::info!(store = %store_id, "connection refused: no token");
        return Err(unauthorized);
    };
    let claims = match auth::verify(token, config, auth::now_seconds()) {
        Ok(claims) => claims,
        Err(reason) => {
            tracing::info!(store = %store_id, %reason, "connection refused");
            return Err(unauthorized);
        }
    };
    if claims.aud != store_id {
        tracing::info!(store = %store_id, sub = %claims.sub, "connection refused: token for another store");
        return Err(Refusal {
            code: close_code::FORBIDDEN,
            reason: "Forbidden",
        });
    }
    Ok(claims)
}

fn upgrade(shared: Arc<Shared>, route: Route, mut request: Request) -> Response {
    let prefix = match route {
        Route::Sync => "/ws/",
        Route::Signal => "/signal/",
    };
    let Some(store_id) = request
        .uri()
        .path()
        .strip_prefix(prefix)
        .and_then(percent_decode)
    else {
        return error_response(StatusCode::NOT_FOUND, "not found");
    };
    let headers = request.headers();
    let is_upgrade = header_has_token(headers, header::CONNECTION, "upgrade")
        && header_has_token(headers, header::UPGRADE, "websocket")
        && headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_some_and(|v| v == "13");
    let key = headers.get(header::SEC_WEBSOCKET_KEY).cloned();
    let (true, Some(key)) = (is_upgrade, key) else {
        return error_response(StatusCode::BAD_REQUEST, "WebSocket upgrade expected");
    };
    let token = query_token(request.uri().query())
        .or_else(|| bearer_token(request.headers()).map(str::to_owned));
    let Some(on_upgrade) = request.extensions_mut().remove::<OnUpgrade>() else {
        return error_response(StatusCode::BAD_REQUEST, "connection cannot be upgraded");
    };
    if *shared.shutdown.borrow() {
        return error_response(StatusCode::SERVICE_UNAVAILABLE, "server shutting down");
    }
    let Some(slot) = Connections::try_acquire(&shared) else {
        tracing::warn!(
            max = shared.config.max_connections,
            "connection cap reached; upgrade refused"
        );
        return error_response(StatusCode::SERVICE_UNAVAILABLE, "too many connections");
    };
    let auth = authorize(&shared.config, token.as_deref(), &store_id)
        .map(|claims| connection::admit(&shared, route, &store_id, claims));
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_SIZE)
        .write_buffer_size(WRITE_BUFFER_SIZE)
        .max_message_size(Some(shared.config.max_frame_size))
        .max_frame_size(Some(shared.config.max_frame_size));
    tokio::spawn(async move {
        // The slot is held until the connection ends.
        let slot = slot;
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::debug!(%error, "upgrade failed");
                if let Ok(admitted) = &auth {
                    connection::withdraw(&slot.shared, route, &store_id, admitted);
                }
                return;
            }
        };
        let socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(ws_config))
                .await;
        connection::serve(socket, slot.shared.clone(), route, store_id, auth).await;
        drop(slot);
    });
    let accept = derive_accept_key(key.as_bytes());
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, HeaderValue::from_static("upgrade"))
        .header(header::UPGRADE, HeaderValue::from_static("websocket"))
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_comes_from_the_query() {
        assert_eq!(query_token(Some("a=1&token=x%2By")).as_deref(), Some("x+y"));
        assert_eq!(query_token(Some("tokens=1")), None);
        assert_eq!(query_token(None), None);
    }
}
