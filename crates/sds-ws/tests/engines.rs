//! Two engine drivers with WebSocket providers converge through a relay on 127.0.0.1.

mod support;

use sds_core::{ErrorCode, MemoryPersistence, ROOT_ID};
use sds_sync::{
    Backoff, ConnectOptions, ConnectionState, DriverEvent, Engine, EngineHandle, EngineOptions,
    EventReceiver,
};
use sds_ws::{WsOptions, WsProvider};
use sds_yrs::YrsBackend;
use support::{Mode, PATIENCE, TestServer};
use tokio::sync::mpsc;

fn engine() -> Engine<YrsBackend> {
    Engine::start(
        Some(Box::new(MemoryPersistence::new("shared"))),
        EngineOptions::default(),
        sds_sync::driver::now_ms(),
    )
    .unwrap()
}

fn options() -> ConnectOptions {
    ConnectOptions {
        store_id: "shared".into(),
        token: "token".into(),
        backoff: Backoff::default(),
    }
}

/// A channel that wakes up whenever the handle's store changes.
async fn watch(handle: &EngineHandle<YrsBackend>) -> mpsc::UnboundedReceiver<()> {
    let (sender, receiver) = mpsc::unbounded_channel();
    handle
        .run(move |engine| {
            engine.store_mut().on_change_invoke(move |_, _, _| {
                let _ = sender.send(());
            });
        })
        .await
        .unwrap();
    receiver
}

async fn label_of(handle: &EngineHandle<YrsBackend>, id: &str) -> Option<String> {
    let id = id.to_owned();
    handle
        .run(move |engine| engine.store().entry(&id).map(|e| e.label().to_owned()))
        .await
        .unwrap()
}

/// Waits until the entry `id` of `handle` has the label `wanted`.
async fn until_label(
    handle: &EngineHandle<YrsBackend>,
    changes: &mut mpsc::UnboundedReceiver<()>,
    id: &str,
    wanted: &str,
) {
    tokio::time::timeout(PATIENCE, async {
        while label_of(handle, id).await.as_deref() != Some(wanted) {
            changes.recv().await.expect("the engine stopped");
        }
    })
    .await
    .unwrap_or_else(|_| panic!("'{wanted}' did not arrive"));
}

async fn until_connected(events: &mut EventReceiver) {
    tokio::time::timeout(PATIENCE, async {
        while let Some(event) = events.recv().await {
            if matches!(event, DriverEvent::Connection(ConnectionState::Connected)) {
                return;
            }
        }
    })
    .await
    .expect("connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_converge_through_a_websocket_relay() {
    let server = TestServer::start(Mode::Accept).await;
    let (a, mut a_events) =
        EngineHandle::spawn_with_network(engine(), Box::new(WsProvider::from_current())).unwrap();
    let (b, mut b_events) =
        EngineHandle::spawn_with_network(engine(), Box::new(WsProvider::from_current())).unwrap();
    let mut a_changes = watch(&a).await;
    let mut b_changes = watch(&b).await;

    // Written before connecting: the first connection uploads it.
    let early = a
        .transact(|s| {
            let id = s.new_item_at(None, ROOT_ID, None)?;
            s.set_label(&id, "written offline")?;
            Ok(id)
        })
        .await
        .unwrap();
    a.connect_to(&server.base(), options()).await.unwrap();
    b.connect_to(&format!("{}/", server.base()), options())
        .await
        .unwrap();
    until_connected(&mut a_events).await;
    until_connected(&mut b_events).await;
    assert_eq!(
        a.connection_state().await.unwrap(),
        ConnectionState::Connected
    );

    let from_b = b
        .transact(|s| {
            let id = s.new_item_at(None, ROOT_ID, None)?;
            s.set_label(&id, "from b")?;
            Ok(id)
        })
        .await
        .unwrap();
    until_label(&a, &mut a_changes, &from_b, "from b").await;
    until_label(&b, &mut b_changes, &early, "written offline").await;

    // Concurrent edits of one label settle on the same text on both sides.
    let edit_a = a.transact({
        let id = from_b.clone();
        move |s| s.set_label(&id, "edited by a")
    });
    let edit_b = b.transact({
        let id = from_b.clone();
        move |s| s.set_label(&id, "edited by b")
    });
    let (edited_a, edited_b) = tokio::join!(edit_a, edit_b);
    edited_a.unwrap();
    edited_b.unwrap();
    let settled = tokio::time::timeout(PATIENCE, async {
        loop {
            let (left, right) = tokio::join!(label_of(&a, &from_b), label_of(&b, &from_b));
            if left == right {
                return left;
            }
            tokio::select! {
                _ = a_changes.recv() => {}
                _ = b_changes.recv() => {}
            }
        }
    })
    .await
    .expect("the labels converge");
    // Labels are collaborative text: concurrent rewrites merge, they do not overwrite.
    let settled = settled.expect("the entry exists on both sides");
    assert!(
        settled.contains("edited by"),
        "both sides hold the merged label: {settled:?}"
    );

    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_to_reports_refused_tokens_and_failed_first_attempts() {
    let quick = ConnectOptions {
        backoff: Backoff {
            initial_ms: 20,
            max_ms: 200,
            jitter: 0.1,
        },
        ..options()
    };

    // A refused token fails `connect_to` itself and nothing is retried.
    let mut server = TestServer::start(Mode::Close(4001, "Unauthorized")).await;
    // The close follows the upgrade at once; a long grace keeps a busy machine from reporting
    // `connected` first (the close ends the wait anyway).
    let patient = WsOptions {
        auth_grace: std::time::Duration::from_secs(2),
        ..WsOptions::default()
    };
    let provider = WsProvider::with_options(tokio::runtime::Handle::current(), patient);
    let (refused, mut events) =
        EngineHandle::spawn_with_network(engine(), Box::new(provider)).unwrap();
    let error = refused
        .connect_to(&server.base(), quick.clone())
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::AuthFailed);
    assert!(error.to_string().contains("4001"), "{error}");
    let refusal = tokio::time::timeout(PATIENCE, async {
        while let Some(event) = events.recv().await {
            if let DriverEvent::AuthFailed { code, reason } = event {
                return (code, reason);
            }
        }
        panic!("the driver ended");
    })
    .await
    .expect("the refusal is reported as an event");
    assert_eq!(refusal, (4001, "Unauthorized".to_owned()));
    server.next_attempt().await;
    server
        .assert_no_attempt_within(std::time::Duration::from_millis(5 * 220))
        .await;
    refused.stop().await.unwrap();

    // A failed first attempt fails `connect_to`; the provider keeps trying and gets through
    // once the server accepts.
    server.set_mode(Mode::Refuse);
    let (retrying, mut events) =
        EngineHandle::spawn_with_network(engine(), Box::new(WsProvider::from_current())).unwrap();
    let error = retrying
        .connect_to(&server.base(), quick)
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::NetworkFailed);
    server.next_attempt().await;
    server.set_mode(Mode::Accept);
    until_connected(&mut events).await;
    assert_eq!(
        retrying.connection_state().await.unwrap(),
        ConnectionState::Connected
    );
    retrying.stop().await.unwrap();
}
