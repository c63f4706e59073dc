//! The background process that keeps stores open between commands (`SDS_DAEMON`): commands
//! sent to it print exactly what they print in-process, it sees what other processes write,
//! the client speaks its protocol (checked against a stand-in listener), and it declines
//! what it cannot run and exits when idle or superseded.

#![cfg(unix)]

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Child, Command, Stdio};

const SOCKET: &str = ".sds-daemon.sock";

impl Sds {
    /// `sds` with the default options and `SDS_DAEMON=<mode>`.
    fn with_daemon(&self, mode: &str) -> Command {
        let mut command = self.command();
        // A background process this starts outlives the test by a minute at most.
        command.env("SDS_DAEMON", mode).env("SDS_DAEMON_IDLE", "60");
        command
    }

    /// Starts `sds __serve <dir>` as a child of the test and waits until it accepts
    /// connections.
    fn serve(&self, idle_secs: &str) -> Child {
        std::fs::create_dir_all(self.dir()).expect("persistence directory");
        let mut child = self
            .bare()
            .args(["__serve"])
            .arg(self.dir())
            .env("SDS_DAEMON_IDLE", idle_secs)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the background process");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("stdout"))
            .read_line(&mut line)
            .expect("read");
        assert_eq!(line, "ready\n");
        child
    }
}

/// Every kind of command gives the same output, errors and exit codes through the
/// background process as in-process, relative paths are the client's, and what another
/// process writes is seen.
fn commands_through_the_background_process_match_in_process_runs(backend: &'static str) {
    let s = Sds::new(backend);
    // `on`: the first command starts the background process of the directory.
    let a = run(
        s.with_daemon("on")
            .args(["entry", "create", "--label", "A", "--info.n", "1"]),
        None,
    )
    .line();
    assert!(s.dir().join(SOCKET).exists(), "no background process");
    let through = |args: &[&str]| run(s.with_daemon("auto").args(args), None);
    let local = |args: &[&str]| run(s.command().args(args), None);

    let b = through(&["entry", "create", "--label", "B", "--container", &a]).line();
    // Another process writes to the file; the kept store catches up.
    let c = local(&["entry", "create", "--label", "C"]).line();
    through(&["entry", "update", &c, "--label", "C2", "--info.k", "v"]).ok();
    let cases: Vec<Vec<String>> = vec![
        vec![
            "entry".into(),
            "list".into(),
            "root".into(),
            "--recursive".into(),
            "--label".into(),
        ],
        vec![
            "--format".into(),
            "json".into(),
            "entry".into(),
            "get".into(),
            c.clone(),
            "--info".into(),
        ],
        vec!["tree".into(), "show".into()],
        vec![
            "--format".into(),
            "json".into(),
            "tree".into(),
            "show".into(),
            "--depth".into(),
            "1".into(),
        ],
        vec!["store".into(), "info".into()],
        vec!["trash".into(), "list".into()],
        vec!["entry".into(), "get".into(), "nope".into()],
        vec![
            "--format".into(),
            "json".into(),
            "entry".into(),
            "move".into(),
            a.clone(),
            "--to".into(),
            b.clone(),
        ],
        vec!["entry".into(), "purge".into(), "root".into()],
    ];
    for case in &cases {
        let args: Vec<&str> = case.iter().map(String::as_str).collect();
        let (remote, here) = (through(&args), local(&args));
        assert_eq!(
            (remote.code, &remote.stdout, &remote.stderr),
            (here.code, &here.stdout, &here.stderr),
            "{args:?}"
        );
    }
    through(&["entry", "delete", &b]).ok();
    assert_eq!(
        through(&["trash", "list"]).ok(),
        local(&["trash", "list"]).ok()
    );

    // `--output` names a file relative to the client's working directory.
    through(&["store", "export", "--output", "export.json"]).ok();
    let exported: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.path("export.json")).expect("exported file"))
            .expect("JSON");
    assert_eq!(exported["Kind"], "item");
    let raw = through(&["store", "export", "--encoding", "binary"]);
    assert_eq!(raw.code, 0);
    assert_eq!(&raw.raw_stdout[..2], &[0x1f, 0x8b]);

    // Destroyed through the background process: gone for everyone, and created afresh.
    assert_eq!(
        through(&["store", "destroy"]).line(),
        format!("store '{STORE}': deleted")
    );
    local(&["entry", "get", &a]).fails(
        3,
        &format!("store '{STORE}' not found in '{}'", s.dir().display()),
    );
    let d = through(&["entry", "create", "--label", "D"]).line();
    assert_eq!(local(&["entry", "list", "root"]).ok(), format!("{d}\n"));
    // A wrong backend is reported as in-process.
    run(
        s.with_daemon("auto")
            .args(["--backend", other(backend), "entry", "list", "root"]),
        None,
    )
    .fails(
        2,
        &format!("store '{STORE}' uses the {backend} backend — use --backend {backend}"),
    );
}

