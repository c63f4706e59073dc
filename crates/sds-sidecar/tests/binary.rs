//! The `sds-sidecar` binary as a user runs it: validation messages and exit codes, a SIGKILL
//! with undelivered events followed by a restart, SIGTERM and authentication errors.

mod support;

use sds_core::NewBackend;
use sds_sidecar::Outbox;
use sds_yrs::YrsBackend;
use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use support::*;
use tokio::sync::mpsc;

const BINARY: &str = env!("CARGO_BIN_EXE_sds-sidecar");

/// A command without any `SDS_*` variable of the test's environment.
fn command(args: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    command.args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SDS_") {
            command.env_remove(key);
        }
    }
    command.env("HOME", std::env::temp_dir());
    command
}

fn run(command: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().unwrap();
    (
        status.code().expect("exited normally"),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn expect_error(command: &mut Command, code: i32, message: &str) {
    let (status, _, stderr) = run(command);
    assert_eq!(status, code, "{stderr}");
    assert_eq!(stderr.trim_end(), format!("sds-sidecar: {message}"));
}

#[test]
fn help_and_version_exit_0() {
    let (code, stdout, _) = run(&mut command(&["--help"]));
    assert_eq!(code, 0);
    for option in [
        "--token",
        "--webhook-url",
        "--on",
        "--watch",
        "--depth",
        "--on-auth-error",
        "--reconnect-jitter",
    ] {
        assert!(stdout.contains(option), "{option} in {stdout}");
    }
    let (code, stdout, _) = run(&mut command(&["--version"]));
    assert_eq!(code, 0);
    assert!(stdout.starts_with("sds-sidecar "), "{stdout}");
}

#[test]
fn an_unknown_option_prints_the_message_a_blank_line_and_the_help() {
    let (code, _, stderr) = run(&mut command(&["--frobnicate"]));
    assert_eq!(code, 2);
    let mut lines = stderr.lines();
    let first = lines.next().unwrap();
    assert!(first.starts_with("sds-sidecar: "), "{first}");
    assert!(first.contains("--frobnicate"), "{first}");
    assert_eq!(lines.next(), Some(""));
    assert!(stderr.contains("Usage:"), "{stderr}");
}

#[test]
fn configuration_errors_have_their_messages_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let (code, _, stderr) = run(&mut command(&["--config", missing.to_str().unwrap()]));
    assert_eq!(code, 3);
    assert!(
        stderr.starts_with(&format!(
            "sds-sidecar: cannot read config file '{}': ",
            missing.display()
        )),
        "{stderr}"
    );

    let invalid = dir.path().join("invalid.json");
    std::fs::write(&invalid, "{ not json").unwrap();
    let (code, _, stderr) = run(&mut command(&["--config", invalid.to_str().unwrap()]));
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with(&format!(
            "sds-sidecar: config file '{}' contains invalid JSON: ",
            invalid.display()
        )),
        "{stderr}"
    );

    let indexed = dir.path().join("indexed.json");
    std::fs::write(
        &indexed,
        r#"{"ServerURL":"ws://h","StoreId":"s","Token":"t",
            "WebHooks":[{"URL":"http://a","on":["change"]},{"URL":"http://b","on":["value:"]}]}"#,
    )
    .unwrap();
    expect_error(
        &mut command(&["--config", indexed.to_str().unwrap()]),
        2,
        "WebHooks[1].on[0]: invalid --on value 'value:' — expected 'value:<mime-glob>'",
    );

    expect_error(
        &mut command(&["ws://h", "s", "--token", "t", "--webhook-url", "http://x"]),
        2,
        "--webhook-url given without any --on trigger",
    );
    expect_error(
        &mut command(&[
            "ws://h",
            "s",
            "--token",
            "t",
            "--webhook-url",
            "http://x",
            "--on",
            "info:=x",
        ]),
        2,
        "invalid --on value 'info:=x' — expected 'info:<key>=<value>'",
    );
    expect_error(
        &mut command(&["ws://h", "s", "--token", "t", "--reconnect-initial", "50"]),
        2,
        "--reconnect-initial must be at least 100 ms",
    );
}

