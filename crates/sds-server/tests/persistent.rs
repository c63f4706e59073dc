//! Persistent mode (SPEC §14.7, §18.16) on both backends.

mod common;

use common::*;
use sds_core::{NewBackend, Persistence, blob_hash};
use sds_server::{BackendKind, ServerConfig};
use sds_sqlite::{SqliteOptions, SqlitePersistence};
use sds_sync::protocol::Frame;
use std::path::Path;
use std::time::Duration;

const STORE: &str = "durable";

fn persistent_config(dir: &Path, backend: BackendKind) -> ServerConfig {
    let mut config = config();
    config.data_dir = Some(dir.to_owned());
    config.backend = backend;
    config
}

/// A writer: connects and takes the server's initial SYNC_REQ; returns it with the cursor.
async fn writer(server: &TestServer, store: &str) -> (Client, Vec<u8>) {
    let mut client = server.client(store, "write").await;
    let first = client.recv_binary().await;
    assert_eq!(first[0], 0x06, "a new writer is first asked for its state");
    (client, first[1..].to_vec())
}

/// Sends `SYNC_REQ(cursor)` and returns the server's answer (the payload of its PATCH),
/// skipping relayed frames. Frames of one connection are handled in order, so everything
/// the client sent before has been handled when the answer arrives.
async fn sync(client: &mut Client, cursor: &[u8]) -> Vec<u8> {
    let mut request = vec![0x06];
    request.extend_from_slice(cursor);
    client.send(request).await;
    loop {
        let frame = client.recv_binary().await;
        if frame[0] == 0x01 {
            return frame[1..].to_vec();
        }
    }
}

/// The labels of the server's full state, as a late joiner sees them.
async fn labels_on_server<B: NewBackend>(server: &TestServer) -> Vec<String> {
    let mut joiner = server.client(STORE, "read").await;
    let full = sync(&mut joiner, &[]).await;
    let mut doc = Doc::<B>::empty();
    doc.apply(&full);
    doc.labels()
}

fn open_file(dir: &Path) -> SqlitePersistence {
    SqlitePersistence::open(
        sds_sqlite::store_file_path(dir, STORE),
        STORE,
        SqliteOptions {
            read_only: true,
            ..SqliteOptions::default()
        },
    )
    .unwrap()
}

async fn a_patch_is_committed_before_it_is_relayed<B: NewBackend>(backend: BackendKind) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(persistent_config(dir.path(), backend)).await;
    let (mut author, _) = writer(&server, STORE).await;
    let mut observer = server.client(STORE, "read").await;
    let mut doc = Doc::<B>::new();
    let mut patches = vec![doc.full()];
    for i in 0..5 {
        patches.push(doc.add(&format!("item {i}")));
    }
    for patch in &patches {
        author.send(patch_frame(patch)).await;
        assert_eq!(observer.recv_binary().await, patch_frame(patch));
        // Relayed, hence already in the patch log on disk.
        let mut file = open_file(dir.path());
        let logged = file.load_patches_since(0).unwrap();
        assert!(
            logged.iter().any(|(_, bytes)| bytes == patch),
            "the relayed patch is in the database"
        );
    }
    // A patch the replica already contains is not relayed again.
    author.send(patch_frame(&patches[1])).await;
    assert_nothing_received(&mut observer, &mut author, &marker(1)).await;
    drop((author, observer));
    server.stop().await;
}

async fn sync_requests_are_answered_by_the_server_with_a_delta<B: NewBackend>(
    backend: BackendKind,
) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(persistent_config(dir.path(), backend)).await;
    let (mut author, _) = writer(&server, STORE).await;
    let mut other = server.client(STORE, "read").await;
    let mut doc = Doc::<B>::new();
    for i in 0..20 {
        doc.add(&format!("early {i}"));
    }
    let first = doc.full();
    author.send(patch_frame(&first)).await;
    let mut behind = Doc::<B>::empty();
    behind.apply(&first);
    let late = doc.add("late");
    author.send(patch_frame(&late)).await;
    assert_eq!(other.recv_binary().await, patch_frame(&first));
    assert_eq!(other.recv_binary().await, patch_frame(&late));

    let mut requester = server.client(STORE, "read").await;
    let delta = sync(&mut requester, &behind.cursor()).await;
    assert!(
        delta.len() < first.len(),
        "a delta ({} bytes), not the full state ({} bytes)",
        delta.len(),
        first.len()
    );
    behind.apply(&delta);
    assert_eq!(behind.labels(), doc.labels());
    // An empty cursor and one that does not decode get the full state.
    for cursor in [&[][..], b"\xff\xfe not a cursor"] {
        let full = sync(&mut requester, cursor).await;
        let mut fresh = Doc::<B>::empty();
        fresh.apply(&full);
        assert_eq!(fresh.labels(), doc.labels());
    }
    // Sync requests are answered, not relayed.
    assert_nothing_received(&mut other, &mut author, &marker(1)).await;
    assert_nothing_received(&mut author, &mut other, &marker(2)).await;
    drop((author, other, requester));
    server.stop().await;
}

