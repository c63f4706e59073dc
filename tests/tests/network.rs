//! End-to-end network scenarios (issue 6): real peers — an engine on an SQLite file with a
//! WebSocket provider, as an application builds them — syncing through a real `sds-server` on
//! 127.0.0.1, in pure relay and in persistent mode. Every scenario is written once, generic
//! over the backend, and runs on yrs and loro (the server's durable replicas use the same
//! backend).
//!
//! Waits follow engine events (store changes, driver events) with one generous deadline per
//! wait; the only timed windows are the "nothing happens" checks, which cannot be awaited.

mod support;

use sds_core::{ErrorCode, ROOT_ID, Value};
use sds_server::{JwtSecret, Scope};
use sds_sync::{
    ConnectOptions, ConnectionState, DriverEvent, EngineEvent, EngineOptions, NetworkOptions,
};
use sds_ws::WsOptions;
use serde_json::{Map, Value as JsonValue, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use support::*;

/// Expands every scenario into one `#[tokio::test]` per backend: `yrs::<name>` and
/// `loro::<name>`.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod yrs {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario::<sds_yrs::YrsBackend>().await;
                }
            )*
        }
        mod loro {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario::<sds_loro::LoroBackend>().await;
                }
            )*
        }
    };
}

on_both_backends!(
    two_peers_converge_through_a_relay,
    three_peers_converge_through_a_relay,
    two_peers_converge_through_a_durable_server,
    three_peers_converge_through_a_durable_server,
    offline_edits_survive_a_restart_and_reach_the_relay,
    offline_edits_survive_a_restart_and_reach_the_durable_server,
    a_late_joiner_catches_up_from_the_durable_server_alone,
    a_5_mb_value_crosses_the_relay,
    a_5_mb_value_crosses_the_durable_server_and_stays_there,
    presence_appears_and_disappears_on_the_relay,
    presence_appears_and_disappears_on_the_durable_server,
    a_read_token_receives_but_cannot_write_through_the_relay,
    a_read_token_receives_but_cannot_write_to_the_durable_server,
    bad_and_expired_tokens_are_refused_without_retries,
    a_token_that_expires_during_an_outage_ends_reconnection,
    tokens_issued_by_the_server_let_peers_in_with_their_scope,
    garbage_frames_do_not_disturb_peers_on_the_relay,
    garbage_frames_do_not_disturb_peers_on_the_durable_server,
    a_durable_server_restarts_mid_session_without_losing_anything,
    a_killed_durable_server_restarts_without_losing_anything,
    a_blob_relayed_by_a_durable_server_survives_its_kill,
    a_blob_written_before_a_restart_reaches_the_durable_server,
    an_unusual_store_id_works_end_to_end,
    seeded_chaos_on_a_durable_server_converges,
    seeded_chaos_on_a_killed_durable_server_converges,
);

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("sds-network-")
        .tempdir()
        .expect("a temporary directory")
}

fn set(labels: &[&str]) -> BTreeSet<String> {
    labels.iter().map(|l| (*l).to_owned()).collect()
}

fn presence(name: &str) -> Map<String, JsonValue> {
    let mut state = Map::new();
    state.insert("UserName".into(), json!(name));
    state
}

fn presence_frame(state: &JsonValue) -> Vec<u8> {
    let mut frame = vec![0x04];
    frame.extend_from_slice(state.to_string().as_bytes());
    frame
}

// ---------------------------------------------------------------------------------------------
// 1. Convergence
// ---------------------------------------------------------------------------------------------

async fn two_peers_converge_through_a_relay<B: TestBackend>() {
    converge::<B>(Mode::Relay, 2).await;
}

async fn three_peers_converge_through_a_relay<B: TestBackend>() {
    converge::<B>(Mode::Relay, 3).await;
}

async fn two_peers_converge_through_a_durable_server<B: TestBackend>() {
    converge::<B>(Mode::Durable, 2).await;
}

async fn three_peers_converge_through_a_durable_server<B: TestBackend>() {
    converge::<B>(Mode::Durable, 3).await;
}

