//! The driver: runs an [`Engine`] on a dedicated thread, feeds it the clock (timers), commands
//! and the events of a network provider, sends the frames it produces, and offers an async
//! handle for tokio applications.
//!
//! Store and persistence calls are blocking (SQLite, CRDT work); running them on their own
//! thread keeps them off the async executor, and the thread's `recv_timeout` is the timer
//! wheel: it wakes for the next command or the engine's next deadline, whichever comes first.

use crate::engine::{Engine, EngineEvent};
use crate::error::{Result, SyncError};
use crate::network::PeerPresence;
use crate::protocol::{is_server_url, sync_url};
use crate::transport::{
    ConnectOptions, ConnectionState, EventSink, NetworkProvider, TransportEvent,
};
use sds_core::{Backend, Error, ErrorCode, Store};
use serde_json::{Map, Value as JsonValue};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc as async_mpsc, oneshot};

type Job<B> = Box<dyn FnOnce(&mut Engine<B>) + Send>;
type Reply = oneshot::Sender<Result<()>>;

enum Command<B: Backend> {
    Run(Job<B>),
    Stop(Reply),
    Transport(TransportEvent),
    Connect {
        url: String,
        options: ConnectOptions,
        reply: Reply,
    },
    Disconnect(Reply),
    Reconnect(Reply),
    State(oneshot::Sender<ConnectionState>),
}

/// The current time in milliseconds since the Unix epoch: the driver's clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What the driver reports: the engine's events plus connection changes.
#[derive(Debug)]
pub enum DriverEvent {
    /// An event of the engine.
    Engine(EngineEvent),
    /// The connection state changed (SPEC §12.7).
    Connection(ConnectionState),
    /// The server refused the credentials (close 4001 or 4003); no reconnection follows.
    AuthFailed {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
}

/// Events delivered by the driver.
pub type EventReceiver = async_mpsc::UnboundedReceiver<DriverEvent>;

/// An async handle on an engine running on its own thread.
pub struct EngineHandle<B: Backend> {
    commands: mpsc::Sender<Command<B>>,
    worker: Option<thread::JoinHandle<()>>,
}

impl<B: Backend> std::fmt::Debug for EngineHandle<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle").finish_non_exhaustive()
    }
}

impl<B: Backend> EngineHandle<B> {
    /// Moves the engine onto a new thread, without network. Returns the handle and the
    /// events.
    pub fn spawn(engine: Engine<B>) -> std::io::Result<(Self, EventReceiver)> {
        Self::start(engine, None)
    }

    /// Moves the engine onto a new thread with a network provider.
    pub fn spawn_with_network(
        engine: Engine<B>,
        provider: Box<dyn NetworkProvider>,
    ) -> std::io::Result<(Self, EventReceiver)> {
        Self::start(engine, Some(provider))
    }

