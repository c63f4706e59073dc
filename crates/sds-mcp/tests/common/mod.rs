//! A small MCP client over the stdio of the real `sds-mcp` binary, and a relay server in
//! the test process for the network tools.

#![allow(dead_code)]

use serde_json::{Value as JsonValue, json};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

/// How long the client waits for an answer before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The environment variables the server reads; cleared for every spawned server.
pub const SDS_VARS: [&str; 6] = [
    "SDS_STORE_ID",
    "SDS_PERSISTENCE_DIR",
    "SDS_SERVER_URL",
    "SDS_TOKEN",
    "SDS_ADMIN_TOKEN",
    "SDS_BACKEND",
];

/// A running `sds-mcp` with an initialised MCP session.
pub struct Mcp {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    next_id: u64,
    /// The `initialize` result.
    pub info: JsonValue,
}

/// A command for `sds-mcp` with a clean environment: no `SDS_*` variables and `HOME` in
/// `home` (so that the default `~/.sds` is inside the test's directory).
pub fn command(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sds-mcp"));
    command.args(args).env("HOME", home);
    for var in SDS_VARS {
        command.env_remove(var);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

impl Mcp {
    /// Starts the server with `args` and `env` (see [`command`]) and initialises the session.
    pub fn start(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Mcp {
        let mut child = command(home, args, env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("sds-mcp starts");
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut mcp = Mcp {
            child,
            stdin,
            lines,
            next_id: 1,
            info: JsonValue::Null,
        };
        let info = mcp.request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "sds-mcp-tests", "version": "1"},
            }),
        );
        mcp.info = info["result"].clone();
        mcp.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        mcp
    }

    /// Starts the server with `--persistence-dir <dir>`.
    pub fn in_dir(dir: &Path) -> Mcp {
        Mcp::start(dir, &["--persistence-dir", dir.to_str().unwrap()], &[])
    }

    /// Writes one JSON-RPC message.
    pub fn send(&mut self, message: &JsonValue) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{message}").unwrap();
        stdin.flush().unwrap();
    }

    /// Sends a request and returns its response (the whole JSON-RPC object).
    pub fn request(&mut self, method: &str, params: JsonValue) -> JsonValue {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let line = self
                .lines
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("no answer to {method}"));
            let message: JsonValue = serde_json::from_str(&line)
                .unwrap_or_else(|_| panic!("stdout carries JSON-RPC only, got {line:?}"));
            if message["id"] == json!(id) {
                return message;
            }
        }
    }

    /// The raw `tools/call` result of `tool`.
    pub fn call_raw(&mut self, tool: &str, args: JsonValue) -> JsonValue {
        let response = self.request("tools/call", json!({"name": tool, "arguments": args}));
        assert!(
            response.get("error").is_none(),
            "protocol error: {response}"
        );
        response["result"].clone()
    }

    /// Calls `tool`: the parsed JSON of a success, or the message of an `isError` result.
    pub fn call(&mut self, tool: &str, args: JsonValue) -> Result<JsonValue, String> {
        let result = self.call_raw(tool, args);
        let content = result["content"].as_array().expect("content");
        assert_eq!(content.len(), 1, "one content block: {result}");
        assert_eq!(content[0]["type"], "text");
        let text = content[0]["text"].as_str().unwrap().to_owned();
        if result.get("isError") == Some(&json!(true)) {
            Err(text)
        } else {
            assert!(result.get("isError").is_none(), "{result}");
            assert!(result.get("structuredContent").is_none(), "{result}");
            assert!(!text.contains('\n') || tool == "sds_store_export" || tool == "sds_batch");
            Ok(serde_json::from_str(&text).expect("compact JSON"))
        }
    }

    /// Calls `tool` and expects success.
    pub fn ok(&mut self, tool: &str, args: JsonValue) -> JsonValue {
        self.call(tool, args.clone())
            .unwrap_or_else(|e| panic!("{tool} {args} failed: {e}"))
    }

    /// Calls `tool` and expects an error; returns its message.
    pub fn err(&mut self, tool: &str, args: JsonValue) -> String {
        match self.call(tool, args.clone()) {
            Ok(value) => panic!("{tool} {args} succeeded: {value}"),
            Err(message) => message,
        }
    }

    /// Closes stdin and waits for the process to exit.
    pub fn finish(mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        self.child.wait().unwrap()
    }
}

impl Drop for Mcp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory and the path of its `data` folder.
pub fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    (dir, data)
}

/// The secret of the test relay.
pub const SECRET: &str = "mcp-test-secret-mcp-test-secret-0123456789";

/// A relay server (`sds_server::run`) on 127.0.0.1:0, in its own runtime.
pub struct TestServer {
    /// `ws://127.0.0.1:<port>`.
    pub url: String,
    _data: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<sds_server::Result<()>>>,
}

impl TestServer {
    /// Starts a server in persistent mode (durable replicas answer late joiners).
    pub fn start() -> TestServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("ws://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let data = tempfile::tempdir().unwrap();
        let mut config = sds_server::ServerConfig::new(SECRET);
        config.data_dir = Some(data.path().to_owned());
        let task = runtime.spawn(sds_server::run(listener, config, async move {
            let _ = stopped.await;
        }));
        TestServer {
            url,
            _data: data,
            runtime,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server and waits until it has returned.
    pub fn stop(mut self) {
        self.stop.take().unwrap().send(()).ok();
        let task = self.task.take().unwrap();
        self.runtime
            .block_on(async { tokio::time::timeout(PATIENCE, task).await })
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}

/// A token for `store` with `scope`, signed with [`SECRET`].
pub fn token(store: &str, scope: &str) -> String {
    let scope = sds_server::Scope::parse(scope).unwrap();
    let secret = sds_server::JwtSecret::new(SECRET);
    sds_server::issue_token(
        &secret,
        None,
        "tester",
        store,
        scope,
        sds_server::now_seconds(),
        3600,
    )
    .unwrap()
}

/// The verified claims of `token`.
pub fn claims(token: &str) -> sds_server::Claims {
    let config = sds_server::ServerConfig::new(SECRET);
    sds_server::verify_token(token, &config, sds_server::now_seconds()).expect("a valid token")
}

/// `ws://` URL of a port where nothing listens.
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}
