//! One WebSocket connection: authentication outcome, relaying, the durable replica's part
//! (SPEC §14.7), keep-alive and closing.
//!
//! Each connection is one task. Its reader, its writer and its timers run concurrently inside
//! that task; the writer drains the connection's outbound queue, which other connections fill.

use crate::auth::{Claims, Scope};
use crate::replica::{Lease, ReplicaError, Replicas};
use crate::room::{Peer, Room, Rooms};
use crate::server::Shared;
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use sds_sync::protocol::{Frame, Reassembler, frame_type, verify_value};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// The socket of an upgraded connection.
pub(crate) type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// Close codes of SPEC §12.2 (and 1011 for failures of the server's replica).
pub(crate) mod close_code {
    /// Server shutdown or keep-alive timeout.
    pub const GOING_AWAY: u16 = 1001;
    /// A patch the server replica cannot apply.
    pub const INVALID_PATCH: u16 = 1007;
    /// A frame larger than the limit.
    pub const TOO_BIG: u16 = 1009;
    /// The server's replica failed (persistence, wrong backend).
    pub const INTERNAL: u16 = 1011;
    /// The outbound queue overflowed.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// The token is not valid.
    pub const UNAUTHORIZED: u16 = 4001;
    /// The token is for another store.
    pub const FORBIDDEN: u16 = 4003;
}

/// The two WebSocket routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/ws/<storeId>`: sync and presence.
    Sync,
    /// `/signal/<storeId>`: WebRTC signalling.
    Signal,
}

/// Why a token was refused: the close code and its reason text.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) code: u16,
    pub(crate) reason: &'static str,
}

/// How a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The client closed, or the socket failed: nothing more to send.
    Gone,
    /// Close with this code and reason.
    Close(u16, &'static str),
}

/// At most this many blobs are reassembled at once per connection; chunks of further blobs
/// are still relayed but not stored.
const MAX_PARALLEL_REASSEMBLIES: usize = 4;

/// A connection whose token was accepted, already a member of its store's room.
pub(crate) struct Admitted {
    claims: Claims,
    peer: Arc<Peer>,
    room: Arc<Room>,
}

fn rooms(shared: &Shared, route: Route) -> &Rooms {
    match route {
        Route::Sync => &shared.sync_rooms,
        Route::Signal => &shared.signal_rooms,
    }
}

/// Makes an accepted connection a member of its room. This happens before the upgrade is
/// answered, so a client whose upgrade has succeeded receives every frame relayed after that
/// (queued until its socket is ready); a peer that connects after it can rely on that.
pub(crate) fn admit(shared: &Shared, route: Route, store_id: &str, claims: Claims) -> Admitted {
    let peer = Arc::new(Peer::new(shared.config.outbound_queue_limit));
    let room = rooms(shared, route).join(store_id, &peer);
    tracing::debug!(store = %store_id, ?route, sub = %claims.sub, scope = %claims.scope, "client joined");
    Admitted { claims, peer, room }
}

/// Takes back [`admit`] for a connection whose upgrade failed.
pub(crate) fn withdraw(shared: &Shared, route: Route, store_id: &str, admitted: &Admitted) {
    admitted.peer.close(close_code::GOING_AWAY);
    rooms(shared, route).leave(store_id, &admitted.peer);
}

