//! The network commands (SPEC §15.5): `token issue`, `store ping` and `store sync`, run as a
//! user runs them against a real `sds-server` started in-process on 127.0.0.1:0 (a pure relay,
//! or durable with a data directory).

mod common;

use common::*;
use sds_server::{BackendKind, JwtSecret, Scope, ServerConfig};
use serde_json::json;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The secret of every test server.
const SECRET: &str = "cli-test-secret-cli-test-secret-0123456";

/// How long a test waits for an expected event before it fails.
const PATIENCE: Duration = Duration::from_secs(15);

/// A relay server running on its own runtime while the test thread runs `sds`.
struct Relay {
    runtime: tokio::runtime::Runtime,
    server: sds_server::Server,
    address: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<sds_server::Result<()>>>,
}

impl Relay {
    /// A pure relay (no document state).
    fn start() -> Relay {
        Relay::with_config(ServerConfig::new(SECRET))
    }

    /// A durable server keeping replicas of `backend` in `data_dir`.
    fn durable(data_dir: &Path, backend: &str) -> Relay {
        let mut config = ServerConfig::new(SECRET);
        config.data_dir = Some(data_dir.to_path_buf());
        config.backend = if backend == "loro" {
            BackendKind::Loro
        } else {
            BackendKind::Yrs
        };
        Relay::with_config(config)
    }

    fn with_config(config: ServerConfig) -> Relay {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = sds_server::Server::new(config).expect("valid configuration");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (address, task) = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let task = tokio::spawn(server.clone().serve(listener, async move {
                let _ = stopped.await;
            }));
            (address, task)
        });
        Relay {
            runtime,
            server,
            address,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `ws://127.0.0.1:<port>`.
    fn url(&self) -> String {
        format!("ws://{}", self.address)
    }

    /// Waits until `n` clients are in the sync room of `store`.
    fn wait_for_room(&self, store: &str, n: usize) {
        let deadline = Instant::now() + PATIENCE;
        while self.server.sync_room_size(store) < n {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {n} clients"
            );
            // A counter of the server has no event to await.
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops the server (checkpointing its replicas) and waits for it.
    fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let (Some(stop), Some(task)) = (self.stop.take(), self.task.take()) {
            stop.send(()).ok();
            self.runtime
                .block_on(async { tokio::time::timeout(PATIENCE, task).await })
                .expect("the server stops")
                .unwrap()
                .unwrap();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.shutdown();
        }
    }
}

/// A token for `store` signed with `secret`.
fn token_with(secret: &str, store: &str, scope: Scope) -> String {
    sds_server::issue_token(
        &JwtSecret::new(secret),
        None,
        "tester",
        store,
        scope,
        sds_server::now_seconds(),
        3600,
    )
    .unwrap()
}

/// A valid token for the test store.
fn token(scope: Scope) -> String {
    token_with(SECRET, STORE, scope)
}

/// A `ws://` URL where nothing listens.
fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("ws://{address}")
}

/// `sds … store sync --timeout 500` with a server and a write token.
fn sync(s: &Sds, relay: &Relay) -> Out {
    s.run(&[
        "--server",
        &relay.url(),
        "--token",
        &token(Scope::Write),
        "store",
        "sync",
        "--timeout",
        "500",
    ])
}

fn label_of(s: &Sds, id: &str) -> String {
    field_of(s, id, "label")
}

/// One field of `entry get <id> --<field>` (the output also shows the id).
fn field_of(s: &Sds, id: &str, field: &str) -> String {
    let out = s.run(&["entry", "get", id, &format!("--{field}")]);
    let prefix = format!("{field}: ");
    out.ok()
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {field} in {}", out.stdout))
        .trim_start()
        .to_owned()
}

// ---------------------------------------------------------------------------------------------
// token issue

