//! The network provider contract (SPEC §12.7–§12.9): what the driver needs from a transport,
//! the reconnect backoff, and an in-memory relay provider for tests.
//!
//! A provider is event-driven: [`NetworkProvider::connect`] starts connecting in the background
//! and reports what happens through the sink it is given — connected, disconnected, a failed
//! attempt, an authentication refusal, received messages. The driver turns those events into
//! engine calls and sends the engine's frames with [`NetworkProvider::send`].

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// Connection states (SPEC §12.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    /// Not connected and not trying.
    Disconnected,
    /// The first attempt is under way.
    Connecting,
    /// The socket is open.
    Connected,
    /// Waiting for the next attempt after a failure or an unexpected close.
    Reconnecting,
}

impl ConnectionState {
    /// `disconnected`, `connecting`, `connected`, `reconnecting`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Disconnected => "disconnected",
            ConnectionState::Connecting => "connecting",
            ConnectionState::Connected => "connected",
            ConnectionState::Reconnecting => "reconnecting",
        }
    }
}

/// What a provider reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportEvent {
    /// The connection state changed.
    State(ConnectionState),
    /// A connection attempt failed for a reason other than authentication; the provider
    /// retries after the backoff delay unless it was told to disconnect.
    AttemptFailed(String),
    /// The server closed with 4001 or 4003: the provider stops and does not reconnect.
    AuthFailed {
        /// The close code.
        code: u16,
        /// The close reason (may be empty).
        reason: String,
    },
    /// A binary message arrived.
    Message(Vec<u8>),
}

/// Where a provider delivers its events.
pub type EventSink = Arc<dyn Fn(TransportEvent) + Send + Sync>;

/// Reconnect backoff (SPEC §12.7): `round(min(initial · 2^n, max) · (1 + jitter · u))` with
/// `u` uniform in [−1, 1] and `n` the attempts since the last successful open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// First delay in ms (default 1000).
    pub initial_ms: u64,
    /// Largest delay before jitter in ms (default 60 000).
    pub max_ms: u64,
    /// Relative jitter in [0, 1] (default 0.1).
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial_ms: 1_000,
            max_ms: 60_000,
            jitter: 0.1,
        }
    }
}

impl Backoff {
    /// The delay before attempt `n` (0-based since the last open), with `unit` in [−1, 1].
    pub fn delay_ms(&self, attempt: u32, unit: f64) -> u64 {
        let base =
            (self.initial_ms as f64 * 2f64.powi(attempt.min(62) as i32)).min(self.max_ms as f64);
        let unit = unit.clamp(-1.0, 1.0);
        (base * (1.0 + self.jitter * unit)).round().max(0.0) as u64
    }
}

/// Options of [`EngineHandle::connect_to`](crate::EngineHandle::connect_to) (SPEC §13.9).
#[derive(Clone, PartialEq)]
pub struct ConnectOptions {
    /// The store id (the last path segment of the sync URL and the token's audience).
    pub store_id: String,
    /// The JWT, sent as the `token` query parameter.
    pub token: String,
    /// Reconnect backoff.
    pub backoff: Backoff,
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Tokens are credentials: never printed.
        f.debug_struct("ConnectOptions")
            .field("store_id", &self.store_id)
            .field("token", &"<redacted>")
            .field("backoff", &self.backoff)
            .finish()
    }
}

/// A network (and presence) provider.
pub trait NetworkProvider: Send {
    /// Starts connecting to the sync socket `url` (token included) in the background and
    /// keeps reconnecting with `backoff` after failures and unexpected closes, until
    /// [`NetworkProvider::disconnect`] or an authentication refusal. Every event goes to
    /// `events`.
    fn connect(&mut self, url: &str, backoff: Backoff, events: EventSink);

    /// Sends one binary message; while not connected the message is dropped (the engine keeps
    /// its own backlog, SPEC §12.9).
    fn send(&mut self, message: Vec<u8>);

    /// Cancels reconnection and closes the connection normally (1000).
    fn disconnect(&mut self);
}

type RoomMembers = HashMap<u64, EventSink>;

/// An in-memory relay for tests (SPEC §12.9): every message a connected provider sends reaches
/// every other connected provider of the same relay, in order, never the sender.
#[derive(Clone, Default)]
pub struct MemoryRelay {
    members: Arc<Mutex<RoomMembers>>,
    next_id: Arc<Mutex<u64>>,
}

impl fmt::Debug for MemoryRelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRelay").finish_non_exhaustive()
    }
}

impl MemoryRelay {
    /// A new, empty relay.
    pub fn new() -> Self {
        MemoryRelay::default()
    }

    /// A provider connected through this relay.
    pub fn provider(&self) -> MemoryProvider {
        let mut next = self.next_id.lock().unwrap_or_else(PoisonError::into_inner);
        *next += 1;
        MemoryProvider {
            relay: self.clone(),
            id: *next,
            events: None,
        }
    }

    /// Number of connected providers.
    pub fn connected(&self) -> usize {
        self.members
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// A provider of a [`MemoryRelay`]. Connecting succeeds at once.
pub struct MemoryProvider {
    relay: MemoryRelay,
    id: u64,
    events: Option<EventSink>,
}

impl fmt::Debug for MemoryProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryProvider")
            .field("id", &self.id)
            .field("connected", &self.events.is_some())
            .finish()
    }
}

impl NetworkProvider for MemoryProvider {
    fn connect(&mut self, _url: &str, _backoff: Backoff, events: EventSink) {
        events(TransportEvent::State(ConnectionState::Connecting));
        self.relay
            .members
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(self.id, events.clone());
        events(TransportEvent::State(ConnectionState::Connected));
        self.events = Some(events);
    }

    fn send(&mut self, message: Vec<u8>) {
        if self.events.is_none() {
            return;
        }
        let members: Vec<EventSink> = self
            .relay
            .members
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(id, _)| **id != self.id)
            .map(|(_, sink)| sink.clone())
            .collect();
        for sink in members {
            sink(TransportEvent::Message(message.clone()));
        }
    }

    fn disconnect(&mut self) {
        self.relay
            .members
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
        if let Some(events) = self.events.take() {
            events(TransportEvent::State(ConnectionState::Disconnected));
        }
    }
}

impl Drop for MemoryProvider {
    fn drop(&mut self) {
        self.disconnect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum_within_the_jitter() {
        let b = Backoff::default();
        assert_eq!(b.delay_ms(0, 0.0), 1_000);
        assert_eq!(b.delay_ms(1, 0.0), 2_000);
        assert_eq!(b.delay_ms(2, 0.0), 4_000);
        assert_eq!(b.delay_ms(10, 0.0), 60_000);
        assert_eq!(b.delay_ms(0, 1.0), 1_100);
        assert_eq!(b.delay_ms(0, -1.0), 900);
        assert_eq!(b.delay_ms(99, 1.0), 66_000);
        let none = Backoff { initial_ms: 0, ..b };
        assert_eq!(none.delay_ms(3, -1.0), 0);
    }
}
