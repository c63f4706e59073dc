//! Load generator of the server benchmarks (`cargo xtask bench`, issue 6): starts a release
//! `sds-server` process on 127.0.0.1, runs one scenario against it with many WebSocket
//! clients in this process, and prints one line of `key=value` results.
//!
//! ```text
//! cargo build --release -p sds-server --bin sds-server --example load
//! target/release/examples/load --server target/release/sds-server idle --connections 10000
//! target/release/examples/load --server target/release/sds-server fanout --room-size 1000
//! target/release/examples/load --server target/release/sds-server latency --rate 1000
//! target/release/examples/load --server target/release/sds-server catchup --entries 100000
//! ```
//!
//! Every scenario is bounded in count and time and talks only to the server it started.

use clap::{Parser, Subcommand};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt as _, StreamExt as _};
use sds_core::{NewBackend, ROOT_ID, Store, StoreOptions};
use sds_server::{JwtSecret, Scope};
use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const SECRET: &str = "load-generator-secret-load-generator-secret";

/// Load generator for sds-server.
#[derive(Debug, Parser)]
struct Cli {
    /// The sds-server binary to start.
    #[arg(long)]
    server: PathBuf,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Idle connections held: server RSS before and after.
    Idle {
        /// Connections to open.
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// Clients per room.
        #[arg(long, default_value_t = 100)]
        room_size: usize,
    },
    /// Fan-out in pure relay mode: deliveries per second in one room.
    Fanout {
        /// Clients in the room.
        #[arg(long, default_value_t = 1_000)]
        room_size: usize,
        /// Clients that send.
        #[arg(long, default_value_t = 10)]
        senders: usize,
        /// Frames each sender sends.
        #[arg(long)]
        frames: Option<usize>,
        /// Bytes per frame.
        #[arg(long, default_value_t = 100)]
        frame_size: usize,
    },
    /// Send-to-receipt latency of real patches at a fixed rate in durable mode.
    Latency {
        /// Clients in the room (10 of them send).
        #[arg(long, default_value_t = 100)]
        clients: usize,
        /// Patches per second, all senders together.
        #[arg(long, default_value_t = 1_000)]
        rate: usize,
        /// Duration of the measurement.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Replica backend.
        #[arg(long, default_value = "yrs")]
        backend: String,
        /// Pure relay instead of durable mode, for comparison.
        #[arg(long)]
        relay: bool,
    },
    /// Catch-up of a new peer joining a durable store.
    Catchup {
        /// Entries of the store.
        #[arg(long, default_value_t = 100_000)]
        entries: usize,
        /// Replica backend.
        #[arg(long, default_value = "yrs")]
        backend: String,
    },
}

/// A server process on 127.0.0.1 with a free port.
struct ServerProcess {
    child: Child,
    address: String,
}

impl ServerProcess {
    fn start(binary: &PathBuf, args: &[String]) -> ServerProcess {
        let mut child = Command::new(binary)
            .args(["--port", "0"])
            .args(args)
            .env("SDS_JWT_SECRET", SECRET)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stderr = BufReader::new(child.stderr.take().expect("piped"));
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sender = Some(sender);
            for line in stderr.lines().map_while(Result::ok) {
                if let Some((_, rest)) = line.split_once("address=")
                    && let Some(sender) = sender.take()
                {
                    let _ = sender.send(rest.split_whitespace().next().unwrap_or("").to_owned());
                }
                if line.contains("WARN") || line.contains("ERROR") {
                    eprintln!("server: {line}");
                }
            }
        });
        let address = receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("the server logs its address");
        ServerProcess { child, address }
    }

    fn rss_kb(&self) -> u64 {
        rss_kb(self.child.id())
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn token(store: &str, scope: Scope) -> String {
    sds_server::issue_token(
        &JwtSecret::new(SECRET),
        None,
        "load",
        store,
        scope,
        sds_server::now_seconds(),
        3_600,
    )
    .expect("signing")
}

async fn connect(address: &str, store: &str, scope: Scope) -> Socket {
    let url = sds_sync::protocol::sync_url(&format!("ws://{address}"), store, &token(store, scope));
    let config = WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .max_message_size(None)
        .max_frame_size(None);
    let mut attempts = 0;
    loop {
        match tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true).await {
            Ok((socket, _)) => return socket,
            Err(error) if attempts < 20 => {
                attempts += 1;
                eprintln!("connect failed ({error}); retrying");
                tokio::time::sleep(Duration::from_millis(50 * attempts)).await;
            }
            Err(error) => panic!("cannot connect: {error}"),
        }
    }
}