#[test]
fn the_command_line_wins_over_the_environment_and_the_environment_over_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.json");
    std::fs::write(&file, r#"{"ServerURL":"http://from-file"}"#).unwrap();
    let file = file.to_str().unwrap();

    // The file alone: its (invalid) URL is used.
    expect_error(
        &mut command(&["--config", file]),
        2,
        "invalid server URL 'http://from-file' — must start with 'ws://' or 'wss://'",
    );
    // The environment wins over the file.
    expect_error(
        command(&["--config", file]).env("SDS_SERVER_URL", "http://from-env"),
        2,
        "invalid server URL 'http://from-env' — must start with 'ws://' or 'wss://'",
    );
    // The command line wins over both: the URL is fine, the next missing value is reported.
    expect_error(
        command(&["ws://from-cli", "--config", file]).env("SDS_SERVER_URL", "http://from-env"),
        2,
        "no store ID — set SDS_STORE_ID, use --store, or set \"StoreId\" in config file",
    );
    // Every required value can come from the environment.
    expect_error(
        command(&[])
            .env("SDS_SERVER_URL", " ws://env ")
            .env("SDS_STORE_ID", "s"),
        2,
        "no token — set SDS_TOKEN, use --token, or set \"Token\" in config file",
    );
}

/// A running binary whose stderr lines arrive on a channel.
struct Process {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Process {
    fn spawn(args: &[&str]) -> Process {
        let mut child = command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (sender, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("child: {line}");
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Process { child, lines }
    }

    async fn until_line(&mut self, wanted: &str) {
        within(&format!("the line '{wanted}'"), async {
            loop {
                let line = self.lines.recv().await.expect("the process ended");
                if line == wanted {
                    return;
                }
            }
        })
        .await
    }

    async fn wait(mut self) -> (i32, Vec<String>) {
        let status = within("the process to exit", async {
            tokio::task::spawn_blocking(move || self.child.wait().unwrap())
                .await
                .unwrap()
        })
        .await;
        // The reader thread ends at the end of the pipe, closing the channel.
        let mut rest = Vec::new();
        within("the rest of the output", async {
            while let Some(line) = self.lines.recv().await {
                rest.push(line);
            }
        })
        .await;
        (status.code().unwrap_or(-1), rest)
    }
}

fn sidecar_args<'a>(
    server: &'a str,
    store: &'a str,
    token: &'a str,
    dir: &'a Path,
    hook: &'a str,
) -> Vec<&'a str> {
    vec![
        server,
        store,
        "--token",
        token,
        "--persistence-dir",
        dir.to_str().unwrap(),
        "--webhook-url",
        hook,
        "--on",
        "create",
        "--reconnect-initial",
        "100",
    ]
}

