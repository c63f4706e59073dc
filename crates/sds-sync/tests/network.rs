//! The network part of the engine, driven by hand (SPEC §13.5–§13.7, §18.15).

use sds_core::{MemoryPersistence, ROOT_ID, StoreOptions, Value, blob_hash};
use sds_sync::protocol::Frame;
use sds_sync::{Engine, EngineEvent, EngineOptions, NetworkOptions, PresenceOrigin};
use sds_yrs::YrsBackend;
use serde_json::{Map, json};

fn options(seed: u64) -> EngineOptions {
    EngineOptions {
        store: StoreOptions {
            literal_size_limit: 16,
            ..StoreOptions::default()
        },
        network: NetworkOptions {
            rng_seed: Some(seed),
            presence_timeout_ms: 8_000,
            ..NetworkOptions::default()
        },
        ..EngineOptions::default()
    }
}

fn engine(seed: u64) -> Engine<YrsBackend> {
    Engine::start(
        Some(Box::new(MemoryPersistence::new("s"))),
        options(seed),
        0,
    )
    .unwrap()
}

fn drain(engine: &mut Engine<YrsBackend>, now: u64) -> Vec<Frame> {
    std::iter::from_fn(|| engine.poll_transmit(now)).collect()
}

fn kinds(frames: &[Frame]) -> Vec<&'static str> {
    frames
        .iter()
        .map(|f| match f {
            Frame::Patch(_) => "PATCH",
            Frame::Value { .. } => "VALUE",
            Frame::RequestValue(_) => "REQ_VALUE",
            Frame::Presence(_) => "PRESENCE",
            Frame::ValueChunk { .. } => "VALUE_CHUNK",
            Frame::SyncRequest(_) => "SYNC_REQ",
            Frame::PresenceLeave { .. } => "PRESENCE_LEAVE",
        })
        .collect()
}

fn deliver(frames: &[Frame], to: &mut Engine<YrsBackend>, now: u64) {
    for frame in frames {
        to.on_frame(frame.clone(), now);
    }
}

#[test]
fn the_first_connection_uploads_the_full_state_and_later_ones_the_backlog() {
    let mut a = engine(1);
    let x = a.transact(|s| s.new_item_at(None, ROOT_ID, None)).unwrap();
    assert!(
        drain(&mut a, 0).is_empty(),
        "nothing is sent before connecting"
    );
    a.on_connected(0);
    let first = drain(&mut a, 0);
    assert_eq!(kinds(&first), vec!["PATCH", "SYNC_REQ"]);
    let mut b = engine(2);
    deliver(&first, &mut b, 0);
    assert!(
        b.store().entry(&x).is_some(),
        "the full state carries earlier changes"
    );

    a.transact(|s| s.set_label(&x, "online")).unwrap();
    assert_eq!(kinds(&drain(&mut a, 0)), vec!["PATCH"]);
    a.on_disconnected();
    a.transact(|s| s.set_label(&x, "offline 1")).unwrap();
    a.transact(|s| s.set_label(&x, "offline 2")).unwrap();
    assert!(drain(&mut a, 0).is_empty());
    a.on_connected(10);
    let again = drain(&mut a, 10);
    assert_eq!(
        kinds(&again),
        vec!["PATCH", "PATCH", "SYNC_REQ"],
        "backlog before SYNC_REQ"
    );
    let patch_bytes: usize = again
        .iter()
        .map(|f| if let Frame::Patch(p) = f { p.len() } else { 0 })
        .sum();
    assert!(
        patch_bytes < 400,
        "only the backlog, not the full state ({patch_bytes} bytes)"
    );
}

