//! The network part of the engine (SPEC §13.5–§13.7), still sans-IO: connection events and
//! received frames come in, frames to send come out of [`Engine::poll_transmit`], and every
//! delay is a deadline reported by [`Engine::poll_timeout`].

use crate::engine::{Engine, EngineEvent};
use crate::protocol::{DEFAULT_MAX_VALUE_SIZE, Frame, Reassembler, VerifiedValue, verify_value};
use sds_core::{Backend, hash_to_bytes, is_sha256_hex};
use serde_json::{Map, Value as JsonValue};
use std::collections::{HashMap, HashSet, VecDeque};

/// Responses to SYNC_REQ and REQ_VALUE wait a random 50–299 ms (SPEC §13.10).
const RESPONSE_DELAY_MIN_MS: u64 = 50;
const RESPONSE_DELAY_SPAN_MS: u64 = 250;
/// Missing blobs are requested again this often while they are missing.
pub const VALUE_REREQUEST_MS: u64 = 30_000;
/// Default presence timeout (SPEC §13.1).
pub const DEFAULT_PRESENCE_TIMEOUT_MS: u64 = 120_000;

/// Options of the network part.
#[derive(Debug, Clone)]
pub struct NetworkOptions {
    /// Remote peers silent this long are evicted; the local state is re-sent every quarter.
    pub presence_timeout_ms: u64,
    /// Largest blob reassembled from chunks.
    pub max_value_size: usize,
    /// Seed of the generator for response delays (reproducible simulations); `None` seeds
    /// from the peer id.
    pub rng_seed: Option<u64>,
}

impl Default for NetworkOptions {
    fn default() -> Self {
        NetworkOptions {
            presence_timeout_ms: DEFAULT_PRESENCE_TIMEOUT_MS,
            max_value_size: DEFAULT_MAX_VALUE_SIZE,
            rng_seed: None,
        }
    }
}

/// Where a presence change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceOrigin {
    /// `set_presence_to` on this engine.
    Local,
    /// A remote peer's PRESENCE, PRESENCE_LEAVE or eviction.
    Remote,
}

/// A remote peer's presence.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerPresence {
    /// The state as received (unknown members kept).
    pub state: Map<String, JsonValue>,
    /// When it was last received (ms since the epoch), not sent on the wire.
    pub last_seen: u64,
}

struct SyncReply {
    due: u64,
    cursors: Vec<Vec<u8>>,
}

/// A tiny reproducible generator for response delays (SplitMix64).
struct DelayRng(u64);

impl DelayRng {
    fn next_delay(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        RESPONSE_DELAY_MIN_MS + (z ^ (z >> 31)) % RESPONSE_DELAY_SPAN_MS
    }
}

pub(crate) struct Network {
    connected: bool,
    ever_connected: bool,
    /// Local patches made while disconnected, in order (sent on reconnection).
    backlog: Vec<Vec<u8>>,
    /// Blobs written locally that were not handed to the network yet. They are also marked
    /// in the persistence, so that a restarted engine still sends them (SPEC §13.6).
    pub(crate) pending_uploads: Vec<String>,
    /// Uploads queued in the outbox whose last frame was not handed to the network yet.
    uploading: HashSet<String>,
    outbox: VecDeque<Frame>,
    sync_reply: Option<SyncReply>,
    /// Pending answers to REQ_VALUE: hash -> due time.
    value_replies: HashMap<String, u64>,
    /// Wanted blobs: hash -> next time to request it.
    wanted: HashMap<String, u64>,
    reassembler: Reassembler,
    local_presence: Option<Map<String, JsonValue>>,
    presence_sent: bool,
    peers: HashMap<String, (PeerPresence, u64)>,
    next_heartbeat: Option<u64>,
    presence_timeout_ms: u64,
    rng: DelayRng,
}

