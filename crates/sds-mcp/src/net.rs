//! The tools that use the network: `sds_store_ping` (a connection probe, no local side
//! effects), `sds_store_sync` (an engine with persistence and network for `TimeoutMs` after
//! connecting) and `sds_token_issue` (`POST /api/token`). They are called from a blocking
//! thread and drive their async parts on the server's runtime.

use crate::params::{ToolError, ToolResult};
use crate::session::{Access, Session, Target, sync_error};
use sds_core::NewBackend;
use sds_sync::{Backoff, ConnectOptions, EngineHandle};
use sds_ws::TokenError;
use serde_json::{Value as JsonValue, json};
use std::time::Duration;
use tokio::runtime::Handle;

/// The bound of the whole `POST /api/token` exchange (connection included).
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a probe waits after the upgrade for a 4001/4003 close (SPEC §15.5).
const PROBE_WAIT: Duration = Duration::from_millis(1000);

/// `sds_store_ping`: connects and authenticates only.
pub fn ping(rt: &Handle, store_id: &str, server: &str, token: &str) -> JsonValue {
    let url = sds_sync::protocol::sync_url(server, store_id, token);
    match rt.block_on(sds_ws::probe(&url, PROBE_WAIT)) {
        sds_ws::ProbeOutcome::Reachable => {
            json!({"Server": server, "StoreId": store_id, "reachable": true})
        }
        sds_ws::ProbeOutcome::Rejected { code, reason } => json!({
            "Server": server,
            "reachable": false,
            "Error": format!("token rejected by server: {code} {reason}"),
        }),
        sds_ws::ProbeOutcome::Unreachable(message) => {
            json!({"Server": server, "reachable": false, "Error": message})
        }
    }
}

/// `sds_store_sync`: opens or creates the store, connects, waits `timeout` after the
/// connection is established, and stops the engine (checkpoint).
pub fn sync<B: NewBackend>(
    rt: &Handle,
    target: &Target,
    server: &str,
    token: &str,
    timeout: Duration,
) -> ToolResult<JsonValue> {
    let session = Session::<B>::open(target, Access::CreateIfMissing)?;
    let provider = sds_ws::WsProvider::new(rt.clone());
    let (handle, _events) = EngineHandle::spawn_with_network(session.engine, Box::new(provider))
        .map_err(|e| ToolError::new(format!("cannot start the sync engine: {e}")))?;
    let options = ConnectOptions {
        store_id: target.store_id.clone(),
        token: token.to_owned(),
        backoff: Backoff::default(),
    };
    rt.block_on(async {
        // Overall guard: twice the timeout (SPEC §15.5).
        let connected = tokio::time::timeout(timeout * 2, handle.connect_to(server, options)).await;
        let result = match connected {
            Ok(Ok(())) => {
                tokio::time::sleep(timeout).await;
                Ok(json!({"StoreId": target.store_id, "Server": server, "synced": true}))
            }
            Ok(Err(error)) => Err(ToolError::new(format!(
                "could not connect to '{server}': {}",
                sync_error(error).0
            ))),
            Err(_) => Err(ToolError::new(format!(
                "could not connect to '{server}': timed out"
            ))),
        };
        let stopped = handle.stop().await.map_err(|error| {
            ToolError::new(format!(
                "failed to write a checkpoint of store '{}': {}",
                target.store_id,
                sync_error(error).0
            ))
        });
        let value = result?;
        stopped?;
        Ok(value)
    })
}

/// The checked parameters of `sds_token_issue`.
#[derive(Debug)]
pub struct TokenRequest {
    /// `ws://` or `wss://` server URL.
    pub server: String,
    /// The admin token.
    pub admin_token: String,
    /// Subject.
    pub sub: String,
    /// `read`, `write` or `admin`.
    pub scope: String,
    /// `<n>(s|m|h|d)`.
    pub exp: String,
}

impl TokenRequest {
    /// Checks scope and expiry (the URL was checked by the caller).
    pub fn check(&self) -> ToolResult<()> {
        if !matches!(self.scope.as_str(), "read" | "write" | "admin") {
            return Err(ToolError::new(format!(
                "invalid Scope '{}' — must be read, write, or admin",
                self.scope
            )));
        }
        let digits = self.exp.trim_end_matches(['s', 'm', 'h', 'd']);
        let valid = self.exp.len() == digits.len() + 1
            && !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit());
        if !valid {
            return Err(ToolError::new(format!(
                "invalid Exp '{}' — use a number followed by s, m, h, or d",
                self.exp
            )));
        }
        Ok(())
    }
}

/// `sds_token_issue`: `POST <http base>/api/token` with the admin token.
pub fn issue_token(rt: &Handle, request: &TokenRequest) -> ToolResult<JsonValue> {
    let claims = sds_ws::TokenRequest {
        sub: &request.sub,
        scope: &request.scope,
        exp: &request.exp,
    };
    let token = rt
        .block_on(sds_ws::issue_token(
            &request.server,
            &request.admin_token,
            &claims,
            HTTP_TIMEOUT,
        ))
        .map_err(|error| match error {
            TokenError::Unauthorized(error) => ToolError::new(format!(
                "authentication failed — token is missing or expired: {error}"
            )),
            other => ToolError::new(other.to_string()),
        })?;
    Ok(json!({"Token": token, "Sub": request.sub, "Scope": request.scope, "Exp": request.exp}))
}