/// Serves one upgraded connection until it ends.
pub(crate) async fn serve(
    socket: Socket,
    shared: Arc<Shared>,
    route: Route,
    store_id: String,
    auth: Result<Admitted, Refusal>,
) {
    let config = &shared.config;
    let Admitted { claims, peer, room } = match auth {
        Ok(admitted) => admitted,
        Err(refusal) => {
            close_socket(
                socket,
                refusal.code,
                refusal.reason,
                config.close_timeout,
                false,
            )
            .await;
            return;
        }
    };
    // A loaded replica is used at once. Otherwise it loads in the background while the
    // connection already reads: a new peer's SYNC_REQ can be answered from the store's file,
    // and frames that need the replica wait for it (`ReplicaSlot::Loading`).
    let lease = match (&shared.replicas, route) {
        (Some(replicas), Route::Sync) => match replicas.acquire_loaded(&store_id) {
            Some(lease) => ReplicaSlot::Ready(lease),
            None => {
                let replicas = replicas.clone();
                let id = store_id.clone();
                ReplicaSlot::Loading {
                    load: tokio::spawn(async move { replicas.acquire(&id).await }),
                    deferred: Vec::new(),
                    deferred_bytes: 0,
                    tried_file: false,
                }
            }
        },
        _ => ReplicaSlot::None,
    };
    let mut session = Session {
        route,
        store_id,
        scope: claims.scope,
        peer: peer.clone(),
        room,
        lease,
        replicas: shared.replicas.clone(),
        presence: None,
        reassembler: None,
    };
    if let ReplicaSlot::Ready(lease) = &session.lease {
        session.ask_writer_for_missing(lease).await;
    }

    let (mut sink, mut stream) = socket.split();
    let started = Instant::now();
    let last_inbound = AtomicU64::new(0);
    let mut shutdown = shared.shutdown.clone();
    let ending = tokio::select! {
        ending = session.read_loop(&mut stream, &last_inbound, started) => ending,
        ending = write_loop(&mut sink, &peer, config.ping_interval) => ending,
        code = wait_until_closing(&peer) => Ending::Close(code, "outbound queue overflow"),
        () = idle_watch(&last_inbound, started, config.idle_timeout) => {
            Ending::Close(close_code::GOING_AWAY, "idle timeout")
        }
        _ = shutdown.wait_for(|stop| *stop) => Ending::Close(close_code::GOING_AWAY, "server shutting down"),
    };

    // Nothing more is queued for this connection; the others learn that its peer left.
    peer.close(close_code::GOING_AWAY);
    rooms(&shared, route).leave(&session.store_id, &peer);
    if let Some(peer_id) = session.presence.take() {
        let frame = Frame::PresenceLeave { peer_id }.encode();
        let len = frame.len();
        session
            .room
            .relay(&peer, &Message::Binary(frame.into()), len);
    }
    tracing::debug!(store = %session.store_id, ?route, ?ending, "client left");
    drop(session);
    if let Ending::Close(code, reason) = ending
        && let Ok(socket) = sink.reunite(stream)
    {
        let raw = code == close_code::TOO_BIG;
        close_socket(socket, code, reason, config.close_timeout, raw).await;
    }
}

/// Sends a close frame and waits, bounded by `timeout`, until the client answers it or ends
/// the connection. Whatever the client still sends meanwhile is read and discarded, so that
/// unread input does not turn the close into a reset that could destroy the close frame.
/// After a protocol-level failure (`raw`) the rest of the input is skipped as raw bytes.
async fn close_socket(
    mut socket: Socket,
    code: u16,
    reason: &'static str,
    timeout: Duration,
    raw: bool,
) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    if tokio::time::timeout(timeout, socket.close(Some(frame)))
        .await
        .is_err()
    {
        return;
    }
    let _ = tokio::time::timeout(timeout, async {
        if raw {
            // The input cannot be parsed any more, so the client's answer cannot be
            // recognised: end the output instead, which tells the client that nothing follows.
            let io = socket.get_mut();
            let _ = io.shutdown().await;
            let mut buffer = vec![0u8; 4096];
            while let Ok(read) = io.read(&mut buffer).await {
                if read == 0 {
                    break;
                }
            }
        } else {
            // The stream ends once the client's close frame arrived.
            while let Some(Ok(_)) = socket.next().await {}
        }
    })
    .await;
}

async fn write_loop(
    sink: &mut SplitSink<Socket, Message>,
    peer: &Peer,
    ping_interval: Duration,
) -> Ending {
    let mut ping = tokio::time::interval_at(Instant::now() + ping_interval, ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        while let Some((message, len)) = peer.next_frame() {
            if sink.feed(message).await.is_err() {
                return Ending::Gone;
            }
            peer.written(len);
        }
        if sink.flush().await.is_err() {
            return Ending::Gone;
        }
        tokio::select! {
            () = peer.wait_for_work() => {}
            _ = ping.tick() => {
                if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                    return Ending::Gone;
                }
            }
        }
    }
}

async fn wait_until_closing(peer: &Peer) -> u16 {
    loop {
        let closed = peer.closed();
        if let Some(code) = peer.closing() {
            return code;
        }
        closed.await;
    }
}

