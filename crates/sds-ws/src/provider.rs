//! The WebSocket provider: a connection task on a tokio runtime, driven through channels.
//!
//! [`WsProvider`]'s methods are called from the engine driver's std thread. Each `connect`
//! starts a *session*: one task that connects, reconnects with backoff, keeps the connection
//! alive and delivers what arrives. The provider talks to it through an unbounded channel of
//! outgoing messages; dropping the channel's sender is how the session is told to stop (it
//! still sends what was queued before, then closes with 1000).
//!
//! Events go through a gate shared by the provider and its sessions: an event is reported
//! only while its session is the current one, and under the gate's lock. `disconnect` reports
//! `disconnected` itself, under the same lock, so nothing of a finished session can follow it
//! — not even when a new session starts right after (the driver's `reconnect`).

use crate::jitter::Jitter;
use crate::options::WsOptions;
use crate::socket::{self, Socket};
use futures_util::{SinkExt, StreamExt};
use sds_sync::transport::{Backoff, ConnectionState, EventSink, NetworkProvider, TransportEvent};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::{Notify, mpsc};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Outgoing messages written in one go before the socket is flushed.
const WRITE_BATCH: usize = 64;

/// A [`NetworkProvider`] over WebSockets (tokio-tungstenite), for the sync socket of SPEC §12.
///
/// The connection runs as a task on the tokio runtime given at construction; the provider's
/// methods never block and may be called from any thread (the engine driver calls them from
/// its own). Behaviour (SPEC §12.7–§12.9):
///
/// * `connect` reports `connecting`, then `connected` once the socket is open and no refusal
///   arrived within [`WsOptions::auth_grace`].
/// * A failed attempt reports `AttemptFailed` and `reconnecting`; an unexpected close while
///   connected reports `reconnecting`. The next attempt follows after
///   [`Backoff::delay_ms`]`(n, u)` with `u` uniform in [−1, 1] and `n` the attempts since the
///   last successful open.
/// * A close with 4001 or 4003 reports `AuthFailed` and `disconnected`; nothing is retried.
/// * `disconnect` cancels any pending attempt, closes with 1000 and reports `disconnected`.
/// * A ping goes out every [`WsOptions::ping_interval`]; without any inbound frame for
///   [`WsOptions::idle_timeout`] the connection counts as lost and is reconnected.
/// * Only binary messages are delivered; text messages are ignored. Messages sent while not
///   connected are dropped (the engine keeps its own backlog).
///
/// The event sink is called from the runtime's threads (and from the caller's thread in
/// `connect` and `disconnect`) while an internal lock is held: it must not call back into
/// the provider. The driver's sink only forwards events to its thread.
///
/// `wss://` URLs connect through rustls with the configuration of [`WsOptions::tls`] (by
/// default the public web PKI roots, see [`tls`](crate::tls)). A failed TLS handshake, such
/// as a certificate that is not trusted, is a failed attempt: reported and retried.
pub struct WsProvider {
    runtime: Handle,
    options: WsOptions,
    gate: Arc<Mutex<Gate>>,
    session: Option<SessionHandle>,
    /// Counts the provider itself while it lives.
    live: Live,
}

/// Counts a provider and the tasks it started; [`Closed`] waits until none is left.
#[derive(Default)]
struct Tracker {
    live: AtomicUsize,
    idle: Notify,
}

/// One of what a [`Tracker`] counts, for as long as it lives.
struct Live(Arc<Tracker>);

impl Live {
    fn new(tracker: &Arc<Tracker>) -> Live {
        tracker.live.fetch_add(1, Ordering::AcqRel);
        Live(tracker.clone())
    }

