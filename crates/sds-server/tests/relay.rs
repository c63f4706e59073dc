//! Pure relay behaviour (SPEC §14.2, §14.4, §18.16).

mod common;

use common::*;

#[tokio::test]
async fn frames_reach_every_other_client_in_order_and_never_the_sender() {
    let server = TestServer::start(config()).await;
    let mut a = server.client("s", "write").await;
    let mut b = server.client("s", "write").await;
    let mut c = server.client("s", "read").await;
    let frames: Vec<Vec<u8>> = (0..200u32)
        .map(|i| {
            let mut frame = vec![0x01];
            frame.extend_from_slice(&i.to_be_bytes());
            frame.extend(std::iter::repeat_n(i as u8, (i as usize * 37) % 3000));
            frame
        })
        .collect();
    for frame in &frames {
        a.send(frame.clone()).await;
    }
    for frame in &frames {
        assert_eq!(&b.recv_binary().await, frame);
        assert_eq!(&c.recv_binary().await, frame);
    }
    // `a` got none of its own frames back.
    assert_nothing_received(&mut a, &mut b, &marker(1)).await;
    assert_eq!(c.recv_binary().await, marker(1));
    drop((a, b, c));
    server.stop().await;
}

#[tokio::test]
async fn frames_of_concurrent_senders_keep_each_senders_order() {
    let server = TestServer::start(config()).await;
    let mut receiver = server.client("s", "read").await;
    let mut senders = Vec::new();
    for _ in 0..4 {
        senders.push(server.client("s", "write").await);
    }
    let tasks: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(n, mut sender)| {
            tokio::spawn(async move {
                for i in 0..100u8 {
                    sender.send(vec![0x04, n as u8, i]).await;
                }
                sender
            })
        })
        .collect();
    let mut next = [0u8; 4];
    for _ in 0..400 {
        let frame = receiver.recv_binary().await;
        let (n, i) = (frame[1] as usize, frame[2]);
        assert_eq!(i, next[n], "sender {n} out of order");
        next[n] += 1;
    }
    for task in tasks {
        task.await.unwrap();
    }
    drop(receiver);
    server.stop().await;
}

#[tokio::test]
async fn rooms_are_per_store_and_disappear_when_empty() {
    let server = TestServer::start(config()).await;
    let mut a1 = server.client("a", "write").await;
    let mut a2 = server.client("a", "write").await;
    let mut b1 = server.client("b", "write").await;
    let mut b2 = server.client("b", "write").await;
    assert_eq!(server.server.stats().sync_rooms, 2);
    a1.send(vec![0x01, 1]).await;
    // Store b did not get store a's frame.
    assert_nothing_received(&mut b1, &mut b2, &marker(1)).await;
    assert_eq!(a2.recv_binary().await, vec![0x01, 1]);
    a1.close().await;
    a2.close().await;
    server
        .wait_for("room a to disappear", |s| s.stats().sync_rooms == 1)
        .await;
    assert_eq!(server.server.sync_room_size("a"), 0);
    b1.close().await;
    b2.close().await;
    server
        .wait_for("every room to disappear", |s| {
            s.stats().sync_rooms == 0 && s.stats().connections == 0
        })
        .await;
    server.stop().await;
}

#[tokio::test]
async fn ws_and_signal_rooms_are_separate() {
    let server = TestServer::start(config()).await;
    let mut ws = server.client("s", "write").await;
    let mut ws_other = server.client("s", "write").await;
    let mut signal = server.signal_client("s", "write").await;
    let mut signal_other = server.signal_client("s", "write").await;
    assert_eq!(server.server.stats().signal_rooms, 1);
    ws.send(vec![0x01, 9]).await;
    signal.send(vec![0x42, 9]).await;
    assert_eq!(ws_other.recv_binary().await, vec![0x01, 9]);
    assert_eq!(signal_other.recv_binary().await, vec![0x42, 9]);
    assert_nothing_received(&mut signal, &mut signal_other, &marker(1)).await;
    assert_nothing_received(&mut ws, &mut ws_other, &marker(2)).await;
    drop((ws, ws_other, signal, signal_other));
    server.stop().await;
}

#[tokio::test]
async fn read_clients_cannot_send_patches_or_values_but_everything_else() {
    let server = TestServer::start(config()).await;
    let mut reader = server.client("s", "read").await;
    let mut writer = server.client("s", "write").await;
    let mut value = vec![0x02];
    value.extend_from_slice(&[7; 40]);
    let mut chunk = vec![0x05];
    chunk.extend_from_slice(&[7; 32]);
    chunk.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1, 5]);
    let mut request = vec![0x03];
    request.extend_from_slice(&[7; 32]);
    let relayed = vec![
        request,
        br#"{"PeerId":"reader"}"#.iter().fold(vec![0x04], |mut f, b| {
            f.push(*b);
            f
        }),
        vec![0x06, 1, 2],
        br#"{"PeerId":"x"}"#.iter().fold(vec![0x07], |mut f, b| {
            f.push(*b);
            f
        }),
        vec![0x09, 1],
        vec![0xff],
    ];
    reader.send(vec![0x01, 1, 2, 3]).await;
    reader.send(value).await;
    for frame in &relayed {
        reader.send(frame.clone()).await;
    }
    reader.send(chunk).await;
    reader.send(marker(1)).await;
    for frame in &relayed {
        assert_eq!(&writer.recv_binary().await, frame);
    }
    assert_eq!(writer.recv_binary().await, marker(1));
    // Writers may send all of them; `write` and `admin` are equivalent.
    let mut admin = server.client("s", "admin").await;
    admin.send(vec![0x01, 4]).await;
    writer.send(vec![0x02; 40]).await;
    assert_eq!(reader.recv_binary().await, vec![0x01, 4]);
    assert_eq!(reader.recv_binary().await, vec![0x02; 40]);
    drop((reader, writer, admin));
    server.stop().await;
}