/// Opens `count` connections with bounded concurrency.
async fn connect_many(address: &str, stores: Vec<(String, Scope)>, parallel: usize) -> Vec<Socket> {
    let address = Arc::new(address.to_owned());
    let stores = Arc::new(stores);
    let next = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new(Vec::with_capacity(stores.len())));
    let mut workers = Vec::new();
    for _ in 0..parallel {
        let (address, stores, next, results) = (
            address.clone(),
            stores.clone(),
            next.clone(),
            results.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((store, scope)) = stores.get(i) else {
                    return;
                };
                let socket = connect(&address, store, *scope).await;
                results.lock().unwrap().push((i, socket));
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let mut sockets = std::mem::take(&mut *results.lock().unwrap());
    sockets.sort_by_key(|(i, _)| *i);
    sockets.into_iter().map(|(_, s)| s).collect()
}

fn main() {
    let cli = Cli::parse();
    // Thousands of sockets: use what the hard limit allows.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let line = match cli.scenario {
        Scenario::Idle {
            connections,
            room_size,
        } => runtime.block_on(idle(&cli.server, connections, room_size)),
        Scenario::Fanout {
            room_size,
            senders,
            frames,
            frame_size,
        } => {
            let senders = senders.min(room_size);
            // About two million deliveries.
            let frames = frames.unwrap_or(2_000_000 / (senders * (room_size - 1)).max(1));
            runtime.block_on(fanout(&cli.server, room_size, senders, frames, frame_size))
        }
        Scenario::Latency {
            clients,
            rate,
            seconds,
            backend,
            relay,
        } => runtime.block_on(latency(
            &cli.server,
            clients,
            rate,
            seconds,
            &backend,
            relay,
        )),
        Scenario::Catchup { entries, backend } => match backend.as_str() {
            "loro" => runtime.block_on(catchup::<sds_loro::LoroBackend>(
                &cli.server,
                entries,
                "loro",
            )),
            _ => runtime.block_on(catchup::<sds_yrs::YrsBackend>(&cli.server, entries, "yrs")),
        },
    };
    println!("{line}");
}

async fn idle(binary: &PathBuf, connections: usize, room_size: usize) -> String {
    let server = ServerProcess::start(
        binary,
        &["--max-connections".into(), (connections + 100).to_string()],
    );
    // A few connections first, so that the baseline includes the runtime's warm state.
    let warm = connect_many(&server.address, vec![("warm".into(), Scope::Write); 10], 10).await;
    drop(warm);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss_kb();
    let started = Instant::now();
    let stores: Vec<(String, Scope)> = (0..connections)
        .map(|i| (format!("idle-{}", i / room_size.max(1)), Scope::Write))
        .collect();
    let sockets = connect_many(&server.address, stores, 64).await;
    let connect_ms = started.elapsed().as_millis();
    // Let the server settle (it sent every writer a sync request).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.rss_kb();
    let per_connection = (after.saturating_sub(before) * 1024) / connections as u64;
    drop(sockets);
    server.stop();
    format!(
        "scenario=idle connections={connections} rss_before_kb={before} rss_after_kb={after} \
         bytes_per_connection={per_connection} connect_ms={connect_ms}"
    )
}