#[test]
fn token_issue_returns_a_token_that_works() {
    let relay = Relay::start();
    let s = Sds::new("yrs");
    let url = relay.url();
    let admin = token(Scope::Admin);
    let issued = s
        .run(&[
            "--server",
            &url,
            "--admin-token",
            &admin,
            "token",
            "issue",
            "--sub",
            "alice",
            "--scope",
            "write",
        ])
        .line();
    let mut config = ServerConfig::new(SECRET);
    config.issuer = None;
    let claims = sds_server::verify_token(&issued, &config, sds_server::now_seconds()).unwrap();
    assert_eq!(
        (claims.sub.as_str(), claims.aud.as_str(), claims.scope),
        ("alice", STORE, Scope::Write)
    );
    // The issued token is accepted by the server.
    let out = s.run(&["--server", &url, "--token", &issued, "store", "ping"]);
    assert_eq!(out.line(), format!("server '{url}': reachable"));

    // JSON, with the admin token and server from the environment.
    let out = run(
        s.command()
            .env("SDS_ADMIN_TOKEN", &admin)
            .env("SDS_SERVER_URL", format!("{url}/"))
            .args([
                "--format", "json", "token", "issue", "--sub", "bob", "--scope", "read", "--exp",
                "90m",
            ]),
        None,
    );
    let json = out.json();
    let issued = json["token"].as_str().unwrap().to_owned();
    assert_eq!(
        json,
        json!({"token": issued, "sub": "bob", "scope": "read", "exp": "90m"})
    );
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4);
    assert!(out.stdout.find("\"token\"") < out.stdout.find("\"exp\""));
    let claims = sds_server::verify_token(&issued, &config, sds_server::now_seconds()).unwrap();
    assert_eq!((claims.sub.as_str(), claims.scope), ("bob", Scope::Read));
    // No store is opened or created.
    assert!(!s.dir().exists());
}

#[test]
fn token_issue_checks_its_arguments_in_order() {
    let s = Sds::new("yrs");
    fn issue<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        [extra, &["token", "issue", "--sub", "a", "--scope", "write"]].concat()
    }
    // No admin token comes first, even before an invalid server URL.
    s.run(&issue(&["--server", "http://x"])).fails(
        4,
        "no admin token — set SDS_ADMIN_TOKEN or use --admin-token",
    );
    s.run(&issue(&["--admin-token", "t"]))
        .fails(2, "no server URL — set SDS_SERVER_URL or use --server");
    s.run(&issue(&["--admin-token", "t", "--server", "http://x"]))
        .fails(
            2,
            "invalid server URL 'http://x' — must start with 'ws://' or 'wss://'",
        );
    fn with<'a>(rest: &[&'a str]) -> Vec<&'a str> {
        let base = ["--admin-token", "t", "--server", "ws://127.0.0.1:1"];
        [&base[..], &["token", "issue", "--sub", "a"], rest].concat()
    }
    s.run(&with(&["--scope", "owner"]))
        .fails(2, "invalid scope 'owner' — must be read, write, or admin");
    s.run(&with(&["--scope", "Write"]))
        .fails(2, "invalid scope 'Write' — must be read, write, or admin");
    for bad in ["1w", "24", "h", "1.5h", "-1h"] {
        s.run(&with(&["--scope", "read", "--exp", bad])).fails(
            2,
            &format!("invalid expiry '{bad}' — use a number followed by s, m, h, or d"),
        );
    }
    let mut json = with(&["--scope", "owner"]);
    json.extend(["--format", "json"]);
    s.run(&json)
        .fails_json(2, "invalid scope 'owner' — must be read, write, or admin");
}

#[test]
fn token_issue_maps_http_failures_to_exit_codes() {
    let relay = Relay::start();
    let s = Sds::new("yrs");
    let url = relay.url();
    let issue = |server: &str, admin: &str| {
        s.run(&[
            "--server",
            server,
            "--admin-token",
            admin,
            "token",
            "issue",
            "--sub",
            "a",
            "--scope",
            "read",
        ])
    };
    // 401: signed with another secret.
    let forged = token_with(
        "another-secret-another-secret-0123456789",
        STORE,
        Scope::Admin,
    );
    issue(&url, &forged).fails(4, "token rejected by server: invalid token");
    issue(&url, "not-a-jwt").fails(4, "token rejected by server: invalid token");
    // 403: a write token is no admin token.
    issue(&url, &token(Scope::Write)).fails(6, "admin scope required: admin scope required");
    // Transport failure: nobody listens.
    let dead = dead_url();
    let out = issue(&dead, &token(Scope::Admin));
    let prefix = format!(
        "sds: error: HTTP request to 'http{}/api/token' failed: ",
        dead.strip_prefix("ws").unwrap()
    );
    assert_eq!((out.code, out.stdout.as_str()), (5, ""));
    assert!(out.stderr.starts_with(&prefix), "{}", out.stderr);
}

/// A TLS listener on 127.0.0.1:0 with a self-signed certificate for `localhost`: clients that
/// trust only the public web PKI (as `sds` does) refuse it.
fn untrusted_tls_listener(runtime: &tokio::runtime::Runtime) -> u16 {
    use tokio_rustls::rustls;
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    runtime.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(stream).await;
            });
        }
    });
    port
}