#[tokio::test]
async fn ws_ignores_text_and_empty_frames() {
    let server = TestServer::start(config()).await;
    let mut a = server.client("s", "write").await;
    let mut b = server.client("s", "write").await;
    a.send_text("hello").await;
    a.send(Vec::new()).await;
    assert_nothing_received(&mut b, &mut a, &marker(1)).await;
    drop((a, b));
    server.stop().await;
}

#[tokio::test]
async fn signal_relays_text_as_text_and_binary_as_binary_whatever_the_scope() {
    let server = TestServer::start(config()).await;
    let mut a = server.signal_client("s", "read").await;
    let mut b = server.signal_client("s", "read").await;
    a.send_text(r#"{"type":"offer","sdp":"..."}"#).await;
    a.send(vec![0x01, 2, 3]).await;
    assert_eq!(
        b.recv().await,
        Received::Text(r#"{"type":"offer","sdp":"..."}"#.into())
    );
    assert_eq!(b.recv().await, Received::Binary(vec![0x01, 2, 3]));
    assert_nothing_received(&mut a, &mut b, &marker(1)).await;
    drop((a, b));
    server.stop().await;
}

#[tokio::test]
async fn a_closing_client_that_sent_presence_is_announced_as_gone() {
    let server = TestServer::start(config()).await;
    let mut leaving = server.client("s", "read").await;
    let silent = server.client("s", "write").await;
    let mut staying = server.client("s", "write").await;
    let presence = |peer: &str| {
        let mut frame = vec![0x04];
        frame.extend_from_slice(format!(r#"{{"PeerId":"{peer}","UserName":"A"}}"#).as_bytes());
        frame
    };
    leaving.send(presence("first")).await;
    leaving.send(presence("second")).await;
    // Presence without PeerId (as JS SDS sends it) is relayed but not remembered.
    leaving.send(b"\x04{\"UserName\":\"js\"}".to_vec()).await;
    assert_eq!(staying.recv_binary().await, presence("first"));
    assert_eq!(staying.recv_binary().await, presence("second"));
    assert_eq!(staying.recv_binary().await, b"\x04{\"UserName\":\"js\"}");
    leaving.close().await;
    assert_eq!(
        staying.recv_binary().await,
        b"\x07{\"PeerId\":\"second\"}".to_vec()
    );
    // A client without presence leaves silently.
    silent.close().await;
    server
        .wait_for("the silent client to leave", |s| s.sync_room_size("s") == 1)
        .await;
    let mut newcomer = server.client("s", "write").await;
    assert_nothing_received(&mut staying, &mut newcomer, &marker(1)).await;
    drop((staying, newcomer));
    server.stop().await;
}

#[tokio::test]
async fn healthz_answers_ok_and_unknown_paths_404() {
    let server = TestServer::start(config()).await;
    assert_eq!(
        http(server.address, "GET", "/healthz", &[], b"").await,
        (200, r#"{"status":"ok"}"#.to_owned())
    );
    for path in [
        "/",
        "/nope",
        "/ws",
        "/ws/",
        "/ws/a/b",
        "/signal",
        "/api",
        "/healthz/x",
    ] {
        assert_eq!(
            http(server.address, "GET", path, &[], b"").await.0,
            404,
            "{path}"
        );
    }
    // A plain GET on a socket route is not an upgrade.
    assert_eq!(http(server.address, "GET", "/ws/s", &[], b"").await.0, 400);
    server.stop().await;
}

#[tokio::test]
async fn upgrades_beyond_the_connection_cap_are_refused_with_503() {
    let mut config = config();
    config.max_connections = 2;
    let server = TestServer::start(config).await;
    let _a = server.client("s", "write").await;
    let _b = server.signal_client("s", "write").await;
    let url = format!("{}/ws/s?token={}", server.url(), token("s", "write"));
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
        }
        other => panic!("expected HTTP 503, got {other:?}"),
    }
    drop(_a);
    server
        .wait_for("a place to free up", |s| s.stats().connections < 2)
        .await;
    let _c = Client::connect_url(&url).await;
    drop((_b, _c));
    server.stop().await;
}

#[tokio::test]
async fn shutdown_closes_open_connections_with_1001() {
    let server = TestServer::start(config()).await;
    let mut ws = server.client("s", "write").await;
    let mut signal = server.signal_client("s", "write").await;
    let stopping = tokio::spawn(server.stop());
    assert_eq!(ws.closed().await.0, 1001);
    assert_eq!(signal.closed().await.0, 1001);
    stopping.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_is_in_its_room_as_soon_as_its_upgrade_is_answered() {
    // So a peer that connects after it may send at once: nothing is relayed past it.
    let server = TestServer::start(config()).await;
    let mut clients = Vec::new();
    for n in 1..=50 {
        clients.push(server.client("s", "write").await);
        assert_eq!(server.server.sync_room_size("s"), n, "after connection {n}");
        let mut other = server.client("s", "write").await;
        assert_nothing_received(clients.last_mut().unwrap(), &mut other, &marker(1)).await;
        other.close().await;
        server
            .wait_for("the other to leave", |s| s.sync_room_size("s") == n)
            .await;
    }
    drop(clients);
    server.stop().await;
}