async fn fanout(
    binary: &PathBuf,
    room_size: usize,
    senders: usize,
    frames: usize,
    frame_size: usize,
) -> String {
    let server = ServerProcess::start(
        binary,
        &["--max-connections".into(), (room_size + 100).to_string()],
    );
    let stores = vec![("fanout".to_owned(), Scope::Write); room_size];
    let sockets = connect_many(&server.address, stores, 64).await;
    let expected_total = frames * senders * (room_size - 1);
    let delivered = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(tokio::sync::Notify::new());
    let mut sinks: Vec<SplitSink<Socket, Message>> = Vec::new();
    let mut readers = Vec::new();
    for (i, socket) in sockets.into_iter().enumerate() {
        let (sink, mut stream) = socket.split();
        let expected = frames * (senders - usize::from(i < senders));
        let (delivered, done) = (delivered.clone(), done.clone());
        readers.push(tokio::spawn(async move {
            let mut received = 0;
            while received < expected {
                match stream.next().await {
                    Some(Ok(Message::Binary(_))) => {
                        received += 1;
                        if delivered.fetch_add(1, Ordering::Relaxed) + 1 == expected_total {
                            done.notify_one();
                        }
                    }
                    Some(Ok(_)) => {}
                    other => panic!("receiver {i} failed: {other:?}"),
                }
            }
            stream
        }));
        sinks.push(sink);
    }
    let mut payload = vec![0x01u8; frame_size];
    payload[0] = 0x01;
    let payload = bytes::Bytes::from(payload);
    let started = Instant::now();
    let mut writers = Vec::new();
    for mut sink in sinks.drain(..senders) {
        let payload = payload.clone();
        writers.push(tokio::spawn(async move {
            for _ in 0..frames {
                sink.feed(Message::Binary(payload.clone())).await.unwrap();
            }
            sink.flush().await.unwrap();
            sink
        }));
    }
    let finished = tokio::time::timeout(Duration::from_secs(300), done.notified()).await;
    let elapsed = started.elapsed();
    assert!(
        finished.is_ok() || delivered.load(Ordering::Relaxed) == expected_total,
        "only {} of {expected_total} deliveries",
        delivered.load(Ordering::Relaxed)
    );
    let per_second = expected_total as f64 / elapsed.as_secs_f64();
    let rss = server.rss_kb();
    for writer in writers {
        drop(writer.await);
    }
    for reader in readers {
        drop(reader.await);
    }
    drop(sinks);
    server.stop();
    format!(
        "scenario=fanout room_size={room_size} senders={senders} frames={frames} \
         frame_size={frame_size} deliveries={expected_total} ms={:.1} deliveries_per_s={per_second:.0} \
         server_rss_kb={rss}",
        elapsed.as_secs_f64() * 1000.0
    )
}

/// Patches of `count` transactions, each creating one labelled item, split over `writers`
/// independent writers that share the initial document. Returns the initial full state and
/// the writers' patches.
fn make_patches<B: NewBackend>(writers: usize, count: usize) -> (Vec<u8>, Vec<Vec<Vec<u8>>>) {
    let base = Store::<B>::from_scratch(StoreOptions::default()).expect("store");
    let initial = base.export_patch(None).expect("export");
    let per_writer = count.div_ceil(writers);
    let patches = (0..writers)
        .map(|w| {
            let mut store =
                Store::<B>::with_restored_backend(B::new_empty(), StoreOptions::default())
                    .expect("store");
            store
                .apply_remote_patch_without_repair(&initial)
                .expect("apply");
            let collected = Arc::new(Mutex::new(Vec::with_capacity(per_writer)));
            let sink = collected.clone();
            let _hook = store.on_local_commit(move |_, commit| {
                sink.lock().unwrap().push(commit.patch.to_vec());
                Ok(())
            });
            for i in 0..per_writer {
                store
                    .transact(|s| {
                        let id = s.new_item_at(None, ROOT_ID, None)?;
                        s.set_label(&id, &format!("writer {w} item {i}"))
                    })
                    .expect("transaction");
            }
            std::mem::take(&mut *collected.lock().unwrap())
        })
        .collect();
    (initial, patches)
}

fn patch_frame(patch: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(patch.len() + 1);
    frame.push(0x01);
    frame.extend_from_slice(patch);
    frame
}

/// Sends `SYNC_REQ` and waits for the server's PATCH answer (frames of one connection are
/// handled in order, so everything sent before is applied when it arrives).
async fn settle(socket: &mut Socket, cursor: &[u8]) -> Vec<u8> {
    let mut request = vec![0x06];
    request.extend_from_slice(cursor);
    socket.send(Message::Binary(request.into())).await.unwrap();
    next_patch(socket).await
}

