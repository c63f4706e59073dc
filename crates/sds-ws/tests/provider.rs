//! The WebSocket provider against a test server on 127.0.0.1 (SPEC §12.1, §12.7–§12.9,
//! §18.14) and the probe of `store ping` (SPEC §15.5).
//!
//! Timing assertions use generous margins: they check the backoff's shape, not the
//! scheduler's punctuality.

mod support;

use sds_sync::protocol::sync_url;
use sds_sync::transport::{Backoff, ConnectionState, NetworkProvider, TransportEvent};
use sds_ws::{ProbeOutcome, WsOptions, WsProvider, probe};
use std::time::Duration;
use support::{Mode, ServerEvent, TestServer, assert_gap_within_backoff, collector};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

const CONNECTING: TransportEvent = TransportEvent::State(ConnectionState::Connecting);
const CONNECTED: TransportEvent = TransportEvent::State(ConnectionState::Connected);
const RECONNECTING: TransportEvent = TransportEvent::State(ConnectionState::Reconnecting);
const DISCONNECTED: TransportEvent = TransportEvent::State(ConnectionState::Disconnected);

fn quick_backoff() -> Backoff {
    Backoff {
        initial_ms: 20,
        max_ms: 200,
        jitter: 0.1,
    }
}

fn url(server: &TestServer) -> String {
    sync_url(&server.base(), "store", "token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_with_encoded_url_moves_binary_messages_both_ways_and_closes_normally() {
    let mut server = TestServer::start(Mode::Accept).await;
    let mut provider = WsProvider::from_current();
    let (sink, mut events) = collector();

    // Sent before any connection: dropped without error.
    provider.send(b"early".to_vec());
    let base = format!("{}/", server.base());
    provider.connect(
        &sync_url(&base, "my store/ü", "a+b/c=?&"),
        quick_backoff(),
        sink,
    );
    assert_eq!(events.next().await, CONNECTING);
    assert_eq!(events.next().await, CONNECTED);
    assert_eq!(provider.state(), ConnectionState::Connected);
    let ServerEvent::Opened { id, target } = server
        .wait_for(|e| matches!(e, ServerEvent::Opened { .. }))
        .await
    else {
        unreachable!()
    };
    assert_eq!(target, "/ws/my%20store%2F%C3%BC?token=a%2Bb%2Fc%3D%3F%26");

    provider.send(vec![0x01, 0xaa, 0xbb]);
    provider.send(vec![0x06]);
    assert_eq!(
        server
            .wait_for(|e| matches!(e, ServerEvent::Received { .. }))
            .await,
        ServerEvent::Received {
            id,
            data: vec![0x01, 0xaa, 0xbb]
        },
        "the first message to arrive is the first one sent while connected"
    );
    assert_eq!(
        server
            .wait_for(|e| matches!(e, ServerEvent::Received { .. }))
            .await,
        ServerEvent::Received {
            id,
            data: vec![0x06]
        }
    );

    // Text is not part of the protocol: only the binary message is delivered.
    server.send_all(Message::text("ignored"));
    server.send_all(Message::binary(vec![0x04, b'{', b'}']));
    assert_eq!(
        events.next().await,
        TransportEvent::Message(vec![0x04, b'{', b'}'])
    );

    provider.disconnect();
    assert_eq!(events.next().await, DISCONNECTED);
    assert_eq!(
        server
            .wait_for(|e| matches!(e, ServerEvent::Closed { .. }))
            .await,
        ServerEvent::Closed {
            id,
            code: Some(1000)
        }
    );
    // After a disconnect sending is harmless and nothing else is reported.
    provider.send(vec![0x01]);
    drop(provider);
    assert!(events.pending().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_attempts_are_retried_with_exponential_backoff() {
    let mut server = TestServer::start(Mode::Refuse).await;
    let mut provider = WsProvider::from_current();
    let (sink, mut events) = collector();
    let backoff = quick_backoff();
    provider.connect(&url(&server), backoff, sink);

    let mut attempts = vec![server.next_attempt().await];
    for _ in 0..6 {
        attempts.push(server.next_attempt().await);
    }
    provider.disconnect();
    for (n, pair) in attempts.windows(2).enumerate() {
        assert_gap_within_backoff(&backoff, n as u32, pair[1] - pair[0]);
    }

    assert_eq!(events.next().await, CONNECTING);
    let TransportEvent::AttemptFailed(message) = events.next().await else {
        panic!("a failed attempt is reported");
    };
    assert!(!message.contains("token"), "no URL in messages: {message}");
    assert_eq!(events.next().await, RECONNECTING);
    // Later failures are reported too, without repeating the unchanged state.
    let (last, skipped) = events.wait_for(|e| *e == DISCONNECTED).await;
    assert_eq!(last, DISCONNECTED);
    assert!(skipped.len() >= 5);
    assert!(
        skipped
            .iter()
            .all(|e| matches!(e, TransportEvent::AttemptFailed(_)))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_are_counted_from_the_last_successful_open() {
    let mut server = TestServer::start(Mode::Refuse).await;
    let mut provider = WsProvider::from_current();
    let (sink, mut events) = collector();
    // Without the reset, the delay after the fifth attempt would be 800 ms ± 10 %.
    let backoff = Backoff {
        initial_ms: 50,
        max_ms: 5_000,
        jitter: 0.1,
    };
    provider.connect(&url(&server), backoff, sink);
    for _ in 0..4 {
        server.next_attempt().await;
    }
    server.set_mode(Mode::Accept);
    events.wait_for(|e| *e == CONNECTED).await;
    server.next_attempt().await;

    let closed = Instant::now();
    server.close_all(1001, "going away");
    events.wait_for(|e| *e == RECONNECTING).await;
    let again = server.next_attempt().await;
    let gap_ms = (again - closed).as_millis();
    assert!(
        (30..600).contains(&gap_ms),
        "after an open the first delay is the initial one again (50 ms ± 10 %), took {gap_ms} ms"
    );
    events.wait_for(|e| *e == CONNECTED).await;
    provider.disconnect();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_stops_all_attempts() {
    // Refused right after the upgrade: reported instead of `connected`.
    let mut server = TestServer::start(Mode::Close(4001, "Unauthorized")).await;
    // The close follows the upgrade at once; a long grace keeps a busy machine from
    // reporting `connected` first (the close ends the wait anyway).
    let options = WsOptions {
        auth_grace: Duration::from_secs(2),
        ..WsOptions::default()
    };
    let mut provider = WsProvider::with_options(tokio::runtime::Handle::current(), options);
    let (sink, mut events) = collector();
    let backoff = quick_backoff();
    provider.connect(&url(&server), backoff, sink);
    assert_eq!(events.next().await, CONNECTING);
    assert_eq!(
        events.next().await,
        TransportEvent::AuthFailed {
            code: 4001,
            reason: "Unauthorized".into()
        }
    );
    assert_eq!(events.next().await, DISCONNECTED);
    server.next_attempt().await;
    // Five times the longest backoff delay, and then some.
    server
        .assert_no_attempt_within(Duration::from_millis(5 * 220))
        .await;
    assert!(events.pending().is_empty());
    assert_eq!(provider.state(), ConnectionState::Disconnected);
    // Disconnecting afterwards reports nothing new.
    provider.disconnect();
    assert!(events.pending().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_close_while_connected_stops_all_attempts() {
    let mut server = TestServer::start(Mode::Accept).await;
    let mut provider = WsProvider::from_current();
    let (sink, mut events) = collector();
    provider.connect(&url(&server), quick_backoff(), sink);
    events.wait_for(|e| *e == CONNECTED).await;
    server.next_attempt().await;

    server.close_all(4003, "Forbidden");
    assert_eq!(
        events.next().await,
        TransportEvent::AuthFailed {
            code: 4003,
            reason: "Forbidden".into()
        }
    );
    assert_eq!(events.next().await, DISCONNECTED);
    server
        .assert_no_attempt_within(Duration::from_millis(5 * 220))
        .await;
    assert!(events.pending().is_empty());
    // A later `connect` starts afresh.
    let (sink, mut events) = collector();
    provider.connect(&url(&server), quick_backoff(), sink);
    assert_eq!(events.next().await, CONNECTING);
    assert_eq!(events.next().await, CONNECTED);
    provider.disconnect();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_cancels_the_pending_attempt() {
    let mut server = TestServer::start(Mode::Accept).await;
    let mut provider = WsProvider::from_current();
    let (sink, mut events) = collector();
    let backoff = Backoff {
        initial_ms: 400,
        max_ms: 400,
        jitter: 0.0,
    };
    provider.connect(&url(&server), backoff, sink);
    events.wait_for(|e| *e == CONNECTED).await;
    server.next_attempt().await;

    // An unexpected close: the next attempt is due in 400 ms.
    server.close_all(1011, "internal error");
    assert_eq!(events.next().await, RECONNECTING);
    provider.disconnect();
    assert_eq!(events.next().await, DISCONNECTED);
    server
        .assert_no_attempt_within(Duration::from_millis(3 * 400))
        .await;
    assert!(events.pending().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_detected_and_replaced() {
    let mut server = TestServer::start(Mode::Silent).await;
    let options = WsOptions {
        ping_interval: Duration::from_millis(100),
        idle_timeout: Duration::from_millis(600),
        ..WsOptions::default()
    };
    let mut provider = WsProvider::with_options(tokio::runtime::Handle::current(), options);
    let (sink, mut events) = collector();
    provider.connect(&url(&server), quick_backoff(), sink);
    server.next_attempt().await;
    // The next connection is a live one.
    server.set_mode(Mode::Accept);
    assert_eq!(events.next().await, CONNECTING);
    assert_eq!(events.next().await, CONNECTED);
    let lost = Instant::now();
    assert_eq!(events.next().await, RECONNECTING);
    assert!(
        lost.elapsed() >= Duration::from_millis(300),
        "lost only through the keep-alive"
    );
    assert_eq!(events.next().await, CONNECTED);
    server.next_attempt().await;
    server
        .wait_for(|e| matches!(e, ServerEvent::Opened { .. }))
        .await;
    provider.disconnect();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_keep_a_quiet_connection_alive_and_are_answered() {
    let mut server = TestServer::start(Mode::Accept).await;
    let options = WsOptions {
        ping_interval: Duration::from_millis(50),
        // Long enough that a busy machine's scheduling delays are not taken for silence.
        idle_timeout: Duration::from_millis(400),
        ..WsOptions::default()
    };
    let mut provider = WsProvider::with_options(tokio::runtime::Handle::current(), options);
    let (sink, mut events) = collector();
    provider.connect(&url(&server), quick_backoff(), sink);
    events.wait_for(|e| *e == CONNECTED).await;
    // Twenty pings span at least a second, more than twice the idle timeout: the pongs kept
    // it open.
    for _ in 0..20 {
        server
            .wait_for(|e| matches!(e, ServerEvent::Pinged { .. }))
            .await;
    }
    assert!(events.pending().is_empty(), "still connected");
    // The server's pings are answered as well.
    server.send_all(Message::Ping(Default::default()));
    server
        .wait_for(|e| matches!(e, ServerEvent::Ponged { .. }))
        .await;
    provider.disconnect();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_tells_reachable_rejected_and_unreachable_apart() {
    let wait = Duration::from_millis(300);

    let mut server = TestServer::start(Mode::Accept).await;
    assert_eq!(probe(&url(&server), wait).await, ProbeOutcome::Reachable);
    let ServerEvent::Closed { code, .. } = server
        .wait_for(|e| {
            assert!(
                !matches!(e, ServerEvent::Received { .. }),
                "the probe sends no frame"
            );
            matches!(e, ServerEvent::Closed { .. })
        })
        .await
    else {
        unreachable!()
    };
    assert_eq!(code, Some(1000));

    for (code, reason) in [(4001, "Unauthorized"), (4003, "Forbidden")] {
        server.set_mode(Mode::Close(code, reason));
        assert_eq!(
            probe(&url(&server), wait).await,
            ProbeOutcome::Rejected {
                code,
                reason: reason.into()
            }
        );
    }

    // Another close is a failure to connect, not a rejected token.
    server.set_mode(Mode::Close(1011, "store unavailable"));
    let ProbeOutcome::Unreachable(message) = probe(&url(&server), wait).await else {
        panic!("a server error is not reachable");
    };
    assert!(message.contains("1011 store unavailable"), "{message}");

    // Nothing listens on a port that was just released.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let ProbeOutcome::Unreachable(message) = probe(
        &sync_url(&format!("ws://127.0.0.1:{port}"), "s", "secret"),
        wait,
    )
    .await
    else {
        panic!("nothing listens there");
    };
    assert!(
        !message.is_empty() && !message.contains("secret"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_completes_once_the_dropped_provider_closed_its_socket() {
    let mut server = TestServer::start(Mode::Accept).await;
    let mut provider = WsProvider::from_current();
    let (sink, mut events) = collector();
    provider.connect(&url(&server), quick_backoff(), sink);
    assert_eq!(events.next().await, CONNECTING);
    assert_eq!(events.next().await, CONNECTED);
    let closed = provider.closed();
    let early = provider.closed();
    // Not while the provider lives, however long one waits.
    assert!(
        tokio::time::timeout(Duration::from_millis(50), early.wait())
            .await
            .is_err()
    );

    provider.send(vec![0x01, 0x02]);
    drop(provider);
    tokio::time::timeout(Duration::from_secs(10), closed.wait())
        .await
        .expect("the provider's tasks end");
    // Everything queued went out before the normal close.
    assert!(matches!(
        server
            .wait_for(|e| matches!(e, ServerEvent::Received { .. }))
            .await,
        ServerEvent::Received { data, .. } if data == [0x01, 0x02]
    ));
    assert!(matches!(
        server
            .wait_for(|e| matches!(e, ServerEvent::Closed { .. }))
            .await,
        ServerEvent::Closed {
            code: Some(1000),
            ..
        }
    ));
}
