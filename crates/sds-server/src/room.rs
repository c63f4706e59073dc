//! Rooms and per-connection outbound queues (SPEC §14.4, §14.6).
//!
//! A room is the set of connections of one store id on one route. Relaying a frame puts it
//! into the outbound queue of every other member; each connection's writer drains its own
//! queue, so a slow client never slows the sender or the others. Queues are bounded in bytes:
//! a frame that does not fit marks the connection for closing with 1013 instead of being
//! dropped silently.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;

use crate::connection::close_code::TRY_AGAIN_LATER as CLOSE_QUEUE_OVERFLOW;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Default)]
struct Outbox {
    frames: VecDeque<(Message, usize)>,
    /// Bytes of the queued frames plus the frame being written.
    bytes: usize,
    /// Set when the connection must close (the close code).
    closing: Option<u16>,
    /// The connection's own reader waits for room in the queue.
    waiting_for_space: bool,
}

/// One connection as the rest of the server sees it: an identity and an outbound queue.
pub(crate) struct Peer {
    id: u64,
    limit: usize,
    outbox: Mutex<Outbox>,
    /// Wakes the writer: frames were queued or the connection must close.
    wake_writer: Notify,
    /// Wakes the connection's own reader waiting for room in the queue.
    space: Notify,
    /// Wakes the connection's task when it must close.
    closed: Notify,
}

/// How a frame was taken by a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Enqueued {
    /// Queued.
    Queued,
    /// The queue was full: the connection is now closing with 1013.
    Overflowed,
    /// The connection is closing already; the frame was discarded with it.
    Closing,
}

static NEXT_PEER_ID: AtomicU64 = AtomicU64::new(1);

impl Peer {
    pub(crate) fn new(limit: usize) -> Self {
        Peer {
            id: NEXT_PEER_ID.fetch_add(1, Ordering::Relaxed),
            limit,
            outbox: Mutex::new(Outbox::default()),
            wake_writer: Notify::new(),
            space: Notify::new(),
            closed: Notify::new(),
        }
    }

    /// Queues a relayed frame. A frame that does not fit closes the connection (1013).
    pub(crate) fn enqueue(&self, message: Message, len: usize) -> Enqueued {
        let mut outbox = lock(&self.outbox);
        if outbox.closing.is_some() {
            return Enqueued::Closing;
        }
        if outbox.bytes.saturating_add(len) > self.limit {
            outbox.closing = Some(CLOSE_QUEUE_OVERFLOW);
            outbox.frames.clear();
            drop(outbox);
            self.closed.notify_waiters();
            self.space.notify_waiters();
            return Enqueued::Overflowed;
        }
        outbox.bytes += len;
        outbox.frames.push_back((message, len));
        drop(outbox);
        self.wake_writer.notify_one();
        Enqueued::Queued
    }

    /// Queues a frame the server itself sends to this connection (an answer, a sync
    /// request). It waits for room instead of overflowing: the connection's own reader calls
    /// this, so waiting only slows down this client. An empty queue takes any frame.
    /// Returns `false` when the connection is closing.
    pub(crate) async fn enqueue_own(&self, message: Message, len: usize) -> bool {
        let mut message = Some(message);
        loop {
            let space = self.space.notified();
            {
                let mut outbox = lock(&self.outbox);
                if outbox.closing.is_some() {
                    return false;
                }
                if outbox.frames.is_empty() || outbox.bytes.saturating_add(len) <= self.limit {
                    outbox.bytes += len;
                    outbox
                        .frames
                        .push_back((message.take().expect("queued once"), len));
                    drop(outbox);
                    self.wake_writer.notify_one();
                    return true;
                }
                outbox.waiting_for_space = true;
            }
            space.await;
        }
    }

    /// The next frame to write. Its bytes stay counted until [`Peer::written`].
    pub(crate) fn next_frame(&self) -> Option<(Message, usize)> {
        lock(&self.outbox).frames.pop_front()
    }

    /// A frame taken with [`Peer::next_frame`] was handed to the socket.
    pub(crate) fn written(&self, len: usize) {
        let mut outbox = lock(&self.outbox);
        outbox.bytes = outbox.bytes.saturating_sub(len);
        if std::mem::take(&mut outbox.waiting_for_space) {
            drop(outbox);
            self.space.notify_waiters();
        }
    }

    /// Waits until frames are queued or the connection must close.
    pub(crate) async fn wait_for_work(&self) {
        self.wake_writer.notified().await;
    }

    /// The close code, once the connection must close.
    pub(crate) fn closing(&self) -> Option<u16> {
        lock(&self.outbox).closing
    }

    /// Marks the connection as closing; queued frames are discarded.
    pub(crate) fn close(&self, code: u16) {
        let mut outbox = lock(&self.outbox);
        if outbox.closing.is_none() {
            outbox.closing = Some(code);
        }
        outbox.frames.clear();
        drop(outbox);
        self.closed.notify_waiters();
        self.space.notify_waiters();
    }

