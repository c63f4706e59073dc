//! Helpers of the server tests: a server on 127.0.0.1:0, tokens, WebSocket clients, a tiny
//! HTTP client, and real CRDT patches from sds stores.

#![allow(dead_code)]

use futures_util::{SinkExt as _, StreamExt as _};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sds_core::{NewBackend, ROOT_ID, Store, StoreOptions};
use sds_server::{Server, ServerConfig};
use serde_json::{Value as JsonValue, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The secret of every test server.
pub const SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// How long a test waits for an expected event before it fails.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// A configuration with the test secret.
pub fn config() -> ServerConfig {
    ServerConfig::new(SECRET)
}

/// A server running in the test's runtime.
pub struct TestServer {
    pub address: SocketAddr,
    pub server: Server,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<JoinHandle<sds_server::Result<()>>>,
}

impl TestServer {
    /// Starts a server on 127.0.0.1:0.
    pub async fn start(config: ServerConfig) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = Server::new(config).expect("valid configuration");
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

    /// Stops the server (like SIGTERM) and waits until it has returned.
    pub async fn stop(mut self) {
        self.stop.take().unwrap().send(()).ok();
        let task = self.task.take().unwrap();
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }

    /// A client on `/ws/<store>` with a fresh token of `scope`.
    pub async fn client(&self, store: &str, scope: &str) -> Client {
        Client::connect(&self.url(), "ws", store, Some(&token(store, scope))).await
    }

    /// A client on `/signal/<store>`.
    pub async fn signal_client(&self, store: &str, scope: &str) -> Client {
        Client::connect(&self.url(), "signal", store, Some(&token(store, scope))).await
    }

    /// Waits until `condition` holds for the server's counters.
    pub async fn wait_for(&self, what: &str, condition: impl Fn(&Server) -> bool) {
        wait_until(what, || condition(&self.server)).await;
    }
}

/// Polls `condition` until it holds (fails after [`PATIENCE`]). For state that has no event
/// of its own to await, such as a room disappearing on the server.
pub async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Signs arbitrary claims with the test secret.
pub fn sign(claims: &JsonValue) -> String {
    sign_with(claims, SECRET)
}

pub fn sign_with(claims: &JsonValue, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// A valid token for `store` with `scope`, expiring in an hour.
pub fn token(store: &str, scope: &str) -> String {
    sign(&json!({"sub": "tester", "aud": store, "scope": scope, "exp": now() + 3600}))
}

/// What a client received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Binary(Vec<u8>),
    Text(String),
    /// A close frame with its code and reason.
    Close(u16, String),
    /// The connection ended without a close frame.
    Ended,
}

/// A WebSocket client.
pub struct Client {
    pub socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    /// Connects to `<base>/<route>/<store, percent-encoded>?token=<token>`.
    pub async fn connect(base: &str, route: &str, store: &str, token: Option<&str>) -> Client {
        let mut url = format!(
            "{base}/{route}/{}",
            sds_sync::protocol::percent_encode(store)
        );
        if let Some(token) = token {
            url.push_str("?token=");
            url.push_str(&sds_sync::protocol::percent_encode(token));
        }
        Client::connect_url(&url).await
    }

    pub async fn connect_url(url: &str) -> Client {
        // Without TCP_NODELAY a frame followed by a ping waits for a delayed ACK (40 ms).
        let connecting = tokio_tungstenite::connect_async_with_config(url, None, true);
        let (socket, _) = tokio::time::timeout(PATIENCE, connecting)
            .await
            .expect("connecting in time")
            .expect("upgrade accepted");
        Client { socket }
    }

    pub async fn send(&mut self, bytes: impl Into<Vec<u8>>) {
        self.socket
            .send(Message::Binary(bytes.into().into()))
            .await
            .expect("send");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    /// The next message other than ping/pong.
    pub async fn recv(&mut self) -> Received {
        tokio::time::timeout(PATIENCE, self.recv_untimed())
            .await
            .expect("a message in time")
    }

    pub async fn recv_untimed(&mut self) -> Received {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Binary(bytes))) => return Received::Binary(bytes.to_vec()),
                Some(Ok(Message::Text(text))) => return Received::Text(text.to_string()),
                Some(Ok(Message::Close(frame))) => {
                    return match frame {
                        Some(frame) => Received::Close(frame.code.into(), frame.reason.to_string()),
                        None => Received::Close(1005, String::new()),
                    };
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Received::Ended,
            }
        }
    }

    /// The next binary frame; fails on anything else.
    pub async fn recv_binary(&mut self) -> Vec<u8> {
        match self.recv().await {
            Received::Binary(bytes) => bytes,
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }

    /// Waits for the close frame, skipping data frames; returns its code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            match self.recv().await {
                Received::Close(code, reason) => {
                    self.finish_closing().await;
                    return (code, reason);
                }
                Received::Ended => panic!("the connection ended without a close frame"),
                _ => continue,
            }
        }
    }

    /// Waits for the close frame, which must come before any data frame.
    pub async fn refused(&mut self) -> (u16, String) {
        match self.recv().await {
            Received::Close(code, reason) => {
                self.finish_closing().await;
                (code, reason)
            }
            other => panic!("expected a close frame, got {other:?}"),
        }
    }

    /// After the server's close frame: sends the answer (the protocol layer queued it) and
    /// waits until the server ends the connection.
    async fn finish_closing(&mut self) {
        let _ = tokio::time::timeout(PATIENCE, async {
            while let Some(Ok(_)) = self.socket.next().await {}
        })
        .await;
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
        // Wait for the server's answer so that the server has seen the close.
        while let Some(Ok(_)) = self.socket.next().await {}
    }
}

