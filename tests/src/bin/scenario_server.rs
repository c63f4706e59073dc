//! `sds-scenario-server <data-dir> <yrs|loro> <port>`: a durable `sds-server` run through the
//! library entry point, with the JWT secret from `SDS_JWT_SECRET`, on `127.0.0.1:<port>` (0 for
//! any free port). Prints `listening <address>` (flushed) once it accepts connections, and
//! runs until it is killed: the network scenarios SIGKILL it mid-session. (The `sds-server`
//! binary belongs to another package, so `CARGO_BIN_EXE_*` does not reach it from here.)

use sds_server::{BackendKind, ServerConfig};
use std::io::Write as _;
use std::path::PathBuf;

fn run(data_dir: PathBuf, backend: BackendKind, port: u16) -> Result<(), String> {
    let secret = std::env::var("SDS_JWT_SECRET").map_err(|_| "SDS_JWT_SECRET is not set")?;
    let mut config = ServerConfig::new(secret);
    config.data_dir = Some(data_dir);
    config.backend = backend;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| format!("cannot listen on port {port}: {e}"))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening {address}")
            .and_then(|()| out.flush())
            .map_err(|e| e.to_string())?;
        drop(out);
        sds_server::run(listener, config, std::future::pending::<()>())
            .await
            .map_err(|e| e.to_string())
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [dir, backend, port] => match (backend.parse::<BackendKind>(), port.parse::<u16>()) {
            (Ok(backend), Ok(port)) => run(PathBuf::from(dir), backend, port),
            (Err(e), _) => Err(e),
            (_, Err(e)) => Err(format!("port: {e}")),
        },
        _ => Err("usage: sds-scenario-server <data-dir> <yrs|loro> <port>".into()),
    };
    if let Err(message) = result {
        eprintln!("sds-scenario-server: {message}");
        std::process::exit(1);
    }
}
