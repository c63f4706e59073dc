//! The lifecycle of a sidecar (SPEC §17.3): store, engine, change handler, delivery worker,
//! connection, shutdown and authentication errors (§17.8).

use crate::config::{BackendChoice, Config};
use crate::delivery::{Credentials, Worker, post_json};
use crate::outbox::{NewRow, Outbox};
use crate::triggers::{Webhook, evaluate};
use crate::{iso_timestamp, now_ms};
use sds_core::{ChangeOrigin, ErrorCode, NewBackend, StoreOptions};
use sds_sqlite::{SqliteOptions, SqlitePersistence};
use sds_sync::transport::EventSink;
use sds_sync::{
    Backoff, ConnectOptions, ConnectionState, DriverEvent, Engine, EngineEvent, EngineHandle,
    EngineOptions, NetworkProvider, TransportEvent,
};
use serde_json::{Map, Value as JsonValue, json};
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, mpsc};

/// How a sidecar ended without error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The shutdown future completed; the engine stopped with a checkpoint (exit 0).
    Stopped,
    /// The server refused the token (close 4001 → exit 4, 4003 → exit 6).
    AuthRejected {
        /// The close code.
        code: u16,
        /// The close reason (may be empty).
        reason: String,
    },
}

impl Outcome {
    /// The exit code of SPEC §17.9.
    pub fn exit_code(&self) -> i32 {
        match self {
            Outcome::Stopped => 0,
            Outcome::AuthRejected { code: 4003, .. } => 6,
            Outcome::AuthRejected { .. } => 4,
        }
    }
}

/// A failure that ends the sidecar with exit code 1.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The store could not be opened or restored.
    #[error("failed to load store '{store_id}': {message}")]
    Load {
        /// The store id.
        store_id: String,
        /// Why.
        message: String,
    },
    /// Any other failure at run time.
    #[error("{0}")]
    Runtime(String),
}

impl RunError {
    /// The exit code of SPEC §17.9 (1).
    pub fn exit_code(&self) -> i32 {
        1
    }
}

/// What a running sidecar reports to an embedding application or a test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SidecarEvent {
    /// The connection state changed.
    Connection(ConnectionState),
    /// Rows were committed to the outbox for one change set: their event ids.
    Enqueued(Vec<String>),
    /// A change set was processed (after its rows, if any, were enqueued): its entry ids.
    ChangeProcessed(Vec<String>),
    /// A row was delivered (2xx) and deleted.
    Delivered(String),
    /// An attempt failed; `attempts` counts the failures so far.
    AttemptFailed {
        /// The event id of the row.
        event_id: String,
        /// Failed attempts so far.
        attempts: u32,
    },
}

/// Events channel of [`run_with_events`].
pub(crate) type EventSender = Option<mpsc::UnboundedSender<SidecarEvent>>;

/// Runs a sidecar until `shutdown` completes or the server refuses the token (SPEC §17.3).
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<Outcome, RunError> {
    run_with_events(config, shutdown, None).await
}

/// [`run`], reporting connection changes and outbox activity to `events`.
pub async fn run_with_events(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
    events: Option<mpsc::UnboundedSender<SidecarEvent>>,
) -> Result<Outcome, RunError> {
    match config.backend {
        BackendChoice::Yrs => run_backend::<sds_yrs::YrsBackend>(config, shutdown, events).await,
        BackendChoice::Loro => run_backend::<sds_loro::LoroBackend>(config, shutdown, events).await,
    }
}

fn log(message: impl std::fmt::Display) {
    eprintln!("[sds-sidecar] {message}");
}