/// Proves that `silent` received nothing before this point: `speaker` sends a marker frame
/// on the same route, and it must be the next frame `silent` receives (frames of one sender
/// arrive in order, and anything relayed to `silent` earlier would be queued before it).
pub async fn assert_nothing_received(silent: &mut Client, speaker: &mut Client, marker: &[u8]) {
    speaker.send(marker.to_vec()).await;
    assert_eq!(
        silent.recv().await,
        Received::Binary(marker.to_vec()),
        "the marker must be the first thing received"
    );
}

/// An unknown frame type used as a marker (relayed by every mode, never interpreted).
pub fn marker(n: u8) -> Vec<u8> {
    vec![0x7f, n]
}

/// A minimal HTTP/1.1 exchange; returns the status and the body.
pub async fn http(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut response))
        .await
        .expect("an answer in time")
        .unwrap();
    let response = String::from_utf8(response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// An sds store that produces real patches.
pub struct Doc<B: NewBackend> {
    pub store: Store<B>,
}

impl<B: NewBackend> Doc<B> {
    pub fn new() -> Self {
        Doc {
            store: Store::from_scratch(StoreOptions::default()).unwrap(),
        }
    }

    /// A store whose replica id and clock derive from `seed`, so that its patches are the
    /// same bytes in every run with that seed.
    #[allow(dead_code)]
    pub fn seeded(seed: u64) -> Self {
        Doc {
            store: Store::from_scratch(StoreOptions {
                clock: sds_core::Clock::from_fn(|| 1_700_000_000_000),
                replica_seed: Some(seed),
                ..StoreOptions::default()
            })
            .unwrap(),
        }
    }

    /// A replica built only from received patches.
    pub fn empty() -> Self {
        Doc {
            store: Store::with_restored_backend(B::new_empty(), StoreOptions::default()).unwrap(),
        }
    }

    /// The full state as one patch.
    pub fn full(&self) -> Vec<u8> {
        self.store.export_patch(None).unwrap()
    }

    pub fn cursor(&self) -> Vec<u8> {
        self.store.current_cursor()
    }

    /// Adds an item labelled `label` under Root; returns the patch of that change.
    pub fn add(&mut self, label: &str) -> Vec<u8> {
        let before = self.store.current_cursor();
        self.store
            .transact(|s| {
                let id = s.new_item_at(None, ROOT_ID, None)?;
                s.set_label(&id, label)
            })
            .unwrap();
        self.store.export_patch(Some(&before)).unwrap()
    }

    pub fn apply(&mut self, patch: &[u8]) {
        self.store.apply_remote_patch_without_repair(patch).unwrap();
    }

    /// Every label in the document, sorted.
    pub fn labels(&self) -> Vec<String> {
        let mut labels: Vec<String> = self
            .store
            .entry_ids()
            .filter_map(|id| self.store.entry(id).map(|e| e.label().to_owned()))
            .filter(|label| !label.is_empty())
            .collect();
        labels.sort();
        labels
    }
}

/// `0x01 ‖ patch`.
pub fn patch_frame(patch: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x01];
    frame.extend_from_slice(patch);
    frame
}

/// Recorded JS SDS frames of one capture (`yjs`, `loro`, `value`): (file name, bytes), in
/// order.
pub fn js_frames(capture: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/js-sds-frames")
        .join(capture);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&path).unwrap(),
            )
        })
        .collect()
}