impl Network {
    pub(crate) fn new(options: &NetworkOptions, peer_id: &str) -> Self {
        let seed = options.rng_seed.unwrap_or_else(|| {
            peer_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
            })
        });
        Network {
            connected: false,
            ever_connected: false,
            backlog: Vec::new(),
            pending_uploads: Vec::new(),
            uploading: HashSet::new(),
            outbox: VecDeque::new(),
            sync_reply: None,
            value_replies: HashMap::new(),
            wanted: HashMap::new(),
            reassembler: Reassembler::new(options.max_value_size),
            local_presence: None,
            presence_sent: false,
            peers: HashMap::new(),
            next_heartbeat: None,
            presence_timeout_ms: options.presence_timeout_ms,
            rng: DelayRng(seed),
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<u64> {
        let mut deadlines: Vec<u64> = Vec::new();
        deadlines.extend(self.sync_reply.as_ref().map(|r| r.due));
        deadlines.extend(self.value_replies.values().copied());
        if self.connected {
            deadlines.extend(self.wanted.values().copied());
            deadlines.extend(self.next_heartbeat);
        }
        deadlines.extend(self.peers.values().map(|(_, evict)| *evict));
        deadlines.into_iter().min()
    }
}

impl<B: Backend> Engine<B> {
    /// Whether the engine considers itself connected.
    pub fn is_connected(&self) -> bool {
        self.net.connected
    }

    /// The connection is open (SPEC §13.5): the first connection of this engine uploads the
    /// full state (changes of earlier runs may never have reached the network), later ones
    /// the offline backlog; then SYNC_REQ with the current cursor, blob uploads and requests,
    /// and the last local presence.
    pub fn on_connected(&mut self, now_ms: u64) {
        self.flush_local(now_ms);
        let net = &mut self.net;
        net.connected = true;
        if net.ever_connected {
            for patch in net.backlog.drain(..) {
                net.outbox.push_back(Frame::Patch(patch));
            }
        } else {
            net.backlog.clear();
            match self.store.export_patch(None) {
                Ok(full) if !full.is_empty() => net.outbox.push_back(Frame::Patch(full)),
                Ok(_) => {}
                Err(e) => self.events.push_back(EngineEvent::PersistenceFailed(e)),
            }
            self.net.ever_connected = true;
        }
        self.net
            .outbox
            .push_back(Frame::SyncRequest(self.store.current_cursor()));
        for hash in std::mem::take(&mut self.net.pending_uploads) {
            self.queue_upload(hash);
        }
        let wanted: Vec<String> = self.net.wanted.keys().cloned().collect();
        for hash in wanted {
            self.request_value(&hash, now_ms);
        }
        if let Some(state) = self.net.local_presence.clone() {
            self.net.outbox.push_back(Frame::Presence(state));
            self.net.presence_sent = true;
        }
        self.schedule_heartbeat(now_ms);
    }

    /// The connection closed (or an attempt failed). Local changes queue up until the next
    /// connection; reassembly buffers are dropped (SPEC §12.7).
    pub fn on_disconnected(&mut self) {
        self.net.connected = false;
        self.net.reassembler.clear();
        self.net.sync_reply = None;
        self.net.value_replies.clear();
        self.net.next_heartbeat = None;
        // Frames not yet handed to the network are kept as backlog where they matter.
        for frame in std::mem::take(&mut self.net.outbox) {
            if let Frame::Patch(patch) = frame
                && self.net.ever_connected
            {
                self.net.backlog.push(patch);
            }
        }
        // Uploads cut short are sent again after the next connection.
        for hash in std::mem::take(&mut self.net.uploading) {
            if !self.net.pending_uploads.contains(&hash) {
                self.net.pending_uploads.push(hash);
            }
        }
    }

    /// Handles one received binary message; malformed ones are ignored (SPEC §12.3).
    pub fn on_message(&mut self, message: &[u8], now_ms: u64) {
        let Some(frame) = Frame::decode(message) else {
            return;
        };
        self.on_frame(frame, now_ms);
    }

