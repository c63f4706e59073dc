//! The network commands of SPEC §15.5: `token issue`, `store ping` and `store sync`. Each one
//! checks its arguments first, then runs on a tokio runtime made for it alone (the other
//! commands are synchronous).

use super::parse_integer;
use crate::args::IssueArgs;
use crate::output::{CliError, Json, Output};
use crate::session::{Access, Session, stop_failed};
use crate::settings::Settings;
use sds_core::{ErrorCode, NewBackend};
use sds_sync::protocol::{is_server_url, sync_url};
use sds_sync::{Backoff, ConnectOptions, DriverEvent, EngineHandle, EventReceiver, SyncError};
use sds_ws::{ProbeOutcome, TokenError, TokenRequest, WsProvider, issue_token};
use std::time::Duration;
use tokio::time::Instant;

/// How long `store ping` waits after the upgrade for a refusal (SPEC §15.5).
const PING_WAIT: Duration = Duration::from_millis(1000);
/// The default `--timeout` of `store sync`, in milliseconds.
const DEFAULT_SYNC_TIMEOUT_MS: i64 = 5000;
/// The default `--exp` of `token issue`.
const DEFAULT_EXPIRY: &str = "24h";
/// How long `store sync` lets the provider close its socket (send what is queued, then a
/// normal close) before the runtime goes away: the provider's close timeout.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// The bound of the whole `POST /api/token` exchange (connection included).
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// A runtime for one network command.
fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::general(format!("cannot start the network runtime: {e}")))
}

/// `token rejected by server: <code> <reason>` with exit 4 (4001) or 6 (4003).
fn rejected(prefix: &str, code: u16, reason: &str) -> CliError {
    let reason = match (reason.is_empty(), code) {
        (false, _) => reason,
        (true, 4003) => "Forbidden",
        (true, _) => "Unauthorized",
    };
    let message = format!("{prefix}token rejected by server: {code} {reason}");
    if code == 4003 {
        CliError::forbidden(message)
    } else {
        CliError::unauthorized(message)
    }
}

// ---------------------------------------------------------------------------------------------
// token issue

