//! Helpers of the sidecar tests: an sds-server on 127.0.0.1:0, a webhook receiver that records
//! every request, a peer engine that makes changes, and an in-process sidecar.

#![allow(dead_code)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use sds_core::{NewBackend, ROOT_ID, Store};
use sds_server::{JwtSecret, Scope, ServerConfig};
use sds_sidecar::{
    BackendChoice, Config, DeliveryOptions, Outcome, RunError, SidecarEvent, Webhook,
};
use sds_sync::{
    Backoff, ConnectOptions, ConnectionState, DriverEvent, Engine, EngineHandle, EngineOptions,
    EventReceiver,
};
use serde_json::Value as JsonValue;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The secret of every test server.
pub const SECRET: &str = "sidecar-test-secret-sidecar-test-secret-0123";

/// How long a test waits for an expected event before it fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Awaits `future` or fails the test naming `what`.
pub async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {PATIENCE:?} waiting for {what}"))
}

/// An in-process relay server.
pub struct TestServer {
    pub address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<sds_server::Result<()>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(sds_server::run(
            listener,
            ServerConfig::new(SECRET),
            async move {
                let _ = stopped.await;
            },
        ));
        TestServer {
            address,
            stop: Some(stop),
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}", self.address)
    }

    pub async fn stop(mut self) {
        self.stop.take().unwrap().send(()).ok();
        within("the server to stop", &mut self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

/// A token for `store`, signed with the test secret.
pub fn token(store: &str) -> String {
    sds_server::issue_token(
        &JwtSecret::new(SECRET),
        None,
        "tester",
        store,
        Scope::Write,
        sds_server::now_seconds(),
        3_600,
    )
    .unwrap()
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Hook {
    pub path: String,
    pub headers: HeaderMap,
    pub raw: Bytes,
    pub body: JsonValue,
    /// The status the receiver answered with.
    pub status: u16,
}

impl Hook {
    pub fn entries(&self) -> Vec<String> {
        self.body["changedEntries"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn event_id(&self) -> String {
        self.header("x-sds-event-id").unwrap().to_owned()
    }
}

#[derive(Clone)]
struct ReceiverState {
    status: Arc<AtomicU16>,
    requests: mpsc::UnboundedSender<Hook>,
}

/// A webhook receiver on 127.0.0.1 that answers every request with a settable status.
pub struct Receiver {
    pub address: SocketAddr,
    pub status: Arc<AtomicU16>,
    pub requests: mpsc::UnboundedReceiver<Hook>,
    task: JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        Self::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    pub async fn start_on(address: SocketAddr) -> Receiver {
        let listener = tokio::net::TcpListener::bind(address).await.unwrap();
        let address = listener.local_addr().unwrap();
        let status = Arc::new(AtomicU16::new(200));
        let (sender, requests) = mpsc::unbounded_channel();
        let state = ReceiverState {
            status: status.clone(),
            requests: sender,
        };
        let app = Router::new().fallback(record).with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            address,
            status,
            requests,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn answer_with(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// The next request.
    pub async fn next(&mut self) -> Hook {
        within("a webhook request", self.requests.recv())
            .await
            .expect("the receiver stopped")
    }

    /// Stops listening (the port is closed afterwards).
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn record(
    State(state): State<ReceiverState>,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> StatusCode {
    let status = state.status.load(Ordering::SeqCst);
    let body = serde_json::from_slice(&raw).unwrap_or(JsonValue::Null);
    let _ = state.requests.send(Hook {
        path: uri.path().to_owned(),
        headers,
        raw,
        body,
        status,
    });
    StatusCode::from_u16(status).unwrap()
}

/// A peer: an engine with a WebSocket provider, connected to the server.
pub struct Peer<B: NewBackend> {
    pub handle: EngineHandle<B>,
    pub events: EventReceiver,
}

impl<B: NewBackend + Send + 'static> Peer<B> {
    pub async fn connect(server: &TestServer, store: &str) -> Peer<B> {
        let engine = Engine::<B>::start(
            Some(Box::new(sds_core::MemoryPersistence::new(store))),
            EngineOptions::default(),
            sds_sync::driver::now_ms(),
        )
        .unwrap();
        let (handle, mut events) =
            EngineHandle::spawn_with_network(engine, Box::new(sds_ws::WsProvider::from_current()))
                .unwrap();
        handle
            .connect_to(
                &server.url(),
                ConnectOptions {
                    store_id: store.to_owned(),
                    token: token(store),
                    backoff: Backoff::default(),
                },
            )
            .await
            .unwrap();
        within("the peer to connect", async {
            while let Some(event) = events.recv().await {
                if matches!(event, DriverEvent::Connection(ConnectionState::Connected)) {
                    return;
                }
            }
        })
        .await;
        Peer { handle, events }
    }

    /// Runs `f` as one transaction of the peer.
    pub async fn change<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store<B>) -> sds_core::Result<T> + Send + 'static,
    ) -> T {
        self.handle.transact(f).await.unwrap()
    }

    /// A new item under `container`.
    pub async fn item(&self, container: &str, mime: Option<&'static str>, label: &str) -> String {
        let container = container.to_owned();
        let label = label.to_owned();
        self.change(move |s| {
            let id = s.new_item_at(mime, &container, None)?;
            s.set_label(&id, &label)?;
            Ok(id)
        })
        .await
    }

    pub async fn stop(self) {
        self.handle.stop().await.unwrap();
    }
}

/// Delivery timing for tests: quick retries without jitter, so retries keep their order.
pub fn quick_delivery() -> DeliveryOptions {
    DeliveryOptions {
        retry_base: Duration::from_millis(50),
        retry_max: Duration::from_millis(400),
        retry_jitter: 0.0,
        request_timeout: Duration::from_secs(5),
    }
}

/// A configuration for `store` on `server` with quick delivery.
pub fn config(
    server: &TestServer,
    store: &str,
    dir: &std::path::Path,
    backend: BackendChoice,
    webhooks: Vec<Webhook>,
) -> Config {
    let mut config = Config::new(server.url(), store, token(store), dir);
    config.backend = backend;
    config.webhooks = webhooks;
    config.delivery = quick_delivery();
    config.verbose = std::env::var_os("SIDECAR_TEST_VERBOSE").is_some();
    config.reconnect = Backoff {
        initial_ms: 100,
        max_ms: 500,
        jitter: 0.1,
    };
    config
}

/// A webhook of `url` with triggers given as text.
pub fn webhook(url: String, triggers: &[&str]) -> Webhook {
    Webhook {
        url,
        topic: None,
        scope: sds_sidecar::Scope::default(),
        triggers: triggers
            .iter()
            .map(|t| sds_sidecar::Trigger::parse(t).unwrap())
            .collect(),
    }
}

/// A sidecar running in the test's runtime.
pub struct Sidecar {
    pub events: mpsc::UnboundedReceiver<SidecarEvent>,
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<Result<Outcome, RunError>>,
}

impl Sidecar {
    pub fn start(config: Config) -> Sidecar {
        let (sender, events) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(sds_sidecar::run_with_events(
            config,
            async move {
                let _ = stopped.await;
            },
            Some(sender),
        ));
        Sidecar {
            events,
            stop: Some(stop),
            task,
        }
    }

    /// Starts a sidecar and waits until it is connected.
    pub async fn connected(config: Config) -> Sidecar {
        let mut sidecar = Sidecar::start(config);
        sidecar
            .until("the sidecar to connect", |e| {
                matches!(e, SidecarEvent::Connection(ConnectionState::Connected))
            })
            .await;
        sidecar
    }

    /// Waits for an event matching `wanted`.
    pub async fn until(&mut self, what: &str, wanted: impl Fn(&SidecarEvent) -> bool) {
        within(what, async {
            loop {
                let event = self.events.recv().await.expect("the sidecar stopped");
                if wanted(&event) {
                    return;
                }
            }
        })
        .await
    }

    /// Waits until the sidecar processed a change set that reports `id`.
    pub async fn until_processed(&mut self, id: &str) {
        self.until(
            "a processed change",
            |e| matches!(e, SidecarEvent::ChangeProcessed(ids) if ids.iter().any(|i| i == id)),
        )
        .await
    }

    /// Makes sure the peer's history reached the sidecar: a fresh peer's first patches build
    /// on its initial document, which the sidecar receives with the answer to its sync
    /// request. Returns the id of the barrier item.
    pub async fn barrier<B: NewBackend + Send + 'static>(&mut self, peer: &Peer<B>) -> String {
        let id = peer.item(ROOT, None, "barrier").await;
        self.until_processed(&id).await;
        id
    }

    pub async fn stop(mut self) -> Outcome {
        self.stop.take().unwrap().send(()).ok();
        within("the sidecar to stop", &mut self.task)
            .await
            .unwrap()
            .unwrap()
    }
}

/// Root, for brevity.
pub const ROOT: &str = ROOT_ID;
