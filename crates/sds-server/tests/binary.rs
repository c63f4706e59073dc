//! The `sds-server` binary as a user runs it: configuration, exit codes, signals and the
//! easy start (SPEC §14.1, §14.8, §18.16).

mod common;

use common::*;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BINARY: &str = env!("CARGO_BIN_EXE_sds-server");

/// The binary with a clean environment (no `SDS_*` variables of the caller).
fn command() -> Command {
    let mut command = Command::new(BINARY);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SDS_") {
            command.env_remove(name);
        }
    }
    command.env("RUST_LOG", "info");
    command
}

/// Runs a command that is expected to exit by itself.
fn run(command: &mut Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().ok();
            panic!("the server did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn assert_config_error(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("sds-server: "), "{stderr}");
    assert!(stderr.contains(needle), "{needle:?} in {stderr}");
}

/// A running server process.
struct Process {
    child: Child,
    address: String,
    stdout: mpsc::Receiver<String>,
}

impl Process {
    /// Starts the binary on port 0 and waits for its "listening" log line.
    fn start(command: &mut Command) -> Process {
        let mut child = command
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (stderr_lines, stderr) = mpsc::channel();
        let reader = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                let _ = stderr_lines.send(line);
            }
        });
        let (stdout_lines, stdout) = mpsc::channel();
        let reader = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                let _ = stdout_lines.send(line);
            }
        });
        let address = loop {
            let line = stderr
                .recv_timeout(PATIENCE)
                .expect("the server logs where it listens");
            if let Some((_, rest)) = line.split_once("address=") {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        Process {
            child,
            address,
            stdout,
        }
    }

    fn url(&self) -> String {
        format!("ws://{}", self.address)
    }

    /// Sends SIGTERM.
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the exit code.
    fn wait(mut self) -> Option<i32> {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if std::time::Instant::now() > deadline {
                self.child.kill().ok();
                panic!("the server did not exit");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_missing_or_short_secret_and_invalid_options_exit_with_2() {
    assert_config_error(&run(&mut command()), "SDS_JWT_SECRET");
    assert_config_error(
        &run(command().env("SDS_JWT_SECRET", "x".repeat(31))),
        "at least 32 characters",
    );
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short");
    std::fs::write(&short, "short secret\n").unwrap();
    assert_config_error(
        &run(command().arg("--jwt-secret-file").arg(&short)),
        "at least 32 characters",
    );
    assert_config_error(
        &run(command()
            .arg("--jwt-secret-file")
            .arg(dir.path().join("missing"))),
        "cannot read the secret file",
    );
    let secret = SECRET;
    for (args, env, needle) in [
        (&["--backend", "automerge"][..], None, "automerge"),
        (&["--port", "abc"], None, "abc"),
        (&["--max-frame-size", "0"], None, "max-frame-size"),
        (&["--max-connections", "-1"], None, "-1"),
        (&["--no-such-option"], None, "--no-such-option"),
        (&[], Some(("SDS_BACKEND", "automerge")), "automerge"),
        (&[], Some(("SDS_OUTBOUND_QUEUE_LIMIT", "lots")), "lots"),
        (
            &[],
            Some(("SDS_ALLOW_TOKENS_WITHOUT_EXP", "perhaps")),
            "perhaps",
        ),
    ] {
        let mut command = command();
        command.env("SDS_JWT_SECRET", secret).args(args);
        if let Some((name, value)) = env {
            command.env(name, value);
        }
        assert_config_error(&run(&mut command), needle);
    }
}

#[test]
fn runtime_failures_exit_with_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = run(command()
        .env("SDS_JWT_SECRET", SECRET)
        .args(["--port", &port]));
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("sds-server: cannot listen"));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let output = run(command()
        .env("SDS_JWT_SECRET", SECRET)
        .arg("--data-dir")
        .arg(&file));
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("sds-server: data directory"));
}

#[test]
fn help_and_version_exit_with_0() {
    for flag in ["--help", "--version"] {
        let output = run(command().arg(flag));
        assert_eq!(output.status.code(), Some(0), "{flag}");
        assert!(!output.stdout.is_empty());
    }
}

#[test]
fn options_beat_environment_variables() {
    let dir = tempfile::tempdir().unwrap();
    let file_secret = "a-secret-from-the-file-a-secret-from-the-file";
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, format!("{file_secret}\n")).unwrap();
    let server = Process::start(
        command()
            .env("SDS_JWT_SECRET", SECRET)
            .env("SDS_HOST", "not a host name")
            .env("SDS_PORT", "not a port")
            .env("SDS_ISSUER", "from-the-environment")
            .args(["--host", "127.0.0.1", "--issuer", "from-the-option"])
            .arg("--jwt-secret-file")
            .arg(&secret_file),
    );
    let claims = |issuer: &str| serde_json::json!({"sub": "u", "aud": "s", "scope": "write", "exp": now() + 60, "iss": issuer});
    runtime().block_on(async {
        let good = sign_with(&claims("from-the-option"), file_secret);
        let mut client = Client::connect(&server.url(), "ws", "s", Some(&good)).await;
        let mut other = Client::connect(&server.url(), "ws", "s", Some(&good)).await;
        assert_nothing_received(&mut client, &mut other, &marker(1)).await;
        for refused in [
            sign_with(&claims("from-the-option"), SECRET),
            sign_with(&claims("from-the-environment"), file_secret),
        ] {
            let mut client = Client::connect(&server.url(), "ws", "s", Some(&refused)).await;
            assert_eq!(client.refused().await.0, 4001);
        }
    });
    server.terminate();
    assert_eq!(server.wait(), Some(0));
}