#[test]
fn sync_requests_are_answered_after_a_random_delay_with_a_delta() {
    let mut a = engine(3);
    a.on_connected(0);
    drain(&mut a, 0);
    let mut b = engine(4);
    b.on_connected(0);
    let b_frames = drain(&mut b, 0);
    deliver(&b_frames, &mut a, 0);
    let cursor = b.store().current_cursor();
    let x = a.transact(|s| s.new_item_at(None, ROOT_ID, None)).unwrap();
    drain(&mut a, 0);
    a.on_frame(Frame::SyncRequest(cursor.clone()), 1_000);
    let due = a.poll_timeout().unwrap();
    assert!((1_050..1_300).contains(&due), "answer due at {due}");
    // A further request restarts the wait.
    a.on_frame(Frame::SyncRequest(cursor.clone()), 1_040);
    let restarted = a.poll_timeout().unwrap();
    assert!((1_090..1_340).contains(&restarted));
    a.handle_timeout(restarted - 1);
    assert!(drain(&mut a, restarted - 1).is_empty());
    a.handle_timeout(restarted);
    let answer = drain(&mut a, restarted);
    assert_eq!(
        kinds(&answer),
        vec!["PATCH"],
        "one delta for the (repeated) cursor"
    );
    let Frame::Patch(delta) = &answer[0] else {
        panic!()
    };
    assert!(delta.len() < a.store().export_patch(None).unwrap().len());
    deliver(&answer, &mut b, restarted);
    assert!(b.store().entry(&x).is_some());
    // An empty or foreign cursor gets the full state.
    a.on_frame(Frame::SyncRequest(vec![]), 2_000);
    a.on_frame(Frame::SyncRequest(vec![0xff, 0xff, 0xff]), 2_000);
    let due = a.poll_timeout().unwrap();
    a.handle_timeout(due);
    let full = drain(&mut a, due);
    assert_eq!(kinds(&full), vec!["PATCH"]);
    assert_eq!(full[0], Frame::Patch(a.store().export_patch(None).unwrap()));
    // A disconnect cancels a pending answer.
    a.on_frame(Frame::SyncRequest(vec![]), 3_000);
    a.on_disconnected();
    a.handle_timeout(5_000);
    assert!(drain(&mut a, 5_000).is_empty());
}

#[test]
fn large_values_travel_after_their_patch_and_are_requested_until_they_arrive() {
    let mut a = engine(5);
    let mut b = engine(6);
    let mut c = engine(7);
    for e in [&mut a, &mut b, &mut c] {
        e.on_connected(0);
    }
    let (fa, fb) = (drain(&mut a, 0), drain(&mut b, 0));
    deliver(&fa, &mut b, 0);
    deliver(&fb, &mut a, 0);
    // Let the answers to the handshake's SYNC_REQs go out first.
    for e in [&mut a, &mut b] {
        e.handle_timeout(1_000);
        drain(e, 1_000);
    }
    let text = "a value far longer than sixteen units";
    let hash = blob_hash(text.as_bytes());
    let x = a
        .transact(|s| {
            let x = s.new_item_at(None, ROOT_ID, None)?;
            s.write_value(&x, text)?;
            Ok(x)
        })
        .unwrap();
    let frames = drain(&mut a, 0);
    assert_eq!(
        kinds(&frames),
        vec!["PATCH", "VALUE"],
        "the blob right after its patch"
    );
    // b gets only the patch: the value is pending and b asks for it.
    deliver(&frames[..1], &mut b, 0);
    assert!(b.store().read_value(&x).unwrap().is_pending());
    assert!(b.wanted_values().contains(&hash));
    assert_eq!(kinds(&drain(&mut b, 0)), vec!["REQ_VALUE"]);
    // Without an answer b asks again after 30 s.
    b.handle_timeout(29_999);
    assert!(drain(&mut b, 29_999).is_empty());
    b.handle_timeout(30_000);
    let request = drain(&mut b, 30_000);
    assert_eq!(kinds(&request), vec!["REQ_VALUE"]);
    // Two holders (a and c) hear the request; a answers first, c sees the answer and stays
    // silent.
    deliver(&frames[..1], &mut c, 30_000);
    c.on_frame(frames[1].clone(), 30_000);
    drain(&mut c, 30_000);
    deliver(&request, &mut a, 30_000);
    deliver(&request, &mut c, 30_001);
    let a_due = a.poll_timeout().unwrap();
    a.handle_timeout(a_due);
    let answer = drain(&mut a, a_due);
    assert_eq!(kinds(&answer), vec!["VALUE"]);
    deliver(&answer, &mut c, a_due);
    c.handle_timeout(a_due + 1_000);
    assert!(
        drain(&mut c, a_due + 1_000).is_empty(),
        "the second holder stayed silent"
    );
    deliver(&answer, &mut b, a_due);
    assert_eq!(b.store().read_value(&x).unwrap(), Value::Text(text.into()));
    assert!(
        std::iter::from_fn(|| b.poll_event())
            .any(|e| matches!(e, EngineEvent::ValueAvailable(h) if h == hash))
    );
    assert!(b.wanted_values().is_empty());
}

#[test]
fn blobs_written_offline_are_sent_after_reconnecting() {
    let mut a = engine(8);
    a.on_connected(0);
    drain(&mut a, 0);
    a.on_disconnected();
    a.transact(|s| {
        let x = s.new_item_at(None, ROOT_ID, None)?;
        s.write_value(&x, vec![7u8; 3000])
    })
    .unwrap();
    a.on_connected(100);
    assert_eq!(
        kinds(&drain(&mut a, 100)),
        vec!["PATCH", "SYNC_REQ", "VALUE"]
    );
}

