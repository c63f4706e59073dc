//! Frame limit, slow consumers and keep-alive (SPEC §14.6, §18.16).

mod common;

use common::*;
use futures_util::StreamExt as _;
use std::time::Duration;
use tokio::io::AsyncReadExt as _;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn a_frame_over_the_limit_closes_with_1009_and_others_go_on() {
    let mut config = config();
    config.max_frame_size = 1024;
    let server = TestServer::start(config).await;
    for route in ["ws", "signal"] {
        let token = token("s", "write");
        let mut big = Client::connect(&server.url(), route, "s", Some(&token)).await;
        let mut a = Client::connect(&server.url(), route, "s", Some(&token)).await;
        let mut b = Client::connect(&server.url(), route, "s", Some(&token)).await;
        // Exactly the limit passes.
        big.send(vec![0x7f; 1024]).await;
        assert_eq!(a.recv_binary().await, vec![0x7f; 1024]);
        big.send(vec![0x01; 1025]).await;
        assert_eq!(big.closed().await.0, 1009, "{route}");
        // Far over the limit (the server must not buffer it) on a fresh connection.
        let mut huge = Client::connect(&server.url(), route, "s", Some(&token)).await;
        huge.send(vec![0x01; 8 * 1024 * 1024]).await;
        assert_eq!(huge.closed().await.0, 1009, "{route}");
        a.send(vec![0x01, 2]).await;
        assert_eq!(
            b.recv_binary().await,
            vec![0x7f; 1024],
            "b got the first frame too"
        );
        assert_eq!(b.recv_binary().await, vec![0x01, 2]);
        assert_nothing_received(&mut a, &mut b, &marker(1)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn a_stalled_reader_is_closed_with_1013_and_the_others_receive_everything() {
    let mut config = config();
    config.outbound_queue_limit = 256 * 1024;
    config.close_timeout = Duration::from_secs(60);
    let server = TestServer::start(config).await;
    let mut sender = server.client("s", "write").await;
    let mut stalled = server.client("s", "read").await;
    let mut reader = server.client("s", "read").await;
    const FRAMES: u32 = 3_000;
    const SIZE: usize = 16 * 1024;
    let frame = |i: u32| {
        let mut frame = vec![0x01];
        frame.extend_from_slice(&i.to_be_bytes());
        frame.resize(SIZE, i as u8);
        frame
    };
    // 48 MB in total: more than the socket buffers and the queue limit can hold. The sender
    // stays at most 8 frames (128 KiB) ahead of `reader`, like a sender paced by the slowest
    // healthy client; `stalled` reads nothing.
    let window = std::sync::Arc::new(tokio::sync::Semaphore::new(8));
    let permits = window.clone();
    let sending = tokio::spawn(async move {
        for i in 0..FRAMES {
            permits.acquire().await.unwrap().forget();
            sender.send(frame(i)).await;
        }
        sender
    });
    for i in 0..FRAMES {
        assert_eq!(reader.recv_binary().await, frame(i), "frame {i}");
        window.add_permits(1);
    }
    let _sender = sending.await.unwrap();
    // The stalled client now reads: an unbroken prefix of the frames, then 1013.
    let mut next = 0;
    let code = loop {
        match stalled.recv().await {
            Received::Binary(bytes) => {
                assert_eq!(bytes, frame(next), "no frame may be skipped");
                next += 1;
            }
            Received::Close(code, _) => break code,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(code, 1013);
    assert!(
        next < FRAMES,
        "the stalled client cannot have received everything"
    );
    drop((_sender, stalled, reader));
    server.stop().await;
}

#[tokio::test]
async fn pings_are_sent_and_answering_clients_stay_connected() {
    let mut config = config();
    config.ping_interval = Duration::from_millis(50);
    // Long enough that a busy machine's scheduling delays are not taken for silence.
    config.idle_timeout = Duration::from_millis(400);
    let server = TestServer::start(config).await;
    let mut a = server.client("s", "write").await;
    // Twenty pings take a second, more than twice the idle timeout: the pongs keep `a` alive.
    let mut pings = 0;
    while pings < 20 {
        match tokio::time::timeout(PATIENCE, a.socket.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => panic!("expected pings, got {other:?}"),
        }
    }
    // `a` is still connected: a newcomer's frame reaches it.
    let mut b = server.client("s", "write").await;
    b.send(vec![0x01, 1]).await;
    assert_eq!(a.recv_binary().await, vec![0x01, 1]);
    drop((a, b));
    server.stop().await;
}

#[tokio::test]
async fn a_silent_connection_is_closed_with_1001() {
    let mut config = config();
    config.ping_interval = Duration::from_millis(50);
    config.idle_timeout = Duration::from_millis(200);
    let server = TestServer::start(config).await;
    let mut client = server.client("s", "write").await;
    // Read the raw bytes without the WebSocket layer, so that no pong is ever sent.
    let stream = match client.socket.get_mut() {
        tokio_tungstenite::MaybeTlsStream::Plain(stream) => stream,
        _ => unreachable!("plain TCP"),
    };
    // Unmasked server frames: pings (0x89 0x00), then the close frame 0x88 with code 1001.
    let is_close = |w: &[u8]| w[0] == 0x88 && w[2] == 0x03 && w[3] == 0xe9;
    let mut raw = Vec::new();
    let mut buffer = [0u8; 256];
    while !raw.windows(4).any(is_close) {
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut buffer))
            .await
            .expect("the server closes the connection")
            .unwrap();
        assert!(read > 0, "close 1001 expected before the end in {raw:02x?}");
        raw.extend_from_slice(&buffer[..read]);
    }
    assert!(raw.starts_with(&[0x89, 0x00]), "a ping came first");
    drop(client);
    server
        .wait_for("the connection to be gone", |s| s.stats().connections == 0)
        .await;
    server.stop().await;
}