async fn a_late_joiner_gets_the_data_with_nobody_else_online<B: NewBackend>(backend: BackendKind) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(persistent_config(dir.path(), backend)).await;
    let (mut author, _) = writer(&server, STORE).await;
    let mut doc = Doc::<B>::new();
    doc.add("written while alone");
    author.send(patch_frame(&doc.full())).await;
    sync(&mut author, &[]).await;
    author.close().await;
    server
        .wait_for("the author to leave", |s| s.sync_room_size(STORE) == 0)
        .await;
    assert_eq!(labels_on_server::<B>(&server).await, doc.labels());
    server.stop().await;
}

async fn a_new_writer_is_asked_for_what_the_replica_lacks<B: NewBackend>(backend: BackendKind) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(persistent_config(dir.path(), backend)).await;
    let (mut first, _) = writer(&server, STORE).await;
    let mut doc = Doc::<B>::new();
    doc.add("shared");
    first.send(patch_frame(&doc.full())).await;
    sync(&mut first, &[]).await;

    // A second peer has the shared state plus changes made offline.
    let mut offline = Doc::<B>::empty();
    offline.apply(&doc.full());
    offline.add("made offline");
    let (mut second, cursor) = writer(&server, STORE).await;
    assert!(!cursor.is_empty());
    // It answers the server's request with exactly what the replica lacks.
    let answer = offline.store.export_patch(Some(&cursor)).unwrap();
    second.send(patch_frame(&answer)).await;
    assert_eq!(first.recv_binary().await, patch_frame(&answer));
    assert_eq!(labels_on_server::<B>(&server).await, offline.labels());
    // Readers are not asked.
    let mut reader = server.client(STORE, "read").await;
    assert_nothing_received(&mut reader, &mut first, &marker(1)).await;
    drop((first, second, reader));
    server.stop().await;
}

async fn values_are_stored_and_requests_answered_from_the_blob_table<B: NewBackend>(
    backend: BackendKind,
) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(persistent_config(dir.path(), backend)).await;
    let (mut author, _) = writer(&server, STORE).await;
    let mut observer = server.client(STORE, "read").await;
    let small = b"a small value".repeat(10);
    let large: Vec<u8> = (0..1_600_000u32).map(|i| (i % 253) as u8).collect();
    // The document references the large value, as a peer's engine writes it.
    let mut doc = Doc::<B>::new();
    doc.store
        .transact(|s| {
            let id = s.new_item_at(None, sds_core::ROOT_ID, None)?;
            s.write_value(&id, large.clone())
        })
        .unwrap();
    assert!(
        doc.store
            .referenced_value_hashes()
            .contains(&blob_hash(&large))
    );
    author.send(patch_frame(&doc.full())).await;
    assert_eq!(observer.recv_binary().await, patch_frame(&doc.full()));
    let mut sent = Vec::new();
    for blob in [&small, &large] {
        for frame in Frame::for_blob(&blob_hash(blob), blob).unwrap() {
            let bytes = frame.encode();
            author.send(bytes.clone()).await;
            sent.push(bytes);
        }
    }
    assert_eq!(sent.len(), 3, "one VALUE and two chunks");
    for bytes in &sent {
        assert_eq!(&observer.recv_binary().await, bytes, "values are relayed");
    }
    // A value whose bytes do not match its hash is relayed but not stored.
    let forged = Frame::Value {
        hash: sds_core::hash_to_bytes(&blob_hash(b"other")).unwrap(),
        bytes: b"forged".to_vec(),
    }
    .encode();
    author.send(forged.clone()).await;
    assert_eq!(observer.recv_binary().await, forged);
    // A read client's value is neither relayed nor stored.
    let unread = Frame::for_blob(&blob_hash(b"from a reader"), b"from a reader").unwrap();
    observer.send(unread[0].encode()).await;
    sync(&mut author, &[]).await;

    let request = |blob: &[u8]| {
        Frame::RequestValue(sds_core::hash_to_bytes(&blob_hash(blob)).unwrap()).encode()
    };
    let mut requester = server.client(STORE, "read").await;
    requester.send(request(&small)).await;
    assert_eq!(requester.recv_binary().await, sent[0]);
    requester.send(request(&large)).await;
    assert_eq!(requester.recv_binary().await, sent[1]);
    assert_eq!(requester.recv_binary().await, sent[2]);
    // Answered requests are not relayed; requests for blobs the server lacks are.
    assert_nothing_received(&mut observer, &mut author, &marker(1)).await;
    for unknown in [&b"other"[..], b"from a reader"] {
        requester.send(request(unknown)).await;
        assert_eq!(observer.recv_binary().await, request(unknown));
    }
    drop((author, observer, requester));
    server.stop().await;

    // The blobs are in the database: they are still served after a restart.
    let server = TestServer::start(persistent_config(dir.path(), backend)).await;
    let (mut author, _) = writer(&server, STORE).await;
    let mut observer = server.client(STORE, "read").await;
    let mut requester = server.client(STORE, "read").await;
    requester.send(request(&large)).await;
    assert_eq!(requester.recv_binary().await, sent[1]);
    assert_eq!(requester.recv_binary().await, sent[2]);
    requester.send(request(&small)).await;
    assert_eq!(requester.recv_binary().await, sent[0]);
    assert_nothing_received(&mut observer, &mut author, &marker(9)).await;
    drop((author, observer, requester));
    server.stop().await;
}

