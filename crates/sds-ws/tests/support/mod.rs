//! A small WebSocket server for the tests (tokio-tungstenite, 127.0.0.1), plain or behind TLS
//! (tokio-rustls, with a certificate authority generated at run time), whose behaviour the
//! test switches at run time, and helpers to collect a provider's events.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use sds_sync::transport::{Backoff, EventSink, TransportEvent};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// How long a test waits for an event that must come.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// What the server does with the next connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Upgrade, report what arrives and relay binary messages to the other connections.
    Accept,
    /// Drop the TCP connection before the upgrade.
    Refuse,
    /// Upgrade, then close at once with this code and reason.
    Close(u16, &'static str),
    /// Upgrade, then never read or write again (a dead peer: pings go unanswered).
    Silent,
}

/// What the server observed (besides the attempts, which have their own channel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// A connection was upgraded; `target` is the request's path and query as received.
    Opened { id: u64, target: String },
    /// A binary message arrived.
    Received { id: u64, data: Vec<u8> },
    /// A ping arrived.
    Pinged { id: u64 },
    /// A pong arrived.
    Ponged { id: u64 },
    /// The connection ended; `code` is the client's close code, if it sent one.
    Closed { id: u64, code: Option<u16> },
}

enum Control {
    Send(Message),
    Close(u16, &'static str),
}

type Connections = Arc<Mutex<HashMap<u64, mpsc::UnboundedSender<Control>>>>;

/// A server-side byte stream: plain TCP or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type ServerSocket = WebSocketStream<Box<dyn Io>>;

struct State {
    mode: Mutex<Mode>,
    connections: Connections,
    /// Sockets of silent connections, kept open until the server is dropped.
    silent: Mutex<Vec<ServerSocket>>,
    next_id: AtomicU64,
    events: mpsc::UnboundedSender<ServerEvent>,
    attempts: mpsc::UnboundedSender<Instant>,
    /// TLS in front of the WebSocket server, if any.
    tls: Option<TlsAcceptor>,
}

/// A certificate authority and a server certificate it issued for `localhost` and
/// `127.0.0.1`, generated at run time (no key is committed).
pub struct TestPki {
    /// The authority's certificate: what a client must trust.
    pub ca: CertificateDer<'static>,
    /// The server's certificate chain (its own certificate, then the authority's).
    chain: Vec<CertificateDer<'static>>,
    /// The server's private key (PKCS #8).
    key: Vec<u8>,
}

impl TestPki {
    pub fn generate() -> TestPki {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
            KeyUsagePurpose,
        };
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "sds-ws test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

        let mut server_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        server_params
            .distinguished_name
            .push(DnType::CommonName, "sds-ws test server");
        let server_key = KeyPair::generate().unwrap();
        let server = server_params.signed_by(&server_key, &ca).unwrap();
        TestPki {
            ca: ca.der().clone(),
            chain: vec![server.der().clone(), ca.der().clone()],
            key: server_key.serialize_der(),
        }
    }

    fn acceptor(&self) -> TlsAcceptor {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()));
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(self.chain.clone(), key)
                .unwrap();
        TlsAcceptor::from(Arc::new(config))
    }
}