/// Whether `exp` matches `^(\d+)(s|m|h|d)$`.
fn valid_expiry(exp: &str) -> bool {
    exp.strip_suffix(['s', 'm', 'h', 'd'])
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// `token issue --sub <s> --scope <read|write|admin> [--exp <n>(s|m|h|d)]`.
pub fn token_issue(settings: &Settings, args: IssueArgs) -> Result<Output, CliError> {
    let admin_token = settings.admin_token.as_deref().ok_or_else(|| {
        CliError::unauthorized("no admin token — set SDS_ADMIN_TOKEN or use --admin-token")
    })?;
    let server = settings.server_url()?;
    if !is_server_url(server) {
        return Err(CliError::usage(format!(
            "invalid server URL '{server}' — must start with 'ws://' or 'wss://'"
        )));
    }
    let IssueArgs { sub, scope, exp } = args;
    if !matches!(scope.as_str(), "read" | "write" | "admin") {
        return Err(CliError::usage(format!(
            "invalid scope '{scope}' — must be read, write, or admin"
        )));
    }
    let exp = exp.unwrap_or_else(|| DEFAULT_EXPIRY.to_owned());
    if !valid_expiry(&exp) {
        return Err(CliError::usage(format!(
            "invalid expiry '{exp}' — use a number followed by s, m, h, or d"
        )));
    }
    let request = TokenRequest {
        sub: &sub,
        scope: &scope,
        exp: &exp,
    };
    let token = runtime()?
        .block_on(issue_token(server, admin_token, &request, HTTP_TIMEOUT))
        .map_err(|error| match &error {
            TokenError::Transport { .. } => CliError::network(error.to_string()),
            TokenError::Unauthorized(_) => CliError::unauthorized(error.to_string()),
            TokenError::Forbidden(_) => CliError::forbidden(error.to_string()),
            TokenError::Status(..) | TokenError::NoToken => CliError::general(error.to_string()),
        })?;
    Ok(Output::line(
        token.clone(),
        Json::object()
            .with("token", token)
            .with("sub", sub)
            .with("scope", scope)
            .with("exp", exp),
    ))
}

// ---------------------------------------------------------------------------------------------
// store ping

/// `store ping`: connects and authenticates only; no local database is opened (F19).
pub fn ping(settings: &Settings) -> Result<Output, CliError> {
    let store_id = settings.store_id()?;
    let server = settings.server_url()?;
    let token = settings.client_token()?;
    let url = sync_url(server, store_id, token);
    match runtime()?.block_on(sds_ws::probe(&url, PING_WAIT)) {
        ProbeOutcome::Reachable => Ok(Output::line(
            format!("server '{server}': reachable"),
            Json::object()
                .with("server", server)
                .with("storeId", store_id)
                .with("reachable", true),
        )),
        ProbeOutcome::Rejected { code, reason } => Err(rejected("", code, &reason)),
        ProbeOutcome::Unreachable(message) => Ok(Output::line(
            format!("server '{server}': unreachable — {message}"),
            Json::object()
                .with("server", server)
                .with("reachable", false)
                .with("error", message),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// store sync

/// `store sync [--timeout <ms>]`.
pub fn sync<B: NewBackend + 'static>(
    settings: &Settings,
    timeout: Option<&str>,
) -> Result<Output, CliError> {
    let timeout_ms = match timeout {
        None => DEFAULT_SYNC_TIMEOUT_MS,
        Some(raw) => parse_integer("--timeout", raw)?,
    };
    if timeout_ms <= 0 {
        return Err(CliError::usage(format!(
            "'--timeout' must be a positive integer — got {timeout_ms}"
        )));
    }
    let wait = Duration::from_millis(timeout_ms as u64);
    settings.store_id()?;
    let server = settings.server_url()?.to_owned();
    let token = settings.client_token()?.to_owned();
    let runtime = runtime()?;
    let Session {
        engine, store_id, ..
    } = Session::<B>::open(settings, Access::CreateIfMissing)?;
    let options = ConnectOptions {
        store_id: store_id.clone(),
        token,
        backoff: Backoff::default(),
    };
    let connected = runtime.block_on(async {
        let provider = WsProvider::from_current();
        let closed = provider.closed();
        let (handle, mut events) = EngineHandle::spawn_with_network(engine, Box::new(provider))
            .map_err(|e| CliError::general(format!("cannot start the sync engine: {e}")))?;
        let result = connect_and_wait(&handle, &mut events, &server, options, wait).await;
        // Stopping writes the checkpoint, whatever happened on the network.
        let stopped = handle.stop().await.map_err(|e| stop_failed(&store_id, e));
        // The provider sends what is queued and closes the socket before the runtime goes.
        let _ = tokio::time::timeout(CLOSE_GRACE, closed.wait()).await;
        let connected = result?;
        stopped?;
        Ok::<bool, CliError>(connected)
    })?;
    let text = if connected {
        format!("store '{store_id}': synced")
    } else {
        format!("store '{store_id}': could not connect")
    };
    Ok(Output::line(
        text,
        Json::object()
            .with("storeId", store_id.as_str())
            .with("server", server)
            .with("connected", connected)
            .with("synced", connected),
    ))
}

/// Connects, then stays connected for `wait` (the engine uploads its state and asks for the
/// server's on connection). The whole is bounded by twice `wait`. Returns whether the
/// connection was established.
async fn connect_and_wait<B: NewBackend + 'static>(
    handle: &EngineHandle<B>,
    events: &mut EventReceiver,
    server: &str,
    options: ConnectOptions,
    wait: Duration,
) -> Result<bool, CliError> {
    let deadline = Instant::now() + wait * 2;
    match tokio::time::timeout_at(deadline, handle.connect_to(server, options)).await {
        Err(_) => return Ok(false),
        Ok(Err(error)) => return Err(connect_failed(error, events).await),
        Ok(Ok(())) => {}
    }
    let until = deadline.min(Instant::now() + wait);
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(until) => return Ok(true),
            event = events.recv() => match event {
                // A refusal that arrives after the socket counted as open.
                Some(DriverEvent::AuthFailed { code, reason }) => {
                    return Err(rejected("sync failed: ", code, &reason));
                }
                Some(_) => {}
                None => {
                    tokio::time::sleep_until(until).await;
                    return Ok(true);
                }
            },
        }
    }
}

/// The error of a failed `connect_to`: a refused token (exit 4/6, with the close code and
/// reason the driver reports as an event) or a failed first attempt (exit 5).
async fn connect_failed(error: SyncError, events: &mut EventReceiver) -> CliError {
    let message = match &error {
        SyncError::Store(e) => e.message().to_owned(),
        other => other.to_string(),
    };
    if error.code() != ErrorCode::AuthFailed {
        return CliError::network(format!("sync failed: {message}"));
    }
    // The driver answers `connect_to` first and reports the refusal right after.
    let refusal = tokio::time::timeout(Duration::from_secs(1), async {
        while let Some(event) = events.recv().await {
            if let DriverEvent::AuthFailed { code, reason } = event {
                return Some((code, reason));
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    match refusal {
        Some((code, reason)) => rejected("sync failed: ", code, &reason),
        None => {
            let detail = message
                .strip_prefix("server refused the token: ")
                .unwrap_or(&message);
            let text = format!("sync failed: token rejected by server: {detail}");
            if detail.starts_with("4003") {
                CliError::forbidden(text)
            } else {
                CliError::unauthorized(text)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_are_a_number_and_a_unit() {
        for good in ["1s", "30m", "24h", "7d", "0d", "0001h"] {
            assert!(valid_expiry(good), "{good}");
        }
        for bad in ["", "h", "24", "24H", "1.5h", "-1h", "1w", "1hh", " 1h"] {
            assert!(!valid_expiry(bad), "{bad}");
        }
    }

    #[test]
    fn refusals_map_to_exit_codes() {
        let error = rejected("", 4001, "Unauthorized");
        assert_eq!(
            (error.code, error.message.as_str()),
            (4, "token rejected by server: 4001 Unauthorized")
        );
        let error = rejected("sync failed: ", 4003, "");
        assert_eq!(
            (error.code, error.message.as_str()),
            (6, "sync failed: token rejected by server: 4003 Forbidden")
        );
    }
}
