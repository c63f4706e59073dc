//! `sds-sidecar`: keeps a local replica of one store in sync and POSTs webhooks (SPEC §17).
//! Parses the command line, resolves the configuration and runs the library.

use clap::error::ErrorKind;
use clap::{CommandFactory as _, Parser as _};
use sds_sidecar::{Args, resolve, run};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(error) => return parse_error(error),
    };
    // Warnings of the engine and the provider (an undecodable patch, a failed append) go to
    // stderr next to the sidecar's own lines; RUST_LOG changes the level. Failed connection
    // attempts are reported by the sidecar's own lines already.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,sds_sync::driver=error")
            }),
        )
        .init();
    let config = match resolve(args) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("sds-sidecar: {}", error.message);
            return exit(error.exit_code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("sds-sidecar: cannot start the runtime: {error}");
            return exit(1);
        }
    };
    let code = runtime.block_on(async {
        match run(config, shutdown_signal()).await {
            Ok(outcome) => outcome.exit_code(),
            Err(error) => {
                eprintln!("sds-sidecar: {error}");
                error.exit_code()
            }
        }
    });
    exit(code)
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// `--help` and `--version` print to stdout and exit 0; every other parser error prints
/// `sds-sidecar: <message>`, a blank line and the help to stderr and exits 2 (SPEC §17.2).
fn parse_error(error: clap::Error) -> ExitCode {
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
        _ => {
            let rendered = error.render().to_string();
            let message = rendered
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            eprintln!("sds-sidecar: {message}\n");
            eprintln!("{}", Args::command().render_help());
            exit(2)
        }
    }
}

/// Completes at SIGINT or SIGTERM, after logging which one arrived.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let name = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut interrupt), Ok(mut terminate)) => tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        },
        _ => {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    };
    eprintln!("[sds-sidecar] received {name} — shutting down");
}