async fn idle_watch(last_inbound_ms: &AtomicU64, started: Instant, idle_timeout: Duration) {
    loop {
        let last = started + Duration::from_millis(last_inbound_ms.load(Ordering::Relaxed));
        let deadline = last + idle_timeout;
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline).await;
    }
}

/// Frames that wait for a loading replica are kept up to this many bytes; beyond it the
/// reader waits for the replica before it reads more (backpressure on the client).
const MAX_DEFERRED_BYTES: usize = 16 * 1024 * 1024;

/// What happens to a frame that arrives while the replica loads.
enum Deferral {
    /// Kept for later, or answered already.
    Kept,
    /// Handled now: it does not need the replica.
    Now(Bytes),
    /// Handled once the replica is loaded (too much is deferred already).
    AfterLoad(Bytes),
}

/// The connection's replica (persistent mode, `/ws` only).
enum ReplicaSlot {
    /// Pure relay, or `/signal`.
    None,
    /// The replica is being loaded by another task.
    Loading {
        load: tokio::task::JoinHandle<Result<Lease, ReplicaError>>,
        /// Frames that need the replica, in arrival order.
        deferred: Vec<Bytes>,
        deferred_bytes: usize,
        /// Whether a SYNC_REQ was tried against the store's file already (once is enough).
        tried_file: bool,
    },
    /// The replica is loaded.
    Ready(Lease),
}

impl ReplicaSlot {
    fn ready(&self) -> Option<&Lease> {
        match self {
            ReplicaSlot::Ready(lease) => Some(lease),
            _ => None,
        }
    }
}

/// The per-connection state the reader needs.
struct Session {
    route: Route,
    store_id: String,
    scope: Scope,
    peer: Arc<Peer>,
    room: Arc<Room>,
    lease: ReplicaSlot,
    /// The server's replicas (persistent mode), for answers read from a store's file.
    replicas: Option<Arc<Replicas>>,
    /// The `PeerId` of the last valid PRESENCE relayed for this connection.
    presence: Option<String>,
    /// Chunk reassembly (persistent mode, writers only), created on the first chunk.
    reassembler: Option<Box<Reassembler>>,
}

impl Session {
    async fn read_loop(
        &mut self,
        stream: &mut SplitStream<Socket>,
        last_inbound_ms: &AtomicU64,
        started: Instant,
    ) -> Ending {
        loop {
            let item = match &mut self.lease {
                ReplicaSlot::Loading { load, .. } => tokio::select! {
                    biased;
                    loaded = load => {
                        if let Some(ending) = self.on_loaded(loaded).await {
                            return ending;
                        }
                        continue;
                    }
                    item = stream.next() => item,
                },
                _ => stream.next().await,
            };
            let Some(item) = item else { break };
            last_inbound_ms.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
            match item {
                Ok(Message::Binary(data)) => {
                    if let Some(ending) = self.on_frame(data).await {
                        return ending;
                    }
                }
                Ok(Message::Text(text)) => {
                    // `/ws` ignores text; `/signal` relays it as text.
                    if self.route == Route::Signal && !text.is_empty() {
                        let len = text.len();
                        self.relay(Message::Text(text), len);
                    }
                }
                // Pings are answered by the protocol layer, a close is answered there too and
                // ends the stream.
                Ok(_) => {}
                Err(WsError::Capacity(error)) => {
                    tracing::info!(store = %self.store_id, %error, "frame over the limit");
                    return Ending::Close(close_code::TOO_BIG, "frame too large");
                }
                Err(error) => {
                    tracing::debug!(store = %self.store_id, %error, "connection failed");
                    return Ending::Gone;
                }
            }
        }
        Ending::Gone
    }