async fn killed_and_restarted<B: NewBackend + Send + 'static>(backend: &str) {
    let server = TestServer::start().await;
    let mut receiver = Receiver::start().await;
    receiver.answer_with(500);
    let dir = tempfile::tempdir().unwrap();
    let (url, token, hook) = (server.url(), token("crash"), receiver.url("/hook"));
    let mut args = sidecar_args(&url, "crash", &token, dir.path(), &hook);
    args.extend(["--backend", backend]);

    let mut first = Process::spawn(&args);
    first.until_line("[sds-sidecar] connected").await;
    // The peer joins after the sidecar, so its history reaches the sidecar first.
    let peer = Peer::<B>::connect(&server, "crash").await;
    let mut created = BTreeSet::new();
    for n in 0..3 {
        created.insert(
            peer.item(ROOT, None, &format!("before the crash {n}"))
                .await,
        );
    }
    // Every event was attempted (and refused) twice: its row is in the outbox, and the patch
    // that caused it, appended right after the row was committed, is in the log. (A kill
    // between the two commits would keep the row and lose the patch until a peer or the
    // server sends it again; here the peer goes away, so the test waits past that window.)
    let mut attempts: std::collections::HashMap<String, usize> = Default::default();
    while created
        .iter()
        .any(|id| attempts.get(id).copied().unwrap_or(0) < 2)
    {
        for id in receiver.next().await.entries() {
            *attempts.entry(id).or_default() += 1;
        }
    }
    first.child.kill().unwrap();
    let (code, _) = first.wait().await;
    assert_eq!(code, -1, "killed by a signal");
    peer.stop().await;

    let path = sds_sqlite::store_file_path(dir.path(), "crash");
    let pending = Outbox::open(&path, "crash").unwrap().rows().unwrap();
    let pending_entries: BTreeSet<String> = pending
        .iter()
        .flat_map(|row| {
            let body: serde_json::Value = serde_json::from_str(&row.body).unwrap();
            body["changedEntries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(created.is_subset(&pending_entries), "{pending:?}");

    // Restarted with a healthy receiver: every pending event arrives.
    receiver.answer_with(200);
    let mut second = Process::spawn(&args);
    let mut delivered = BTreeSet::new();
    while !created.is_subset(&delivered) {
        let hook = receiver.next().await;
        if hook.status == 200 {
            delivered.extend(hook.entries());
        }
    }
    second.until_line("[sds-sidecar] connected").await;
    let status = Command::new("kill")
        .args(["-TERM", &second.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    second
        .until_line("[sds-sidecar] received SIGTERM — shutting down")
        .await;
    let (code, _) = second.wait().await;
    assert_eq!(code, 0);

    // The received patches survived the kill: nobody else holds them any more.
    let persistence =
        sds_sqlite::SqlitePersistence::open(&path, "crash", sds_sqlite::SqliteOptions::default())
            .unwrap();
    let engine = sds_sync::Engine::<B>::start(
        Some(Box::new(persistence)),
        sds_sync::EngineOptions::default(),
        sds_sync::driver::now_ms(),
    )
    .unwrap();
    for id in &created {
        let entry = engine.store().entry(id).expect("the entry survived");
        assert!(entry.label().starts_with("before the crash"));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_sidecar_delivers_pending_events_and_keeps_received_data_yrs() {
    killed_and_restarted::<YrsBackend>("yrs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_sidecar_delivers_pending_events_and_keeps_received_data_loro() {
    killed_and_restarted::<sds_loro::LoroBackend>("loro").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_calls_the_auth_hook_and_exits_4() {
    let server = TestServer::start().await;
    let mut receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (url, hook) = (server.url(), receiver.url("/auth"));
    let process = Process::spawn(&[
        &url,
        "guarded",
        "--token",
        "not-a-jwt",
        "--persistence-dir",
        dir.path().to_str().unwrap(),
        "--on-auth-error",
        &hook,
        "--webhook-token",
        "bearer",
    ]);
    let (code, lines) = process.wait().await;
    assert_eq!(code, 4);
    assert!(
        lines.contains(&"[sds-sidecar] AUTH ERROR 4001 Unauthorized: Unauthorized".to_owned()),
        "{lines:?}"
    );
    assert!(
        lines.contains(
            &"[sds-sidecar] reconnect suppressed — check SDS_TOKEN or --token".to_owned()
        ),
        "{lines:?}"
    );
    let got = receiver.next().await;
    assert_eq!(got.body["Code"], 4001);
    assert_eq!(got.header("authorization"), Some("Bearer bearer"));
    server.stop().await;
}

#[test]
fn a_store_that_cannot_be_loaded_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    // A store written by the yrs backend…
    let path = sds_sqlite::store_file_path(dir.path(), "typed");
    let persistence =
        sds_sqlite::SqlitePersistence::open(&path, "typed", sds_sqlite::SqliteOptions::default())
            .unwrap();
    let mut engine = sds_sync::Engine::<YrsBackend>::start(
        Some(Box::new(persistence)),
        sds_sync::EngineOptions::default(),
        sds_sync::driver::now_ms(),
    )
    .unwrap();
    engine.stop().unwrap();
    // …opened with loro.
    expect_error(
        &mut command(&[
            "ws://127.0.0.1:9",
            "typed",
            "--token",
            "t",
            "--backend",
            "loro",
            "--persistence-dir",
            dir.path().to_str().unwrap(),
        ]),
        1,
        "failed to load store 'typed': store 'typed' uses the yrs backend, not loro",
    );
}