backend_tests!(commands_through_the_background_process_match_in_process_runs);

/// The client's side of the protocol, against a listener of the test.
#[test]
fn the_client_sends_its_request_and_prints_the_answer() {
    let s = Sds::new("yrs");
    std::fs::create_dir_all(s.dir()).unwrap();
    let listener = UnixListener::bind(s.dir().join(SOCKET)).unwrap();
    let accept_request = |listener: &UnixListener| {
        let (stream, _) = listener.accept().unwrap();
        let mut line = String::new();
        BufReader::new(&stream).read_line(&mut line).unwrap();
        let request: serde_json::Value = serde_json::from_str(&line).unwrap();
        (stream, request)
    };

    // Ran: the answer's stdout, stderr and exit code are the command's.
    let client = s
        .with_daemon("auto")
        .args(["--format", "json", "entry", "list", "root"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut stream, request) = accept_request(&listener);
    assert_eq!(request["protocol"], 1);
    assert_eq!(
        request["args"],
        serde_json::json!([
            "--persistence-dir",
            s.dir(),
            "--backend",
            "yrs",
            "--store",
            STORE,
            "--format",
            "json",
            "entry",
            "list",
            "root"
        ])
    );
    assert_eq!(request["persistenceDir"], serde_json::json!(s.dir()));
    assert_eq!(request["store"], STORE);
    assert_eq!(
        (request["backend"].as_str(), request["format"].as_str()),
        (Some("yrs"), Some("json"))
    );
    assert_eq!(
        std::path::Path::new(request["cwd"].as_str().unwrap())
            .canonicalize()
            .unwrap(),
        s.temp.path().canonicalize().unwrap()
    );
    let mut answer = vec![0u8, 7];
    for block in [&b"out\n"[..], b"err\n"] {
        answer.extend_from_slice(&(block.len() as u64).to_be_bytes());
        answer.extend_from_slice(block);
    }
    stream.write_all(&answer).unwrap();
    let out = client.wait_with_output().unwrap();
    assert_eq!(
        (out.status.code(), &out.stdout[..], &out.stderr[..]),
        (Some(7), &b"out\n"[..], &b"err\n"[..])
    );

    // Declined: the command runs in-process.
    let client = s
        .with_daemon("auto")
        .args(["entry", "list", "root"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut stream, _) = accept_request(&listener);
    stream.write_all(&[1]).unwrap();
    let out = client.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "sds: error: store '{STORE}' not found in '{}'\n",
            s.dir().display()
        )
    );

    // The connection lost after the request: the outcome is unknown, exit 1.
    let client = s
        .with_daemon("auto")
        .args(["entry", "create"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (stream, _) = accept_request(&listener);
    drop(stream);
    let out = client.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "sds: error: the background process of '{}' failed during the command (",
            s.dir().display()
        )) && stderr.ends_with("); its outcome is unknown\n"),
        "{stderr}"
    );

    // Commands it does not run, and `SDS_DAEMON=off`, never connect.
    drop(listener);
    let out = run(s.with_daemon("auto").args(["store", "ping"]), None);
    assert_eq!(out.code, 2);
    let out = run(s.with_daemon("off").args(["entry", "list", "root"]), None);
    assert_eq!(out.code, 3);
    run(
        s.with_daemon("sometimes").args(["entry", "list", "root"]),
        None,
    )
    .fails(
        2,
        "'SDS_DAEMON' accepts 'auto', 'on', or 'off' — got 'sometimes'",
    );
}

/// Requests it cannot run are declined; a client of another build makes it exit; so does
/// idleness, and a second one for the same directory leaves at once.
#[test]
fn the_background_process_declines_and_exits() {
    let s = Sds::new("yrs");
    let mut daemon = s.serve("600");
    let socket = s.dir().join(SOCKET);
    let ask = |request: &[u8]| {
        let mut stream = UnixStream::connect(&socket).unwrap();
        stream.write_all(request).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        answer
    };
    assert_eq!(ask(b"not json\n"), [1]);
    // A second process for the directory reports ready and leaves.
    let mut second = s.serve("600");
    assert!(second.wait().unwrap().success());
    assert!(daemon.try_wait().unwrap().is_none());
    // A client of another build: declined, and the process exits (removing its socket).
    assert_eq!(ask(b"{\"protocol\":1,\"build\":\"another\"}\n"), [1]);
    assert!(daemon.wait().unwrap().success());
    assert!(!socket.exists());

    // Asked to stop: it exits once the engines are stopped.
    let mut daemon = s.serve("600");
    assert_eq!(ask(b"{\"stop\":true}\n"), [1]);
    assert!(daemon.wait().unwrap().success());
    assert!(!socket.exists());

    // Idle for a second: it exits.
    let mut daemon = s.serve("1");
    assert!(daemon.wait().unwrap().success());
    assert!(!socket.exists());
}