    /// Handles one received frame.
    pub fn on_frame(&mut self, frame: Frame, now_ms: u64) {
        match frame {
            Frame::Patch(patch) => {
                if let Err(error) = self.apply_remote_patch(&patch) {
                    tracing::warn!(%error, "ignoring a received patch");
                }
                self.flush_local(now_ms);
            }
            Frame::Value { hash, bytes } => {
                if let Some(value) = verify_value(&hash, bytes) {
                    self.value_received(value);
                }
            }
            Frame::ValueChunk {
                hash,
                index,
                count,
                bytes,
            } => {
                if let Some(value) = self.net.reassembler.add(hash, index, count, bytes, now_ms) {
                    self.value_received(value);
                }
            }
            Frame::RequestValue(hash) => {
                let hex = sds_core::hash_from_bytes(&hash);
                if !self.net.value_replies.contains_key(&hex) && self.store.has_value_blob(&hex) {
                    let due = now_ms + self.net.rng.next_delay();
                    self.net.value_replies.insert(hex, due);
                }
            }
            Frame::SyncRequest(cursor) => {
                // A further request restarts the wait (SPEC §13.5).
                let due = now_ms + self.net.rng.next_delay();
                let reply = self.net.sync_reply.get_or_insert_with(|| SyncReply {
                    due,
                    cursors: Vec::new(),
                });
                reply.due = due;
                if !reply.cursors.contains(&cursor) {
                    reply.cursors.push(cursor);
                }
            }
            Frame::Presence(state) => {
                let Some(peer_id) = state.get("PeerId").and_then(JsonValue::as_str) else {
                    return;
                };
                if peer_id == self.peer_id {
                    return;
                }
                let peer_id = peer_id.to_owned();
                let evict = now_ms + self.net.presence_timeout_ms;
                let presence = PeerPresence {
                    state: state.clone(),
                    last_seen: now_ms,
                };
                self.net.peers.insert(peer_id.clone(), (presence, evict));
                self.events.push_back(EngineEvent::PresenceChanged {
                    peer_id,
                    state: Some(state),
                    origin: PresenceOrigin::Remote,
                });
            }
            Frame::PresenceLeave { peer_id } => {
                if self.net.peers.remove(&peer_id).is_some() {
                    self.events.push_back(EngineEvent::PresenceChanged {
                        peer_id,
                        state: None,
                        origin: PresenceOrigin::Remote,
                    });
                }
            }
        }
    }

    fn value_received(&mut self, value: VerifiedValue) {
        // Someone answered: a pending answer of ours is no longer needed (SPEC §13.6).
        self.net.value_replies.remove(&value.hash);
        if let Err(error) = self.store_received_blob(&value.hash, &value.bytes) {
            tracing::warn!(%error, "a received blob could not be stored");
            return;
        }
        if self.net.wanted.remove(&value.hash).is_some() {
            self.events
                .push_back(EngineEvent::ValueAvailable(value.hash.clone()));
        }
    }

    /// The next frame to send, if any. Local changes made since the last call are picked up
    /// here (also those made through [`Engine::store_mut`]).
    pub fn poll_transmit(&mut self, now_ms: u64) -> Option<Frame> {
        self.flush_local(now_ms);
        let frame = self.net.outbox.pop_front()?;
        let uploaded = match &frame {
            Frame::Value { hash, .. } => Some(hash),
            Frame::ValueChunk {
                hash, index, count, ..
            } if index + 1 == *count => Some(hash),
            _ => None,
        };
        if let Some(hash) = uploaded.map(sds_core::hash_from_bytes)
            && self.net.uploading.remove(&hash)
        {
            self.mark_uploads(&[hash], false);
        }
        Some(frame)
    }

    /// Sets the local presence (SPEC §13.7): `PeerId` is set to this engine's peer id, the
    /// state is sent when connected and re-sent as heartbeat.
    pub fn set_presence_to(&mut self, mut state: Map<String, JsonValue>, now_ms: u64) {
        state.insert("PeerId".into(), JsonValue::String(self.peer_id.clone()));
        self.net.local_presence = Some(state.clone());
        if self.net.connected {
            self.net.outbox.push_back(Frame::Presence(state.clone()));
            self.net.presence_sent = true;
            self.schedule_heartbeat(now_ms);
        }
        self.events.push_back(EngineEvent::PresenceChanged {
            peer_id: self.peer_id.clone(),
            state: Some(state),
            origin: PresenceOrigin::Local,
        });
    }