    fn another(&self) -> Live {
        Live::new(&self.0)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Completes once its [`WsProvider`] is dropped and every task it started has ended: queued
/// messages are sent and the sockets are closed (each bounded by the close timeout). A
/// process that is about to exit, or to drop its runtime, awaits it after stopping the engine
/// that owns the provider, so the server sees a normal close.
pub struct Closed(Arc<Tracker>);

impl Closed {
    /// Waits for the end of the provider and its tasks.
    pub async fn wait(self) {
        loop {
            let notified = self.0.idle.notified();
            tokio::pin!(notified);
            // Registered before the count is read: a drop to zero in between still wakes it.
            notified.as_mut().enable();
            if self.0.live.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl fmt::Debug for WsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL is not kept, and would not be printed: its query carries the token.
        f.debug_struct("WsProvider")
            .field("state", &self.state())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// What the provider and its sessions share.
struct Gate {
    /// Incremented by every `connect` and `disconnect`; a session may report only while it
    /// still holds the current value.
    generation: u64,
    /// The last reported state; repeated states are not reported again.
    state: ConnectionState,
    /// The sink of the current session.
    events: Option<EventSink>,
}

fn lock(gate: &Mutex<Gate>) -> MutexGuard<'_, Gate> {
    gate.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The provider's side of a session.
struct SessionHandle {
    outbound: mpsc::UnboundedSender<Vec<u8>>,
    /// Whether the session is connected (messages are worth queueing).
    open: Arc<AtomicBool>,
}

impl WsProvider {
    /// A provider whose connections run on `runtime`.
    pub fn new(runtime: Handle) -> Self {
        WsProvider::with_options(runtime, WsOptions::default())
    }

    /// A provider with explicit timing and TLS options.
    pub fn with_options(runtime: Handle, options: WsOptions) -> Self {
        WsProvider {
            runtime,
            options,
            gate: Arc::new(Mutex::new(Gate {
                generation: 0,
                state: ConnectionState::Disconnected,
                events: None,
            })),
            session: None,
            live: Live::new(&Arc::default()),
        }
    }

    /// A handle that completes once this provider is dropped (for example with the engine
    /// that owns it) and its connections are closed.
    pub fn closed(&self) -> Closed {
        Closed(self.live.0.clone())
    }

    /// A provider on the tokio runtime of the calling context.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (see [`Handle::current`]).
    pub fn from_current() -> Self {
        WsProvider::new(Handle::current())
    }

    /// The last reported connection state.
    pub fn state(&self) -> ConnectionState {
        lock(&self.gate).state
    }

    /// The timing and TLS options.
    pub fn options(&self) -> &WsOptions {
        &self.options
    }

    /// Ends the current session, if any: it sends what was queued, closes with 1000 and
    /// reports nothing more.
    fn end_session(&mut self, gate: &mut Gate) {
        // Dropping the sender is the stop signal.
        self.session = None;
        gate.generation += 1;
    }
}

impl NetworkProvider for WsProvider {
    fn connect(&mut self, url: &str, backoff: Backoff, events: EventSink) {
        let gate = self.gate.clone();
        let mut guard = lock(&gate);
        self.end_session(&mut guard);
        guard.events = Some(events.clone());
        guard.state = ConnectionState::Connecting;
        events(TransportEvent::State(ConnectionState::Connecting));
        let generation = guard.generation;
        drop(guard);

        let (outbound, receiver) = mpsc::unbounded_channel();
        let open = Arc::new(AtomicBool::new(false));
        let session = Session {
            url: url.to_owned(),
            backoff,
            options: self.options.clone(),
            reporter: Reporter {
                gate: self.gate.clone(),
                generation,
            },
            outbound: receiver,
            open: open.clone(),
            jitter: Jitter::new(),
            live: self.live.another(),
        };
        self.runtime.spawn(session.run());
        self.session = Some(SessionHandle { outbound, open });
    }

    fn send(&mut self, message: Vec<u8>) {
        if let Some(session) = &self.session
            && session.open.load(Ordering::Acquire)
        {
            // The session ended on its own (refused): nothing to send to.
            let _ = session.outbound.send(message);
        }
    }

    fn disconnect(&mut self) {
        let gate = self.gate.clone();
        let mut guard = lock(&gate);
        self.end_session(&mut guard);
        if guard.state != ConnectionState::Disconnected {
            guard.state = ConnectionState::Disconnected;
            if let Some(events) = &guard.events {
                events(TransportEvent::State(ConnectionState::Disconnected));
            }
        }
    }
}

impl Drop for WsProvider {
    fn drop(&mut self) {
        self.disconnect();
    }
}

/// Reports a session's events through the gate.
struct Reporter {
    gate: Arc<Mutex<Gate>>,
    generation: u64,
}

impl Reporter {
    /// Reports `event` (a state only when it changes). False when the session is no longer
    /// the current one: it must stop.
    fn report(&self, event: TransportEvent) -> bool {
        let mut gate = lock(&self.gate);
        if gate.generation != self.generation {
            return false;
        }
        if let TransportEvent::State(state) = event {
            if gate.state == state {
                return true;
            }
            gate.state = state;
        }
        if let Some(events) = &gate.events {
            events(event);
        }
        true
    }
}

/// How one connection attempt ended.
enum Outcome {
    /// The provider ended the session.
    Stopped,
    /// The server refused the credentials (already reported).
    Refused,
    /// The attempt failed before the connection was reported open.
    Failed(String),
    /// An open connection was lost.
    Lost(String),
}

/// The task's side of a session.
struct Session {
    url: String,
    backoff: Backoff,
    options: WsOptions,
    reporter: Reporter,
    outbound: mpsc::UnboundedReceiver<Vec<u8>>,
    open: Arc<AtomicBool>,
    jitter: Jitter,
    /// Counts the session's task for [`WsProvider::closed`].
    live: Live,
}

impl Session {
    async fn run(mut self) {
        // Attempts since the last successful open: the backoff exponent.
        let mut attempts: u32 = 0;
        loop {
            let outcome = self.attempt().await;
            self.open.store(false, Ordering::Release);
            match outcome {
                Outcome::Stopped | Outcome::Refused => return,
                Outcome::Failed(message) => {
                    tracing::debug!(%message, attempts, "connection attempt failed");
                    if !self.reporter.report(TransportEvent::AttemptFailed(message)) {
                        return;
                    }
                }
                Outcome::Lost(message) => {
                    tracing::info!(%message, "connection lost; reconnecting");
                    attempts = 0;
                }
            }
            if !self
                .reporter
                .report(TransportEvent::State(ConnectionState::Reconnecting))
            {
                return;
            }
            let delay = self.backoff.delay_ms(attempts, self.jitter.unit());
            attempts = attempts.saturating_add(1);
            if !self.pause(Duration::from_millis(delay)).await {
                return;
            }
        }
    }

    /// Waits before the next attempt, dropping whatever is sent meanwhile. False when the
    /// session was stopped.
    async fn pause(&mut self, delay: Duration) -> bool {
        let until = Instant::now() + delay;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(until) => return true,
                message = self.outbound.recv() => if message.is_none() {
                    return false;
                },
            }
        }
    }

    /// One connection attempt, and the connection's life if it opens.
    async fn attempt(&mut self) -> Outcome {
        let socket = {
            let opening = socket::open(&self.url, &self.options);
            tokio::pin!(opening);
            loop {
                tokio::select! {
                    opened = &mut opening => match opened {
                        Ok(socket) => break socket,
                        Err(message) => return Outcome::Failed(message),
                    },
                    message = self.outbound.recv() => if message.is_none() {
                        return Outcome::Stopped;
                    },
                }
            }
        };
        self.connected(socket).await
    }

    /// Reports the connection open. False when the session was stopped meanwhile.
    fn announce(&self) -> bool {
        self.open.store(true, Ordering::Release);
        self.reporter
            .report(TransportEvent::State(ConnectionState::Connected))
    }

    /// Runs an open socket until it closes, fails, goes silent or the session stops.
    async fn connected(&mut self, mut socket: Socket) -> Outcome {
        let opened = Instant::now();
        let grace_end = opened + self.options.auth_grace;
        let mut announced = false;
        let mut last_inbound = opened;
        let period = self.options.ping_interval.max(Duration::from_millis(1));
        let mut pings = tokio::time::interval_at(opened + period, period);
        pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let idle_timeout = self.options.idle_timeout;
        // Lost before it was reported open: a failed attempt, not a lost connection.
        let ended = |announced: bool, message: String| {
            if announced {
                Outcome::Lost(message)
            } else {
                Outcome::Failed(message)
            }
        };

        loop {
            tokio::select! {
                inbound = socket.next() => {
                    last_inbound = Instant::now();
                    let message = match inbound {
                        Some(Ok(message)) => message,
                        Some(Err(error)) => return ended(announced, error.to_string()),
                        None => return ended(announced, "the connection closed".into()),
                    };
                    if let Message::Close(frame) = message {
                        return self.closed_by_server(socket, frame, announced);
                    }
                    if !announced {
                        // The server did not refuse right away: the connection stands.
                        if !self.announce() {
                            socket::close(socket, CloseCode::Normal, "", &self.options).await;
                            return Outcome::Stopped;
                        }
                        announced = true;
                    }
                    // Pings are answered by tungstenite on the next read or write; text
                    // messages are not part of the protocol (SPEC §12.3).
                    if let Message::Binary(data) = message
                        && !self.reporter.report(TransportEvent::Message(Vec::from(data)))
                    {
                        socket::close(socket, CloseCode::Normal, "", &self.options).await;
                        return Outcome::Stopped;
                    }
                }
                () = tokio::time::sleep_until(grace_end), if !announced => {
                    if !self.announce() {
                        socket::close(socket, CloseCode::Normal, "", &self.options).await;
                        return Outcome::Stopped;
                    }
                    announced = true;
                }
                outgoing = self.outbound.recv() => match outgoing {
                    None => {
                        socket::close(socket, CloseCode::Normal, "", &self.options).await;
                        return Outcome::Stopped;
                    }
                    // Queued before the connection was reported open: stale, dropped.
                    Some(_) if !announced => {}
                    Some(message) => {
                        let written = tokio::time::timeout(
                            idle_timeout,
                            write_batch(&mut socket, message, &mut self.outbound),
                        )
                        .await;
                        match written {
                            Ok(Ok(())) => {}
                            Ok(Err(error)) => return Outcome::Lost(error.to_string()),
                            Err(_) => {
                                self.abandon(socket, "sending timed out");
                                return Outcome::Lost("sending timed out".into());
                            }
                        }
                    }
                },
                _ = pings.tick(), if announced => {
                    match tokio::time::timeout(idle_timeout, socket.send(Message::Ping(Default::default()))).await {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => return Outcome::Lost(error.to_string()),
                        Err(_) => {
                            self.abandon(socket, "sending a ping timed out");
                            return Outcome::Lost("sending a ping timed out".into());
                        }
                    }
                }
                () = tokio::time::sleep_until(last_inbound + idle_timeout) => {
                    let message = format!(
                        "no frame from the server for {} ms (keep-alive)",
                        idle_timeout.as_millis()
                    );
                    self.abandon(socket, "keep-alive timeout");
                    return ended(announced, message);
                }
            }
        }
    }

    /// The server sent a close frame.
    fn closed_by_server(
        &self,
        socket: Socket,
        frame: Option<tokio_tungstenite::tungstenite::protocol::CloseFrame>,
        announced: bool,
    ) -> Outcome {
        let (code, reason) = socket::close_details(frame);
        let (options, live) = (self.options.clone(), self.live.another());
        tokio::spawn(async move {
            socket::finish_close(socket, &options).await;
            drop(live);
        });
        if socket::is_refusal(code) {
            tracing::warn!(code, %reason, "the server refused the token");
            self.open.store(false, Ordering::Release);
            // A superseded session reports nothing; either way it stops.
            let _ = self
                .reporter
                .report(TransportEvent::AuthFailed { code, reason })
                && self
                    .reporter
                    .report(TransportEvent::State(ConnectionState::Disconnected));
            return Outcome::Refused;
        }
        let message = if reason.is_empty() {
            format!("the server closed the connection ({code})")
        } else {
            format!("the server closed the connection ({code} {reason})")
        };
        if announced {
            Outcome::Lost(message)
        } else {
            Outcome::Failed(message)
        }
    }

    /// Gives up on a connection that no longer answers: a close frame (going away) goes out
    /// in the background, bounded by the close timeout, while the session moves on.
    fn abandon(&self, socket: Socket, reason: &'static str) {
        let (options, live) = (self.options.clone(), self.live.another());
        tokio::spawn(async move {
            socket::close(socket, CloseCode::Away, reason, &options).await;
            drop(live);
        });
    }
}

/// Writes `first` and whatever else is already queued (up to a batch), then flushes.
async fn write_batch(
    socket: &mut Socket,
    first: Vec<u8>,
    queue: &mut mpsc::UnboundedReceiver<Vec<u8>>,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    socket.feed(socket::binary(first)).await?;
    for _ in 1..WRITE_BATCH {
        match queue.try_recv() {
            Ok(message) => socket.feed(socket::binary(message)).await?,
            // Empty, or the session is stopping: the next receive tells.
            Err(_) => break,
        }
    }
    socket.flush().await
}