/// The test server. Dropping it stops accepting (open connections end with the runtime).
pub struct TestServer {
    pub addr: SocketAddr,
    state: Arc<State>,
    pub events: mpsc::UnboundedReceiver<ServerEvent>,
    /// When each TCP connection was accepted, in order.
    pub attempts: mpsc::UnboundedReceiver<Instant>,
    acceptor: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl TestServer {
    /// A plain server (`ws://`).
    pub async fn start(mode: Mode) -> TestServer {
        TestServer::launch(mode, None).await
    }

    /// A server behind TLS (`wss://`) with `pki`'s server certificate.
    pub async fn start_tls(mode: Mode, pki: &TestPki) -> TestServer {
        TestServer::launch(mode, Some(pki.acceptor())).await
    }

    async fn launch(mode: Mode, tls: Option<TlsAcceptor>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (events, event_receiver) = mpsc::unbounded_channel();
        let (attempts, attempt_receiver) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            mode: Mutex::new(mode),
            connections: Arc::default(),
            silent: Mutex::default(),
            next_id: AtomicU64::new(1),
            events,
            attempts,
            tls,
        });
        let acceptor = tokio::spawn(accept_loop(listener, state.clone()));
        TestServer {
            addr,
            state,
            events: event_receiver,
            attempts: attempt_receiver,
            acceptor,
        }
    }

    /// The server's base URL, `ws://127.0.0.1:<port>` (`wss://` behind TLS).
    pub fn base(&self) -> String {
        let scheme = if self.state.tls.is_some() {
            "wss"
        } else {
            "ws"
        };
        format!("{scheme}://{}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// Sends `message` on every accepted connection.
    pub fn send_all(&self, message: Message) {
        for control in self.state.connections.lock().unwrap().values() {
            let _ = control.send(Control::Send(message.clone()));
        }
    }

    /// Closes every accepted connection with `code`.
    pub fn close_all(&self, code: u16, reason: &'static str) {
        for control in self.state.connections.lock().unwrap().values() {
            let _ = control.send(Control::Close(code, reason));
        }
    }

    /// The next event matching `wanted` (others are skipped).
    pub async fn wait_for(&mut self, wanted: impl Fn(&ServerEvent) -> bool) -> ServerEvent {
        tokio::time::timeout(PATIENCE, async {
            loop {
                let event = self.events.recv().await.expect("the server stopped");
                if wanted(&event) {
                    return event;
                }
            }
        })
        .await
        .expect("the expected server event did not arrive")
    }

    /// The next connection attempt.
    pub async fn next_attempt(&mut self) -> Instant {
        tokio::time::timeout(PATIENCE, self.attempts.recv())
            .await
            .expect("no connection attempt arrived")
            .expect("the server stopped")
    }

    /// Asserts that no connection attempt arrives within `window`.
    pub async fn assert_no_attempt_within(&mut self, window: Duration) {
        if let Ok(attempt) = tokio::time::timeout(window, self.attempts.recv()).await {
            panic!("unexpected connection attempt: {attempt:?}");
        }
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        // Timestamped before anything else, for the backoff measurements.
        let at = Instant::now();
        // The mode is read before the attempt is reported, so that a test reacting to the
        // report changes the mode of the next connection, not this one.
        let mode = state.mode.lock().unwrap().clone();
        let _ = state.attempts.send(at);
        if mode == Mode::Refuse {
            drop(stream);
            continue;
        }
        tokio::spawn(serve(stream, mode, state.clone()));
    }
}

async fn serve(stream: tokio::net::TcpStream, mode: Mode, state: Arc<State>) {
    let stream: Box<dyn Io> = match &state.tls {
        None => Box::new(stream),
        // A client that does not trust the certificate aborts the handshake: nothing to serve.
        Some(acceptor) => match acceptor.accept(stream).await {
            Ok(stream) => Box::new(stream),
            Err(_) => return,
        },
    };
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    let target = Arc::new(Mutex::new(String::new()));
    let seen = target.clone();
    // The error type is tungstenite's (an HTTP response), not ours to shrink.
    #[allow(clippy::result_large_err)]
    let callback = move |request: &Request, response: Response| {
        *seen.lock().unwrap() = request.uri().to_string();
        Ok(response)
    };
    let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let target = target.lock().unwrap().clone();
    let _ = state.events.send(ServerEvent::Opened { id, target });
    match mode {
        Mode::Refuse => {}
        Mode::Silent => state.silent.lock().unwrap().push(socket),
        Mode::Close(code, reason) => {
            let _ = socket.close(Some(close_frame(code, reason))).await;
            let code = drain(&mut socket).await;
            let _ = state.events.send(ServerEvent::Closed { id, code });
        }
        Mode::Accept => relay(socket, id, state).await,
    }
}

fn close_frame(code: u16, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }
}