    /// The background load of the replica finished: the new writer is asked for what the
    /// replica lacks, and frames that waited are handled now, in order. A replica that cannot
    /// be loaded ends the connection.
    async fn on_loaded(
        &mut self,
        loaded: Result<Result<Lease, ReplicaError>, tokio::task::JoinError>,
    ) -> Option<Ending> {
        let lease = match loaded {
            Ok(Ok(lease)) => lease,
            Ok(Err(error)) => {
                tracing::error!(store = %self.store_id, %error, "cannot load the store's replica; closing the connection");
                let reason = match error {
                    ReplicaError::BackendMismatch(_) => "store uses another backend",
                    _ => "store unavailable",
                };
                return Some(Ending::Close(close_code::INTERNAL, reason));
            }
            Err(error) => {
                tracing::error!(store = %self.store_id, %error, "loading the store's replica panicked");
                return Some(Ending::Close(close_code::INTERNAL, "store unavailable"));
            }
        };
        self.ask_writer_for_missing(&lease).await;
        let deferred = match std::mem::replace(&mut self.lease, ReplicaSlot::Ready(lease)) {
            ReplicaSlot::Loading { deferred, .. } => deferred,
            _ => Vec::new(),
        };
        for data in deferred {
            if let Some(ending) = self.on_binary(data).await {
                return Some(ending);
            }
        }
        None
    }

    /// Asks a new writer for whatever the replica lacks (SPEC §14.7).
    async fn ask_writer_for_missing(&self, lease: &Lease) {
        if !self.scope.can_write() {
            return;
        }
        match lease.replica().cursor().await {
            Ok(cursor) => self.answer(Frame::SyncRequest(cursor).encode()).await,
            Err(error) => {
                tracing::error!(store = %self.store_id, %error, "reading the replica cursor failed")
            }
        }
    }

    /// Handles one binary frame, deferring it while the replica loads; `Some` ends the
    /// connection.
    async fn on_frame(&mut self, data: Bytes) -> Option<Ending> {
        let data = match self.defer_while_loading(data).await {
            Deferral::Kept => return None,
            Deferral::Now(data) => data,
            Deferral::AfterLoad(data) => {
                if let ReplicaSlot::Loading { load, .. } = &mut self.lease {
                    let loaded = load.await;
                    if let Some(ending) = self.on_loaded(loaded).await {
                        return Some(ending);
                    }
                }
                data
            }
        };
        self.on_binary(data).await
    }

    /// While the replica loads: answers the first SYNC_REQ from the store's file when the
    /// requester has seen nothing of it (a new peer catching up need not wait for the load),
    /// and keeps the frames that need the replica for later, up to [`MAX_DEFERRED_BYTES`].
    /// The answer may overtake frames the requester sent before its SYNC_REQ; it does not
    /// depend on them.
    async fn defer_while_loading(&mut self, data: Bytes) -> Deferral {
        let ReplicaSlot::Loading { tried_file, .. } = &mut self.lease else {
            return Deferral::Now(data);
        };
        match data.first() {
            Some(&frame_type::SYNC_REQ) if !*tried_file => {
                *tried_file = true;
                if let Some(replicas) = &self.replicas
                    && let Some(patches) = replicas
                        .answer_from_file(&self.store_id, data.slice(1..))
                        .await
                {
                    for patch in patches {
                        self.answer(Frame::Patch(patch).encode()).await;
                    }
                    return Deferral::Kept;
                }
            }
            Some(
                &(frame_type::PATCH
                | frame_type::VALUE
                | frame_type::VALUE_CHUNK
                | frame_type::REQ_VALUE
                | frame_type::SYNC_REQ),
            ) => {}
            _ => return Deferral::Now(data),
        }
        let ReplicaSlot::Loading {
            deferred,
            deferred_bytes,
            ..
        } = &mut self.lease
        else {
            return Deferral::Now(data);
        };
        if *deferred_bytes + data.len() > MAX_DEFERRED_BYTES {
            return Deferral::AfterLoad(data);
        }
        *deferred_bytes += data.len();
        deferred.push(data);
        Deferral::Kept
    }

    fn relay(&self, message: Message, len: usize) {
        let overflowed = self.room.relay(&self.peer, &message, len);
        if overflowed > 0 {
            tracing::warn!(store = %self.store_id, overflowed, "slow clients closed with 1013");
        }
    }

    async fn answer(&self, frame: Vec<u8>) {
        let len = frame.len();
        self.peer
            .enqueue_own(Message::Binary(frame.into()), len)
            .await;
    }