async fn an_undecodable_patch_closes_with_1007_and_is_not_relayed<B: NewBackend>(
    backend: BackendKind,
) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(persistent_config(dir.path(), backend)).await;
    let (mut good, _) = writer(&server, STORE).await;
    let mut observer = server.client(STORE, "read").await;
    let mut doc = Doc::<B>::new();
    good.send(patch_frame(&doc.full())).await;
    assert_eq!(observer.recv_binary().await, patch_frame(&doc.full()));
    // Garbage, and a real patch of the other backend.
    let foreign = match backend {
        BackendKind::Yrs => Doc::<sds_loro::LoroBackend>::new().full(),
        BackendKind::Loro => Doc::<sds_yrs::YrsBackend>::new().full(),
    };
    for bad in [b"\xffdefinitely not a patch".to_vec(), foreign] {
        let (mut bad_writer, _) = writer(&server, STORE).await;
        bad_writer.send(patch_frame(&bad)).await;
        assert_eq!(bad_writer.closed().await.0, 1007);
        assert_nothing_received(&mut observer, &mut good, &marker(1)).await;
    }
    // The replica is unharmed and the others go on.
    let next = doc.add("after the bad patches");
    good.send(patch_frame(&next)).await;
    assert_eq!(observer.recv_binary().await, patch_frame(&next));
    assert_eq!(labels_on_server::<B>(&server).await, doc.labels());
    drop((good, observer));
    server.stop().await;
}

async fn data_survives_a_restart_and_read_clients_cannot_write<B: NewBackend>(
    backend: BackendKind,
) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(persistent_config(dir.path(), backend)).await;
    let (mut author, _) = writer(&server, STORE).await;
    let mut doc = Doc::<B>::new();
    doc.add("before the restart");
    author.send(patch_frame(&doc.full())).await;
    let mut reader = server.client(STORE, "read").await;
    let mut intruder = Doc::<B>::new();
    intruder.add("written by a reader");
    reader.send(patch_frame(&intruder.full())).await;
    sync(&mut reader, &[]).await;
    sync(&mut author, &[]).await;
    drop((author, reader));
    server.stop().await;
    // Shutdown checkpointed the replica.
    assert!(open_file(dir.path()).load_snapshot().unwrap().is_some());

    let server = TestServer::start(persistent_config(dir.path(), backend)).await;
    assert_eq!(labels_on_server::<B>(&server).await, doc.labels());
    server.stop().await;
}

