//! `sds-server`: the relay server binary (SPEC §14). Parses the configuration and runs the
//! library until SIGINT or SIGTERM.

use clap::Parser;
use sds_server::{
    BackendKind, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_FRAME_SIZE, DEFAULT_OUTBOUND_QUEUE_LIMIT,
    Scope, ServerConfig, ServerError,
};
use std::path::PathBuf;
use std::process::ExitCode;

/// Relay server of the Shareable Data Store: the JS SDS wire protocol over WebSockets, with
/// optional durable replicas (persistent mode).
///
/// The JWT secret comes from the environment variable SDS_JWT_SECRET or from
/// --jwt-secret-file (at least 32 characters). Without either, but with --data-dir, the server
/// generates a secret once, keeps it in <data-dir>/jwt-secret and prints an admin token for
/// the store "default" at every start.
#[derive(Debug, Parser)]
#[command(name = "sds-server", version)]
struct Cli {
    /// Read the JWT secret from this file (its content without the trailing line break).
    #[arg(long, value_name = "PATH")]
    jwt_secret_file: Option<PathBuf>,
    /// Require this `iss` in tokens, and put it into issued tokens.
    #[arg(long, env = "SDS_ISSUER", value_name = "ISS")]
    issuer: Option<String>,
    /// Address to listen on.
    #[arg(
        long,
        env = "SDS_HOST",
        default_value = "127.0.0.1",
        value_name = "ADDR"
    )]
    host: String,
    /// Port to listen on.
    #[arg(long, env = "SDS_PORT", default_value_t = 3000, value_name = "N")]
    port: u16,
    /// Keep a durable replica of every store in this directory (persistent mode).
    #[arg(long, env = "SDS_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Backend of the replicas (persistent mode only): yrs or loro.
    #[arg(
        long,
        env = "SDS_BACKEND",
        default_value = "yrs",
        value_name = "yrs|loro"
    )]
    backend: BackendKind,
    /// Largest accepted frame in bytes; larger frames close the connection with 1009.
    #[arg(long, env = "SDS_MAX_FRAME_SIZE", default_value_t = DEFAULT_MAX_FRAME_SIZE, value_name = "BYTES")]
    max_frame_size: usize,
    /// Bytes of frames queued per connection; a client that falls further behind is closed
    /// with 1013.
    #[arg(long, env = "SDS_OUTBOUND_QUEUE_LIMIT", default_value_t = DEFAULT_OUTBOUND_QUEUE_LIMIT, value_name = "BYTES")]
    outbound_queue_limit: usize,
    /// Accept tokens without `exp` (they never expire).
    #[arg(long, env = "SDS_ALLOW_TOKENS_WITHOUT_EXP", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0, default_missing_value = "true", default_value = "false")]
    allow_tokens_without_exp: bool,
    /// WebSocket connections held at once; further upgrade requests get HTTP 503.
    #[arg(long, env = "SDS_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS, value_name = "N")]
    max_connections: usize,
}

/// The store the easy start prints an admin token for.
const DEFAULT_STORE: &str = "default";

/// Lifetime of the printed admin token: 30 days.
const EASY_START_TOKEN_SECONDS: u64 = 30 * 86_400;

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("sds-server: {message}");
    ExitCode::from(code)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            use clap::error::ErrorKind;
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) {
                let _ = error.print();
                return ExitCode::SUCCESS;
            }
            let rendered = error.render().to_string();
            let message = rendered.trim_start_matches("error: ").trim_end();
            return fail(2, message);
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    let (secret, easy_start) = match resolve_secret(&cli) {
        Ok(found) => found,
        Err(error) => return fail(if error.is_config() { 2 } else { 1 }, error),
    };
    let mut config = ServerConfig::new(secret);
    config.issuer = cli.issuer.clone().filter(|issuer| !issuer.is_empty());
    config.data_dir = cli.data_dir.clone();
    config.backend = cli.backend;
    config.max_frame_size = cli.max_frame_size;
    config.outbound_queue_limit = cli.outbound_queue_limit;
    config.allow_tokens_without_exp = cli.allow_tokens_without_exp;
    config.max_connections = cli.max_connections;
    if let Err(error) = config.validate() {
        return fail(2, error);
    }
    // Every connection is a file descriptor: use what the hard limit allows.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open file limit"),
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(1, format!("cannot start the runtime: {error}")),
    };
    let result = runtime.block_on(async {
        let server = sds_server::Server::new(config.clone())?;
        let listener = tokio::net::TcpListener::bind((cli.host.as_str(), cli.port))
            .await
            .map_err(|e| {
                ServerError::Io(std::io::Error::new(
                    e.kind(),
                    format!("cannot listen on {}:{}: {e}", cli.host, cli.port),
                ))
            })?;
        if easy_start {
            print_easy_start(&config, &listener)?;
        }
        server.serve(listener, shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is_config() => fail(2, error),
        Err(error) => fail(1, error),
    }
}

/// The secret: `--jwt-secret-file` beats `SDS_JWT_SECRET`; without either, the easy start's
/// generated secret in the data directory. Returns whether the easy start applies.
fn resolve_secret(cli: &Cli) -> Result<(String, bool), ServerError> {
    if let Some(path) = &cli.jwt_secret_file {
        return Ok((sds_server::read_secret_file(path)?, false));
    }
    if let Some(secret) = std::env::var_os("SDS_JWT_SECRET") {
        let secret = secret
            .into_string()
            .map_err(|_| ServerError::Config("SDS_JWT_SECRET is not valid UTF-8".into()))?;
        return Ok((secret, false));
    }
    match &cli.data_dir {
        Some(dir) => {
            let (secret, created) = sds_server::load_or_create_secret(dir)?;
            if created {
                tracing::info!(file = %dir.join(sds_server::SECRET_FILE_NAME).display(), "generated a JWT secret");
            }
            Ok((secret, true))
        }
        None => Err(ServerError::Config(
            "no JWT secret: set SDS_JWT_SECRET, pass --jwt-secret-file, or pass --data-dir to generate one"
                .into(),
        )),
    }
}

fn print_easy_start(
    config: &ServerConfig,
    listener: &tokio::net::TcpListener,
) -> Result<(), ServerError> {
    let address = listener.local_addr()?;
    let token = sds_server::issue_token(
        &config.jwt_secret,
        config.issuer.as_deref(),
        "admin",
        DEFAULT_STORE,
        Scope::Admin,
        sds_server::now_seconds(),
        EASY_START_TOKEN_SECONDS,
    )?;
    let secret_file = config
        .data_dir
        .as_ref()
        .map(|dir| dir.join(sds_server::SECRET_FILE_NAME).display().to_string())
        .unwrap_or_default();
    println!(
        "sds-server is running at ws://{address} with a generated secret (kept in {secret_file}).\n\
         \n\
         Admin token for the store \"{DEFAULT_STORE}\" (valid for 30 days):\n\
         \n\
         {token}\n\
         \n\
         Sync a local store through this server:\n\
         \x20 sds --server ws://{address} --store {DEFAULT_STORE} --token <token> store sync\n\
         Issue a write token for another user of the store:\n\
         \x20 sds --server ws://{address} --store {DEFAULT_STORE} --admin-token <token> token issue --sub alice --scope write\n\
         \x20 (or: curl -X POST http://{address}/api/token -H 'Authorization: Bearer <token>' \\\n\
         \x20        -d '{{\"sub\":\"alice\",\"scope\":\"write\",\"exp\":\"7d\"}}')"
    );
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
