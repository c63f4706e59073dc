//! Helpers of the black-box tests: run the built `sds` binary with a temporary persistence
//! directory and compare its exit code, stdout and stderr exactly.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const ROOT: &str = "00000000-0000-4000-8000-000000000000";
pub const TRASH: &str = "00000000-0000-4000-8000-000000000001";
pub const LOST_AND_FOUND: &str = "00000000-0000-4000-8000-000000000002";

/// The store id the helpers pass with `--store`.
pub const STORE: &str = "test";

/// Every environment variable `sds` reads; the tests start without them.
const SDS_VARIABLES: &[&str] = &[
    "SDS_SERVER_URL",
    "SDS_STORE_ID",
    "SDS_TOKEN",
    "SDS_ADMIN_TOKEN",
    "SDS_PERSISTENCE_DIR",
    "SDS_BACKEND",
];

/// Expands each listed test case for both backends: `mod yrs { fn case() }`, `mod loro { … }`.
#[macro_export]
macro_rules! backend_tests {
    ($($case:ident),* $(,)?) => {
        mod yrs {
            $( #[test] fn $case() { super::$case("yrs") } )*
        }
        mod loro {
            $( #[test] fn $case() { super::$case("loro") } )*
        }
    };
}

/// The other backend.
pub fn other(backend: &str) -> &'static str {
    if backend == "yrs" { "loro" } else { "yrs" }
}

/// What one run printed.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub raw_stdout: Vec<u8>,
}

impl Out {
    /// Asserts success with nothing on stderr; returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(
            (self.code, self.stderr.as_str()),
            (0, ""),
            "stdout: {}",
            self.stdout
        );
        &self.stdout
    }

    /// Asserts success and returns stdout without its final newline (one-line results).
    #[track_caller]
    pub fn line(&self) -> String {
        let out = self.ok();
        assert!(out.ends_with('\n'), "no final newline: {out:?}");
        let line = &out[..out.len() - 1];
        assert!(!line.contains('\n'), "more than one line: {out:?}");
        line.to_owned()
    }

    /// Asserts success and parses stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.ok()).expect("stdout is JSON")
    }

    /// Asserts a text-format error: the exit code and exactly `sds: error: <message>`.
    #[track_caller]
    pub fn fails(&self, code: i32, message: &str) {
        assert_eq!(
            (self.code, self.stderr.as_str(), self.stdout.as_str()),
            (code, format!("sds: error: {message}\n").as_str(), "")
        );
    }

    /// Asserts a JSON-format error line.
    #[track_caller]
    pub fn fails_json(&self, code: i32, message: &str) {
        let expected = format!(
            "{}\n",
            serde_json::json!({"error": message, "exitCode": code})
        );
        // serde_json sorts keys: "error" < "exitCode" is also the required order.
        assert_eq!(
            (self.code, self.stderr.as_str(), self.stdout.as_str()),
            (code, expected.as_str(), "")
        );
    }
}

/// A temporary home with a persistence directory, for one backend.
pub struct Sds {
    pub temp: tempfile::TempDir,
    pub backend: &'static str,
}

impl Sds {
    pub fn new(backend: &'static str) -> Sds {
        Sds {
            temp: tempfile::tempdir().expect("temporary directory"),
            backend,
        }
    }

    /// The persistence directory the helpers pass.
    pub fn dir(&self) -> PathBuf {
        self.temp.path().join("stores")
    }

    /// The test store's database file.
    pub fn db(&self) -> PathBuf {
        self.dir().join(format!("{STORE}.db"))
    }

    /// A path in the temporary directory (for input and output files).
    pub fn path(&self, name: &str) -> PathBuf {
        self.temp.path().join(name)
    }

    /// Writes a file in the temporary directory and returns its path as text.
    pub fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("write test file");
        path.to_string_lossy().into_owned()
    }

    /// `sds` with no options and no SDS_* variables; HOME is the temporary directory.
    pub fn bare(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sds"));
        for variable in SDS_VARIABLES {
            command.env_remove(variable);
        }
        // Every command runs in-process unless a test asks for the background process.
        command
            .env("SDS_DAEMON", "off")
            .env("HOME", self.temp.path())
            .env_remove("USERPROFILE")
            .current_dir(self.temp.path());
        command
    }

    /// `sds --persistence-dir <dir> --backend <backend> --store test`.
    pub fn command(&self) -> Command {
        let mut command = self.bare();
        command
            .arg("--persistence-dir")
            .arg(self.dir())
            .arg("--backend")
            .arg(self.backend)
            .arg("--store")
            .arg(STORE);
        command
    }

    /// Runs with the default options and these arguments.
    pub fn run(&self, args: &[&str]) -> Out {
        run(self.command().args(args), None)
    }

    /// Runs with the default options, these arguments and this standard input.
    pub fn run_with_input(&self, args: &[&str], input: &str) -> Out {
        run(self.command().args(args), Some(input.as_bytes()))
    }

    /// Creates an item and returns its id.
    pub fn item(&self, args: &[&str]) -> String {
        let mut all = vec!["entry", "create"];
        all.extend_from_slice(args);
        let id = self.run(&all).line();
        assert_eq!(id.len(), 36, "not an id: {id}");
        id
    }

    /// Creates a link to `target` and returns its id.
    pub fn link(&self, target: &str, args: &[&str]) -> String {
        let mut all = vec!["entry", "create", "--target", target];
        all.extend_from_slice(args);
        self.run(&all).line()
    }

    /// Initialises the store (creates one item) and returns that item's id.
    pub fn init(&self) -> String {
        self.item(&["--label", "first"])
    }
}

/// Runs a prepared command; stdin is empty unless given.
pub fn run(command: &mut Command, input: Option<&[u8]>) -> Out {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn sds");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        if let Some(input) = input {
            stdin.write_all(input).expect("write stdin");
        }
    }
    let output = child.wait_with_output().expect("wait for sds");
    Out {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        raw_stdout: output.stdout,
    }
}

/// Whether a file exists.
pub fn exists(path: &Path) -> bool {
    path.exists()
}