#[test]
fn sigterm_closes_connections_checkpoints_and_exits_with_0() {
    let dir = tempfile::tempdir().unwrap();
    let server = Process::start(
        command()
            .env("SDS_JWT_SECRET", SECRET)
            .env("SDS_BACKEND", "loro")
            .arg("--data-dir")
            .arg(dir.path()),
    );
    let rt = runtime();
    let mut client = rt.block_on(async {
        let mut client =
            Client::connect(&server.url(), "ws", "s", Some(&token("s", "write"))).await;
        assert_eq!(client.recv_binary().await[0], 0x06);
        let mut doc = Doc::<sds_loro::LoroBackend>::new();
        doc.add("kept");
        client.send(patch_frame(&doc.full())).await;
        client.send(vec![0x06]).await;
        assert_eq!(client.recv_binary().await[0], 0x01);
        client
    });
    server.terminate();
    assert_eq!(rt.block_on(client.closed()).0, 1001);
    assert_eq!(server.wait(), Some(0));
    assert_snapshot_written(dir.path(), "s");
}

fn assert_snapshot_written(dir: &Path, store: &str) {
    use sds_core::Persistence as _;
    let mut file = sds_sqlite::SqlitePersistence::open(
        sds_sqlite::store_file_path(dir, store),
        store,
        sds_sqlite::SqliteOptions {
            read_only: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        file.load_snapshot().unwrap().is_some(),
        "checkpoint at shutdown"
    );
    assert_eq!(file.backend().unwrap().as_deref(), Some("loro"));
}

#[test]
fn the_easy_start_generates_a_secret_once_and_prints_an_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let start = || Process::start(command().arg("--data-dir").arg(dir.path()));
    let server = start();
    let mut printed = Vec::new();
    let token = loop {
        let line = server
            .stdout
            .recv_timeout(PATIENCE)
            .expect("a printed token");
        printed.push(line.clone());
        let line = line.trim();
        if line.starts_with("ey") && line.matches('.').count() == 2 {
            break line.to_owned();
        }
    };
    let secret_file = dir.path().join(sds_server::SECRET_FILE_NAME);
    let secret = sds_server::read_secret_file(&secret_file).unwrap();
    assert!(secret.len() >= 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        printed.iter().any(|l| l.contains(&server.url())),
        "{printed:?}"
    );
    let mut config = sds_server::ServerConfig::new(secret.clone());
    config.allow_tokens_without_exp = false;
    let claims = sds_server::verify_token(&token, &config, now()).unwrap();
    assert_eq!(claims.aud, "default");
    assert_eq!(claims.scope, sds_server::Scope::Admin);
    let rt = runtime();
    let check = |server: &Process| {
        rt.block_on(async {
            let mut admin = Client::connect(&server.url(), "ws", "default", Some(&token)).await;
            assert_eq!(
                admin.recv_binary().await[0],
                0x06,
                "a writer of store default"
            );
            let (status, body) = http(
                server.address.parse().unwrap(),
                "POST",
                "/api/token",
                &[("Authorization", &format!("Bearer {token}"))],
                br#"{"sub":"alice","scope":"read"}"#,
            )
            .await;
            assert_eq!(status, 200, "{body}");
            admin.close().await;
        })
    };
    check(&server);
    server.terminate();
    assert_eq!(server.wait(), Some(0));

    // A restart reuses the secret: the printed token still works.
    let server = start();
    assert_eq!(sds_server::read_secret_file(&secret_file).unwrap(), secret);
    check(&server);
    server.terminate();
    assert_eq!(server.wait(), Some(0));
}

#[test]
fn sds_allow_tokens_without_exp_1_accepts_tokens_without_exp() {
    let server = Process::start(
        command()
            .env("SDS_JWT_SECRET", SECRET)
            .env("SDS_ALLOW_TOKENS_WITHOUT_EXP", "1"),
    );
    let forever = sign(&serde_json::json!({"sub": "u", "aud": "s", "scope": "write"}));
    runtime().block_on(async {
        let mut a = Client::connect(&server.url(), "ws", "s", Some(&forever)).await;
        let mut b = Client::connect(&server.url(), "ws", "s", Some(&forever)).await;
        assert_nothing_received(&mut a, &mut b, &marker(1)).await;
    });
    server.terminate();
    assert_eq!(server.wait(), Some(0));
}
