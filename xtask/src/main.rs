//! Project automation, the one entry point for CI and people:
//!
//! * `cargo xtask ci` — format check, clippy with warnings as errors, every test (nextest when
//!   installed, plus doctests), the documentation build, and the dependency invariants.
//! * `cargo xtask bench [--quick]` — the benchmark workloads; writes `docs/BENCHMARKS.md` and
//!   `target/bench/results.json`.

mod bench;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("bench") => bench::run_benchmarks(&args[1..]),
        Some("deps") => check_dependency_invariants(),
        _ => {
            eprintln!("usage: cargo xtask <ci | bench [--quick] | deps>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command in the workspace root, failing with its description when it fails.
pub(crate) fn run(
    description: &str,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<(), String> {
    eprintln!("==> {description}: {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{description} failed ({status})"))
    }
}

pub(crate) fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

fn has_nextest() -> bool {
    Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn ci() -> Result<(), String> {
    run(
        "format check",
        "cargo",
        &["fmt", "--all", "--", "--check"],
        &[],
    )?;
    check_dependency_invariants()?;
    run(
        "clippy",
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    if has_nextest() {
        run(
            "tests",
            "cargo",
            &["nextest", "run", "--workspace", "--no-fail-fast"],
            &[],
        )?;
        run("doctests", "cargo", &["test", "--workspace", "--doc"], &[])?;
    } else {
        run(
            "tests",
            "cargo",
            &["test", "--workspace", "--no-fail-fast"],
            &[],
        )?;
    }
    run(
        "documentation",
        "cargo",
        &["doc", "--workspace", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    eprintln!("==> all checks passed");
    Ok(())
}

/// DESIGN §1: `sds-core` depends on none of the CRDT, database or async libraries.
fn check_dependency_invariants() -> Result<(), String> {
    const FORBIDDEN: &[&str] = &["yrs", "loro", "rusqlite", "tokio", "libsqlite3-sys"];
    eprintln!("==> dependency invariants: sds-core must not depend on {FORBIDDEN:?}");
    let output = Command::new("cargo")
        .args([
            "tree",
            "-p",
            "sds-core",
            "-e",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(workspace_root())
        .output()
        .map_err(|e| format!("cannot run cargo tree: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let tree = String::from_utf8_lossy(&output.stdout);
    let offending: Vec<&str> = tree
        .lines()
        .filter(|line| {
            let name = line.split_whitespace().next().unwrap_or("");
            FORBIDDEN
                .iter()
                .any(|f| name == *f || name.starts_with(&format!("{f}-")))
        })
        .collect();
    if offending.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "sds-core depends on forbidden crates: {offending:?}"
        ))
    }
}