/// `count` peers edit concurrently — new items, Info and the label of one shared item, and
/// moves of one shared item into different containers — and end with identical trees.
async fn converge<B: TestBackend>(mode: Mode, count: usize) {
    let dir = temp_dir();
    let server = TestServer::start(server_config::<B>(mode, &dir.path().join("server"))).await;
    let mut peers = Vec::new();
    for i in 0..count {
        let mut peer = Peer::<B>::start(&format!("peer{i}"), dir.path()).await;
        // Written before connecting: the first connection uploads it.
        peer.add(&format!("early {i}")).await;
        peer.join(&server.url()).await;
        peers.push(peer);
    }
    let shared = peers[0].add("shared").await;
    let mover = peers[0].add("mover").await;
    for peer in &mut peers[1..] {
        peer.until_label("mover").await;
    }

    let edits = peers.iter().enumerate().map(|(i, peer)| {
        let (shared, mover) = (shared.clone(), mover.clone());
        async move {
            let mut mine = Vec::new();
            for k in 0..4 {
                mine.push(peer.add(&format!("p{i} item {k}")).await);
            }
            let container = mine[0].clone();
            peer.handle()
                .transact(move |s| {
                    s.set_info(&shared, &format!("by{i}"), json!(i))?;
                    s.set_label(&shared, &format!("shared, edited by {i}"))?;
                    s.move_entry_to(&mover, &container, None)
                })
                .await
                .unwrap_or_else(|e| panic!("peer{i} edits: {e}"));
        }
    });
    futures_util::future::join_all(edits).await;

    let mut wanted = BTreeSet::new();
    for i in 0..count {
        wanted.insert(format!("early {i}"));
        for k in 0..4 {
            wanted.insert(format!("p{i} item {k}"));
        }
    }
    wanted.insert("mover".into());
    let mut refs: Vec<&mut Peer<B>> = peers.iter_mut().collect();
    until_converged(&mut refs, &wanted).await;

    // Every concurrent Info key survived, and the mover sits in exactly one peer's item.
    let (info, label, parent_label) = peers[0]
        .run(move |engine| {
            let store = engine.store();
            let entry = store.entry(&shared).expect("the shared item");
            let parent = store.entry(&mover).and_then(|m| m.outer_item());
            (
                entry.info().clone(),
                entry.label().to_owned(),
                parent.map(|p| p.label().to_owned()),
            )
        })
        .await;
    for i in 0..count {
        assert_eq!(info.get(&format!("by{i}")), Some(&json!(i)), "{info:?}");
    }
    assert!(label.contains("edited by"), "merged label {label:?}");
    let parent_label = parent_label.expect("the mover has a container");
    assert!(
        parent_label.ends_with("item 0"),
        "the mover ended in {parent_label:?}"
    );
    for peer in peers {
        peer.stop().await;
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 2. Offline edits, restart from the SQLite file, upload on reconnection
// ---------------------------------------------------------------------------------------------

async fn offline_edits_survive_a_restart_and_reach_the_relay<B: TestBackend>() {
    offline_edits_survive_a_restart::<B>(Mode::Relay).await;
}

async fn offline_edits_survive_a_restart_and_reach_the_durable_server<B: TestBackend>() {
    offline_edits_survive_a_restart::<B>(Mode::Durable).await;
}

/// A peer edits while disconnected, stops, restarts from its file, edits while the server is
/// unreachable, stops again, restarts and reconnects: every edit (and a blob written offline)
/// reaches the other peer, and it receives what the other peer wrote meanwhile.
async fn offline_edits_survive_a_restart<B: TestBackend>(mode: Mode) {
    let dir = temp_dir();
    let server = TestServer::start(server_config::<B>(mode, &dir.path().join("server"))).await;
    let mut a = Peer::<B>::start("a", dir.path()).await;
    let mut b = Peer::<B>::start("b", dir.path()).await;
    a.join(&server.url()).await;
    b.join(&server.url()).await;
    a.add("online a").await;
    b.until_label("online a").await;

    // Disconnected by the application.
    a.handle().disconnect().await.unwrap();
    assert_eq!(a.connection_state().await, ConnectionState::Disconnected);
    a.add("offline 1").await;
    let blob = noise(96 * 1024, 7);
    let written = blob.clone();
    a.handle()
        .transact(move |s| {
            let id = s.new_item_at(None, ROOT_ID, None)?;
            s.set_label(&id, "offline blob")?;
            s.write_value(&id, written)
        })
        .await
        .unwrap();
    b.add("while a is away").await;
    a.stop().await;

    // Restarted with the server unreachable: nothing listens on the port.
    let a = Peer::<B>::start("a", dir.path()).await;
    assert!(
        a.labels()
            .await
            .is_superset(&set(&["offline 1", "offline blob"]))
    );
    let unreachable = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("ws://{}", listener.local_addr().unwrap())
    };
    let error = a
        .connect(&unreachable, token("a", Scope::Write))
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::NetworkFailed, "{error}");
    a.add("offline 2").await;
    a.stop().await;

    let mut a = Peer::<B>::start("a", dir.path()).await;
    let offline = set(&["offline 1", "offline 2", "offline blob"]);
    assert!(a.labels().await.is_superset(&offline));
    a.join(&server.url()).await;
    b.until_labels(&offline).await;
    let expected = Arc::new(blob);
    b.until("the offline blob", move |engine| {
        matches!(value_of(engine.store(), "offline blob"),
            Some(Value::Bytes(bytes)) if bytes == *expected)
        .then_some(())
    })
    .await;
    a.until_label("while a is away").await;
    // `reconnect` drops the connection and opens a new one with the same arguments.
    b.handle().reconnect().await.unwrap();
    b.until_connected().await;
    a.add("after b reconnected").await;
    b.until_label("after b reconnected").await;
    let all = set(&[
        "online a",
        "offline 1",
        "offline 2",
        "offline blob",
        "while a is away",
        "after b reconnected",
    ]);
    until_converged(&mut [&mut a, &mut b], &all).await;
    a.stop().await;
    b.stop().await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 3. Late joiner
// ---------------------------------------------------------------------------------------------

/// A peer writes items, Info, a move and a blob, then leaves; a new peer joins with nobody
/// else online and receives the whole tree and the blob from the server's replica.
async fn a_late_joiner_catches_up_from_the_durable_server_alone<B: TestBackend>() {
    let dir = temp_dir();
    let mut config = server_config::<B>(Mode::Durable, &dir.path().join("server"));
    // Unloaded (after a checkpoint) soon after the last client left, so that the late joiner
    // is served by a replica restored from the file.
    config.unload_after = Duration::from_millis(100);
    let server = TestServer::start(config).await;
    let mut a = Peer::<B>::start("a", dir.path()).await;
    a.join(&server.url()).await;
    let folder = a.add("folder").await;
    let blob = noise(200 * 1024, 3);
    let written = blob.clone();
    a.handle()
        .transact(move |s| {
            let id = s.new_item_at(None, ROOT_ID, None)?;
            s.set_label(&id, "document")?;
            s.set_info(&id, "pages", json!(12))?;
            s.write_value(&id, written)?;
            s.move_entry_to(&id, &folder, None)
        })
        .await
        .unwrap();
    for n in 0..20 {
        a.add(&format!("note {n}")).await;
    }
    let fingerprint = a.fingerprint().await;
    let labels = a.labels().await;
    a.stop().await;
    server.until_room_empty().await;
    server
        .until_stats("the replica to be unloaded", |server| {
            server.stats().loaded_replicas == 0
        })
        .await;

    let mut late = Peer::<B>::start("late", dir.path()).await;
    late.join(&server.url()).await;
    late.until_labels(&labels).await;
    let expected = Arc::new(blob);
    let has_blob = move |engine: &sds_sync::Engine<B>| {
        matches!(value_of(engine.store(), "document"),
            Some(Value::Bytes(bytes)) if bytes == *expected)
        .then_some(())
    };
    late.until("the blob from the server", has_blob.clone())
        .await;
    assert_eq!(late.fingerprint().await, fingerprint);
    late.stop().await;

    // A reader (read token, no other peer online) is served the same way.
    server.until_room_empty().await;
    let mut reader = Peer::<B>::start("reader", dir.path()).await;
    reader
        .connect(&server.url(), token("reader", Scope::Read))
        .await
        .unwrap();
    reader.until_labels(&labels).await;
    reader
        .until("the blob from the server, read scope", has_blob)
        .await;
    assert_eq!(reader.fingerprint().await, fingerprint);
    reader.stop().await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 4. A large value
// ---------------------------------------------------------------------------------------------

const LARGE: usize = 5 * 1024 * 1024;

async fn a_5_mb_value_crosses_the_relay<B: TestBackend>() {
    large_value::<B>(Mode::Relay).await;
}

async fn a_5_mb_value_crosses_the_durable_server_and_stays_there<B: TestBackend>() {
    large_value::<B>(Mode::Durable).await;
}

/// A 5 MB value (five VALUE_CHUNK frames, SPEC §12.5) written at one peer is verified and
/// readable at the other. A late joiner gets it too: on the relay from the writer (REQ_VALUE
/// answered with chunks), on a durable server from the server's blob table, the writer gone.
async fn large_value<B: TestBackend>(mode: Mode) {
    let dir = temp_dir();
    let server = TestServer::start(server_config::<B>(mode, &dir.path().join("server"))).await;
    let mut a = Peer::<B>::start("a", dir.path()).await;
    let mut b = Peer::<B>::start("b", dir.path()).await;
    a.join(&server.url()).await;
    b.join(&server.url()).await;
    let data = Arc::new(noise(LARGE, 5));
    let written = data.to_vec();
    a.handle()
        .transact(move |s| {
            let id = s.new_item_at(None, ROOT_ID, None)?;
            s.set_label(&id, "big")?;
            s.write_value(&id, written)
        })
        .await
        .unwrap();
    let has_it = {
        let data = data.clone();
        move |engine: &sds_sync::Engine<B>| {
            matches!(value_of(engine.store(), "big"),
                Some(Value::Bytes(bytes)) if bytes == *data)
            .then_some(())
        }
    };
    b.until("the 5 MB value", has_it.clone()).await;
    if mode == Mode::Durable {
        a.stop().await;
        b.stop().await;
        server.until_room_empty().await;
        let mut late = Peer::<B>::start("late", dir.path()).await;
        late.join(&server.url()).await;
        late.until("the 5 MB value from the server", has_it).await;
        late.stop().await;
    } else {
        // A late joiner on the relay requests the blob; the writer answers with the chunks.
        b.stop().await;
        let mut late = Peer::<B>::start("late", dir.path()).await;
        late.join(&server.url()).await;
        late.until("the 5 MB value from the writer", has_it).await;
        late.stop().await;
        a.stop().await;
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 5. Presence
// ---------------------------------------------------------------------------------------------

const QUICK_TIMEOUT_MS: u64 = 1_200;

async fn presence_appears_and_disappears_on_the_relay<B: TestBackend>() {
    presence_appears_and_disappears::<B>(Mode::Relay).await;
}

async fn presence_appears_and_disappears_on_the_durable_server<B: TestBackend>() {
    presence_appears_and_disappears::<B>(Mode::Durable).await;
}

/// Presence appears at the others, stays alive through heartbeats, and goes away on a
/// disconnect (PRESENCE_LEAVE of the engine), on a dropped connection (PRESENCE_LEAVE of the
/// server) and on silence (eviction after the presence timeout).
async fn presence_appears_and_disappears<B: TestBackend>(mode: Mode) {
    let dir = temp_dir();
    let server = TestServer::start(server_config::<B>(mode, &dir.path().join("server"))).await;
    // Short timeouts for `a` (heartbeat every 100 ms) and `quick` (evicts after 1.2 s); the
    // default (120 s) for `slow`, where any removal within the test is a leave, not a timeout.
    let with_timeout = |presence_timeout_ms| EngineOptions {
        network: NetworkOptions {
            presence_timeout_ms,
            ..NetworkOptions::default()
        },
        ..EngineOptions::default()
    };
    let mut a =
        Peer::<B>::start_with("a", dir.path(), with_timeout(400), WsOptions::default()).await;
    let mut quick = Peer::<B>::start_with(
        "quick",
        dir.path(),
        with_timeout(QUICK_TIMEOUT_MS),
        WsOptions::default(),
    )
    .await;
    let mut slow = Peer::<B>::start("slow", dir.path()).await;
    for peer in [&mut a, &mut quick, &mut slow] {
        peer.join(&server.url()).await;
    }
    let a_id = a.run(|engine| engine.peer_id().to_owned()).await;
    a.handle().set_presence_to(presence("alice")).await.unwrap();
    for peer in [&mut quick, &mut slow] {
        let id = a_id.clone();
        peer.until("alice's presence", move |engine| {
            engine
                .peer_set()
                .get(&id)
                .is_some_and(|p| p.state.get("UserName") == Some(&json!("alice")))
                .then_some(())
        })
        .await;
    }

    // Heartbeats keep alice alive at `quick` for well over its timeout: fifteen more states
    // arrive (100 ms apart, 1.5 s in all) and none of them is a removal.
    for _ in 0..15 {
        let event = quick
            .until_event("a heartbeat of alice", |event| {
                matches!(event, DriverEvent::Engine(EngineEvent::PresenceChanged { peer_id, .. }) if *peer_id == a_id)
            })
            .await;
        let DriverEvent::Engine(EngineEvent::PresenceChanged { state, .. }) = event else {
            unreachable!()
        };
        assert!(state.is_some(), "alice was evicted despite her heartbeats");
    }

    // A disconnect sends PRESENCE_LEAVE: `slow` (120 s timeout) drops alice at once.
    a.handle().disconnect().await.unwrap();
    for peer in [&mut slow, &mut quick] {
        let id = a_id.clone();
        peer.until("alice leaving", move |engine| {
            (!engine.peer_set().contains_key(&id)).then_some(())
        })
        .await;
    }

    // A connection that ends without any goodbye: the server announces the leave.
    let mut crashing = RawClient::connect(&server, &token("crashing", Scope::Write)).await;
    crashing
        .send(presence_frame(
            &json!({"PeerId": "crashing", "UserName": "c"}),
        ))
        .await;
    slow.until("the crashing peer", |engine| {
        engine.peer_set().contains_key("crashing").then_some(())
    })
    .await;
    drop(crashing);
    slow.until("the server's leave for the crashing peer", |engine| {
        (!engine.peer_set().contains_key("crashing")).then_some(())
    })
    .await;

    // A peer that says hello once and then stays silent on an open connection: only the
    // timeout removes it, at `quick`.
    let mut silent = RawClient::connect(&server, &token("silent", Scope::Write)).await;
    silent
        .send(presence_frame(
            &json!({"PeerId": "silent", "UserName": "s"}),
        ))
        .await;
    let last_seen = quick
        .until("the silent peer", |engine| {
            engine.peer_set().get("silent").map(|p| p.last_seen)
        })
        .await;
    quick
        .until("the silent peer's eviction", |engine| {
            (!engine.peer_set().contains_key("silent")).then_some(())
        })
        .await;
    let silent_for = sds_sync::driver::now_ms() - last_seen;
    assert!(
        silent_for >= QUICK_TIMEOUT_MS,
        "evicted {silent_for} ms after the last state, before the timeout"
    );
    // `slow` still has it: the connection is open, nobody sent a leave.
    assert!(slow.run(|e| e.peer_set().contains_key("silent")).await);
    silent.close().await;

    for peer in [a, quick, slow] {
        peer.stop().await;
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 6. Read scope
// ---------------------------------------------------------------------------------------------

async fn a_read_token_receives_but_cannot_write_through_the_relay<B: TestBackend>() {
    read_scope::<B>(Mode::Relay).await;
}

async fn a_read_token_receives_but_cannot_write_to_the_durable_server<B: TestBackend>() {
    read_scope::<B>(Mode::Durable).await;
}

/// A peer with a `read` token receives everything, but its own edits (including the
/// full-state upload of its first connection and a blob) never reach the writer, nor the
/// server's replica.
async fn read_scope<B: TestBackend>(mode: Mode) {
    let dir = temp_dir();
    let server = TestServer::start(server_config::<B>(mode, &dir.path().join("server"))).await;
    let mut writer = Peer::<B>::start("writer", dir.path()).await;
    writer.join(&server.url()).await;
    writer.add("from the writer").await;

    let mut reader = Peer::<B>::start("reader", dir.path()).await;
    // Written before connecting: the first connection uploads it (and the server drops it).
    reader.add("reader before connecting").await;
    reader
        .connect(&server.url(), token("reader", Scope::Read))
        .await
        .unwrap();
    reader.until_connected().await;
    reader.until_label("from the writer").await;
    writer.add("writer, later").await;
    reader.until_label("writer, later").await;

    // The reader's edits are local only.
    reader.add("reader while connected").await;
    reader
        .handle()
        .transact(|s| {
            let id = s.new_item_at(None, ROOT_ID, None)?;
            s.set_label(&id, "reader blob")?;
            s.write_value(&id, noise(8 * 1024, 11))
        })
        .await
        .unwrap();
    // Presence is relayed for read clients. Frames of one connection stay in order, so once
    // the writer sees this presence, any relayed patch of the reader would have arrived.
    let reader_id = reader.run(|engine| engine.peer_id().to_owned()).await;
    reader
        .handle()
        .set_presence_to(presence("reader"))
        .await
        .unwrap();
    writer
        .until("the reader's presence", move |engine| {
            engine.peer_set().contains_key(&reader_id).then_some(())
        })
        .await;
    let forbidden = set(&[
        "reader before connecting",
        "reader while connected",
        "reader blob",
    ]);
    let at_writer = writer.labels().await;
    assert!(
        at_writer.is_disjoint(&forbidden),
        "the reader's edits reached the writer: {at_writer:?}"
    );
    // The reader still receives after its refused writes.
    writer.add("writer, last").await;
    reader.until_label("writer, last").await;

    if mode == Mode::Durable {
        // The server's replica has the writer's items and none of the reader's.
        writer.stop().await;
        reader.stop().await;
        server.until_room_empty().await;
        let mut late = Peer::<B>::start("late", dir.path()).await;
        late.join(&server.url()).await;
        late.until_label("writer, last").await;
        let at_server = late.labels().await;
        assert!(
            at_server.is_disjoint(&forbidden),
            "the reader's edits reached the server: {at_server:?}"
        );
        assert!(at_server.is_superset(&set(&["from the writer", "writer, later"])));
        late.stop().await;
    } else {
        writer.stop().await;
        reader.stop().await;
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 7. Refused tokens
// ---------------------------------------------------------------------------------------------

/// Garbage, foreign-signed and expired tokens are refused with 4001, a token for another
/// store with 4003: `connect_to` fails with `auth-failed`, the driver reports the close code
/// and nothing is retried. Peers with good tokens are unaffected.
async fn bad_and_expired_tokens_are_refused_without_retries<B: TestBackend>() {
    let dir = temp_dir();
    let server =
        TestServer::start(server_config::<B>(Mode::Relay, &dir.path().join("server"))).await;
    let mut good = Peer::<B>::start("good", dir.path()).await;
    good.join(&server.url()).await;

    let now = sds_server::now_seconds();
    let foreign = sds_server::issue_token(
        &JwtSecret::new("another-secret-another-secret-another-secret"),
        None,
        "intruder",
        STORE,
        Scope::Write,
        now,
        3_600,
    )
    .unwrap();
    let cases = [
        ("garbage", "not-a-jwt".to_owned(), 4001),
        ("foreign", foreign, 4001),
        (
            "expired",
            token_for("late", STORE, Scope::Write, now - 7_200, 3_600),
            4001,
        ),
        (
            "expired-admin",
            token_for("admin", STORE, Scope::Admin, now - 61, 60),
            4001,
        ),
        (
            "other-store",
            token_for("elsewhere", "another-store", Scope::Write, now, 3_600),
            4003,
        ),
    ];
    // The refusal follows the upgrade at once; a long grace keeps a busy machine from
    // reporting `connected` before it (the close ends the wait anyway).
    let patient = WsOptions {
        auth_grace: Duration::from_secs(3),
        ..WsOptions::default()
    };
    for (name, bad_token, code) in cases {
        let mut peer =
            Peer::<B>::start_with(name, dir.path(), EngineOptions::default(), patient.clone())
                .await;
        peer.add(&format!("from {name}")).await;
        let error = peer.connect(&server.url(), bad_token).await.unwrap_err();
        assert_eq!(error.code(), ErrorCode::AuthFailed, "{name}: {error}");
        assert!(
            error.to_string().contains(&code.to_string()),
            "{name}: {error}"
        );
        let event = peer
            .until_event("the refusal", |event| {
                matches!(event, DriverEvent::AuthFailed { .. })
            })
            .await;
        let DriverEvent::AuthFailed { code: got, .. } = event else {
            unreachable!()
        };
        assert_eq!(got, code, "{name}");
        // No retry loop: with a 50 ms backoff, ten periods pass without any attempt.
        let later = peer.events_within(Duration::from_millis(500)).await;
        assert!(
            !later.iter().any(|event| matches!(
                event,
                DriverEvent::Connection(
                    ConnectionState::Connecting
                        | ConnectionState::Reconnecting
                        | ConnectionState::Connected
                )
            )),
            "{name}: the provider tried again: {later:?}"
        );
        assert_eq!(peer.connection_state().await, ConnectionState::Disconnected);
        assert!(!peer.run(|e| e.is_connected()).await);
        peer.stop().await;
    }

    // The server serves good peers as before, and none of the refused peers' edits got in.
    let mut other = Peer::<B>::start("other", dir.path()).await;
    other.join(&server.url()).await;
    good.add("after the refusals").await;
    other.until_label("after the refusals").await;
    until_converged(&mut [&mut good, &mut other], &set(&["after the refusals"])).await;
    let labels = other.labels().await;
    assert!(
        !labels.iter().any(|l| l.starts_with("from ")),
        "an edit of a refused peer arrived: {labels:?}"
    );
    assert_eq!(server.server.sync_room_size(STORE), 2);
    good.stop().await;
    other.stop().await;
    server.stop().await;
}

/// A token that expires while the server is away: the automatic reconnection is refused with
/// 4001, reported as `AuthFailed`, and the provider stops trying; the edits stay local.
async fn a_token_that_expires_during_an_outage_ends_reconnection<B: TestBackend>() {
    let dir = temp_dir();
    let data = dir.path().join("server");
    // Durable: the server's SYNC_REQ ends the provider's auth grace at once.
    let server = TestServer::start(server_config::<B>(Mode::Durable, &data)).await;
    let address = server.address;
    let patient = WsOptions {
        auth_grace: Duration::from_secs(3),
        ..WsOptions::default()
    };
    let mut a = Peer::<B>::start_with("a", dir.path(), EngineOptions::default(), patient).await;
    let now = sds_server::now_seconds();
    // Valid for the next two seconds (`exp` is in whole seconds and checked without leeway).
    let expires = now + 2;
    a.connect(
        &server.url(),
        token_for("a", STORE, Scope::Write, now - 60, 62),
    )
    .await
    .unwrap();
    a.until_connected().await;
    a.add("before the outage").await;
    // Relayed after it was committed: once `w` has it, the server has it.
    let mut w = Peer::<B>::start("w", dir.path()).await;
    w.join(&server.url()).await;
    w.until_label("before the outage").await;
    w.stop().await;
    server.stop().await;
    a.until_disconnected().await;
    a.add("during the outage").await;
    // Nothing to await: the token expires with the clock.
    while sds_server::now_seconds() < expires {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let server = TestServer::start_at(address, server_config::<B>(Mode::Durable, &data)).await;
    let event = a
        .until_event("the refusal at reconnection", |event| {
            matches!(event, DriverEvent::AuthFailed { .. })
        })
        .await;
    assert!(
        matches!(event, DriverEvent::AuthFailed { code: 4001, .. }),
        "{event:?}"
    );
    let later = a.events_within(Duration::from_millis(500)).await;
    assert!(
        !later.iter().any(|event| matches!(
            event,
            DriverEvent::Connection(ConnectionState::Reconnecting | ConnectionState::Connected)
        )),
        "the provider tried again: {later:?}"
    );
    assert_eq!(a.connection_state().await, ConnectionState::Disconnected);

    // The server has what was sent before the outage and nothing after it; a fresh token
    // brings the rest.
    let mut late = Peer::<B>::start("late", dir.path()).await;
    late.join(&server.url()).await;
    late.until_label("before the outage").await;
    assert!(!late.labels().await.contains("during the outage"));
    a.connect(&server.url(), token("a", Scope::Write))
        .await
        .unwrap();
    late.until_label("during the outage").await;
    a.stop().await;
    late.stop().await;
    server.stop().await;
}

/// The application flow of SPEC §14.5: an admin asks the server for a write and a read token
/// (`POST /api/token`), and peers use them: the writer's edits arrive, the reader's do not.
async fn tokens_issued_by_the_server_let_peers_in_with_their_scope<B: TestBackend>() {
    let dir = temp_dir();
    let server = TestServer::start(server_config::<B>(
        Mode::Durable,
        &dir.path().join("server"),
    ))
    .await;
    let admin = token("admin", Scope::Admin);
    let issue = |sub: &str, scope: &str| {
        let body = json!({"sub": sub, "scope": scope, "exp": "5m"}).to_string();
        let (server, admin) = (&server, admin.clone());
        async move {
            let (status, answer) = request_token(server, &admin, &body).await;
            assert_eq!(status, 200, "{answer}");
            let answer: JsonValue = serde_json::from_str(&answer).expect("a JSON answer");
            answer["token"].as_str().expect("a token").to_owned()
        }
    };
    let write = issue("writer", "write").await;
    let read = issue("reader", "read").await;
    // A write token cannot issue tokens.
    let (status, _) = request_token(&server, &write, r#"{"sub":"x","scope":"admin"}"#).await;
    assert_eq!(status, 403);

    let mut writer = Peer::<B>::start("writer", dir.path()).await;
    let mut reader = Peer::<B>::start("reader", dir.path()).await;
    writer.connect(&server.url(), write).await.unwrap();
    reader.connect(&server.url(), read).await.unwrap();
    writer.until_connected().await;
    reader.until_connected().await;
    writer.add("from the writer").await;
    reader.until_label("from the writer").await;
    reader.add("from the reader").await;
    // Ordered after the reader's patch on its connection, and relayed.
    let reader_id = reader.run(|engine| engine.peer_id().to_owned()).await;
    reader
        .handle()
        .set_presence_to(presence("reader"))
        .await
        .unwrap();
    writer
        .until("the reader's presence", move |engine| {
            engine.peer_set().contains_key(&reader_id).then_some(())
        })
        .await;
    assert!(!writer.labels().await.contains("from the reader"));
    writer.stop().await;
    reader.stop().await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 8. Garbage frames
// ---------------------------------------------------------------------------------------------

async fn garbage_frames_do_not_disturb_peers_on_the_relay<B: TestBackend>() {
    garbage_frames::<B>(Mode::Relay).await;
}

async fn garbage_frames_do_not_disturb_peers_on_the_durable_server<B: TestBackend>() {
    garbage_frames::<B>(Mode::Durable).await;
}

const FRAME_LIMIT: usize = 256 * 1024;

/// Malformed, unknown and oversized frames from a raw WebSocket client: the server relays or
/// drops them (or closes that client), and the real peers keep syncing after every one.
async fn garbage_frames<B: TestBackend>(mode: Mode) {
    let dir = temp_dir();
    let mut config = server_config::<B>(mode, &dir.path().join("server"));
    config.max_frame_size = FRAME_LIMIT;
    let server = TestServer::start(config).await;
    let mut a = Peer::<B>::start("a", dir.path()).await;
    let mut b = Peer::<B>::start("b", dir.path()).await;
    a.join(&server.url()).await;
    b.join(&server.url()).await;

    let other_hash = sds_core::hash_to_bytes(&sds_core::blob_hash(b"something else")).unwrap();
    let with_hash = |kind: u8, tail: &[u8]| {
        let mut frame = vec![kind];
        frame.extend_from_slice(&other_hash);
        frame.extend_from_slice(tail);
        frame
    };
    let mut bad_chunk = with_hash(0x05, &5u32.to_be_bytes());
    bad_chunk.extend_from_slice(&2u32.to_be_bytes());
    bad_chunk.extend_from_slice(b"chunk");
    let frames: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("unknown type", vec![0x7f, 1, 2, 3]),
        ("short VALUE", vec![0x02, 1, 2, 3]),
        ("VALUE with a wrong hash", with_hash(0x02, b"not the bytes")),
        ("short VALUE_CHUNK", vec![0x05; 20]),
        ("VALUE_CHUNK index beyond count", bad_chunk),
        ("short REQ_VALUE", vec![0x03, 1, 2, 3, 4, 5]),
        ("REQ_VALUE of an unknown blob", with_hash(0x03, b"")),
        ("PRESENCE not JSON", b"\x04not json".to_vec()),
        (
            "PRESENCE without PeerId",
            b"\x04{\"UserName\":\"x\"}".to_vec(),
        ),
        ("PRESENCE array", b"\x04[1,2]".to_vec()),
        ("PRESENCE_LEAVE garbage", b"\x07\xff\xfe".to_vec()),
        (
            "SYNC_REQ with a garbage cursor",
            vec![0x06, 0xde, 0xad, 0xbe, 0xef],
        ),
        (
            "undecodable PATCH",
            vec![0x01, 0xff, 0x00, 0x13, 0x37, 0x42],
        ),
    ];
    let mut raw = RawClient::connect(&server, &token("raw", Scope::Write)).await;
    assert!(raw.send_text("a text message").await);
    let mut labels = BTreeSet::new();
    for (round, (what, frame)) in frames.into_iter().enumerate() {
        let patch = frame.first() == Some(&0x01);
        assert!(
            raw.send(frame).await,
            "{what}: the raw client lost its connection"
        );
        if patch && mode == Mode::Durable {
            // The replica cannot apply it: the sender is closed with 1007, nothing relayed.
            assert_eq!(raw.closed().await, 1007, "{what}");
        }
        let from_a = format!("a after {what}");
        let from_b = format!("b after {what} ({round})");
        a.add(&from_a).await;
        b.add(&from_b).await;
        b.until_label(&from_a).await;
        a.until_label(&from_b).await;
        labels.insert(from_a);
        labels.insert(from_b);
    }

    // An oversized frame closes that client with 1009; the peers do not notice.
    let mut big = RawClient::connect(&server, &token("big", Scope::Write)).await;
    let mut oversized = vec![0x7f];
    oversized.resize(FRAME_LIMIT + 1, 0xab);
    big.send(oversized).await;
    assert_eq!(big.closed().await, 1009);
    a.add("after the oversized frame").await;
    labels.insert("after the oversized frame".into());
    until_converged(&mut [&mut a, &mut b], &labels).await;
    for peer in [&a, &b] {
        assert_eq!(peer.connection_state().await, ConnectionState::Connected);
    }
    a.stop().await;
    b.stop().await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 9. Server restart
// ---------------------------------------------------------------------------------------------

/// The durable server is stopped gracefully mid-session and started again on the same data
/// directory. First a verification instance on another port — the peers cannot reach it, so
/// everything it has comes from the data directory — shows that nothing acknowledged was
/// lost; then the server returns on its old port, the peers reconnect by themselves, upload
/// what they wrote during the outage and converge.
async fn a_durable_server_restarts_mid_session_without_losing_anything<B: TestBackend>() {
    let dir = temp_dir();
    let data = dir.path().join("server");
    let server = TestServer::start(server_config::<B>(Mode::Durable, &data)).await;
    let address = server.address;
    let mut a = Peer::<B>::start("a", dir.path()).await;
    let mut b = Peer::<B>::start("b", dir.path()).await;
    a.join(&server.url()).await;
    b.join(&server.url()).await;
    let mut before = BTreeSet::new();
    for n in 0..5 {
        let (from_a, from_b) = (format!("a before {n}"), format!("b before {n}"));
        tokio::join!(a.add(&from_a), b.add(&from_b));
        before.insert(from_a);
        before.insert(from_b);
    }
    // Converged through the server: it committed every patch before relaying it.
    until_converged(&mut [&mut a, &mut b], &before).await;

    server.stop().await;
    a.until_disconnected().await;
    b.until_disconnected().await;
    a.add("a during the outage").await;
    b.add("b during the outage").await;
    // A blob written during the outage joins the pending uploads, sent after reconnection.
    let blob = Arc::new(noise(200 * 1024, 13));
    let written = blob.to_vec();
    a.handle()
        .transact(move |s| {
            let id = s.new_item_at(None, ROOT_ID, None)?;
            s.set_label(&id, "a blob during the outage")?;
            s.write_value(&id, written)
        })
        .await
        .unwrap();
    let has_blob = move |engine: &sds_sync::Engine<B>| {
        matches!(value_of(engine.store(), "a blob during the outage"),
            Some(Value::Bytes(bytes)) if bytes == *blob)
        .then_some(())
    };

    let witness_server = TestServer::start(server_config::<B>(Mode::Durable, &data)).await;
    let mut witness = Peer::<B>::start("witness", dir.path()).await;
    witness.join(&witness_server.url()).await;
    witness.until_labels(&before).await;
    let seen = witness.labels().await;
    assert!(!seen.contains("a during the outage") && !seen.contains("b during the outage"));
    witness.stop().await;
    witness_server.stop().await;

    let server = TestServer::start_at(address, server_config::<B>(Mode::Durable, &data)).await;
    a.until_connected().await;
    b.until_connected().await;
    let mut all = before.clone();
    all.insert("a during the outage".into());
    all.insert("b during the outage".into());
    all.insert("a blob during the outage".into());
    until_converged(&mut [&mut a, &mut b], &all).await;
    b.until("the blob written during the outage", has_blob.clone())
        .await;
    a.stop().await;
    b.stop().await;
    server.until_room_empty().await;

    // And the server has it all, the blob included.
    let mut late = Peer::<B>::start("late", dir.path()).await;
    late.join(&server.url()).await;
    late.until_labels(&all).await;
    late.until("the blob from the server", has_blob).await;
    late.stop().await;
    server.stop().await;
}

/// Like the graceful restart, with the server process SIGKILLed (no shutdown, no
/// checkpoint): every patch it relayed had been committed, so a verification instance on the
/// data directory has them all; restarted on its old port, the peers come back by themselves
/// and converge.
async fn a_killed_durable_server_restarts_without_losing_anything<B: TestBackend>() {
    let dir = temp_dir();
    let data = dir.path().join("server");
    let server = ChildServer::start::<B>(&data, 0).await;
    let url = server.url();
    let mut a = Peer::<B>::start("a", dir.path()).await;
    let mut b = Peer::<B>::start("b", dir.path()).await;
    a.join(&url).await;
    b.join(&url).await;
    let mut before = BTreeSet::new();
    for n in 0..5 {
        let (from_a, from_b) = (format!("a before {n}"), format!("b before {n}"));
        tokio::join!(a.add(&from_a), b.add(&from_b));
        before.insert(from_a);
        before.insert(from_b);
    }
    let blob = Arc::new(noise(300 * 1024, 9));
    let written = blob.to_vec();
    a.handle()
        .transact(move |s| {
            let id = s.new_item_at(None, ROOT_ID, None)?;
            s.set_label(&id, "a blob before")?;
            s.write_value(&id, written)
        })
        .await
        .unwrap();
    before.insert("a blob before".into());
    let has_blob = {
        let blob = blob.clone();
        move |engine: &sds_sync::Engine<B>| {
            matches!(value_of(engine.store(), "a blob before"),
                Some(Value::Bytes(bytes)) if bytes == *blob)
            .then_some(())
        }
    };
    b.until("the blob", has_blob.clone()).await;
    // The server handles one connection's frames in order and stores a blob before it reads
    // the next frame: once this later patch is relayed, the blob is in the server's file.
    a.add("a after the blob").await;
    before.insert("a after the blob".into());
    until_converged(&mut [&mut a, &mut b], &before).await;

    let port = server.address.port();
    server.kill();
    a.until_disconnected().await;
    b.until_disconnected().await;
    a.add("a during the outage").await;
    b.add("b during the outage").await;

    // Only the data directory can answer the witness.
    let witness_server = ChildServer::start::<B>(&data, 0).await;
    let mut witness = Peer::<B>::start("witness", dir.path()).await;
    witness.join(&witness_server.url()).await;
    witness.until_labels(&before).await;
    witness
        .until("the blob from the killed server's file", has_blob.clone())
        .await;
    let seen = witness.labels().await;
    assert!(!seen.contains("a during the outage") && !seen.contains("b during the outage"));
    witness.stop().await;
    witness_server.kill();

    let server = ChildServer::start::<B>(&data, port).await;
    a.until_connected().await;
    b.until_connected().await;
    let mut all = before.clone();
    all.insert("a during the outage".into());
    all.insert("b during the outage".into());
    until_converged(&mut [&mut a, &mut b], &all).await;
    a.stop().await;
    b.stop().await;

    // Converged through the replica (in persistent mode the server answers sync requests
    // itself), so a late joiner gets everything from the server alone, the blob included.
    let mut late = Peer::<B>::start("late", dir.path()).await;
    late.join(&server.url()).await;
    late.until_labels(&all).await;
    late.until("the blob from the restarted server", has_blob)
        .await;
    late.stop().await;
    drop(server);
}

/// Regression: the durable server relayed a VALUE / the last VALUE_CHUNK before storing the
/// blob, so a crash in between left the peers with a blob the server never got — and since
/// nobody wanted it any more, nobody sent it again: a late joiner with the writer offline
/// never received it. A raw client in the room SIGKILLs the server the moment the last chunk
/// is relayed to it.
async fn a_blob_relayed_by_a_durable_server_survives_its_kill<B: TestBackend>() {
    let dir = temp_dir();
    let data = dir.path().join("server");
    let server = ChildServer::start::<B>(&data, 0).await;
    let mut writer = Peer::<B>::start("writer", dir.path()).await;
    writer.join(&server.url()).await;
    let mut watcher = RawClient::connect_url(&server.url(), &token("watcher", Scope::Write)).await;
    let blob = Arc::new(noise(2 * 1024 * 1024, 3));
    let written = blob.to_vec();
    writer
        .handle()
        .transact(move |s| {
            let id = s.new_item_at(None, ROOT_ID, None)?;
            s.set_label(&id, "blob")?;
            s.write_value(&id, written)
        })
        .await
        .unwrap();
    loop {
        match watcher.recv().await {
            // VALUE_CHUNK: type, 32 hash bytes, u32 BE index, u32 BE count.
            Received::Binary(frame) if frame[0] == 0x05 && frame.len() >= 41 => {
                let index = u32::from_be_bytes(frame[33..37].try_into().unwrap());
                let count = u32::from_be_bytes(frame[37..41].try_into().unwrap());
                if index + 1 == count {
                    break;
                }
            }
            Received::Binary(_) => {}
            other => panic!("the watcher lost the connection: {other:?}"),
        }
    }
    server.kill();
    writer.stop().await;

    let server = ChildServer::start::<B>(&data, 0).await;
    let mut late = Peer::<B>::start("late", dir.path()).await;
    late.join(&server.url()).await;
    late.until_label("blob").await;
    late.until("the blob from the restarted server", move |engine| {
        matches!(value_of(engine.store(), "blob"), Some(Value::Bytes(bytes)) if bytes == *blob)
            .then_some(())
    })
    .await;
    late.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Store ids
// ---------------------------------------------------------------------------------------------

/// A store id with a space, a slash, non-ASCII characters and URL delimiters travels
/// percent-encoded (SPEC §12.1): the server decodes it, checks it against the token audience,
/// keeps its own room for it and its replica in a safely named file, from which a late
/// joiner is served.
async fn an_unusual_store_id_works_end_to_end<B: TestBackend>() {
    const ODD: &str = "Team notes/ü 100%?&#=+";
    let dir = temp_dir();
    let data = dir.path().join("server");
    let mut config = server_config::<B>(Mode::Durable, &data);
    config.unload_after = Duration::from_millis(100);
    let server = TestServer::start(config).await;
    let options = |sub: &str| ConnectOptions {
        store_id: ODD.into(),
        ..connect_options(token_for(
            sub,
            ODD,
            Scope::Write,
            sds_server::now_seconds(),
            3_600,
        ))
    };
    let mut a = Peer::<B>::start("a", dir.path()).await;
    let mut b = Peer::<B>::start("b", dir.path()).await;
    let mut other = Peer::<B>::start("other", dir.path()).await;
    for (peer, name) in [(&mut a, "a"), (&mut b, "b")] {
        peer.handle()
            .connect_to(&server.url(), options(name))
            .await
            .unwrap();
        peer.until_connected().await;
    }
    other.join(&server.url()).await;
    assert_eq!(server.server.sync_room_size(ODD), 2);
    assert_eq!(server.server.sync_room_size(STORE), 1);

    a.add("in the odd store").await;
    b.until_label("in the odd store").await;
    other.add("in the shared store").await;
    a.add("odd, later").await;
    b.until_label("odd, later").await;
    assert!(!b.labels().await.contains("in the shared store"));
    assert!(!other.labels().await.contains("in the odd store"));
    a.stop().await;
    b.stop().await;
    other.stop().await;
    server.until_room_of_empty(ODD).await;
    server
        .until_stats("the replicas to be unloaded", |server| {
            server.stats().loaded_replicas == 0
        })
        .await;
    assert!(
        sds_sqlite::store_file_path(&data, ODD).exists(),
        "the replica file of {ODD:?}"
    );

    let mut late = Peer::<B>::start("late", dir.path()).await;
    late.handle()
        .connect_to(&server.url(), options("late"))
        .await
        .unwrap();
    late.until_labels(&set(&["in the odd store", "odd, later"]))
        .await;
    assert!(!late.labels().await.contains("in the shared store"));
    late.stop().await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Chaos
// ---------------------------------------------------------------------------------------------

/// A seeded mix of everything above on a durable server: three peers add and move items,
/// disconnect and reconnect, stop and restart from their files, while the server stops and
/// restarts on its port. Afterwards every peer is back online, all converge on every label
/// ever written, and a late joiner gets them all from the server alone. The seed is printed;
/// `SDS_TEST_SEED=<seed>` reruns a case.
async fn seeded_chaos_on_a_durable_server_converges<B: TestBackend>() {
    chaos::<B>(Stop::Graceful).await;
}

/// The chaos scenario with the server in a child process that is SIGKILLed instead of
/// stopped.
async fn seeded_chaos_on_a_killed_durable_server_converges<B: TestBackend>() {
    chaos::<B>(Stop::Kill).await;
}

/// How the chaos scenario stops its server.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// In-process server, shutdown future.
    Graceful,
    /// Child process, SIGKILL.
    Kill,
}

enum ChaosServer {
    InProcess(TestServer),
    Child(ChildServer),
}

impl ChaosServer {
    /// Starts on `port` (0: any) and returns the server with its address.
    async fn start<B: TestBackend>(how: Stop, data: &std::path::Path, port: u16) -> Self {
        match how {
            Stop::Graceful => {
                let config = server_config::<B>(Mode::Durable, data);
                ChaosServer::InProcess(if port == 0 {
                    TestServer::start(config).await
                } else {
                    TestServer::start_at(([127, 0, 0, 1], port).into(), config).await
                })
            }
            Stop::Kill => ChaosServer::Child(ChildServer::start::<B>(data, port).await),
        }
    }

    fn port(&self) -> u16 {
        match self {
            ChaosServer::InProcess(server) => server.address.port(),
            ChaosServer::Child(server) => server.address.port(),
        }
    }

    async fn stop(self) {
        match self {
            ChaosServer::InProcess(server) => server.stop().await,
            ChaosServer::Child(server) => server.kill(),
        }
    }
}

async fn chaos<B: TestBackend>(how: Stop) {
    use sds_testkit::property::{SeededRng, seed_from_env};
    let seed = seed_from_env();
    let mut rng = SeededRng::new(seed);
    let dir = temp_dir();
    let data = dir.path().join("server");
    let first = ChaosServer::start::<B>(how, &data, 0).await;
    let port = first.port();
    let url = format!("ws://127.0.0.1:{port}");
    let mut server = Some(first);
    let names = ["p0", "p1", "p2"];
    let mut peers = Vec::new();
    for name in names {
        let mut peer = Peer::<B>::start(name, dir.path()).await;
        peer.join(&url).await;
        peers.push(Some(peer));
    }
    let mut online = [true; 3];
    let mut labels = BTreeSet::new();
    let mut ids: Vec<String> = Vec::new();
    let mut plain: Vec<String> = Vec::new();
    let mut blobs: Vec<(String, u64)> = Vec::new();
    let mut log = Vec::new();
    for step in 0..chaos_steps() {
        let i = rng.below(3);
        let roll = rng.below(100);
        let peer = peers[i].as_mut().unwrap();
        match roll {
            0..=34 => {
                let label = format!("step {step} by p{i}");
                let id = peer.add(&label).await;
                ids.push(id.clone());
                plain.push(id);
                labels.insert(label);
                log.push(format!("{step}: p{i} adds"));
            }
            35..=44 => {
                // Info, a literal value or a soft delete of an entry this peer may not know
                // yet (refused then).
                // Items with blobs keep their values, so that the blobs can be checked.
                let Some(id) = rng.pick(&plain).cloned() else {
                    continue;
                };
                let what = rng.below(3);
                let done = peer
                    .handle()
                    .transact(move |s| match what {
                        0 => s.set_info(&id, &format!("k{}", step % 4), json!(step)),
                        1 => s.write_value(&id, format!("text of step {step}").as_str()),
                        _ => s.delete_entry(&id),
                    })
                    .await;
                log.push(format!("{step}: p{i} edits {what} ({})", done.is_ok()));
            }
            45..=54 => {
                let label = format!("blob {step} by p{i}");
                let (written, name) = (noise(40 * 1024, step), label.clone());
                let id = peer
                    .handle()
                    .transact(move |s| {
                        let id = s.new_item_at(None, ROOT_ID, None)?;
                        s.set_label(&id, &name)?;
                        s.write_value(&id, written)?;
                        Ok(id)
                    })
                    .await
                    .unwrap();
                ids.push(id);
                blobs.push((label.clone(), step));
                labels.insert(label);
                log.push(format!("{step}: p{i} writes a blob"));
            }
            55..=67 => {
                let (Some(what), Some(into)) = (rng.pick(&ids).cloned(), rng.pick(&ids).cloned())
                else {
                    continue;
                };
                // Unknown ids (not arrived yet) and cycles are refused: that is fine here.
                let moved = peer
                    .handle()
                    .transact(move |s| s.move_entry_to(&what, &into, None))
                    .await;
                log.push(format!("{step}: p{i} moves ({})", moved.is_ok()));
            }
            68..=79 => {
                if online[i] {
                    peer.handle().disconnect().await.unwrap();
                    log.push(format!("{step}: p{i} disconnects"));
                } else {
                    // Fails with network-failed while the server is down; the provider keeps
                    // trying in the background.
                    let result = peer.connect(&url, token(names[i], Scope::Write)).await;
                    log.push(format!("{step}: p{i} connects ({})", result.is_ok()));
                }
                online[i] = !online[i];
            }
            80..=91 => {
                peers[i].take().unwrap().stop().await;
                let peer = Peer::<B>::start(names[i], dir.path()).await;
                if online[i] {
                    let _ = peer.connect(&url, token(names[i], Scope::Write)).await;
                }
                peers[i] = Some(peer);
                log.push(format!("{step}: p{i} restarts"));
            }
            _ => match server.take() {
                Some(running) => {
                    running.stop().await;
                    log.push(format!("{step}: the server stops"));
                }
                None => {
                    server = Some(ChaosServer::start::<B>(how, &data, port).await);
                    log.push(format!("{step}: the server starts"));
                }
            },
        }
    }
    eprintln!("seed {seed}: {log:?}");

    // Heal: the server runs, every peer is online.
    let server = match server {
        Some(server) => server,
        None => ChaosServer::start::<B>(how, &data, port).await,
    };
    let mut peers: Vec<Peer<B>> = peers.into_iter().map(Option::unwrap).collect();
    for (i, peer) in peers.iter_mut().enumerate() {
        if !online[i] {
            peer.connect(&url, token(names[i], Scope::Write))
                .await
                .unwrap_or_else(|e| panic!("seed {seed}: p{i} connects: {e}"));
        }
        peer.until_connected().await;
    }
    // A blob requested while its only holder was away (or whose frames were cut off by a
    // server stop) is requested again after 30 s (SPEC §13.6) or after a reconnection of the
    // peer that wants it. Once everybody knows every reference, each peer in turn reconnects
    // and gets every blob while the holders stay online (a holder that reconnects drops the
    // answers it was about to send, so one at a time).
    for peer in &mut peers {
        peer.until_labels(&labels).await;
    }
    let blobs = Arc::new(blobs);
    let all_blobs = move |engine: &sds_sync::Engine<B>| {
        blobs
            .iter()
            .all(|(label, seed)| {
                matches!(value_of(engine.store(), label),
                    Some(Value::Bytes(bytes)) if bytes == noise(40 * 1024, *seed))
            })
            .then_some(())
    };
    for peer in &mut peers {
        peer.handle().reconnect().await.unwrap();
        peer.until_connected().await;
        peer.until("every blob", all_blobs.clone()).await;
    }
    let mut refs: Vec<&mut Peer<B>> = peers.iter_mut().collect();
    until_converged(&mut refs, &labels).await;
    // A last patch of every peer, seen by the others: the server handles a connection's
    // frames in order, so every blob a peer sent before is stored by now.
    for (i, peer) in peers.iter().enumerate() {
        let label = format!("last of p{i}");
        peer.add(&label).await;
        labels.insert(label);
    }
    let mut refs: Vec<&mut Peer<B>> = peers.iter_mut().collect();
    until_converged(&mut refs, &labels).await;
    for peer in peers {
        peer.stop().await;
    }
    let mut late = Peer::<B>::start("late", dir.path()).await;
    late.join(&url).await;
    late.until_labels(&labels).await;
    late.until("every blob from the server", all_blobs).await;
    late.stop().await;
    server.stop().await;
}

/// Steps of the chaos scenario: `SDS_CHAOS_STEPS` or 40.
fn chaos_steps() -> u64 {
    std::env::var("SDS_CHAOS_STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40)
}

/// Regression: a blob written by one run and not sent before it stopped is uploaded by the
/// next run (the pending upload is kept in the store file), so a late joiner gets it from the
/// durable server with the writer gone.
async fn a_blob_written_before_a_restart_reaches_the_durable_server<B: TestBackend>() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(server_config::<B>(
        Mode::Durable,
        &dir.path().join("server"),
    ))
    .await;
    let a = Peer::<B>::start("a", dir.path()).await;
    let blob = Arc::new(noise(64 * 1024, 1));
    let written = blob.to_vec();
    a.handle()
        .transact(move |s| {
            let id = s.new_item_at(None, ROOT_ID, None)?;
            s.set_label(&id, "offline blob")?;
            s.write_value(&id, written)
        })
        .await
        .unwrap();
    a.stop().await;
    let mut a = Peer::<B>::start("a", dir.path()).await;
    a.join(&server.url()).await;
    a.add("marker").await;
    a.stop().await;
    server.until_room_empty().await;
    let mut late = Peer::<B>::start("late", dir.path()).await;
    late.join(&server.url()).await;
    late.until_label("marker").await;
    late.until("the offline blob", move |e| {
        matches!(value_of(e.store(), "offline blob"), Some(Value::Bytes(b)) if b == *blob)
            .then_some(())
    })
    .await;
}