/// Reads until the connection ends; the client's close code, if any.
async fn drain(socket: &mut ServerSocket) -> Option<u16> {
    let mut code = None;
    while let Some(Ok(message)) = socket.next().await {
        if let Message::Close(Some(frame)) = message {
            code = Some(u16::from(frame.code));
        }
    }
    code
}

async fn relay(socket: ServerSocket, id: u64, state: Arc<State>) {
    let (control, mut controls) = mpsc::unbounded_channel();
    state.connections.lock().unwrap().insert(id, control);
    let (mut sink, mut stream) = socket.split();
    let mut code = None;
    loop {
        tokio::select! {
            inbound = stream.next() => match inbound {
                Some(Ok(Message::Binary(data))) => {
                    let _ = state.events.send(ServerEvent::Received { id, data: data.to_vec() });
                    for (other, control) in state.connections.lock().unwrap().iter() {
                        if *other != id {
                            let _ = control.send(Control::Send(Message::Binary(data.clone())));
                        }
                    }
                }
                Some(Ok(Message::Ping(_))) => {
                    let _ = state.events.send(ServerEvent::Pinged { id });
                }
                Some(Ok(Message::Pong(_))) => {
                    let _ = state.events.send(ServerEvent::Ponged { id });
                }
                Some(Ok(Message::Close(frame))) => {
                    // The first close frame is the client's (or its answer to ours).
                    if code.is_none() {
                        code = frame.map(|f| u16::from(f.code));
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            command = controls.recv() => match command {
                Some(Control::Send(message)) => {
                    if sink.send(message).await.is_err() {
                        break;
                    }
                }
                Some(Control::Close(close_code, reason)) => {
                    let _ = sink.send(Message::Close(Some(close_frame(close_code, reason)))).await;
                }
                None => break,
            },
        }
    }
    state.connections.lock().unwrap().remove(&id);
    let _ = state.events.send(ServerEvent::Closed { id, code });
}

/// Asserts that `gap` lies within the bounds of `backoff.delay_ms(attempt, ·)`, with room for
/// the connection attempt itself and for scheduling on a busy machine.
pub fn assert_gap_within_backoff(backoff: &Backoff, attempt: u32, gap: Duration) {
    let shortest = backoff.delay_ms(attempt, -1.0) as f64;
    let longest = backoff.delay_ms(attempt, 1.0) as f64;
    let gap_ms = gap.as_secs_f64() * 1000.0;
    assert!(
        gap_ms >= shortest - 15.0 && gap_ms <= longest + 1_000.0,
        "gap before attempt {} was {gap_ms:.1} ms, outside [{shortest}, {longest}] ms",
        attempt + 1
    );
}

/// A sink that collects a provider's events with the time they were reported.
pub fn collector() -> (EventSink, Events) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let sink: EventSink = Arc::new(move |event| {
        let _ = sender.send(event);
    });
    (sink, Events { receiver })
}

/// A provider's events.
pub struct Events {
    pub receiver: mpsc::UnboundedReceiver<TransportEvent>,
}

impl Events {
    /// The next event.
    pub async fn next(&mut self) -> TransportEvent {
        tokio::time::timeout(PATIENCE, self.receiver.recv())
            .await
            .expect("no provider event arrived")
            .expect("the provider dropped its sink")
    }

    /// The next event matching `wanted`; the skipped ones are returned too.
    pub async fn wait_for(
        &mut self,
        wanted: impl Fn(&TransportEvent) -> bool,
    ) -> (TransportEvent, Vec<TransportEvent>) {
        let mut skipped = Vec::new();
        loop {
            let event = self.next().await;
            if wanted(&event) {
                return (event, skipped);
            }
            skipped.push(event);
        }
    }

    /// Every event reported so far, without waiting.
    pub fn pending(&mut self) -> Vec<TransportEvent> {
        std::iter::from_fn(|| self.receiver.try_recv().ok()).collect()
    }
}