    fn start(
        engine: Engine<B>,
        provider: Option<Box<dyn NetworkProvider>>,
    ) -> std::io::Result<(Self, EventReceiver)> {
        let (commands, receiver) = mpsc::channel();
        let (events, event_receiver) = async_mpsc::unbounded_channel();
        let sink_commands = commands.clone();
        let sink: EventSink = Arc::new(move |event| {
            let _ = sink_commands.send(Command::Transport(event));
        });
        let worker = thread::Builder::new()
            .name("sds-engine".into())
            .spawn(move || {
                Worker {
                    engine,
                    provider,
                    sink,
                    events,
                    state: ConnectionState::Disconnected,
                    target: None,
                    pending_connect: None,
                }
                .run(receiver)
            })?;
        Ok((
            EngineHandle {
                commands,
                worker: Some(worker),
            },
            event_receiver,
        ))
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command<B>) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .map_err(|_| SyncError::Stopped)?;
        answer.await.map_err(|_| SyncError::Stopped)
    }

    /// Runs `f` on the engine's thread and returns its result.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine<B>) -> T + Send + 'static,
    ) -> Result<T> {
        self.ask(|reply| {
            Command::Run(Box::new(move |engine| {
                let _ = reply.send(f(engine));
            }))
        })
        .await
    }

    /// Runs `f` as one durable store transaction on the engine's thread.
    pub async fn transact<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store<B>) -> sds_core::Result<T> + Send + 'static,
    ) -> Result<T> {
        self.run(move |engine| engine.transact(f)).await?
    }

    /// Applies a received patch on the engine's thread (durable on receipt).
    pub async fn apply_remote_patch(&self, patch: Vec<u8>) -> Result<sds_core::RemotePatchOutcome> {
        self.run(move |engine| engine.apply_remote_patch(&patch))
            .await?
    }

    /// Connects to the server at `base_url` (`ws://` or `wss://`) for `options.store_id`
    /// (SPEC §12.1, §13.9). Completes when the socket is open; if the first attempt fails it
    /// returns `network-failed` and the provider keeps retrying in the background; a refused
    /// token is `auth-failed`. `no-network-provider` without a provider.
    pub async fn connect_to(&self, base_url: &str, options: ConnectOptions) -> Result<()> {
        if !is_server_url(base_url) {
            return Err(Error::invalid_argument(format!(
                "invalid server URL '{base_url}' — must start with 'ws://' or 'wss://'"
            ))
            .into());
        }
        let url = sync_url(base_url, &options.store_id, &options.token);
        self.ask(|reply| Command::Connect {
            url,
            options,
            reply,
        })
        .await?
    }

    /// Disconnects (normal close) and stops reconnecting.
    pub async fn disconnect(&self) -> Result<()> {
        self.ask(Command::Disconnect).await?
    }

    /// Disconnects and connects again with the last `connect_to` arguments.
    pub async fn reconnect(&self) -> Result<()> {
        self.ask(Command::Reconnect).await?
    }

    /// The connection state.
    pub async fn connection_state(&self) -> Result<ConnectionState> {
        self.ask(Command::State).await
    }

    /// Sets the local presence (sent when connected, re-sent as heartbeat).
    pub async fn set_presence_to(&self, state: Map<String, JsonValue>) -> Result<()> {
        self.run(move |engine| engine.set_presence_to(state, now_ms()))
            .await
    }

    /// Remote peers and their presence.
    pub async fn peer_set(&self) -> Result<HashMap<String, PeerPresence>> {
        self.run(|engine| engine.peer_set()).await
    }

    /// Stops the engine (PRESENCE_LEAVE, checkpoint, disconnect, close) and waits for its
    /// thread.
    pub async fn stop(mut self) -> Result<()> {
        let result = self.ask(Command::Stop).await?;
        if let Some(worker) = self.worker.take() {
            // The worker returns right after answering; joining cannot block for long.
            let _ = tokio::task::spawn_blocking(move || worker.join()).await;
        }
        result
    }
}

impl<B: Backend> Drop for EngineHandle<B> {
    fn drop(&mut self) {
        // The worker ends once every sender is gone; the provider's sink holds one, so ask it
        // to stop explicitly.
        if let Some(worker) = self.worker.take() {
            let (reply, _) = oneshot::channel();
            let _ = self.commands.send(Command::Stop(reply));
            let _ = worker.join();
        }
    }
}

fn no_provider() -> SyncError {
    Error::new(
        ErrorCode::NoNetworkProvider,
        "the engine has no network provider",
    )
    .into()
}

struct Worker<B: Backend> {
    engine: Engine<B>,
    provider: Option<Box<dyn NetworkProvider>>,
    sink: EventSink,
    events: async_mpsc::UnboundedSender<DriverEvent>,
    state: ConnectionState,
    /// The last `connect_to` target, for `reconnect`.
    target: Option<(String, ConnectOptions)>,
    /// The caller of `connect_to` waiting for the first outcome.
    pending_connect: Option<Reply>,
}

