//! Helpers of the network scenarios: a real `sds-server` on 127.0.0.1, real peers (engine +
//! SQLite file + WebSocket provider) like an application builds them, tokens, a raw WebSocket
//! client, and waits that follow engine events with one generous deadline.

#![allow(dead_code)]

use futures_util::{SinkExt as _, StreamExt as _};
use sds_core::{NewBackend, ROOT_ID, Store, Value};
use sds_loro::LoroBackend;
use sds_server::{BackendKind, JwtSecret, Scope, Server, ServerConfig};
use sds_sqlite::{SqliteOptions, SqlitePersistence};
use sds_sync::{
    Backoff, ConnectOptions, ConnectionState, DriverEvent, Engine, EngineHandle, EngineOptions,
    EventReceiver, SyncError,
};
use sds_ws::{WsOptions, WsProvider};
use sds_yrs::YrsBackend;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The secret of every scenario server.
pub const SECRET: &str = "scenario-secret-scenario-secret-0123456789";

/// The store every scenario shares.
pub const STORE: &str = "shared";

/// How long any single wait may take before the test fails. Generous: two shared cores,
/// unoptimised workspace crates.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A backend the scenarios run on, with the matching kind of the server's durable replicas.
pub trait TestBackend: NewBackend + Send + 'static {
    /// The server's `--backend` for this backend.
    const KIND: BackendKind;
}

impl TestBackend for YrsBackend {
    const KIND: BackendKind = BackendKind::Yrs;
}

impl TestBackend for LoroBackend {
    const KIND: BackendKind = BackendKind::Loro;
}

/// How the server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No data directory: a pure relay.
    Relay,
    /// Persistent mode: a durable replica per store.
    Durable,
}

/// A server configuration for `mode`; durable replicas live in `data_dir` with `B`'s kind.
pub fn server_config<B: TestBackend>(mode: Mode, data_dir: &Path) -> ServerConfig {
    let mut config = ServerConfig::new(SECRET);
    if mode == Mode::Durable {
        config.data_dir = Some(data_dir.to_owned());
        config.backend = B::KIND;
    }
    // Peers answer closing handshakes at once; a short timeout keeps shutdowns quick.
    config.close_timeout = Duration::from_secs(1);
    config
}

/// A server running in the test's runtime.
pub struct TestServer {
    /// The bound address.
    pub address: SocketAddr,
    /// A clone of the server, for its counters.
    pub server: Server,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<JoinHandle<sds_server::Result<()>>>,
}