async fn run_backend<B: NewBackend + Send + 'static>(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
    events: EventSender,
) -> Result<Outcome, RunError> {
    let store_id = config.store_id.clone();
    let load_error = |message: String| RunError::Load {
        store_id: store_id.clone(),
        message,
    };

    // 1. The persistence directory and the store file; the outbox lives in the same file.
    std::fs::create_dir_all(&config.persistence_dir).map_err(|e| {
        load_error(format!(
            "cannot create '{}': {e}",
            config.persistence_dir.display()
        ))
    })?;
    let path = sds_sqlite::store_file_path(&config.persistence_dir, &config.store_id);
    let persistence = SqlitePersistence::open(&path, &config.store_id, SqliteOptions::default())
        .map_err(|e| load_error(e.to_string()))?;
    let enqueue_outbox =
        Outbox::open(&path, &config.store_id).map_err(|e| load_error(e.to_string()))?;
    let worker_outbox =
        Outbox::open(&path, &config.store_id).map_err(|e| load_error(e.to_string()))?;
    let snapshot_size = enqueue_outbox
        .snapshot_size()
        .map_err(|e| load_error(e.to_string()))?;

    // 2. The engine restores the store by itself.
    let options = EngineOptions {
        store: StoreOptions {
            trash_ttl: None,
            ..StoreOptions::default()
        },
        ..EngineOptions::default()
    };
    let mut engine = Engine::<B>::start(Some(Box::new(persistence)), options, now_ms())
        .map_err(|e| load_error(e.to_string()))?;
    if config.verbose {
        match snapshot_size {
            Some(n) => log(format!("snapshot loaded ({n} bytes)")),
            None => log("no snapshot found — created fresh store"),
        }
    }

    // 3. The delivery worker; it starts with the rows earlier runs left.
    let wake = Arc::new(Notify::new());
    let credentials = Credentials {
        bearer: config.webhook_token.clone(),
        secret: config.webhook_secret.clone(),
        tls: config.tls.clone(),
    };
    let worker = Worker {
        credentials: credentials.clone(),
        options: config.delivery.clone(),
        max_attempts: config.webhook_max_attempts,
        wake: wake.clone(),
        events: events.clone(),
        unreachable: Default::default(),
        pool: Default::default(),
    };
    let worker_task = tokio::spawn(worker.run(Mutex::new(worker_outbox)));

    // 4. Every change set is evaluated against the webhooks and its matches enqueued.
    let mut handler = ChangeHandler {
        webhooks: config.webhooks.clone(),
        store_id: config.store_id.clone(),
        outbox: enqueue_outbox,
        wake,
        verbose: config.verbose,
        events: events.clone(),
    };
    engine
        .store_mut()
        .on_change_invoke(move |store, origin, changes| {
            handler.handle(store, origin, changes);
        });

    let provider = LoggingProvider {
        inner: sds_ws::WsProvider::with_options(
            tokio::runtime::Handle::current(),
            sds_ws::WsOptions {
                tls: config.tls.clone(),
                ..sds_ws::WsOptions::default()
            },
        ),
        verbose: config.verbose,
    };
    let (handle, mut driver_events) = EngineHandle::spawn_with_network(engine, Box::new(provider))
        .map_err(|e| RunError::Runtime(format!("cannot start the engine thread: {e}")))?;

    // 5. Connect; the provider retries with backoff after a failed first attempt.
    log(format!(
        "connecting to {} (store: {})",
        config.server_url, config.store_id
    ));
    tokio::pin!(shutdown);
    let outcome = {
        let connect = handle.connect_to(
            &config.server_url,
            ConnectOptions {
                store_id: config.store_id.clone(),
                token: config.token.clone(),
                backoff: config.reconnect,
            },
        );
        tokio::pin!(connect);
        let mut connecting = true;
        loop {
            tokio::select! {
                result = &mut connect, if connecting => {
                    connecting = false;
                    match result {
                        Ok(()) => {}
                        // Refusals arrive as their own event below.
                        Err(e) if e.code() == ErrorCode::AuthFailed => {}
                        Err(e) => log(format!("initial connection failed: {}", error_message(&e))),
                    }
                    log("running (press Ctrl+C to stop)");
                }
                event = driver_events.recv() => match event {
                    None => break Err(RunError::Runtime("the engine stopped unexpectedly".into())),
                    Some(DriverEvent::Connection(state)) => {
                        match state {
                            ConnectionState::Connected => log("connected"),
                            ConnectionState::Reconnecting => log("disconnected — reconnecting…"),
                            ConnectionState::Disconnected => log("disconnected"),
                            ConnectionState::Connecting => {}
                        }
                        send_event(&events, SidecarEvent::Connection(state));
                    }
                    Some(DriverEvent::AuthFailed { code, reason }) => {
                        break Ok(Outcome::AuthRejected { code, reason });
                    }
                    Some(DriverEvent::Engine(EngineEvent::PersistenceFailed(error))) => {
                        log(format!("persistence failed: {error}"));
                    }
                    Some(DriverEvent::Engine(EngineEvent::PatchSkipped { clock, error })) => {
                        log(format!("skipped stored patch {clock}: {error}"));
                    }
                    Some(DriverEvent::Engine(_)) => {}
                },
                () = &mut shutdown => break Ok(Outcome::Stopped),
            }
        }
    };

    if let Ok(Outcome::AuthRejected { code, reason }) = &outcome {
        let name = if *code == 4003 {
            "Forbidden"
        } else {
            "Unauthorized"
        };
        log(format!(
            "AUTH ERROR {code} {name}: {}",
            if reason.is_empty() {
                "(no reason given)"
            } else {
                reason
            }
        ));
        log("reconnect suppressed — check SDS_TOKEN or --token");
        if let Some(url) = &config.on_auth_error {
            let body = json!({
                "StoreId": config.store_id,
                "ServerURL": config.server_url,
                "Code": code,
                "Reason": if reason.is_empty() { name } else { reason.as_str() },
            })
            .to_string();
            if let Err(error) = post_json(
                url,
                &body,
                None,
                &credentials,
                config.delivery.request_timeout,
            )
            .await
            {
                log(format!("webhook {url} failed: {error}"));
            }
        }
    }

    // 7. Stop: undelivered rows stay in the outbox for the next start.
    worker_task.abort();
    let _ = worker_task.await;
    if let Err(error) = handle.stop().await {
        log(format!("stopping the engine failed: {error}"));
        if outcome.is_ok() {
            return Err(RunError::Runtime(format!(
                "stopping the engine failed: {error}"
            )));
        }
    }
    outcome
}