#[test]
fn blobs_not_yet_sent_are_sent_by_the_next_run_and_only_once() {
    let db = std::sync::Arc::new(std::sync::Mutex::new(sds_core::MemoryDatabase::default()));
    let start = || {
        Engine::<YrsBackend>::start(
            Some(Box::new(MemoryPersistence::shared("s", db.clone()))),
            options(9),
            0,
        )
        .unwrap()
    };
    let uploads = |engine: &mut Engine<YrsBackend>, now: u64| {
        engine.on_connected(now);
        drain(engine, now)
            .into_iter()
            .filter(|f| matches!(f, Frame::Value { .. }))
            .count()
    };
    // Written by a run that never connects (a CLI command, say), then stopped.
    let mut a = start();
    a.transact(|s| {
        let x = s.new_item_at(None, ROOT_ID, None)?;
        s.write_value(&x, vec![7u8; 3000])
    })
    .unwrap();
    a.stop().unwrap();
    // The next run connects, but the connection drops before the blob goes out.
    let mut b = start();
    b.on_connected(0);
    b.on_disconnected();
    b.stop().unwrap();
    // The run after that sends it; later runs do not send it again.
    let mut c = start();
    assert_eq!(
        uploads(&mut c, 0),
        1,
        "the blob goes out with the next connection"
    );
    c.stop().unwrap();
    let mut d = start();
    assert_eq!(uploads(&mut d, 0), 0, "sent once");
    // Within one run, an upload cut short by a disconnection is sent again.
    d.transact(|s| {
        let x = s.new_item_at(None, ROOT_ID, None)?;
        s.write_value(&x, vec![8u8; 3000])
    })
    .unwrap();
    assert!(
        matches!(d.poll_transmit(5), Some(Frame::Patch(_))),
        "the patch goes out, its blob is still queued"
    );
    d.on_disconnected();
    assert_eq!(
        uploads(&mut d, 10),
        1,
        "queued again after the disconnection"
    );
}

#[test]
fn presence_is_tagged_echoes_ignored_heartbeats_sent_and_peers_evicted() {
    let mut a = engine(9);
    let mut b = engine(10);
    a.on_connected(0);
    b.on_connected(0);
    drain(&mut a, 0);
    drain(&mut b, 0);
    let mut state = Map::new();
    state.insert("UserName".into(), json!("Ada"));
    state.insert("PeerId".into(), json!("forged"));
    a.set_presence_to(state, 0);
    let sent = drain(&mut a, 0);
    let Frame::Presence(sent_state) = &sent[0] else {
        panic!("{sent:?}")
    };
    assert_eq!(
        sent_state["PeerId"],
        json!(a.peer_id()),
        "PeerId is the engine's own"
    );
    assert!(std::iter::from_fn(|| a.poll_event()).any(|e| matches!(
        e,
        EngineEvent::PresenceChanged {
            origin: PresenceOrigin::Local,
            ..
        }
    )));
    // The echo of its own presence is ignored.
    a.on_frame(sent[0].clone(), 1);
    assert!(a.peer_set().is_empty());
    deliver(&sent, &mut b, 0);
    let peers = b.peer_set();
    assert_eq!(peers[a.peer_id()].state["UserName"], json!("Ada"));
    assert_eq!(peers[a.peer_id()].last_seen, 0);
    // Heartbeat every timeout/4 (2 s with an 8 s timeout).
    a.handle_timeout(1_999);
    assert!(drain(&mut a, 1_999).is_empty());
    a.handle_timeout(2_000);
    assert_eq!(kinds(&drain(&mut a, 2_000)), vec!["PRESENCE"]);
    // Without news b evicts a after the timeout.
    b.handle_timeout(7_999);
    assert_eq!(b.peer_set().len(), 1);
    b.handle_timeout(8_000);
    assert!(b.peer_set().is_empty());
    assert!(
        std::iter::from_fn(|| b.poll_event())
            .any(|e| matches!(e, EngineEvent::PresenceChanged { state: None, .. }))
    );
    // PRESENCE_LEAVE removes a peer and is sent on stop.
    deliver(&sent, &mut b, 9_000);
    a.stop().unwrap();
    let last = drain(&mut a, 9_000);
    assert_eq!(kinds(&last), vec!["PRESENCE_LEAVE"]);
    deliver(&last, &mut b, 9_000);
    assert!(b.peer_set().is_empty());
}

#[test]
fn malformed_messages_are_ignored() {
    let mut a = engine(11);
    a.on_connected(0);
    drain(&mut a, 0);
    for message in [
        &b""[..],
        &[0x09, 1][..],
        &[0x02; 10][..],
        &[0x04, b'{'][..],
        &[0x01, 0xff, 0xfe][..],
    ] {
        a.on_message(message, 0);
    }
    assert!(drain(&mut a, 0).is_empty());
    a.store().check_consistency().unwrap();
}