impl TestServer {
    /// Starts a server on 127.0.0.1:0.
    pub async fn start(config: ServerConfig) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, config)
    }

    /// Starts a server on `address` again (a restart on the same port, so that peers
    /// reconnect by themselves). The port was ours a moment ago; binding is retried briefly
    /// in case the system is slow to release it.
    pub async fn start_at(address: SocketAddr, config: ServerConfig) -> TestServer {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match tokio::net::TcpListener::bind(address).await {
                Ok(listener) => return Self::serve(listener, config),
                Err(error) if Instant::now() < deadline => {
                    eprintln!("rebinding {address}: {error}; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => panic!("cannot bind {address} again: {error}"),
            }
        }
    }

    fn serve(listener: tokio::net::TcpListener, config: ServerConfig) -> TestServer {
        let address = listener.local_addr().unwrap();
        let server = Server::new(config).expect("a valid server configuration");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.clone().serve(listener, async move {
            let _ = stopped.await;
        }));
        TestServer {
            address,
            server,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `ws://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("ws://{}", self.address)
    }

    /// Stops the server through its shutdown future (like SIGTERM: connections are closed
    /// with 1001, replicas are checkpointed) and waits until `run` returned.
    pub async fn stop(mut self) {
        self.stop.take().unwrap().send(()).ok();
        let task = self.task.take().unwrap();
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("the server stops in time")
            .expect("the server task does not panic")
            .expect("the server returns without error");
    }

    /// Waits until nobody is in the store's room any more: every frame the peers sent has
    /// been handled (a connection leaves its room only after its last frame). The server has
    /// no event for this, so its counter is polled.
    pub async fn until_room_empty(&self) {
        self.until_room_of_empty(STORE).await;
    }

    /// [`TestServer::until_room_empty`] for any store id.
    pub async fn until_room_of_empty(&self, store: &str) {
        self.until_stats(&format!("the room of {store:?} to empty"), |server| {
            server.sync_room_size(store) == 0
        })
        .await;
    }

    /// Polls the server's counters until `condition` holds (they have no events).
    pub async fn until_stats(&self, what: &str, condition: impl Fn(&Server) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !condition(&self.server) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A token for the shared store with `scope`, valid for an hour.
pub fn token(sub: &str, scope: Scope) -> String {
    token_for(sub, STORE, scope, sds_server::now_seconds(), 3_600)
}

/// A token with every claim chosen by the caller.
pub fn token_for(sub: &str, store: &str, scope: Scope, issued_at: u64, lifetime: u64) -> String {
    sds_server::issue_token(
        &JwtSecret::new(SECRET),
        None,
        sub,
        store,
        scope,
        issued_at,
        lifetime,
    )
    .expect("signing a token")
}

/// Connect options for the shared store with a quick reconnect backoff, so that restarts of
/// the server are followed within a fraction of a second.
pub fn connect_options(token: String) -> ConnectOptions {
    ConnectOptions {
        store_id: STORE.into(),
        token,
        backoff: Backoff {
            initial_ms: 50,
            max_ms: 400,
            jitter: 0.1,
        },
    }
}

/// A peer as an application builds it: an engine on an SQLite file, on its own thread, with a
/// WebSocket provider on the test's runtime.
pub struct Peer<B: TestBackend> {
    /// A name for messages.
    pub name: String,
    /// The SQLite file.
    pub path: PathBuf,
    handle: Option<EngineHandle<B>>,
    events: EventReceiver,
    changes: mpsc::UnboundedReceiver<()>,
    /// The last events seen, for failure messages.
    recent: Vec<String>,
}

/// The durable engine on `path`.
pub fn open_engine<B: TestBackend>(path: &Path, options: EngineOptions) -> Engine<B> {
    let persistence = SqlitePersistence::open(path, STORE, SqliteOptions::default())
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    Engine::<B>::start(
        Some(Box::new(persistence)),
        options,
        sds_sync::driver::now_ms(),
    )
    .unwrap_or_else(|e| panic!("starting the engine on {}: {e}", path.display()))
}

impl<B: TestBackend> Peer<B> {
    /// Starts (or restarts) a peer on `dir/<name>.db` with default options.
    pub async fn start(name: &str, dir: &Path) -> Peer<B> {
        Self::start_with(name, dir, EngineOptions::default(), WsOptions::default()).await
    }

    /// Starts (or restarts) a peer on `dir/<name>.db`.
    pub async fn start_with(
        name: &str,
        dir: &Path,
        options: EngineOptions,
        ws: WsOptions,
    ) -> Peer<B> {
        let path = dir.join(format!("{name}.db"));
        let engine = open_engine::<B>(&path, options);
        let provider = WsProvider::with_options(tokio::runtime::Handle::current(), ws);
        let (handle, events) = EngineHandle::spawn_with_network(engine, Box::new(provider))
            .expect("spawning the engine thread");
        let (sender, changes) = mpsc::unbounded_channel();
        handle
            .run(move |engine| {
                // Kept for the engine's lifetime: the subscription is not needed afterwards.
                let _subscription = engine.store_mut().on_change_invoke(move |_, _, _| {
                    let _ = sender.send(());
                });
            })
            .await
            .expect("the engine runs");
        Peer {
            name: name.to_owned(),
            path,
            handle: Some(handle),
            events,
            changes,
            recent: Vec::new(),
        }
    }

    /// The engine handle.
    pub fn handle(&self) -> &EngineHandle<B> {
        self.handle.as_ref().expect("the peer is running")
    }

    /// `connect_to` the server at `url` with `token`.
    pub async fn connect(&self, url: &str, token: String) -> Result<(), SyncError> {
        self.handle().connect_to(url, connect_options(token)).await
    }

    /// Connects to the server at `url` with a write token and waits until the engine itself
    /// is connected.
    pub async fn join(&mut self, url: &str) {
        let name = self.name.clone();
        self.connect(url, token(&name, Scope::Write))
            .await
            .unwrap_or_else(|e| panic!("{name} connects: {e}"));
        self.until_connected().await;
    }

    /// Waits until the engine is connected.
    pub async fn until_connected(&mut self) {
        self.until("connected", |engine| engine.is_connected().then_some(()))
            .await;
    }

    /// Waits until the engine lost its connection.
    pub async fn until_disconnected(&mut self) {
        self.until("disconnected", |engine| {
            (!engine.is_connected()).then_some(())
        })
        .await;
    }

    /// Runs `f` on the engine's thread.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine<B>) -> T + Send + 'static,
    ) -> T {
        self.handle().run(f).await.expect("the engine runs")
    }

    /// One transaction: a new item under Root labelled `label`; returns its id.
    pub async fn add(&self, label: &str) -> String {
        let label = label.to_owned();
        self.handle()
            .transact(move |s| {
                let id = s.new_item_at(None, ROOT_ID, None)?;
                s.set_label(&id, &label)?;
                Ok(id)
            })
            .await
            .unwrap_or_else(|e| panic!("{} adds an item: {e}", self.name))
    }

    /// Every non-empty label of the store.
    pub async fn labels(&self) -> BTreeSet<String> {
        self.run(|engine| labels_of(engine.store())).await
    }

    /// The whole tree as JSON text: equal texts mean converged replicas.
    pub async fn fingerprint(&self) -> String {
        self.run(|engine| engine.store().as_json().to_json_string())
            .await
    }

    /// Waits for the next sign of life: a driver event (kept in the recent list) or a store
    /// change. `None` when the engine ended.
    async fn next_signal(&mut self) -> Option<()> {
        tokio::select! {
            event = self.events.recv() => {
                let event = event?;
                self.remember(&event);
                Some(())
            }
            change = self.changes.recv() => change,
        }
    }

    fn remember(&mut self, event: &DriverEvent) {
        if self.recent.len() >= 12 {
            self.recent.remove(0);
        }
        let mut text = format!("{event:?}");
        text.truncate(160);
        self.recent.push(text);
    }

    /// Waits until `check` returns `Some` on the engine's thread, re-checking after every
    /// event and store change. Fails after [`PATIENCE`] with `what` and the last events.
    pub async fn until<T: Send + 'static>(
        &mut self,
        what: &str,
        check: impl Fn(&Engine<B>) -> Option<T> + Send + Sync + 'static,
    ) -> T {
        let check = Arc::new(check);
        let deadline = Instant::now() + PATIENCE;
        loop {
            let attempt = check.clone();
            if let Some(found) = self.run(move |engine| attempt(engine)).await {
                return found;
            }
            let name = self.name.clone();
            match tokio::time::timeout_at(deadline, self.next_signal()).await {
                Ok(Some(())) => {}
                Ok(None) => panic!("{name}: the engine ended while waiting for {what}"),
                Err(_) => panic!(
                    "{name}: timed out after {PATIENCE:?} waiting for {what}; last events: {:#?}",
                    self.recent
                ),
            }
        }
    }

    /// Waits until the store holds an entry labelled `label`; returns its id.
    pub async fn until_label(&mut self, label: &str) -> String {
        let wanted = label.to_owned();
        self.until(&format!("the label {label:?}"), move |engine| {
            let store = engine.store();
            store
                .entry_ids()
                .find(|id| store.entry(id).is_some_and(|e| e.label() == wanted))
                .map(str::to_owned)
        })
        .await
    }

    /// Waits until the store holds every label of `labels`.
    pub async fn until_labels(&mut self, labels: &BTreeSet<String>) {
        let wanted = labels.clone();
        let what = format!("{} labels", wanted.len());
        self.until(&what, move |engine| {
            labels_of(engine.store()).is_superset(&wanted).then_some(())
        })
        .await;
    }

    /// Waits for a driver event accepted by `accept` (other events are skipped).
    pub async fn until_event(
        &mut self,
        what: &str,
        mut accept: impl FnMut(&DriverEvent) -> bool,
    ) -> DriverEvent {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let name = self.name.clone();
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(event)) if accept(&event) => return event,
                Ok(Some(event)) => self.remember(&event),
                Ok(None) => panic!("{name}: the engine ended while waiting for {what}"),
                Err(_) => panic!(
                    "{name}: timed out after {PATIENCE:?} waiting for {what}; last events: {:#?}",
                    self.recent
                ),
            }
        }
    }

    /// Collects the driver events that arrive within `window` (for "nothing happens" checks,
    /// which cannot be awaited).
    pub async fn events_within(&mut self, window: Duration) -> Vec<DriverEvent> {
        let mut seen = Vec::new();
        let until = Instant::now() + window;
        while let Ok(Some(event)) = tokio::time::timeout_at(until, self.events.recv()).await {
            seen.push(event);
        }
        seen
    }

    /// The connection state according to the driver.
    pub async fn connection_state(&self) -> ConnectionState {
        self.handle()
            .connection_state()
            .await
            .expect("the engine runs")
    }

    /// Stops the engine (PRESENCE_LEAVE, checkpoint, disconnect, close).
    pub async fn stop(mut self) {
        let handle = self.handle.take().expect("the peer is running");
        handle
            .stop()
            .await
            .unwrap_or_else(|e| panic!("{} stops: {e}", self.name));
    }
}

/// Every non-empty label of `store`.
pub fn labels_of<B: NewBackend>(store: &Store<B>) -> BTreeSet<String> {
    store
        .entry_ids()
        .filter_map(|id| store.entry(id).map(|e| e.label().to_owned()))
        .filter(|label| !label.is_empty())
        .collect()
}

/// The value of the entry labelled `label`, if both exist.
pub fn value_of<B: NewBackend>(store: &Store<B>, label: &str) -> Option<Value> {
    let id = store
        .entry_ids()
        .find(|id| store.entry(id).is_some_and(|e| e.label() == label))?
        .to_owned();
    store.read_value(&id).ok()
}

/// Waits until every peer holds the labels `wanted` and all replicas are identical (the same
/// JSON tree); returns the common fingerprint. Every replica is also checked for the tree
/// invariants.
pub async fn until_converged<B: TestBackend>(
    peers: &mut [&mut Peer<B>],
    wanted: &BTreeSet<String>,
) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut fingerprints = Vec::new();
        let mut complete = true;
        for peer in peers.iter() {
            let wanted = wanted.clone();
            let (fingerprint, has_all) = peer
                .run(move |engine| {
                    let store = engine.store();
                    (
                        store.as_json().to_json_string(),
                        labels_of(store).is_superset(&wanted),
                    )
                })
                .await;
            complete &= has_all;
            fingerprints.push(fingerprint);
        }
        if complete && fingerprints.windows(2).all(|w| w[0] == w[1]) {
            for peer in peers.iter() {
                let name = peer.name.clone();
                peer.run(|engine| sds_testkit::check_invariants(engine.store(), true))
                    .await
                    .unwrap_or_else(|e| panic!("{name}: invariants broken: {e}"));
            }
            return fingerprints.swap_remove(0);
        }
        let signals = peers
            .iter_mut()
            .map(|peer| Box::pin(peer.next_signal()))
            .collect::<Vec<_>>();
        // The futures left over borrow the peers: drop them before reporting.
        let waited = tokio::time::timeout_at(deadline, futures_util::future::select_all(signals))
            .await
            .map(|(signal, index, _)| (signal, index));
        match waited {
            Ok((Some(()), _)) => {}
            Ok((None, index)) => panic!("peer {index} ended while converging"),
            Err(_) => {
                let mut report = String::new();
                for (peer, fingerprint) in peers.iter().zip(&fingerprints) {
                    let missing: Vec<_> = {
                        let have = peer.labels().await;
                        wanted.difference(&have).cloned().collect()
                    };
                    report.push_str(&format!(
                        "\n{}: missing {missing:?}, tree {:.300}, last events {:#?}",
                        peer.name, fingerprint, peer.recent
                    ));
                }
                if let Some(other) = fingerprints.iter().find(|f| **f != fingerprints[0]) {
                    let first = &fingerprints[0];
                    let at = first
                        .bytes()
                        .zip(other.bytes())
                        .position(|(x, y)| x != y)
                        .unwrap_or(first.len().min(other.len()));
                    let around = |text: &str| {
                        let start = at.saturating_sub(200);
                        let end = (at + 300).min(text.len());
                        String::from_utf8_lossy(&text.as_bytes()[start..end]).into_owned()
                    };
                    report.push_str(&format!(
                        "\nthe trees differ at byte {at}:\n  {}\n  {}",
                        around(first),
                        around(other)
                    ));
                }
                panic!("timed out after {PATIENCE:?} waiting for convergence:{report}");
            }
        }
    }
}

/// A WebSocket client that is no sds peer: it sends whatever a test wants.
pub struct RawClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What a raw client received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A binary message.
    Binary(Vec<u8>),
    /// A close frame with its code.
    Close(u16),
    /// The connection ended without a close frame.
    Ended,
}

impl RawClient {
    /// Connects to `/ws/<STORE>` of `server` with `token`.
    pub async fn connect(server: &TestServer, token: &str) -> RawClient {
        Self::connect_url(&server.url(), token).await
    }

    /// Connects to `/ws/<STORE>` of the server at `base` (`ws://…`) with `token`.
    pub async fn connect_url(base: &str, token: &str) -> RawClient {
        let url = sds_sync::protocol::sync_url(base, STORE, token);
        let connecting = tokio_tungstenite::connect_async(url);
        let (socket, _) = tokio::time::timeout(PATIENCE, connecting)
            .await
            .expect("the raw client connects in time")
            .expect("the upgrade is accepted");
        RawClient { socket }
    }

    /// Sends a binary message; `false` when the connection is gone.
    pub async fn send(&mut self, bytes: Vec<u8>) -> bool {
        self.socket
            .send(Message::Binary(bytes.into()))
            .await
            .is_ok()
    }

    /// Sends a text message; `false` when the connection is gone.
    pub async fn send_text(&mut self, text: &str) -> bool {
        self.socket.send(Message::Text(text.into())).await.is_ok()
    }

    /// The next binary message or the end of the connection.
    pub async fn recv(&mut self) -> Received {
        let next = async {
            loop {
                match self.socket.next().await {
                    Some(Ok(Message::Binary(bytes))) => return Received::Binary(bytes.to_vec()),
                    Some(Ok(Message::Close(frame))) => {
                        return Received::Close(frame.map_or(1005, |f| f.code.into()));
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return Received::Ended,
                }
            }
        };
        tokio::time::timeout(PATIENCE, next)
            .await
            .expect("the raw client receives something in time")
    }

    /// Waits for the server's close frame (skipping data) and returns its code.
    pub async fn closed(&mut self) -> u16 {
        loop {
            match self.recv().await {
                Received::Close(code) => {
                    // Let the protocol layer answer and the server finish.
                    let _ = tokio::time::timeout(PATIENCE, async {
                        while let Some(Ok(_)) = self.socket.next().await {}
                    })
                    .await;
                    return code;
                }
                Received::Ended => panic!("the connection ended without a close frame"),
                Received::Binary(_) => continue,
            }
        }
    }

    /// Closes normally.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
        while let Some(Ok(_)) = self.socket.next().await {}
    }
}

/// Deterministic pseudo-random bytes (a blob that does not compress or repeat).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A durable server in a child process (`sds-scenario-server`), for SIGKILL.
pub struct ChildServer {
    /// The bound address.
    pub address: SocketAddr,
    child: std::process::Child,
}

impl ChildServer {
    /// Starts a durable server with `B`'s backend on `data_dir`, on `port` (0 for any). A
    /// fixed port that is not free yet (the previous process just died) is retried briefly.
    pub async fn start<B: TestBackend>(data_dir: &Path, port: u16) -> ChildServer {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sds-scenario-server"))
                .arg(data_dir)
                .arg(B::KIND.as_str())
                .arg(port.to_string())
                .env("SDS_JWT_SECRET", SECRET)
                .env("RUST_LOG", "warn")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawning sds-scenario-server");
            let stdout = child.stdout.take().unwrap();
            // The first line says where it listens; reading it blocks, so off the runtime.
            let first = tokio::task::spawn_blocking(move || {
                let mut line = String::new();
                std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
                    .map(|_| line)
            });
            let line = tokio::time::timeout(PATIENCE, first)
                .await
                .expect("the child server starts in time")
                .unwrap()
                .unwrap_or_default();
            if let Some(address) = line.trim().strip_prefix("listening ") {
                return ChildServer {
                    address: address.parse().expect("an address"),
                    child,
                };
            }
            let mut error = String::new();
            let _ = child.wait();
            if let Some(mut stderr) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut stderr, &mut error);
            }
            assert!(
                Instant::now() < deadline,
                "the child server did not start: {line:?} {error}"
            );
            eprintln!("the child server did not start ({error}); retrying");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `ws://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("ws://{}", self.address)
    }

    /// SIGKILL, and waits until the process is gone.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("the child is reaped");
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `POST /api/token` on `server` with the admin token `admin` and the JSON body `body`;
/// returns the status and the body of the answer (a minimal HTTP/1.1 exchange).
pub async fn request_token(server: &TestServer, admin: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = TcpStream::connect(server.address).await.unwrap();
    let request = format!(
        "POST /api/token HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
         Authorization: Bearer {admin}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut response))
        .await
        .expect("an answer in time")
        .unwrap();
    let response = String::from_utf8(response).expect("a UTF-8 answer");
    let status = response[9..12].parse().expect("a status code");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}