#[test]
fn https_and_wss_check_the_server_certificate() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let port = untrusted_tls_listener(&runtime);
    let server = format!("wss://localhost:{port}");
    let s = Sds::new("yrs");
    let out = s.run(&[
        "--server",
        &server,
        "--admin-token",
        &token(Scope::Admin),
        "token",
        "issue",
        "--sub",
        "a",
        "--scope",
        "read",
    ]);
    assert_eq!((out.code, out.stdout.as_str()), (5, ""));
    let prefix =
        format!("sds: error: HTTP request to 'https://localhost:{port}/api/token' failed: ");
    assert!(out.stderr.starts_with(&prefix), "{}", out.stderr);
    assert!(out.stderr.contains("certificate"), "{}", out.stderr);
    let out = s.run(&["--server", &server, "--token", "t", "store", "ping"]);
    let line = out.line();
    assert!(
        line.starts_with(&format!("server '{server}': unreachable — ")),
        "{line}"
    );
    assert!(line.contains("certificate"), "{line}");
}

// ---------------------------------------------------------------------------------------------
// store ping

#[test]
fn store_ping_reports_reachable_servers_without_opening_the_store() {
    let relay = Relay::start();
    let s = Sds::new("yrs");
    let url = relay.url();
    let tok = token(Scope::Read);
    let out = s.run(&["--server", &url, "--token", &tok, "store", "ping"]);
    assert_eq!(out.line(), format!("server '{url}': reachable"));
    let out = s.run(&[
        "--server", &url, "--token", &tok, "--format", "json", "store", "ping",
    ]);
    assert_eq!(
        out.json(),
        json!({"server": url, "storeId": STORE, "reachable": true})
    );
    assert!(out.stdout.find("\"server\"") < out.stdout.find("\"reachable\""));
    // F19: no database, not even the directory.
    assert!(!s.dir().exists());
    assert!(!s.db().exists());
}

#[test]
fn store_ping_of_an_unreachable_server_exits_0() {
    let s = Sds::new("yrs");
    let url = dead_url();
    let tok = token(Scope::Read);
    let out = s.run(&["--server", &url, "--token", &tok, "store", "ping"]);
    let line = out.line();
    assert!(
        line.starts_with(&format!("server '{url}': unreachable — ")),
        "{line}"
    );
    assert!(!line.contains(&tok), "the token is not shown");
    let out = s.run(&[
        "--server", &url, "--token", &tok, "--format", "json", "store", "ping",
    ]);
    let json = out.json();
    assert_eq!(json["server"], url.as_str());
    assert_eq!(json["reachable"], false);
    assert!(!json["error"].as_str().unwrap().is_empty());
    assert_eq!(json.as_object().unwrap().len(), 3);
    assert!(!s.dir().exists());
}

#[test]
fn store_ping_reports_refused_tokens() {
    let relay = Relay::start();
    let s = Sds::new("yrs");
    let url = relay.url();
    let forged = token_with(
        "another-secret-another-secret-0123456789",
        STORE,
        Scope::Write,
    );
    s.run(&["--server", &url, "--token", &forged, "store", "ping"])
        .fails(4, "token rejected by server: 4001 Unauthorized");
    // A token for another store: aud ≠ store id.
    let other = token_with(SECRET, "other", Scope::Write);
    s.run(&["--server", &url, "--token", &other, "store", "ping"])
        .fails(6, "token rejected by server: 4003 Forbidden");
    s.run(&[
        "--server", &url, "--token", &other, "--format", "json", "store", "ping",
    ])
    .fails_json(6, "token rejected by server: 4003 Forbidden");
    assert!(!s.dir().exists());
}

#[test]
fn store_ping_needs_store_server_and_token() {
    let s = Sds::new("yrs");
    run(
        s.bare().args([
            "--server",
            "ws://127.0.0.1:1",
            "--token",
            "t",
            "store",
            "ping",
        ]),
        None,
    )
    .fails(2, "no store ID — set SDS_STORE_ID or use --store");
    s.run(&["--token", "t", "store", "ping"])
        .fails(2, "no server URL — set SDS_SERVER_URL or use --server");
    s.run(&["--server", "ws://127.0.0.1:1", "store", "ping"])
        .fails(2, "no client token — set SDS_TOKEN or use --token");
    s.run(&[
        "--server",
        "http://127.0.0.1:1",
        "--token",
        "t",
        "store",
        "ping",
    ])
    .fails(
        2,
        "invalid '--server' URL 'http://127.0.0.1:1' — must start with 'ws://' or 'wss://'",
    );
}