pub(crate) fn send_event(events: &EventSender, event: SidecarEvent) {
    if let Some(events) = events {
        let _ = events.send(event);
    }
}

/// The change handler: runs on the engine's thread, inside the store's delivery of a change
/// set, before the engine persists the patch that caused it.
struct ChangeHandler {
    webhooks: Vec<Webhook>,
    store_id: String,
    outbox: Outbox,
    wake: Arc<Notify>,
    verbose: bool,
    events: EventSender,
}

impl ChangeHandler {
    fn handle<B: sds_core::Backend>(
        &mut self,
        store: &sds_core::Store<B>,
        origin: ChangeOrigin,
        changes: &sds_core::ChangeSet,
    ) {
        if self.verbose && origin == ChangeOrigin::External {
            let names: BTreeSet<String> = changes
                .iter()
                .flat_map(|(_, properties)| properties.iter().map(|p| p.name().into_owned()))
                .collect();
            log(format!(
                "remote change: {} entries affected ({})",
                changes.len(),
                names.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        self.enqueue_matches(store, changes);
        if self.events.is_some() {
            let ids = changes.ids().map(str::to_owned).collect();
            send_event(&self.events, SidecarEvent::ChangeProcessed(ids));
        }
    }

    fn enqueue_matches<B: sds_core::Backend>(
        &mut self,
        store: &sds_core::Store<B>,
        changes: &sds_core::ChangeSet,
    ) {
        let matches = evaluate(store, changes, &self.webhooks);
        if matches.is_empty() {
            return;
        }
        let now = now_ms();
        let timestamp = iso_timestamp(now);
        let rows: Vec<NewRow> = matches
            .into_iter()
            .map(|m| {
                let webhook = &self.webhooks[m.webhook];
                let mut body = Map::new();
                body.insert("StoreId".into(), JsonValue::from(self.store_id.as_str()));
                body.insert("Trigger".into(), JsonValue::from(m.trigger));
                body.insert("changedEntries".into(), JsonValue::from(m.entries));
                body.insert("Timestamp".into(), JsonValue::from(timestamp.as_str()));
                if let Some(topic) = &webhook.topic {
                    body.insert("Topic".into(), JsonValue::from(topic.as_str()));
                }
                NewRow {
                    event_id: uuid::Uuid::new_v4().to_string(),
                    url: webhook.url.clone(),
                    body: JsonValue::Object(body).to_string(),
                }
            })
            .collect();
        // A failure here cannot be undone (the change is applied already); retrying once
        // covers a momentary lock conflict beyond the busy timeout.
        let result = self
            .outbox
            .enqueue(&rows, now as i64)
            .or_else(|_| self.outbox.enqueue(&rows, now as i64));
        match result {
            Ok(()) => {
                send_event(
                    &self.events,
                    SidecarEvent::Enqueued(rows.into_iter().map(|r| r.event_id).collect()),
                );
                self.wake.notify_one();
            }
            Err(error) => log(format!("cannot enqueue webhook events: {error}")),
        }
    }
}

/// Wraps the WebSocket provider to log received patches (SPEC §17.3 step 6).
struct LoggingProvider {
    inner: sds_ws::WsProvider,
    verbose: bool,
}

/// The frame type byte of a PATCH (SPEC §12.3).
const PATCH_FRAME: u8 = 0x01;

impl NetworkProvider for LoggingProvider {
    fn connect(&mut self, url: &str, backoff: Backoff, events: EventSink) {
        let sink: EventSink = if self.verbose {
            Arc::new(move |event: TransportEvent| {
                if let TransportEvent::Message(bytes) = &event
                    && bytes.first() == Some(&PATCH_FRAME)
                {
                    log(format!("patch received ({} bytes)", bytes.len() - 1));
                }
                events(event);
            })
        } else {
            events
        };
        self.inner.connect(url, backoff, sink);
    }

    fn send(&mut self, message: Vec<u8>) {
        self.inner.send(message);
    }

    fn disconnect(&mut self) {
        self.inner.disconnect();
    }
}

/// The message of an engine error without its code prefix.
fn error_message(error: &sds_sync::SyncError) -> String {
    match error {
        sds_sync::SyncError::Store(e) => e.message().to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triggers::{Scope, Trigger};
    use sds_core::{
        CheckpointInput, CheckpointOutcome, CheckpointOutput, MemoryPersistence, Persistence,
        ROOT_ID, Result as CoreResult, Store,
    };
    use sds_yrs::YrsBackend;
    use std::collections::HashSet;

    /// A persistence that records, whenever a patch is appended, how many outbox rows are
    /// committed at that moment.
    struct Probe {
        inner: MemoryPersistence,
        outbox: Outbox,
        rows_at_append: Arc<Mutex<Vec<usize>>>,
    }

    impl Persistence for Probe {
        fn store_id(&self) -> &str {
            self.inner.store_id()
        }
        fn load_snapshot(&mut self) -> CoreResult<Option<(Vec<u8>, u64)>> {
            self.inner.load_snapshot()
        }
        fn save_snapshot(&mut self, bytes: &[u8], clock: u64) -> CoreResult<()> {
            self.inner.save_snapshot(bytes, clock)
        }
        fn load_patches_since(&mut self, clock: u64) -> CoreResult<Vec<(u64, Vec<u8>)>> {
            self.inner.load_patches_since(clock)
        }
        fn append_patch(&mut self, bytes: &[u8]) -> CoreResult<u64> {
            let rows = self.outbox.rows().map_or(usize::MAX, |rows| rows.len());
            self.rows_at_append.lock().unwrap().push(rows);
            self.inner.append_patch(bytes)
        }
        fn prune_patches(&mut self, up_to: u64) -> CoreResult<usize> {
            self.inner.prune_patches(up_to)
        }
        fn load_value(&mut self, hash: &str) -> CoreResult<Option<Vec<u8>>> {
            self.inner.load_value(hash)
        }
        fn save_value(&mut self, hash: &str, bytes: &[u8]) -> CoreResult<()> {
            self.inner.save_value(hash, bytes)
        }
        fn delete_unreferenced_values(
            &mut self,
            referenced: &HashSet<String>,
            grace: std::time::Duration,
        ) -> CoreResult<usize> {
            self.inner.delete_unreferenced_values(referenced, grace)
        }
        fn checkpoint(
            &mut self,
            known_snapshot_clock: Option<u64>,
            merge: &mut dyn FnMut(CheckpointInput) -> CoreResult<CheckpointOutput>,
        ) -> CoreResult<CheckpointOutcome> {
            self.inner.checkpoint(known_snapshot_clock, merge)
        }
        fn backend(&mut self) -> CoreResult<Option<String>> {
            self.inner.backend()
        }
        fn set_backend(&mut self, name: &str) -> CoreResult<()> {
            self.inner.set_backend(name)
        }
        fn close(&mut self) -> CoreResult<()> {
            self.inner.close()
        }
    }

    #[test]
    fn the_rows_of_a_remote_change_are_committed_before_its_patch_is_appended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        SqlitePersistence::open(&path, "s", SqliteOptions::default()).unwrap();
        let rows_at_append: Arc<Mutex<Vec<usize>>> = Arc::default();
        let probe = Probe {
            inner: MemoryPersistence::new("s"),
            outbox: Outbox::open(&path, "s").unwrap(),
            rows_at_append: rows_at_append.clone(),
        };
        let mut engine =
            Engine::<YrsBackend>::start(Some(Box::new(probe)), EngineOptions::default(), now_ms())
                .unwrap();
        let mut handler = ChangeHandler {
            webhooks: vec![Webhook {
                url: "http://127.0.0.1:9/hook".into(),
                topic: None,
                scope: Scope::default(),
                triggers: vec![Trigger::Create, Trigger::Change],
            }],
            store_id: "s".into(),
            outbox: Outbox::open(&path, "s").unwrap(),
            wake: Arc::new(Notify::new()),
            verbose: false,
            events: None,
        };
        engine
            .store_mut()
            .on_change_invoke(move |store, origin, changes| handler.handle(store, origin, changes));
        rows_at_append.lock().unwrap().clear();

        // Another replica's document with one new item, received as a patch.
        let mut other = Store::<YrsBackend>::from_scratch(Default::default()).unwrap();
        let id = other.new_item_at(None, ROOT_ID, None).unwrap();
        other.set_label(&id, "remote").unwrap();
        let patch = other.export_patch(None).unwrap();
        assert!(engine.apply_remote_patch(&patch).unwrap().advanced);

        let rows = Outbox::open(&path, "s").unwrap().rows().unwrap();
        assert!(rows.len() >= 2, "create and change: {rows:?}");
        let seen = rows_at_append.lock().unwrap().clone();
        assert!(!seen.is_empty(), "the patch was appended");
        assert!(
            seen.iter().all(|&n| n >= 2 && n != usize::MAX),
            "every append saw the rows committed already: {seen:?}"
        );
    }
}