    /// Handles one binary frame; `Some` ends the connection.
    async fn on_binary(&mut self, data: Bytes) -> Option<Ending> {
        // Empty frames are ignored.
        let &kind = data.first()?;
        let len = data.len();
        if self.route == Route::Signal {
            self.relay(Message::Binary(data), len);
            return None;
        }
        let writer = self.scope.can_write();
        match kind {
            frame_type::PATCH => {
                if !writer {
                    return None;
                }
                if let Some(lease) = self.lease.ready() {
                    match lease.replica().apply_patch(data.slice(1..)).await {
                        Ok(true) => {}
                        // Every connected client has it or gets it with its sync answer.
                        Ok(false) => return None,
                        Err(ReplicaError::InvalidPatch(error)) => {
                            tracing::info!(store = %self.store_id, %error, "patch refused");
                            return Some(Ending::Close(
                                close_code::INVALID_PATCH,
                                "patch not applicable",
                            ));
                        }
                        Err(error) => {
                            tracing::error!(store = %self.store_id, %error, "applying a patch failed");
                            return Some(Ending::Close(
                                close_code::INTERNAL,
                                "server replica failed",
                            ));
                        }
                    }
                }
                self.relay(Message::Binary(data), len);
            }
            frame_type::VALUE | frame_type::VALUE_CHUNK => {
                if !writer {
                    return None;
                }
                // Stored before it is relayed, like a patch: a peer can only complete a blob
                // that the durable replica already has, so a crash in between cannot leave
                // every peer holding a blob that the server lacks (and nobody asks for).
                if self.lease.ready().is_some() {
                    self.store_value(&data).await;
                }
                self.relay(Message::Binary(data), len);
            }
            frame_type::REQ_VALUE => {
                if let (Some(lease), Some(Frame::RequestValue(hash))) =
                    (self.lease.ready(), Frame::decode(&data))
                {
                    let hex = sds_core::hash_from_bytes(&hash);
                    if let Some(blob) = lease.replica().blob(hex.clone()).await {
                        for frame in Frame::for_blob(&hex, &blob).unwrap_or_default() {
                            self.answer(frame.encode()).await;
                        }
                        return None;
                    }
                }
                self.relay(Message::Binary(data), len);
            }
            frame_type::SYNC_REQ => {
                let Some(lease) = self.lease.ready() else {
                    self.relay(Message::Binary(data), len);
                    return None;
                };
                match lease.replica().sync_answer(data.slice(1..)).await {
                    Ok(patch) if !patch.is_empty() => {
                        self.answer(Frame::Patch(patch).encode()).await;
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::error!(store = %self.store_id, %error, "answering a sync request failed");
                    }
                }
            }
            frame_type::PRESENCE => {
                if let Some(Frame::Presence(state)) = Frame::decode(&data)
                    && let Some(peer_id) = state.get("PeerId").and_then(|v| v.as_str())
                {
                    self.presence = Some(peer_id.to_owned());
                }
                self.relay(Message::Binary(data), len);
            }
            _ => self.relay(Message::Binary(data), len),
        }
        None
    }

    /// Persistent mode: reassembles, verifies and stores a VALUE or VALUE_CHUNK's blob.
    async fn store_value(&mut self, data: &[u8]) {
        let verified = match Frame::decode(data) {
            Some(Frame::Value { hash, bytes }) => verify_value(&hash, bytes),
            Some(Frame::ValueChunk {
                hash,
                index,
                count,
                bytes,
            }) => {
                let reassembler = self.reassembler.get_or_insert_with(Default::default);
                if !reassembler.is_receiving(&hash)
                    && reassembler.in_progress() >= MAX_PARALLEL_REASSEMBLIES
                {
                    reassembler.expire(sds_sync::driver::now_ms());
                    if reassembler.in_progress() >= MAX_PARALLEL_REASSEMBLIES {
                        return;
                    }
                }
                reassembler.add(hash, index, count, bytes, sds_sync::driver::now_ms())
            }
            _ => None,
        };
        let (Some(value), Some(lease)) = (verified, self.lease.ready()) else {
            return;
        };
        let hash = value.hash.clone();
        if let Err(error) = lease.replica().store_blob(value.hash, value.bytes).await {
            tracing::error!(store = %self.store_id, %hash, %error, "storing a blob failed");
        }
    }
}
