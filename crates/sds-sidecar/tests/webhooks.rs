//! The sidecar in process against a real sds-server, a peer that makes changes and a webhook
//! receiver: triggers, scope, payload, headers, retries and authentication errors.

mod support;

use sds_core::{NewBackend, TRASH_ID};
use sds_loro::LoroBackend;
use sds_sidecar::{BackendChoice, Outbox, Outcome, Scope, SidecarEvent, Webhook};
use sds_yrs::YrsBackend;
use serde_json::json;
use std::collections::BTreeSet;
use support::*;

/// Collects the requests caused by the changes made so far: the peer creates a fence item,
/// and everything up to the `/all` request that reports it is returned (requests reporting
/// earlier fences are left out). Needs the last webhook to be `/all` with `change`.
async fn until_fence<B: NewBackend + Send + 'static>(
    peer: &Peer<B>,
    receiver: &mut Receiver,
    fences: &mut BTreeSet<String>,
) -> Vec<(String, Vec<String>)> {
    let fence = peer.item(ROOT, None, "fence").await;
    fences.insert(fence.clone());
    let mut seen = Vec::new();
    loop {
        let hook = receiver.next().await;
        let entries = hook.entries();
        if entries.iter().any(|id| fences.contains(id)) {
            if hook.path == "/all" && entries.contains(&fence) {
                return seen;
            }
            continue;
        }
        seen.push((hook.path, entries));
    }
}

fn sorted(mut list: Vec<(String, Vec<String>)>) -> Vec<(String, Vec<String>)> {
    list.sort();
    list
}

fn hit(path: &str, ids: &[&String]) -> (String, Vec<String>) {
    (path.to_owned(), ids.iter().map(|s| (*s).clone()).collect())
}

