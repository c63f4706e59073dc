//! The driver with a network provider (SPEC §12.7, §12.9, §13.9), over the in-memory relay.

use sds_core::{ErrorCode, MemoryPersistence, ROOT_ID};
use sds_sync::{
    ConnectOptions, ConnectionState, DriverEvent, Engine, EngineEvent, EngineHandle, EngineOptions,
    EventReceiver, MemoryRelay, PresenceOrigin, SyncError,
};
use sds_yrs::YrsBackend;
use serde_json::{Map, json};
use std::time::Duration;
use tokio::sync::mpsc;

fn engine() -> Engine<YrsBackend> {
    Engine::start(
        Some(Box::new(MemoryPersistence::new("s"))),
        EngineOptions::default(),
        sds_sync::driver::now_ms(),
    )
    .unwrap()
}

fn options() -> ConnectOptions {
    ConnectOptions {
        store_id: "s".into(),
        token: "token".into(),
        backoff: Default::default(),
    }
}

/// Waits (bounded) for the first event matching `wanted`.
async fn wait_for(
    events: &mut EventReceiver,
    wanted: impl Fn(&DriverEvent) -> bool,
) -> DriverEvent {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = events.recv().await.expect("the driver ended");
            if wanted(&event) {
                return event;
            }
        }
    })
    .await
    .expect("the expected event did not arrive")
}

/// A channel that receives the id of every entry created remotely in the handle's store.
async fn watch_existence(handle: &EngineHandle<YrsBackend>) -> mpsc::UnboundedReceiver<String> {
    let (sender, receiver) = mpsc::unbounded_channel();
    handle
        .run(move |engine| {
            engine.store_mut().on_change_invoke(move |_, _, changes| {
                for (id, properties) in changes.iter() {
                    if properties.contains(&sds_core::Property::Existence) {
                        let _ = sender.send(id.to_owned());
                    }
                }
            });
        })
        .await
        .unwrap();
    receiver
}

#[tokio::test]
async fn two_engines_sync_and_see_each_other_through_a_relay() {
    let relay = MemoryRelay::new();
    let (a, mut a_events) =
        EngineHandle::spawn_with_network(engine(), Box::new(relay.provider())).unwrap();
    let (b, mut b_events) =
        EngineHandle::spawn_with_network(engine(), Box::new(relay.provider())).unwrap();
    let mut b_created = watch_existence(&b).await;
    assert_eq!(
        a.connection_state().await.unwrap(),
        ConnectionState::Disconnected
    );
    a.connect_to("ws://relay.invalid", options()).await.unwrap();
    b.connect_to("ws://relay.invalid/", options())
        .await
        .unwrap();
    assert_eq!(
        a.connection_state().await.unwrap(),
        ConnectionState::Connected
    );
    wait_for(&mut a_events, |e| {
        matches!(e, DriverEvent::Connection(ConnectionState::Connected))
    })
    .await;

    let id = a
        .transact(|s| s.new_item_at(None, ROOT_ID, None))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(created) = b_created.recv().await {
            if created == id {
                return;
            }
        }
    })
    .await
    .expect("the new item reached b");

    let mut state = Map::new();
    state.insert("UserName".into(), json!("Ada"));
    a.set_presence_to(state).await.unwrap();
    let a_id = a.run(|e| e.peer_id().to_owned()).await.unwrap();
    wait_for(&mut b_events, |e| {
        matches!(
            e,
            DriverEvent::Engine(EngineEvent::PresenceChanged {
                origin: PresenceOrigin::Remote,
                state: Some(_),
                ..
            })
        )
    })
    .await;
    assert_eq!(
        b.peer_set().await.unwrap()[&a_id].state["UserName"],
        json!("Ada")
    );

    // Stopping a sends PRESENCE_LEAVE: b drops it at once.
    a.stop().await.unwrap();
    wait_for(&mut b_events, |e| {
        matches!(
            e,
            DriverEvent::Engine(EngineEvent::PresenceChanged { state: None, .. })
        )
    })
    .await;
    assert!(b.peer_set().await.unwrap().is_empty());
    b.stop().await.unwrap();
    assert_eq!(relay.connected(), 0);
}

#[tokio::test]
async fn network_controls_report_the_documented_errors() {
    let (local, _) = EngineHandle::spawn(engine()).unwrap();
    let code = |r: Result<(), SyncError>| r.unwrap_err().code();
    assert_eq!(
        code(local.connect_to("ws://x", options()).await),
        ErrorCode::NoNetworkProvider
    );
    assert_eq!(code(local.disconnect().await), ErrorCode::NoNetworkProvider);
    assert_eq!(code(local.reconnect().await), ErrorCode::NoNetworkProvider);
    local.stop().await.unwrap();

    let relay = MemoryRelay::new();
    let (net, mut events) =
        EngineHandle::spawn_with_network(engine(), Box::new(relay.provider())).unwrap();
    assert_eq!(code(net.reconnect().await), ErrorCode::NotYetConnected);
    assert_eq!(
        code(net.connect_to("http://x", options()).await),
        ErrorCode::InvalidArgument
    );
    net.connect_to("wss://x", options()).await.unwrap();
    net.disconnect().await.unwrap();
    assert_eq!(
        net.connection_state().await.unwrap(),
        ConnectionState::Disconnected
    );
    assert_eq!(relay.connected(), 0);
    net.reconnect().await.unwrap();
    assert_eq!(relay.connected(), 1);
    wait_for(&mut events, |e| {
        matches!(e, DriverEvent::Connection(ConnectionState::Connected))
    })
    .await;
    net.stop().await.unwrap();
}
