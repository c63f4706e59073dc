//! Webhook latency and throughput of the sidecar, end to end on 127.0.0.1: a peer creates
//! items through an in-process sds-server, the sidecar (in process, yrs) replicates them and
//! POSTs a `create` webhook per change to a local receiver.
//!
//! * paced: `RATE` changes per second for `PACED` changes; latency from the start of the
//!   peer's transaction to the arrival of the POST at the receiver (p50, p99, max).
//! * burst: `BURST` changes as fast as the peer makes them; events per second from the first
//!   change to the last POST.
//!
//! ```text
//! cargo run -p sds-sidecar --example latency [-- <paced changes> <burst changes> <yrs|loro>]
//! ```

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use sds_core::{NewBackend, ROOT_ID};
use sds_loro::LoroBackend;
use sds_sidecar::{BackendChoice, Config, DeliveryOptions, Scope, SidecarEvent, Trigger, Webhook};
use sds_sync::{
    Backoff, ConnectOptions, ConnectionState, DriverEvent, Engine, EngineHandle, EngineOptions,
};
use sds_yrs::YrsBackend;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const SECRET: &str = "latency-example-secret-latency-example-secret";
const STORE: &str = "latency";
const RATE: u64 = 100;

type Arrivals = mpsc::UnboundedSender<(Instant, Vec<String>)>;

async fn receive(State(arrivals): State<Arrivals>, body: Bytes) -> StatusCode {
    let now = Instant::now();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let ids = body["changedEntries"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let _ = arrivals.send((now, ids));
    StatusCode::OK
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let paced: usize = args.next().map_or(Ok(1_000), |a| a.parse())?;
    let burst: usize = args.next().map_or(Ok(2_000), |a| a.parse())?;
    match args.next().as_deref() {
        None | Some("yrs") => measure::<YrsBackend>(BackendChoice::Yrs, paced, burst).await,
        Some("loro") => measure::<LoroBackend>(BackendChoice::Loro, paced, burst).await,
        Some(other) => anyhow::bail!("unknown backend '{other}'"),
    }
}

async fn measure<B: NewBackend + Send + 'static>(
    backend: BackendChoice,
    paced: usize,
    burst: usize,
) -> anyhow::Result<()> {
    println!("backend {backend:?}");

    // Server.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let server_url = format!("ws://{}", listener.local_addr()?);
    tokio::spawn(sds_server::run(
        listener,
        sds_server::ServerConfig::new(SECRET),
        std::future::pending(),
    ));
    let token = sds_server::issue_token(
        &sds_server::JwtSecret::new(SECRET),
        None,
        "bench",
        STORE,
        sds_server::Scope::Write,
        sds_server::now_seconds(),
        3_600,
    )?;

    // Receiver.
    let (arrivals_sender, mut arrivals) = mpsc::unbounded_channel();
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_url = format!("http://{}/hook", receiver.local_addr()?);
    let app = Router::new().fallback(receive).with_state(arrivals_sender);
    tokio::spawn(async move { axum::serve(receiver, app).await });

    // Sidecar.
    let dir = tempfile::tempdir()?;
    let mut config = Config::new(&server_url, STORE, &token, dir.path());
    config.backend = backend;
    config.webhooks.push(Webhook {
        url: hook_url,
        topic: None,
        scope: Scope::default(),
        triggers: vec![Trigger::Create],
    });
    config.delivery = DeliveryOptions::default();
    config.verbose = std::env::var_os("LATENCY_VERBOSE").is_some();
    let (events_sender, mut events) = mpsc::unbounded_channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let sidecar = tokio::spawn(sds_sidecar::run_with_events(
        config,
        async move {
            let _ = stopped.await;
        },
        Some(events_sender),
    ));
    while let Some(event) = events.recv().await {
        if event == SidecarEvent::Connection(ConnectionState::Connected) {
            break;
        }
    }
    tokio::spawn(async move { while events.recv().await.is_some() {} });

    // Peer.
    let engine = Engine::<B>::start(None, EngineOptions::default(), sds_sync::driver::now_ms())?;
    let (peer, mut peer_events) =
        EngineHandle::spawn_with_network(engine, Box::new(sds_ws::WsProvider::from_current()))?;
    peer.connect_to(
        &server_url,
        ConnectOptions {
            store_id: STORE.into(),
            token,
            backoff: Backoff::default(),
        },
    )
    .await?;
    while let Some(event) = peer_events.recv().await {
        if matches!(event, DriverEvent::Connection(ConnectionState::Connected)) {
            break;
        }
    }
    tokio::spawn(async move { while peer_events.recv().await.is_some() {} });
    let create = |label: String| {
        peer.transact(move |s| {
            let id = s.new_item_at(None, ROOT_ID, None)?;
            s.set_label(&id, &label)?;
            Ok(id)
        })
    };
    // Warm up and make sure the peer's history reached the sidecar.
    let warm = create("warm-up".into()).await?;
    loop {
        let (_, ids) = arrivals.recv().await.expect("receiver");
        if ids.contains(&warm) {
            break;
        }
    }

    // Paced.
    let mut sent: HashMap<String, Instant> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    let mut received: HashMap<String, Instant> = HashMap::new();
    for n in 0..paced {
        ticker.tick().await;
        let start = Instant::now();
        let id = create(format!("paced {n}")).await?;
        order.push(id.clone());
        sent.insert(id, start);
        while let Ok((at, ids)) = arrivals.try_recv() {
            for id in ids {
                received.entry(id).or_insert(at);
            }
        }
    }
    while received.len() < sent.len() {
        let (at, ids) = tokio::time::timeout(Duration::from_secs(60), arrivals.recv())
            .await?
            .expect("receiver");
        for id in ids {
            received.entry(id).or_insert(at);
        }
    }
    let mut latencies: Vec<Duration> = sent
        .iter()
        .map(|(id, start)| received[id].duration_since(*start))
        .collect();
    let slow: Vec<usize> = order
        .iter()
        .enumerate()
        .filter(|(_, id)| received[*id].duration_since(sent[*id]) > Duration::from_millis(50))
        .map(|(n, _)| n)
        .collect();
    if let (Some(first), Some(last)) = (slow.first(), slow.last()) {
        println!(
            "paced: {} changes over 50 ms, from change #{first} to #{last}",
            slow.len()
        );
    }
    latencies.sort();
    println!(
        "paced: {paced} changes at {RATE}/s: webhook latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );

    // Burst.
    let start = Instant::now();
    let mut burst_ids = Vec::with_capacity(burst);
    for n in 0..burst {
        burst_ids.push(create(format!("burst {n}")).await?);
    }
    let written = start.elapsed();
    let mut pending: std::collections::HashSet<String> = burst_ids.into_iter().collect();
    let mut last = Instant::now();
    while !pending.is_empty() {
        let (at, ids) = tokio::time::timeout(Duration::from_secs(120), arrivals.recv())
            .await?
            .expect("receiver");
        for id in ids {
            if pending.remove(&id) {
                last = at;
            }
        }
    }
    let total = last.duration_since(start);
    println!(
        "burst: {burst} changes written in {:.2} s ({:.0}/s); all delivered after {:.2} s: {:.0} events/s sustained",
        written.as_secs_f64(),
        burst as f64 / written.as_secs_f64(),
        total.as_secs_f64(),
        burst as f64 / total.as_secs_f64(),
    );

    stop.send(()).ok();
    sidecar.await??;
    peer.stop().await?;
    Ok(())
}