async fn replicas_unload_after_the_idle_period_and_reload<B: NewBackend>(backend: BackendKind) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = persistent_config(dir.path(), backend);
    config.unload_after = Duration::from_millis(100);
    let server = TestServer::start(config).await;
    let (mut author, _) = writer(&server, STORE).await;
    assert_eq!(server.server.stats().loaded_replicas, 1);
    let mut doc = Doc::<B>::new();
    doc.add("kept across unloading");
    author.send(patch_frame(&doc.full())).await;
    sync(&mut author, &[]).await;
    author.close().await;
    server
        .wait_for("the replica to unload", |s| s.stats().loaded_replicas == 0)
        .await;
    // Unloading checkpointed: a snapshot and an empty patch log.
    let mut file = open_file(dir.path());
    assert!(file.load_snapshot().unwrap().is_some());
    assert!(file.load_patches_since(0).unwrap().is_empty());
    // A new peer is answered at once (possibly from the file while the replica loads); the
    // replica is loaded again for it.
    let mut joiner = server.client(STORE, "read").await;
    let mut rejoined = Doc::<B>::empty();
    rejoined.apply(&sync(&mut joiner, &[]).await);
    assert_eq!(rejoined.labels(), doc.labels());
    server
        .wait_for("the replica to load again", |s| {
            s.stats().loaded_replicas == 1
        })
        .await;
    drop(joiner);
    // A client arriving before the period ends keeps the replica loaded.
    let again = server.client(STORE, "read").await;
    drop(again);
    let _stays = server.client(STORE, "read").await;
    assert_eq!(server.server.stats().loaded_replicas, 1);
    drop(_stays);
    server.stop().await;
}

async fn frames_recorded_from_js_clients_are_relayed_and_applied<B: NewBackend>(
    backend: BackendKind,
) {
    let capture = match backend {
        BackendKind::Yrs => "yjs",
        BackendKind::Loro => "loro",
    };
    let sent_by_clients = |capture: &str| -> Vec<Vec<u8>> {
        js_frames(capture)
            .into_iter()
            .filter(|(name, _)| name.contains("-c2s-"))
            .map(|(_, bytes)| bytes)
            .collect()
    };
    let client_frames = sent_by_clients(capture);
    let patches: Vec<&Vec<u8>> = client_frames.iter().filter(|f| f[0] == 0x01).collect();
    let value_frames = sent_by_clients("value");
    let value = value_frames.iter().find(|f| f[0] == 0x02).unwrap();

    // Pure relay: every frame arrives unchanged.
    let server = TestServer::start(config()).await;
    let mut js = server.client(STORE, "write").await;
    let mut peer = server.client(STORE, "read").await;
    for frame in client_frames.iter().chain(&value_frames) {
        js.send(frame.clone()).await;
        assert_eq!(&peer.recv_binary().await, frame);
    }
    drop((js, peer));
    server.stop().await;

    // Persistent mode on the matching backend: the patches are applied.
    let mut expected = Doc::<B>::empty();
    for frame in &patches {
        expected.apply(&frame[1..]);
    }
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(persistent_config(dir.path(), backend)).await;
    let (mut js, _) = writer(&server, STORE).await;
    let mut peer = server.client(STORE, "read").await;
    for frame in &patches {
        js.send(frame.to_vec()).await;
    }
    sync(&mut js, &[]).await;
    let labels = labels_on_server::<B>(&server).await;
    assert!(!labels.is_empty());
    assert_eq!(labels, expected.labels());
    // The JS VALUE frame with its defective hash is relayed, not stored, and harmless.
    js.send(value.clone()).await;
    loop {
        if &peer.recv_binary().await == value {
            break;
        }
    }
    assert_nothing_received(&mut peer, &mut js, &marker(1)).await;
    drop((js, peer));
    server.stop().await;
}

macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod yrs {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test::<sds_yrs::YrsBackend>(sds_server::BackendKind::Yrs).await;
                }
            )*
        }
        mod loro {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test::<sds_loro::LoroBackend>(sds_server::BackendKind::Loro).await;
                }
            )*
        }
    };
}

on_both_backends!(
    a_patch_is_committed_before_it_is_relayed,
    sync_requests_are_answered_by_the_server_with_a_delta,
    a_late_joiner_gets_the_data_with_nobody_else_online,
    a_new_writer_is_asked_for_what_the_replica_lacks,
    values_are_stored_and_requests_answered_from_the_blob_table,
    an_undecodable_patch_closes_with_1007_and_is_not_relayed,
    data_survives_a_restart_and_read_clients_cannot_write,
    replicas_unload_after_the_idle_period_and_reload,
    frames_recorded_from_js_clients_are_relayed_and_applied,
);

#[tokio::test]
async fn a_store_of_another_backend_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(persistent_config(dir.path(), BackendKind::Loro)).await;
    let (mut author, _) = writer(&server, STORE).await;
    author
        .send(patch_frame(&Doc::<sds_loro::LoroBackend>::new().full()))
        .await;
    sync(&mut author, &[]).await;
    drop(author);
    server.stop().await;

    let server = TestServer::start(persistent_config(dir.path(), BackendKind::Yrs)).await;
    let mut client = server.client(STORE, "write").await;
    assert_eq!(client.refused().await.0, 1011);
    // Other stores are served as usual.
    let (other, _) = writer(&server, "another").await;
    drop((client, other));
    server.stop().await;
}