    /// Resolves after the next [`Peer::close`] or overflow; create it before checking
    /// [`Peer::closing`] so that no notification is missed.
    pub(crate) fn closed(&self) -> tokio::sync::futures::Notified<'_> {
        self.closed.notified()
    }

    /// Bytes queued for this connection.
    #[cfg(test)]
    pub(crate) fn queued_bytes(&self) -> usize {
        lock(&self.outbox).bytes
    }
}

/// The connections of one store id on one route.
pub(crate) struct Room {
    /// Copy-on-write member list: relaying clones the `Arc` and iterates without a lock.
    members: RwLock<Arc<[Arc<Peer>]>>,
}

impl Room {
    fn new() -> Self {
        Room {
            members: RwLock::new(Arc::from(Vec::new())),
        }
    }

    fn members(&self) -> Arc<[Arc<Peer>]> {
        self.members
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_members(&self, members: Vec<Arc<Peer>>) {
        *self.members.write().unwrap_or_else(PoisonError::into_inner) = Arc::from(members);
    }

    /// Queues `message` for every member except `from`, in the order of calls; returns how
    /// many connections overflowed.
    pub(crate) fn relay(&self, from: &Peer, message: &Message, len: usize) -> usize {
        let mut overflowed = 0;
        for peer in self.members().iter() {
            if peer.id != from.id && peer.enqueue(message.clone(), len) == Enqueued::Overflowed {
                overflowed += 1;
            }
        }
        overflowed
    }

    /// Number of connections in the room.
    pub(crate) fn len(&self) -> usize {
        self.members().len()
    }
}

/// All rooms of one route, by store id. Rooms exist while they have members.
#[derive(Default)]
pub(crate) struct Rooms {
    rooms: Mutex<HashMap<String, Arc<Room>>>,
}

impl Rooms {
    /// Adds `peer` to the room of `store_id`, creating the room on the first join.
    pub(crate) fn join(&self, store_id: &str, peer: &Arc<Peer>) -> Arc<Room> {
        let mut rooms = lock(&self.rooms);
        let room = rooms
            .entry(store_id.to_owned())
            .or_insert_with(|| Arc::new(Room::new()))
            .clone();
        let mut members = room.members().to_vec();
        members.push(peer.clone());
        room.set_members(members);
        room
    }

    /// Removes `peer` from the room of `store_id`; the room goes when it is empty.
    pub(crate) fn leave(&self, store_id: &str, peer: &Peer) {
        let mut rooms = lock(&self.rooms);
        let Some(room) = rooms.get(store_id).cloned() else {
            return;
        };
        let members: Vec<Arc<Peer>> = room
            .members()
            .iter()
            .filter(|p| p.id != peer.id)
            .cloned()
            .collect();
        if members.is_empty() {
            rooms.remove(store_id);
        }
        room.set_members(members);
    }

    /// Number of rooms.
    pub(crate) fn count(&self) -> usize {
        lock(&self.rooms).len()
    }

    /// Members of the room of `store_id` (0 when there is no room).
    pub(crate) fn members_of(&self, store_id: &str) -> usize {
        lock(&self.rooms).get(store_id).map_or(0, |room| room.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn binary(bytes: &'static [u8]) -> Message {
        Message::Binary(Bytes::from_static(bytes))
    }

    #[test]
    fn relays_skip_the_sender_and_keep_order() {
        let rooms = Rooms::default();
        let a = Arc::new(Peer::new(100));
        let b = Arc::new(Peer::new(100));
        let room = rooms.join("s", &a);
        rooms.join("s", &b);
        room.relay(&a, &binary(b"\x01one"), 4);
        room.relay(&a, &binary(b"\x01two"), 4);
        assert!(a.next_frame().is_none());
        assert_eq!(b.next_frame().unwrap().0, binary(b"\x01one"));
        assert_eq!(b.next_frame().unwrap().0, binary(b"\x01two"));
        assert_eq!(b.queued_bytes(), 8, "counted until written");
        b.written(4);
        b.written(4);
        assert_eq!(b.queued_bytes(), 0);
        rooms.leave("s", &a);
        assert_eq!(rooms.count(), 1);
        rooms.leave("s", &b);
        assert_eq!(rooms.count(), 0, "empty rooms go away");
    }

    #[test]
    fn a_frame_that_does_not_fit_closes_instead_of_dropping() {
        let peer = Peer::new(10);
        assert_eq!(peer.enqueue(binary(b"123456"), 6), Enqueued::Queued);
        assert_eq!(peer.enqueue(binary(b"123456"), 6), Enqueued::Overflowed);
        assert_eq!(peer.closing(), Some(CLOSE_QUEUE_OVERFLOW));
        assert!(peer.next_frame().is_none(), "nothing is delivered after it");
        assert_eq!(peer.enqueue(binary(b"1"), 1), Enqueued::Closing);
    }
}