async fn triggers_fire_for_the_right_entries<B: NewBackend + Send + 'static>(
    backend: BackendChoice,
) {
    let server = TestServer::start().await;
    let mut receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let peer = Peer::<B>::connect(&server, "triggers").await;
    // The structure first, so that the scoped webhook can name its watched folder.
    let folder = peer.item(ROOT, None, "folder").await;
    let child = peer.item(&folder, None, "child").await;
    let grandchild = peer.item(&child, None, "grandchild").await;
    let other = peer.item(ROOT, None, "other").await;
    let picture = peer.item(ROOT, Some("image/png"), "picture").await;

    let mut scoped = webhook(receiver.url("/scoped"), &["change"]);
    scoped.scope = Scope {
        watch: Some(folder.clone()),
        max_depth: Some(1),
    };
    // `/all` last: the fence's `/all` request is then the last one of its change set.
    let webhooks: Vec<Webhook> = vec![
        webhook(receiver.url("/create"), &["create"]),
        webhook(receiver.url("/delete"), &["delete"]),
        webhook(receiver.url("/value"), &["value", "value:IMAGE/*"]),
        webhook(receiver.url("/info"), &["info:status=done"]),
        scoped,
        webhook(receiver.url("/all"), &["change"]),
    ];
    let sidecar =
        Sidecar::connected(config(&server, "triggers", dir.path(), backend, webhooks)).await;
    let mut fences = BTreeSet::new();
    // Whatever the first synchronisation reported is not under test.
    until_fence(&peer, &mut receiver, &mut fences).await;

    // A label edit: `change` for that entry only.
    let id = other.clone();
    peer.change(move |s| s.set_label(&id, "renamed")).await;
    assert_eq!(
        until_fence(&peer, &mut receiver, &mut fences).await,
        vec![hit("/all", &[&other])]
    );

    // Inside the watched folder at depth 1 and 2.
    let id = child.clone();
    peer.change(move |s| s.set_label(&id, "child renamed"))
        .await;
    assert_eq!(
        sorted(until_fence(&peer, &mut receiver, &mut fences).await),
        vec![hit("/all", &[&child]), hit("/scoped", &[&child])]
    );
    let id = grandchild.clone();
    peer.change(move |s| s.set_label(&id, "too deep")).await;
    assert_eq!(
        until_fence(&peer, &mut receiver, &mut fences).await,
        vec![hit("/all", &[&grandchild])]
    );

    // Values: `value` for both, `value:IMAGE/*` only for the picture.
    let id = picture.clone();
    peer.change(move |s| s.write_value(&id, vec![1u8, 2, 3]))
        .await;
    let got = until_fence(&peer, &mut receiver, &mut fences).await;
    assert_eq!(
        sorted(got),
        vec![
            hit("/all", &[&picture]),
            hit("/value", &[&picture]),
            hit("/value", &[&picture]),
        ]
    );
    let id = other.clone();
    peer.change(move |s| s.write_value(&id, "plain text")).await;
    assert_eq!(
        sorted(until_fence(&peer, &mut receiver, &mut fences).await),
        vec![hit("/all", &[&other]), hit("/value", &[&other])]
    );

    // Info: only the matching value fires.
    let id = other.clone();
    peer.change(move |s| s.set_info(&id, "status", json!("todo")))
        .await;
    assert_eq!(
        until_fence(&peer, &mut receiver, &mut fences).await,
        vec![hit("/all", &[&other])]
    );
    let id = other.clone();
    peer.change(move |s| s.set_info(&id, "status", json!("done")))
        .await;
    assert_eq!(
        sorted(until_fence(&peer, &mut receiver, &mut fences).await),
        vec![hit("/all", &[&other]), hit("/info", &[&other])]
    );

    // Creation inside the watched folder: `create` and the scoped `change` (with the folder,
    // whose child list changed).
    let container = folder.clone();
    let created = peer
        .change(move |s| s.new_item_at(None, &container, None))
        .await;
    let got = sorted(until_fence(&peer, &mut receiver, &mut fences).await);
    assert!(got.contains(&hit("/create", &[&created])), "{got:?}");
    let scoped: Vec<_> = got.iter().filter(|(path, _)| path == "/scoped").collect();
    assert_eq!(scoped.len(), 1, "{got:?}");
    assert_eq!(
        scoped[0].1.iter().collect::<BTreeSet<_>>(),
        BTreeSet::from([&created, &folder])
    );
    assert!(!got.iter().any(|(path, _)| path == "/delete"), "{got:?}");

    // Deletion: `delete`, not `create`.
    let id = other.clone();
    peer.change(move |s| s.delete_entry(&id)).await;
    let got = until_fence(&peer, &mut receiver, &mut fences).await;
    assert!(got.contains(&hit("/delete", &[&other])), "{got:?}");
    assert!(!got.iter().any(|(path, _)| path == "/create"), "{got:?}");
    let all: Vec<_> = got.iter().filter(|(path, _)| path == "/all").collect();
    assert_eq!(all.len(), 1, "{got:?}");
    assert!(all[0].1.contains(&other) && all[0].1.contains(&TRASH_ID.to_owned()));

    assert_eq!(sidecar.stop().await, Outcome::Stopped);
    peer.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggers_fire_for_the_right_entries_yrs() {
    triggers_fire_for_the_right_entries::<YrsBackend>(BackendChoice::Yrs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggers_fire_for_the_right_entries_loro() {
    triggers_fire_for_the_right_entries::<LoroBackend>(BackendChoice::Loro).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_and_headers_carry_the_bearer_and_a_verifiable_signature() {
    let server = TestServer::start().await;
    let mut receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let peer = Peer::<YrsBackend>::connect(&server, "payload").await;
    let mut hook = webhook(receiver.url("/hook?x=1"), &["create"]);
    hook.topic = Some("my-topic".into());
    let mut config = config(
        &server,
        "payload",
        dir.path(),
        BackendChoice::Yrs,
        vec![hook],
    );
    config.webhook_token = Some("hook-token".into());
    config.webhook_secret = Some("hook-secret".into());
    let mut sidecar = Sidecar::connected(config).await;
    sidecar.barrier(&peer).await;

    let before = sds_sync::driver::now_ms();
    let id = peer.item(ROOT, None, "signed").await;
    let got = loop {
        let hook = receiver.next().await;
        if hook.entries().contains(&id) {
            break hook;
        }
    };
    assert_eq!(got.path, "/hook");
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert_eq!(got.header("authorization"), Some("Bearer hook-token"));
    assert!(uuid::Uuid::parse_str(&got.event_id()).is_ok());
    assert_eq!(
        got.header("x-sds-signature").unwrap(),
        sds_sidecar::signature("hook-secret", &got.raw)
    );
    assert_ne!(
        got.header("x-sds-signature").unwrap(),
        sds_sidecar::signature("another secret", &got.raw)
    );
    assert_eq!(got.body["StoreId"], "payload");
    assert_eq!(got.body["Trigger"], "create");
    assert_eq!(got.body["Topic"], "my-topic");
    assert_eq!(got.entries(), vec![id]);
    let timestamp = got.body["Timestamp"].as_str().unwrap();
    assert_eq!(timestamp.len(), "2026-03-01T12:00:00.000Z".len());
    assert!(timestamp.ends_with('Z'));
    assert!(timestamp >= sds_sidecar::iso_timestamp(before).as_str());

    sidecar.stop().await;
    peer.stop().await;
    server.stop().await;
}

/// Waits until every event of `ids` was attempted at least `attempts` times without success.
async fn until_failed(sidecar: &mut Sidecar, ids: &BTreeSet<String>, attempts: u32) {
    let mut failed = BTreeSet::new();
    within("failed attempts", async {
        while failed.len() < ids.len() {
            if let SidecarEvent::AttemptFailed {
                event_id,
                attempts: n,
            } = sidecar.events.recv().await.unwrap()
                && n >= attempts
                && ids.contains(&event_id)
            {
                failed.insert(event_id);
            }
        }
    })
    .await;
}

/// Waits until `count` events were enqueued; returns their ids in order.
async fn enqueued(sidecar: &mut Sidecar, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    within("enqueued events", async {
        while ids.len() < count {
            if let SidecarEvent::Enqueued(more) = sidecar.events.recv().await.unwrap() {
                ids.extend(more);
            }
        }
    })
    .await;
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_every_event_later_in_order_with_stable_event_ids() {
    let server = TestServer::start().await;
    let mut receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        &server,
        "retries",
        dir.path(),
        BackendChoice::Yrs,
        vec![webhook(receiver.url("/hook"), &["create"])],
    );
    let mut sidecar = Sidecar::connected(config).await;
    // The peer joins after the sidecar: its first upload (its whole history) reaches the
    // sidecar before any later change, so every change arrives as a change set of its own.
    let peer = Peer::<YrsBackend>::connect(&server, "retries").await;
    let barrier = sidecar.barrier(&peer).await;
    while !receiver.next().await.entries().contains(&barrier) {}
    receiver.answer_with(500);

    let mut created = Vec::new();
    for n in 0..5 {
        created.push(peer.item(ROOT, None, &format!("item {n}")).await);
    }
    // Every event is refused twice, then the receiver recovers.
    let mut hooks: Vec<Hook> = Vec::new();
    while created.iter().any(|id| {
        hooks
            .iter()
            .filter(|h| h.status == 500 && h.entries() == vec![id.clone()])
            .count()
            < 2
    }) {
        hooks.push(receiver.next().await);
    }
    receiver.answer_with(200);
    let mut first_ok: Vec<String> = Vec::new();
    while first_ok.len() < created.len() {
        let hook = receiver.next().await;
        if hook.status == 200 && !first_ok.contains(&hook.entries()[0]) {
            first_ok.push(hook.entries()[0].clone());
        }
        hooks.push(hook);
    }
    assert_eq!(first_ok, created, "every event, in order");
    for id in &created {
        let ids: BTreeSet<String> = hooks
            .iter()
            .filter(|h| h.entries() == vec![id.clone()])
            .map(Hook::event_id)
            .collect();
        assert_eq!(ids.len(), 1, "one event id across retries: {ids:?}");
    }
    // The receiver answered before the sidecar deleted the rows: wait for the deletions.
    let mut pending: BTreeSet<String> = hooks
        .iter()
        .filter(|h| h.status == 200)
        .map(Hook::event_id)
        .collect();
    within("the deliveries to be recorded", async {
        while !pending.is_empty() {
            if let SidecarEvent::Delivered(id) = sidecar.events.recv().await.unwrap() {
                pending.remove(&id);
            }
        }
    })
    .await;

    sidecar.stop().await;
    let outbox = Outbox::open(
        &sds_sqlite::store_file_path(dir.path(), "retries"),
        "retries",
    )
    .unwrap();
    assert_eq!(outbox.rows().unwrap(), vec![], "2xx deletes the rows");
    peer.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_receiver_gets_every_event_in_order_once_it_listens() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    // A port that nobody listens on until the receiver starts there.
    let address = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let mut sidecar = Sidecar::connected(config(
        &server,
        "down",
        dir.path(),
        BackendChoice::Yrs,
        vec![webhook(format!("http://{address}/hook"), &["create"])],
    ))
    .await;
    let peer = Peer::<YrsBackend>::connect(&server, "down").await;
    let mut created = vec![sidecar.barrier(&peer).await];
    for n in 0..4 {
        created.push(peer.item(ROOT, None, &format!("while down {n}")).await);
    }
    enqueued(&mut sidecar, 4).await;
    // The first row has failed twice; the others wait behind it without spending attempts.
    sidecar
        .until(
            "a second failed attempt",
            |e| matches!(e, SidecarEvent::AttemptFailed { attempts, .. } if *attempts >= 2),
        )
        .await;

    let mut receiver = Receiver::start_on(address).await;
    let mut delivered = Vec::new();
    while delivered.len() < created.len() {
        let hook = receiver.next().await;
        if !delivered.contains(&hook.entries()[0]) {
            delivered.push(hook.entries()[0].clone());
        }
    }
    assert_eq!(delivered, created);
    sidecar.stop().await;
    peer.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_are_marked_failed_after_the_maximum_number_of_attempts() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    receiver.answer_with(503);
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(
        &server,
        "give-up",
        dir.path(),
        BackendChoice::Yrs,
        vec![webhook(receiver.url("/hook"), &["create"])],
    );
    config.webhook_max_attempts = 3;
    let mut sidecar = Sidecar::connected(config).await;
    let peer = Peer::<YrsBackend>::connect(&server, "give-up").await;
    sidecar.barrier(&peer).await;
    peer.item(ROOT, None, "never delivered").await;
    let events = enqueued(&mut sidecar, 1).await;
    until_failed(&mut sidecar, &events.iter().cloned().collect(), 3).await;
    sidecar.stop().await;

    let outbox = Outbox::open(
        &sds_sqlite::store_file_path(dir.path(), "give-up"),
        "give-up",
    )
    .unwrap();
    let rows: Vec<_> = outbox
        .rows()
        .unwrap()
        .into_iter()
        .filter(|row| row.event_id == events[0])
        .collect();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].failed);
    assert_eq!(rows[0].attempts, 3);
    assert_eq!(rows[0].event_id, events[0]);
    assert_eq!(
        rows[0].last_error.as_deref(),
        Some("503 Service Unavailable")
    );
    peer.stop().await;
    server.stop().await;
}

async fn auth_error_case(token_store: &str, expected: Outcome) {
    let server = TestServer::start().await;
    let mut receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&server, "guarded", dir.path(), BackendChoice::Yrs, vec![]);
    config.token = token(token_store);
    if token_store == "garbage" {
        config.token = "not-a-jwt".into();
    }
    config.on_auth_error = Some(receiver.url("/auth"));
    config.webhook_token = Some("hook-token".into());
    config.webhook_secret = Some("s".into());
    let sidecar = Sidecar::start(config.clone());
    let outcome = within("the sidecar to end", sidecar.task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome, expected);
    let hook = receiver.next().await;
    assert_eq!(hook.path, "/auth");
    assert_eq!(hook.header("authorization"), Some("Bearer hook-token"));
    assert_eq!(
        hook.header("x-sds-signature").unwrap(),
        sds_sidecar::signature("s", &hook.raw)
    );
    let Outcome::AuthRejected { code, .. } = expected else {
        unreachable!()
    };
    assert_eq!(hook.body["StoreId"], "guarded");
    assert_eq!(hook.body["ServerURL"], config.server_url);
    assert_eq!(hook.body["Code"], code);
    assert_eq!(
        hook.body["Reason"],
        if code == 4003 {
            "Forbidden"
        } else {
            "Unauthorized"
        }
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_posts_the_auth_hook_and_ends_with_4001() {
    let expected = Outcome::AuthRejected {
        code: 4001,
        reason: "Unauthorized".into(),
    };
    assert_eq!(expected.exit_code(), 4);
    auth_error_case("garbage", expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_for_another_store_posts_the_auth_hook_and_ends_with_4003() {
    let expected = Outcome::AuthRejected {
        code: 4003,
        reason: "Forbidden".into(),
    };
    assert_eq!(expected.exit_code(), 6);
    auth_error_case("another-store", expected).await;
}
