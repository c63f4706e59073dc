//! `wss://` (SPEC §12.1): the provider and the probe against the test server behind TLS on
//! 127.0.0.1, with a certificate authority generated at run time.

mod support;

use sds_sync::protocol::sync_url;
use sds_sync::transport::{Backoff, ConnectionState, NetworkProvider, TransportEvent};
use sds_ws::rustls::pki_types::CertificateDer;
use sds_ws::{ProbeOutcome, WsOptions, WsProvider, probe, probe_with_options, tls};
use std::sync::Arc;
use std::time::Duration;
use support::{Mode, ServerEvent, TestPki, TestServer, assert_gap_within_backoff, collector};
use tokio::runtime::Handle;
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

/// Options that trust the test authority alone.
fn trusting(pki: &TestPki) -> WsOptions {
    WsOptions {
        tls: Some(tls::config_trusting_only([pki.ca.clone()]).unwrap()),
        ..WsOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_trusting_the_authority_moves_binary_messages_over_wss_and_closes_normally() {
    let pki = TestPki::generate();
    let mut server = TestServer::start_tls(Mode::Accept, &pki).await;
    assert!(server.base().starts_with("wss://127.0.0.1:"));
    let mut provider = WsProvider::with_options(Handle::current(), trusting(&pki));
    let (sink, mut events) = collector();

    provider.connect(
        &sync_url(&server.base(), "my store", "a+b"),
        quick_backoff(),
        sink,
    );
    assert_eq!(events.next().await, CONNECTING);
    assert_eq!(events.next().await, CONNECTED);
    let ServerEvent::Opened { id, target } = server
        .wait_for(|e| matches!(e, ServerEvent::Opened { .. }))
        .await
    else {
        unreachable!()
    };
    assert_eq!(target, "/ws/my%20store?token=a%2Bb");

    provider.send(vec![0x01, 0xaa, 0xbb]);
    provider.send(vec![0x06]);
    for data in [vec![0x01, 0xaa, 0xbb], vec![0x06]] {
        assert_eq!(
            server
                .wait_for(|e| matches!(e, ServerEvent::Received { .. }))
                .await,
            ServerEvent::Received { id, data }
        );
    }

    server.send_all(Message::binary(vec![0x04, b'{', b'}']));
    assert_eq!(
        events.next().await,
        TransportEvent::Message(vec![0x04, b'{', b'}'])
    );
    // A large message crosses several TLS records intact.
    let large: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    server.send_all(Message::binary(large.clone()));
    assert_eq!(events.next().await, TransportEvent::Message(large));

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
    drop(provider);
    assert!(events.pending().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_reaches_a_wss_server_whose_authority_it_trusts() {
    let wait = Duration::from_millis(300);
    let pki = TestPki::generate();
    let mut server = TestServer::start_tls(Mode::Accept, &pki).await;
    let url = sync_url(&server.base(), "store", "secret-token");

    // The public roots and the test authority.
    let options = WsOptions {
        tls: Some(tls::config_trusting([pki.ca.clone()]).unwrap()),
        ..WsOptions::default()
    };
    assert_eq!(
        probe_with_options(&url, wait, &options).await,
        ProbeOutcome::Reachable
    );
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

    // A refusal is told apart over TLS as well.
    server.set_mode(Mode::Close(4001, "Unauthorized"));
    assert_eq!(
        probe_with_options(&url, wait, &options).await,
        ProbeOutcome::Rejected {
            code: 4001,
            reason: "Unauthorized".into()
        }
    );

    // The default configuration trusts only the public roots.
    let ProbeOutcome::Unreachable(message) = probe(&url, wait).await else {
        panic!("a certificate from an unknown authority is not trusted by default");
    };
    assert!(message.contains("certificate"), "{message}");
    assert!(!message.contains("secret-token"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_fails_each_attempt_and_is_retried_with_backoff() {
    let pki = TestPki::generate();
    let mut server = TestServer::start_tls(Mode::Accept, &pki).await;
    // Default options: the public web PKI roots, which do not include the test authority.
    let mut provider = WsProvider::from_current();
    let (sink, mut events) = collector();
    let backoff = quick_backoff();
    provider.connect(
        &sync_url(&server.base(), "store", "secret-token"),
        backoff,
        sink,
    );

    let mut attempts = vec![server.next_attempt().await];
    for _ in 0..4 {
        attempts.push(server.next_attempt().await);
    }
    provider.disconnect();
    for (n, pair) in attempts.windows(2).enumerate() {
        assert_gap_within_backoff(&backoff, n as u32, pair[1] - pair[0]);
    }

    assert_eq!(events.next().await, CONNECTING);
    let TransportEvent::AttemptFailed(message) = events.next().await else {
        panic!("a failed handshake is a failed attempt");
    };
    assert!(
        message.contains("invalid peer certificate") && message.contains("UnknownIssuer"),
        "the message names the certificate problem: {message}"
    );
    assert!(
        !message.contains("secret-token"),
        "no token in messages: {message}"
    );
    assert_eq!(events.next().await, RECONNECTING);
    let (_, skipped) = events.wait_for(|e| *e == DISCONNECTED).await;
    assert!(skipped.len() >= 3, "{skipped:?}");
    for event in &skipped {
        let TransportEvent::AttemptFailed(again) = event else {
            panic!("never connected, only failed attempts: {event:?}");
        };
        assert_eq!(*again, message);
    }
    // No connection got past the TLS handshake.
    while let Ok(event) = server.events.try_recv() {
        assert!(
            !matches!(event, ServerEvent::Opened { .. }),
            "unexpected upgrade"
        );
    }
}

#[test]
fn trust_configurations() {
    let pki = TestPki::generate();
    assert!(Arc::ptr_eq(&tls::default_config(), &tls::default_config()));
    assert!(tls::config_trusting(Vec::new()).is_ok());
    assert!(tls::config_trusting_only(Vec::new()).is_err());
    assert!(tls::config_trusting_only([pki.ca.clone()]).is_ok());
    let garbage = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
    assert!(tls::config_trusting([garbage.clone()]).is_err());
    assert!(tls::config_trusting_only([garbage]).is_err());
}

#[test]
fn options_compare_tls_configurations_by_identity_and_do_not_print_them() {
    let custom = tls::config_trusting_only([TestPki::generate().ca]).unwrap();
    let with = |tls| WsOptions {
        tls,
        ..WsOptions::default()
    };
    assert_eq!(WsOptions::default(), WsOptions::default());
    assert_eq!(with(Some(custom.clone())), with(Some(custom.clone())));
    assert_ne!(with(Some(custom.clone())), WsOptions::default());
    assert_ne!(
        with(Some(custom.clone())),
        with(Some(tls::default_config()))
    );
    let printed = format!("{:?}", with(Some(custom)));
    assert!(printed.contains("tls: \"custom\""), "{printed}");
    assert!(printed.len() < 400, "{printed}");
}