/// The payload of the next PATCH frame.
async fn next_patch(socket: &mut Socket) -> Vec<u8> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Binary(frame))) if frame.first() == Some(&0x01) => {
                return frame[1..].to_vec();
            }
            Some(Ok(_)) => {}
            other => panic!("no sync answer: {other:?}"),
        }
    }
}

async fn latency(
    binary: &PathBuf,
    clients: usize,
    rate: usize,
    seconds: u64,
    backend: &str,
    relay: bool,
) -> String {
    let writers = 10.min(clients / 2).max(1);
    let count = rate * seconds as usize;
    let (initial, patches) = match backend {
        "loro" => make_patches::<sds_loro::LoroBackend>(writers, count),
        _ => make_patches::<sds_yrs::YrsBackend>(writers, count),
    };
    let dir = std::env::temp_dir().join(format!("sds-load-latency-{}", std::process::id()));
    let args = if relay {
        Vec::new()
    } else {
        vec![
            "--data-dir".into(),
            dir.display().to_string(),
            "--backend".into(),
            backend.to_owned(),
        ]
    };
    let server = ServerProcess::start(binary, &args);
    let store = "latency";
    let mut stores = vec![(store.to_owned(), Scope::Write); writers];
    stores.extend(vec![(store.to_owned(), Scope::Read); clients - writers]);
    let mut sockets = connect_many(&server.address, stores, 32).await;
    if !relay {
        settle(&mut sockets[0], &[]).await;
        sockets[0]
            .send(Message::Binary(patch_frame(&initial).into()))
            .await
            .unwrap();
        settle(&mut sockets[0], &[]).await;
    }

    // frame bytes -> (writer, index); send times in µs since `epoch`.
    let mut ids: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut frames_by_writer = Vec::new();
    let mut next_id = 0;
    for writer_patches in &patches {
        let mut frames = Vec::new();
        for patch in writer_patches {
            let frame = patch_frame(patch);
            ids.insert(frame.clone(), next_id);
            frames.push((next_id, frame));
            next_id += 1;
        }
        frames_by_writer.push(frames);
    }
    let ids = Arc::new(ids);
    let sent_at: Arc<Vec<AtomicU64>> = Arc::new((0..next_id).map(|_| AtomicU64::new(0)).collect());
    let epoch = Instant::now();
    let readers: Vec<_> = sockets
        .drain(writers..)
        .map(|socket| {
            let (ids, sent_at) = (ids.clone(), sent_at.clone());
            let expected = next_id;
            tokio::spawn(async move {
                let (_sink, mut stream) = socket.split();
                let mut latencies = Vec::with_capacity(expected);
                while latencies.len() < expected {
                    match tokio::time::timeout(Duration::from_secs(30), stream.next()).await {
                        Ok(Some(Ok(Message::Binary(frame)))) => {
                            let now = epoch.elapsed().as_micros() as u64;
                            if let Some(&id) = ids.get(frame.as_ref()) {
                                let sent = sent_at[id].load(Ordering::Acquire);
                                latencies.push(now.saturating_sub(sent));
                            }
                        }
                        Ok(Some(Ok(_))) => {}
                        other => panic!(
                            "a receiver stopped after {} of {expected} patches: {other:?}",
                            latencies.len()
                        ),
                    }
                }
                latencies
            })
        })
        .collect();
    let interval = Duration::from_secs_f64(writers as f64 / rate as f64);
    let senders: Vec<_> = sockets
        .into_iter()
        .zip(frames_by_writer)
        .enumerate()
        .map(|(w, (socket, frames))| {
            let sent_at = sent_at.clone();
            tokio::spawn(async move {
                let (mut sink, mut stream) = socket.split();
                // Writers receive the others' patches too; keep reading them.
                let drain =
                    tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
                // Spread the writers over the interval.
                let start = tokio::time::Instant::now() + interval.mul_f64(w as f64 / 10.0);
                let mut ticks = tokio::time::interval_at(start, interval);
                for (id, frame) in frames {
                    ticks.tick().await;
                    sent_at[id].store(epoch.elapsed().as_micros() as u64, Ordering::Release);
                    sink.send(Message::Binary(frame.into())).await.unwrap();
                }
                // Keep the connection until every receiver is done: closing a socket with
                // unread input resets it, and the server could lose the last patches.
                (sink, drain)
            })
        })
        .collect();
    let started = Instant::now();
    let mut open = Vec::new();
    for sender in senders {
        open.push(sender.await.unwrap());
    }
    let send_seconds = started.elapsed().as_secs_f64();
    let mut all = Vec::new();
    for reader in readers {
        all.extend(reader.await.unwrap());
    }
    for (sink, drain) in open {
        drain.abort();
        drop(sink);
    }
    all.sort_unstable();
    let percentile =
        |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)] as f64 / 1000.0;
    let rss = server.rss_kb();
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
    format!(
        "scenario=latency mode={} backend={backend} clients={clients} writers={writers} rate={rate} \
         patches={next_id} achieved_rate={:.0} samples={} p50_ms={:.2} p99_ms={:.2} max_ms={:.2} server_rss_kb={rss}",
        if relay { "relay" } else { "durable" },
        next_id as f64 / send_seconds,
        all.len(),
        percentile(0.50),
        percentile(0.99),
        *all.last().unwrap_or(&0) as f64 / 1000.0,
    )
}