impl<B: Backend> Worker<B> {
    fn run(mut self, commands: mpsc::Receiver<Command<B>>) {
        loop {
            let now = now_ms();
            if self.engine.poll_timeout().is_some_and(|due| due <= now) {
                self.engine.handle_timeout(now);
            }
            self.flush();
            let next = match self.engine.poll_timeout() {
                Some(due) => {
                    commands.recv_timeout(Duration::from_millis(due.saturating_sub(now_ms())))
                }
                None => commands.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match next {
                Ok(Command::Run(job)) => job(&mut self.engine),
                Ok(Command::Transport(event)) => self.transport(event),
                Ok(Command::Connect {
                    url,
                    options,
                    reply,
                }) => match &mut self.provider {
                    None => {
                        let _ = reply.send(Err(no_provider()));
                    }
                    Some(provider) => {
                        self.pending_connect = Some(reply);
                        provider.connect(&url, options.backoff, self.sink.clone());
                        self.target = Some((url, options));
                    }
                },
                Ok(Command::Disconnect(reply)) => {
                    let _ = reply.send(self.disconnect());
                }
                Ok(Command::Reconnect(reply)) => match (&self.provider, self.target.clone()) {
                    (None, _) => {
                        let _ = reply.send(Err(no_provider()));
                    }
                    (Some(_), None) => {
                        let _ = reply.send(Err(Error::new(
                            ErrorCode::NotYetConnected,
                            "reconnect needs an earlier connect_to",
                        )
                        .into()));
                    }
                    (Some(_), Some((url, options))) => {
                        let _ = self.disconnect();
                        self.pending_connect = Some(reply);
                        if let Some(provider) = &mut self.provider {
                            provider.connect(&url, options.backoff, self.sink.clone());
                        }
                    }
                },
                Ok(Command::State(reply)) => {
                    let _ = reply.send(self.state);
                }
                Ok(Command::Stop(reply)) => {
                    let result = self.stop();
                    let _ = reply.send(result);
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    if let Err(error) = self.stop() {
                        tracing::error!(%error, "stopping the engine failed");
                    }
                    return;
                }
            }
        }
    }

    fn transport(&mut self, event: TransportEvent) {
        let now = now_ms();
        match event {
            TransportEvent::State(state) => {
                let was_connected = self.state == ConnectionState::Connected;
                self.state = state;
                if state == ConnectionState::Connected {
                    self.engine.on_connected(now);
                    if let Some(reply) = self.pending_connect.take() {
                        let _ = reply.send(Ok(()));
                    }
                } else if was_connected {
                    self.engine.on_disconnected();
                }
                let _ = self.events.send(DriverEvent::Connection(state));
            }
            TransportEvent::AttemptFailed(message) => {
                tracing::warn!(%message, "connection attempt failed");
                if let Some(reply) = self.pending_connect.take() {
                    let _ = reply.send(Err(Error::new(ErrorCode::NetworkFailed, message).into()));
                }
            }
            TransportEvent::AuthFailed { code, reason } => {
                if self.state == ConnectionState::Connected {
                    self.engine.on_disconnected();
                }
                self.state = ConnectionState::Disconnected;
                let name = if code == 4003 {
                    "Forbidden"
                } else {
                    "Unauthorized"
                };
                let message = format!(
                    "server refused the token: {code} {}",
                    if reason.is_empty() { name } else { &reason }
                );
                if let Some(reply) = self.pending_connect.take() {
                    let _ = reply.send(Err(Error::new(ErrorCode::AuthFailed, message).into()));
                }
                // The provider reports its own `Disconnected` state next.
                let _ = self.events.send(DriverEvent::AuthFailed { code, reason });
            }
            TransportEvent::Message(bytes) => self.engine.on_message(&bytes, now),
        }
    }

    /// Sends the engine's frames and forwards its events.
    fn flush(&mut self) {
        let now = now_ms();
        while let Some(frame) = self.engine.poll_transmit(now) {
            if let Some(provider) = &mut self.provider {
                provider.send(frame.encode());
            }
        }
        while let Some(event) = self.engine.poll_event() {
            // Nobody listening is fine: events are informational.
            let _ = self.events.send(DriverEvent::Engine(event));
        }
    }

    fn disconnect(&mut self) -> Result<()> {
        let Some(provider) = &mut self.provider else {
            return Err(no_provider());
        };
        self.engine.leave();
        let now = now_ms();
        while let Some(frame) = self.engine.poll_transmit(now) {
            provider.send(frame.encode());
        }
        provider.disconnect();
        if self.state == ConnectionState::Connected {
            self.engine.on_disconnected();
        }
        self.state = ConnectionState::Disconnected;
        Ok(())
    }

    fn stop(&mut self) -> Result<()> {
        let result = self.engine.stop();
        self.flush();
        if let Some(provider) = &mut self.provider {
            provider.disconnect();
        }
        self.flush();
        result
    }
}