    /// Remote peers and their presence (never this engine itself).
    pub fn peer_set(&self) -> HashMap<String, PeerPresence> {
        self.net
            .peers
            .iter()
            .map(|(id, (presence, _))| (id.clone(), presence.clone()))
            .collect()
    }

    /// Announces that this engine leaves (before a disconnect or stop), if it sent presence.
    pub fn leave(&mut self) {
        if self.net.presence_sent && self.net.connected {
            self.net.outbox.push_back(Frame::PresenceLeave {
                peer_id: self.peer_id.clone(),
            });
            self.net.presence_sent = false;
        }
    }

    /// Blobs referenced by live entries that are not available, with SHA-256 hashes.
    pub fn wanted_values(&self) -> HashSet<String> {
        self.net.wanted.keys().cloned().collect()
    }

    /// Moves local patches into the outbox (or the offline backlog) with their blobs right
    /// after them, and updates the wanted set from change sets that reported values.
    pub(crate) fn flush_local(&mut self, now_ms: u64) {
        let (patches, blobs) = {
            let mut pipeline = crate::pipeline::lock(&self.pipeline);
            (
                pipeline.outgoing.drain(..).collect::<Vec<_>>(),
                pipeline.written_blobs.drain(..).collect::<Vec<_>>(),
            )
        };
        for patch in patches {
            if self.net.connected {
                self.net.outbox.push_back(Frame::Patch(patch));
            } else if self.net.ever_connected {
                self.net.backlog.push(patch);
            }
            // Before the first connection nothing is queued: it uploads the full state.
        }
        for hash in blobs {
            if self.net.connected {
                self.queue_upload(hash);
            } else if !self.net.pending_uploads.contains(&hash) {
                self.net.pending_uploads.push(hash);
            }
        }
        let changed = std::mem::take(&mut *crate::pipeline::lock(&self.value_changes));
        for id in changed {
            self.check_wanted(&id, now_ms);
        }
    }

    /// Adds the entry's blob to the wanted set when it references one that is missing.
    fn check_wanted(&mut self, id: &str, now_ms: u64) {
        let Ok(Some(value_ref)) = self.store.value_ref_of(id) else {
            return;
        };
        if !is_sha256_hex(&value_ref.hash)
            || self.net.wanted.contains_key(&value_ref.hash)
            || self.store.has_value_blob(&value_ref.hash)
        {
            return;
        }
        self.net.wanted.insert(value_ref.hash.clone(), now_ms);
        if self.net.connected {
            self.request_value(&value_ref.hash, now_ms);
        }
    }

    /// Computes the wanted set from scratch (at start).
    pub(crate) fn compute_wanted(&mut self, now_ms: u64) {
        for hash in self.store.referenced_value_hashes() {
            if is_sha256_hex(&hash) && !self.store.has_value_blob(&hash) {
                self.net.wanted.insert(hash, now_ms);
            }
        }
    }

    fn request_value(&mut self, hash: &str, now_ms: u64) {
        if let Some(bytes) = hash_to_bytes(hash) {
            self.net.outbox.push_back(Frame::RequestValue(bytes));
            self.net
                .wanted
                .insert(hash.to_owned(), now_ms + VALUE_REREQUEST_MS);
        }
    }

    /// Queues the upload of a locally written blob; one that is gone (collected since) is
    /// no longer pending.
    fn queue_upload(&mut self, hash: String) {
        if self.net.uploading.contains(&hash) {
            return;
        }
        if self.store.has_value_blob(&hash) {
            self.queue_blob(&hash);
            self.net.uploading.insert(hash);
        } else {
            self.mark_uploads(&[hash], false);
        }
    }