#[test]
fn network_commands_run_in_scripts_and_the_shell() {
    let relay = Relay::start();
    let s = Sds::new("yrs");
    let url = relay.url();
    let tok = token(Scope::Write);
    let dead = dead_url();
    let script = format!(
        "store ping\nstore ping --server {dead}\nentry create --label scripted\n\
         store sync --timeout 300\nstore ping --token bad\n"
    );
    let out = s.run_with_input(
        &[
            "--server",
            &url,
            "--token",
            &tok,
            "--on-error",
            "continue",
            "--script",
            "-",
        ],
        &script,
    );
    assert_eq!(out.code, 4, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[0], format!("server '{url}': reachable"));
    assert!(lines[1].starts_with(&format!("server '{dead}': unreachable — ")));
    assert_eq!(lines[3], format!("store '{STORE}': synced"));
    assert_eq!(
        out.stderr,
        "sds: error: token rejected by server: 4001 Unauthorized\n"
    );
    let out = s.run_with_input(
        &["--server", &url, "--token", &tok, "shell"],
        "store ping\nexit\n",
    );
    assert_eq!(out.ok(), format!("server '{url}': reachable\n"));
}

// ---------------------------------------------------------------------------------------------
// store sync

#[test]
fn store_sync_checks_its_arguments() {
    let s = Sds::new("yrs");
    fn with<'a>(rest: &[&'a str]) -> Vec<&'a str> {
        let server = ["--server", "ws://127.0.0.1:1", "--token", "t"];
        [&server[..], &["store", "sync"], rest].concat()
    }
    s.run(&with(&["--timeout", "0"]))
        .fails(2, "'--timeout' must be a positive integer — got 0");
    s.run(&with(&["--timeout", "-5"]))
        .fails(2, "'--timeout' must be a positive integer — got -5");
    s.run(&with(&["--timeout", "5s"]))
        .fails(2, "invalid value for --timeout: '5s' — expected an integer");
    s.run(&["--token", "t", "store", "sync"])
        .fails(2, "no server URL — set SDS_SERVER_URL or use --server");
    s.run(&["--server", "ws://127.0.0.1:1", "store", "sync"])
        .fails(2, "no client token — set SDS_TOKEN or use --token");
    run(s.bare().args(with(&[])), None).fails(2, "no store ID — set SDS_STORE_ID or use --store");
    assert!(!s.dir().exists());
}

#[test]
fn store_sync_reports_refused_tokens_and_unreachable_servers() {
    let relay = Relay::start();
    let s = Sds::new("yrs");
    let url = relay.url();
    let forged = token_with(
        "another-secret-another-secret-0123456789",
        STORE,
        Scope::Write,
    );
    let sync_with = |server: &str, tok: &str| {
        s.run(&[
            "--server",
            server,
            "--token",
            tok,
            "store",
            "sync",
            "--timeout",
            "500",
        ])
    };
    sync_with(&url, &forged).fails(
        4,
        "sync failed: token rejected by server: 4001 Unauthorized",
    );
    let other = token_with(SECRET, "other", Scope::Write);
    sync_with(&url, &other).fails(6, "sync failed: token rejected by server: 4003 Forbidden");
    let out = sync_with(&dead_url(), &token(Scope::Write));
    assert_eq!((out.code, out.stdout.as_str()), (5, ""));
    assert!(
        out.stderr.starts_with("sds: error: sync failed: "),
        "{}",
        out.stderr
    );
}

#[test]
fn store_sync_without_an_established_connection_could_not_connect() {
    // A listener that never accepts: the TCP connection is queued by the kernel, the
    // WebSocket upgrade is never answered, so the guard (twice the timeout) ends the wait.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", silent.local_addr().unwrap());
    let s = Sds::new("yrs");
    let tok = token(Scope::Write);
    let out = s.run(&[
        "--server",
        &url,
        "--token",
        &tok,
        "store",
        "sync",
        "--timeout",
        "200",
    ]);
    assert_eq!(out.line(), format!("store '{STORE}': could not connect"));
    let out = s.run(&[
        "--server",
        &url,
        "--token",
        &tok,
        "--format",
        "json",
        "store",
        "sync",
        "--timeout",
        "200",
    ]);
    assert_eq!(
        out.json(),
        json!({"storeId": STORE, "server": url, "connected": false, "synced": false})
    );
    // The store was created all the same (SPEC §15.3).
    assert!(s.db().exists());
    drop(silent);
}

