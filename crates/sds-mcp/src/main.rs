//! # sds-mcp
//!
//! The MCP server of the Shareable Data Store (SPEC §16): the store, entry, trash, tree,
//! sync and token tools over stdio, for AI assistants and other MCP clients.
//!
//! ```text
//! sds-mcp [--store <id>] [--persistence-dir <path>] [--server <url>] [--token <jwt>]
//!         [--admin-token <jwt>] [--backend <yrs|loro>]
//! ```
//!
//! The server announces the tools capability only. Every call resolves its settings as
//! *tool parameter → startup flag → environment variable* (`SDS_STORE_ID`,
//! `SDS_PERSISTENCE_DIR`, `SDS_SERVER_URL`, `SDS_TOKEN`, `SDS_ADMIN_TOKEN`, `SDS_BACKEND`)
//! *→ default* (`~/.sds`, `yrs`; an optional `Backend` parameter picks the backend per call),
//! opens the store file `<PersistenceDir>/<safeId>.db` through a sync engine with persistence
//! only and checks everything before it changes anything. Results are one text block of
//! compact JSON; failures are `isError` results whose text is the message.
//!
//! Unlike SPEC §16.3, which stops the engine after every call, the store the last call used
//! stays open: restoring a large store costs seconds, a call on an open one milliseconds.
//! Nothing is lost by it — every change is durable when its call returns, and before each call
//! the engine reads what other processes (an `sds` command, another sds-mcp) wrote to the file
//! since. The engine is stopped (checkpoint) when a call uses another store, before the store
//! is synced or destroyed, and when the session ends.
//!
//! | tool | does |
//! |---|---|
//! | `sds_store_info` | `{StoreId, exists}` (+ `EntryCount`, `DBPath`) |
//! | `sds_store_ping` | connects and authenticates only; no local side effects |
//! | `sds_store_sync` | syncs with a server for `TimeoutMs` after connecting |
//! | `sds_store_destroy` | deletes the store file (with `-wal`, `-shm`) |
//! | `sds_store_export` / `sds_store_import` | JSON or gzip binary, inline (base64) or files |
//! | `sds_entry_create` / `get` / `list` / `update` | items and links, values, Info |
//! | `sds_entry_move` / `delete` / `restore` / `purge` | tree operations and the Trash |
//! | `sds_trash_list` / `purge_all` / `purge_expired` | the Trash |
//! | `sds_tree_show` | the whole tree as nested `{Id, Kind, Label, innerEntries}` |
//! | `sds_token_issue` | `POST /api/token` on the server with an admin token |
//! | `sds_batch` | several tools in order on one open store (one checkpoint) |
//!
//! Unknown flags print a warning and are ignored; an invalid `--server` or `--backend`
//! exits with code 2. Logs go to stderr (`RUST_LOG` filters them); stdout carries MCP only.

mod config;
mod local;
mod net;
mod params;
mod server;
mod session;
mod tools;

use rmcp::ServiceExt as _;
use std::process::ExitCode;

/// Restoring a large store allocates and frees hundreds of thousands of small buffers;
/// mimalloc does that markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_ansi(false)
        .init();
    let config = match config::Config::from_args(
        std::env::args().skip(1),
        |var| std::env::var(var).ok(),
        |warning| eprintln!("{warning}"),
    ) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("sds-mcp: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let sds = server::SdsServer::new(config);
    let served = runtime.block_on(async {
        let service = match sds.clone().serve(rmcp::transport::stdio()).await {
            Ok(service) => service,
            // The input ended before the client initialised the session: nothing to serve.
            Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => return Ok(()),
            Err(error) => return Err(error.to_string()),
        };
        service.waiting().await.map(drop).map_err(|e| e.to_string())
    });
    // The store kept open is stopped (checkpoint) once no call can come any more.
    let closed = sds.close_stores();
    // Standard input may still be blocked in a read; do not wait for it.
    runtime.shutdown_background();
    if let Err(error) = closed {
        eprintln!("sds-mcp: {error}");
        return ExitCode::FAILURE;
    }
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sds-mcp: {error}");
            ExitCode::FAILURE
        }
    }
}