    fn queue_blob(&mut self, hash: &str) {
        if let Some(bytes) = self.store.value_blob_by_hash(hash)
            && let Some(frames) = Frame::for_blob(hash, &bytes)
        {
            self.net.outbox.extend(frames);
        }
    }

    fn schedule_heartbeat(&mut self, now_ms: u64) {
        self.net.next_heartbeat = (self.net.connected && self.net.local_presence.is_some())
            .then(|| now_ms + (self.net.presence_timeout_ms / 4).max(1));
    }

    /// Runs the network timers due at `now_ms`: delayed SYNC_REQ and REQ_VALUE answers,
    /// blob re-requests, presence heartbeat and eviction, reassembly expiry.
    pub(crate) fn network_timeout(&mut self, now_ms: u64) {
        if self
            .net
            .sync_reply
            .as_ref()
            .is_some_and(|r| r.due <= now_ms)
        {
            let reply = self
                .net
                .sync_reply
                .take()
                .map(|r| r.cursors)
                .unwrap_or_default();
            if self.net.connected {
                self.answer_sync_requests(reply);
            }
        }
        let due: Vec<String> = self
            .net
            .value_replies
            .iter()
            .filter(|(_, due)| **due <= now_ms)
            .map(|(hash, _)| hash.clone())
            .collect();
        for hash in due {
            self.net.value_replies.remove(&hash);
            let seen_answer =
                hash_to_bytes(&hash).is_some_and(|h| self.net.reassembler.is_receiving(&h));
            if self.net.connected && !seen_answer {
                self.queue_blob(&hash);
            }
        }
        if self.net.connected {
            let rerequest: Vec<String> = self
                .net
                .wanted
                .iter()
                .filter(|(_, next)| **next <= now_ms)
                .map(|(hash, _)| hash.clone())
                .collect();
            if !rerequest.is_empty() {
                let referenced = self.store.referenced_value_hashes();
                for hash in rerequest {
                    if referenced.contains(&hash) && !self.store.has_value_blob(&hash) {
                        self.request_value(&hash, now_ms);
                    } else {
                        self.net.wanted.remove(&hash);
                    }
                }
            }
            if self.net.next_heartbeat.is_some_and(|due| due <= now_ms) {
                if let Some(state) = self.net.local_presence.clone() {
                    self.net.outbox.push_back(Frame::Presence(state));
                }
                self.schedule_heartbeat(now_ms);
            }
        }
        let evicted: Vec<String> = self
            .net
            .peers
            .iter()
            .filter(|(_, (_, evict))| *evict <= now_ms)
            .map(|(id, _)| id.clone())
            .collect();
        for peer_id in evicted {
            self.net.peers.remove(&peer_id);
            self.events.push_back(EngineEvent::PresenceChanged {
                peer_id,
                state: None,
                origin: PresenceOrigin::Remote,
            });
        }
        self.net.reassembler.expire(now_ms);
    }

    /// SPEC §13.5: a delta per distinct decodable cursor; one full state if any cursor is
    /// empty or does not decode. Empty patches are not sent.
    fn answer_sync_requests(&mut self, cursors: Vec<Vec<u8>>) {
        let mut patches = Vec::new();
        let mut full = false;
        for cursor in &cursors {
            if cursor.is_empty() {
                full = true;
                continue;
            }
            match self.store.export_patch(Some(cursor)) {
                Ok(patch) => patches.push(patch),
                Err(_) => full = true,
            }
        }
        if full {
            match self.store.export_patch(None) {
                Ok(patch) => patches = vec![patch],
                Err(e) => self.events.push_back(EngineEvent::PersistenceFailed(e)),
            }
        }
        for patch in patches.into_iter().filter(|p| !p.is_empty()) {
            self.net.outbox.push_back(Frame::Patch(patch));
        }
    }

    pub(crate) fn network_deadline(&self) -> Option<u64> {
        self.net.next_deadline()
    }
}