#[test]
fn store_ids_are_encoded_in_the_sync_url() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::durable(data.path(), "yrs");
    let url = relay.url();
    let odd = "team notes/2026?v=1&ü#x";
    let tok = token_with(SECRET, odd, Scope::Write);
    let a = Sds::new("yrs");
    let b = Sds::new("yrs");
    let with = |extra: &[&str]| -> Vec<String> {
        ["--store", odd, "--server", &url, "--token", &tok]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let run_as = |s: &Sds, extra: &[&str]| run(s.command().args(with(extra)), None);
    assert_eq!(
        run_as(&a, &["store", "ping"]).line(),
        format!("server '{url}': reachable")
    );
    // The whole id is the audience: a token for a prefix of it is for another store.
    let prefix = token_with(SECRET, "team notes", Scope::Write);
    run(
        a.command()
            .args(with(&["--token", &prefix, "store", "ping"])),
        None,
    )
    .fails(6, "token rejected by server: 4003 Forbidden");
    let id = run_as(&a, &["entry", "create", "--label", "odd"]).line();
    assert_eq!(
        run_as(&a, &["store", "sync", "--timeout", "500"]).line(),
        format!("store '{odd}': synced")
    );
    run_as(&b, &["store", "sync", "--timeout", "500"]).ok();
    assert_eq!(
        run_as(&b, &["entry", "get", &id, "--label"]).ok(),
        format!("id:    {id}\nlabel: odd\n")
    );
}

/// A creates entries and syncs; B syncs and sees them; B edits and syncs; A syncs and sees
/// B's edits. The server is durable, so nobody needs to be online at the same time; a
/// restarted server still has everything.
fn durable_server_carries_changes_between_clis(backend: &'static str) {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::durable(data.path(), backend);
    let a = Sds::new(backend);
    let b = Sds::new(backend);
    let first = a.item(&["--label", "from A", "--value", "hello"]);
    let child = a.item(&["--container", &first, "--label", "child of A"]);
    assert_eq!(sync(&a, &relay).line(), format!("store '{STORE}': synced"));

    // B has no store yet: sync creates it.
    assert!(!b.db().exists());
    let out = b.run(&[
        "--server",
        &relay.url(),
        "--token",
        &token(Scope::Write),
        "--format",
        "json",
        "store",
        "sync",
        "--timeout",
        "500",
    ]);
    assert_eq!(
        out.json(),
        json!({"storeId": STORE, "server": relay.url(), "connected": true, "synced": true})
    );
    assert!(b.db().exists());
    assert_eq!(label_of(&b, &first), "from A");
    assert_eq!(field_of(&b, &first, "value"), "hello");
    let tree = b.run(&["tree", "show"]);
    assert!(
        tree.ok().contains(&format!("{child}  child of A")),
        "{}",
        tree.stdout
    );

    // B edits; A catches up.
    b.run(&["entry", "update", &first, "--label", "edited by B"])
        .ok();
    let second = b.item(&["--label", "from B"]);
    assert_eq!(sync(&b, &relay).line(), format!("store '{STORE}': synced"));
    sync(&a, &relay).ok();
    assert_eq!(label_of(&a, &first), "edited by B");
    assert_eq!(label_of(&a, &second), "from B");

    // The replica survives a restart of the server; a third CLI catches up alone.
    relay.stop();
    let relay = Relay::durable(data.path(), backend);
    let c = Sds::new(backend);
    sync(&c, &relay).ok();
    assert_eq!(label_of(&c, &first), "edited by B");
    assert_eq!(label_of(&c, &second), "from B");
    assert_eq!(label_of(&c, &child), "child of A");
}

/// Without a data directory the server is a pure relay: two CLIs online at the same time
/// exchange their changes in both directions.
fn relay_exchanges_changes_between_online_clis(backend: &'static str) {
    let relay = Relay::start();
    let a = Sds::new(backend);
    let b = Sds::new(backend);
    let from_a = a.item(&["--label", "from A"]);
    let from_b = b.item(&["--label", "from B"]);
    let tok = token(Scope::Write);
    let mut online = a.command();
    online
        .args([
            "--server",
            &relay.url(),
            "--token",
            &tok,
            "store",
            "sync",
            "--timeout",
            "2500",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let a_sync = spawn(&mut online);
    relay.wait_for_room(STORE, 1);
    assert_eq!(sync(&b, &relay).line(), format!("store '{STORE}': synced"));
    assert_eq!(label_of(&b, &from_a), "from A");
    let out = a_sync.wait_with_output().unwrap();
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned()
        ),
        (Some(0), format!("store '{STORE}': synced\n"), String::new())
    );
    assert_eq!(label_of(&a, &from_b), "from B");
}

fn spawn(command: &mut Command) -> std::process::Child {
    command.spawn().expect("spawn sds")
}

backend_tests!(
    durable_server_carries_changes_between_clis,
    relay_exchanges_changes_between_online_clis,
);