async fn catchup<B: NewBackend>(binary: &PathBuf, entries: usize, backend: &str) -> String {
    let build = Instant::now();
    let mut store = Store::<B>::from_scratch(StoreOptions::default()).expect("store");
    store
        .transact(|s| {
            for i in 0..entries {
                let id = s.new_item_at(None, ROOT_ID, None)?;
                s.set_label(&id, &format!("entry {i}"))?;
            }
            Ok(())
        })
        .expect("build");
    let full = store.export_patch(None).expect("export");
    let expected_entries = store.entry_count();
    eprintln!(
        "built {entries} entries in {:.1} s; full state {} bytes",
        build.elapsed().as_secs_f64(),
        full.len()
    );
    drop(store);
    let dir = std::env::temp_dir().join(format!("sds-load-catchup-{}", std::process::id()));
    let args = [
        "--data-dir".to_owned(),
        dir.display().to_string(),
        "--backend".to_owned(),
        backend.to_owned(),
        "--max-frame-size".to_owned(),
        (256 * 1024 * 1024).to_string(),
    ];
    let id = "catchup";
    let server = ServerProcess::start(binary, &args);
    let mut uploader = connect(&server.address, id, Scope::Write).await;
    uploader
        .send(Message::Binary(patch_frame(&full).into()))
        .await
        .unwrap();
    settle(&mut uploader, &[]).await;
    drop(uploader);
    // Restart: the replica is cold, it loads from its snapshot on the first connection.
    server.stop();
    let server = ServerProcess::start(binary, &args);

    let mut results = Vec::new();
    for round in ["cold", "warm"] {
        // The new peer is a store of its own (with its well-known items), as an application
        // creates it: its cursor is not empty, and it applies every PATCH it is sent until it
        // has every entry.
        let mut replica = Store::<B>::from_scratch(StoreOptions::default()).expect("store");
        let cursor = replica.current_cursor();
        let started = Instant::now();
        let mut peer = connect(&server.address, id, Scope::Read).await;
        let mut first = None;
        let mut state = settle(&mut peer, &cursor).await;
        loop {
            first.get_or_insert_with(|| started.elapsed());
            replica.apply_remote_patch(&state).expect("apply");
            if replica.entry_count() >= expected_entries {
                break;
            }
            state = next_patch(&mut peer).await;
        }
        let applied = started.elapsed();
        assert_eq!(
            replica.entry_count(),
            expected_entries,
            "the peer has every entry"
        );
        results.push(format!(
            "{round}_received_ms={:.0} {round}_total_ms={:.0}",
            first.unwrap_or_default().as_secs_f64() * 1000.0,
            applied.as_secs_f64() * 1000.0
        ));
        drop(peer);
    }
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
    format!(
        "scenario=catchup backend={backend} entries={entries} state_bytes={} {}",
        full.len(),
        results.join(" ")
    )
}
