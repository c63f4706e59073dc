//! The background process: one per persistence directory, keeping the stores recent commands
//! used open so that the next command does not restore them again.
//!
//! Restoring a store decodes its whole document: about two seconds for 100,000 entries, far
//! more than the command itself takes. So when a one-shot command's restore took at least
//! 200 ms, `sds` starts a background process for the persistence directory
//! (`sds __serve <dir> <store> <backend>`, detached, its own process group) that restores
//! the store once and keeps its engine open ([`crate::session::keep_stores_open`], up to
//! four stores). Later commands on stores of that directory connect to its Unix socket
//! (`<dir>/.sds-daemon.sock`, mode 0600), send their arguments, working directory and checked
//! global options, and print what the background process sends back: the same stdout,
//! stderr and exit code as if they had run in-process. Only local store commands are sent
//! (`store info | export | destroy`, `entry …`, `trash …`, `tree show`); the REPL, scripts,
//! `store import`, the network commands and completions always run in-process.
//!
//! Nothing is lost by keeping a store open: every change is durable (committed to the
//! SQLite file) before the command's answer is sent, and before each command the engine
//! reads what other processes wrote to the file since. The process stops its engines
//! (checkpoints) and exits when it has been idle for `SDS_DAEMON_IDLE` seconds (default 600),
//! when its socket file is removed or replaced, when a client of another build of `sds`
//! connects (after an upgrade), and when asked to stop (the request `{"stop":true}`, answered
//! once the checkpoints are written). A second process for the same directory is kept out by a
//! lock on `<dir>/.sds-daemon.lock`.
//!
//! `SDS_DAEMON` chooses the behaviour: `auto` (the default) as above, `on` to start the
//! background process before the first command instead of after a slow restore, `off` to
//! run every command in-process and never start one.

#[cfg(unix)]
pub use unix::{forward, serve, start_if_worthwhile};

/// The first argument that makes `sds` the background process of a persistence directory.
pub const SERVE_ARG: &str = "__serve";

use crate::args::{Command, StoreCommand};
use crate::output::CliError;

/// The environment variable that chooses the behaviour.
const MODE_VARIABLE: &str = "SDS_DAEMON";

/// How `sds` uses the background process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Use one that runs; start one after a slow restore.
    Auto,
    /// Use one, starting it first if none runs.
    On,
    /// Never.
    Off,
}

impl Mode {
    fn from_env() -> Result<Mode, CliError> {
        let Some(raw) = std::env::var_os(MODE_VARIABLE) else {
            return Ok(Mode::Auto);
        };
        let raw = raw.to_string_lossy();
        match raw.to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Mode::Auto),
            "on" => Ok(Mode::On),
            "off" => Ok(Mode::Off),
            _ => Err(CliError::usage(format!(
                "'{MODE_VARIABLE}' accepts 'auto', 'on', or 'off' — got '{raw}'"
            ))),
        }
    }
}

/// Whether the background process runs this command (local store commands only).
pub fn serves(command: &Command) -> bool {
    matches!(
        command,
        Command::Entry(_)
            | Command::Trash(_)
            | Command::Tree(_)
            | Command::Store(
                StoreCommand::Info | StoreCommand::Export { .. } | StoreCommand::Destroy
            )
    )
}

#[cfg(not(unix))]
/// Without Unix sockets every command runs in-process.
pub fn forward(_settings: &crate::settings::Settings, _args: &[String]) -> Option<u8> {
    None
}

#[cfg(not(unix))]
/// Without Unix sockets no background process is started.
pub fn start_if_worthwhile(_settings: &crate::settings::Settings) {}

#[cfg(not(unix))]
/// Without Unix sockets there is no background process.
pub fn serve(_args: &[String]) -> u8 {
    crate::output::EXIT_USAGE
}

#[cfg(unix)]
mod unix {
    use super::{Mode, SERVE_ARG, serves};
    use crate::app::{Parsed, parse, run_command_to};
    use crate::output::{CliError, EXIT_GENERAL, EXIT_OK, EXIT_USAGE, Format, print_error};
    use crate::session::{self, Access, Session};
    use crate::settings::{BackendKind, OnError, Settings};
    use sds_core::NewBackend;
    use serde_json::{Value as JsonValue, json};
    use std::io::{BufRead, BufReader, Read, Write};
    use std::os::unix::fs::PermissionsExt as _;
    use std::os::unix::net::UnixStream;
    use std::os::unix::process::CommandExt as _;
    use std::path::{Path, PathBuf};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    const SOCKET: &str = ".sds-daemon.sock";
    const LOCK: &str = ".sds-daemon.lock";
    /// The version of the request and answer format.
    const PROTOCOL: u64 = 1;
    /// What the background process prints on stdout once its socket accepts connections.
    const READY: &str = "ready";
    /// How many stores the background process keeps open.
    const KEPT_STORES: usize = 4;
    /// Seconds without a command after which the background process exits, by default.
    const DEFAULT_IDLE_SECS: u64 = 600;
    const IDLE_VARIABLE: &str = "SDS_DAEMON_IDLE";
    /// How often an idle background process checks that its socket file is still its own.
    const CHECK_EVERY: Duration = Duration::from_secs(30);
    /// The longest request line accepted.
    const REQUEST_LIMIT: u64 = 1 << 20;
    /// How long a connected client may take to send its request.
    const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
    /// The longest socket path the platforms accept (`sun_path` less a margin).
    const SOCKET_PATH_LIMIT: usize = 100;
    /// The answer bytes: the command ran, or the client is to run it itself.
    const RAN: u8 = 0;
    const DECLINED: u8 = 1;
    /// The variables `sds` reads for its options; the background process gets its options
    /// from each request instead.
    const OPTION_VARIABLES: &[&str] = &[
        "SDS_SERVER_URL",
        "SDS_STORE_ID",
        "SDS_TOKEN",
        "SDS_ADMIN_TOKEN",
        "SDS_PERSISTENCE_DIR",
        "SDS_BACKEND",
    ];

    fn socket_path(dir: &Path) -> Option<PathBuf> {
        let socket = dir.join(SOCKET);
        (socket.as_os_str().len() <= SOCKET_PATH_LIMIT).then_some(socket)
    }

    fn absolute_dir(settings: &Settings) -> Option<PathBuf> {
        std::path::absolute(&settings.persistence_dir).ok()
    }

    /// Identifies the `sds` executable: size and modification time. A background process
    /// serves only clients of its own build.
    fn build_id() -> String {
        let metadata = std::env::current_exe().and_then(std::fs::metadata);
        match metadata {
            Ok(m) => {
                let modified = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                format!("{}:{}:{modified}", env!("CARGO_PKG_VERSION"), m.len())
            }
            Err(_) => env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    fn format_name(format: Format) -> &'static str {
        match format {
            Format::Text => "text",
            Format::Json => "json",
        }
    }

    /// Runs the command in the background process of the persistence directory, if one runs
    /// (or, with `SDS_DAEMON=on`, after starting one), and returns its exit code once its
    /// output is printed. `None`: run the command in-process.
    pub fn forward(settings: &Settings, args: &[String]) -> Option<u8> {
        let mode = match Mode::from_env() {
            Ok(mode) => mode,
            Err(error) => {
                print_error(&error, settings.format, true);
                return Some(error.code);
            }
        };
        if mode == Mode::Off {
            return None;
        }
        let dir = absolute_dir(settings)?;
        let socket = socket_path(&dir)?;
        let stream = match UnixStream::connect(&socket) {
            Ok(stream) => stream,
            Err(_) if mode == Mode::On && dir.is_dir() && start(&dir, None) => {
                UnixStream::connect(&socket).ok()?
            }
            Err(_) => return None,
        };
        let request = json!({
            "protocol": PROTOCOL,
            "build": build_id(),
            "cwd": std::env::current_dir().ok()?,
            "args": args,
            "store": settings.store,
            "persistenceDir": dir,
            "backend": settings.backend.as_str(),
            "format": format_name(settings.format),
        });
        let mut line = request.to_string();
        line.push('\n');
        let mut writer = &stream;
        // Nothing ran unless the whole request arrived: a failed write runs the command here.
        writer.write_all(line.as_bytes()).ok()?;
        match read_answer(&stream) {
            Ok(Answer::Declined) => None,
            Ok(Answer::Ran {
                code,
                stdout,
                stderr,
            }) => {
                let mut out = std::io::stdout().lock();
                match out.write_all(&stdout).and_then(|()| out.flush()) {
                    Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                        let error = CliError::general(format!("cannot write the output: {e}"));
                        print_error(&error, settings.format, true);
                        return Some(EXIT_GENERAL);
                    }
                    _ => {}
                }
                let _ = std::io::stderr().lock().write_all(&stderr);
                Some(code)
            }
            Err(e) => {
                let error = CliError::general(format!(
                    "the background process of '{}' failed during the command ({e}); \
                     its outcome is unknown",
                    dir.display()
                ));
                print_error(&error, settings.format, true);
                Some(EXIT_GENERAL)
            }
        }
    }

    enum Answer {
        Declined,
        Ran {
            code: u8,
            stdout: Vec<u8>,
            stderr: Vec<u8>,
        },
    }

    fn read_answer(mut stream: &UnixStream) -> std::io::Result<Answer> {
        let mut kind = [0u8; 1];
        stream.read_exact(&mut kind)?;
        if kind[0] == DECLINED {
            return Ok(Answer::Declined);
        }
        let mut code = [0u8; 1];
        stream.read_exact(&mut code)?;
        let stdout = read_block(stream)?;
        let stderr = read_block(stream)?;
        Ok(Answer::Ran {
            code: code[0],
            stdout,
            stderr,
        })
    }

    fn read_block(mut stream: &UnixStream) -> std::io::Result<Vec<u8>> {
        let mut len = [0u8; 8];
        stream.read_exact(&mut len)?;
        let len = u64::from_be_bytes(len);
        let mut block = Vec::new();
        stream.take(len).read_to_end(&mut block)?;
        if block.len() as u64 != len {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(block)
    }

    /// After a command that ran in-process: starts the background process when the store's
    /// restore was slow (`SDS_DAEMON=auto`) or in any case (`on`: the directory did not
    /// exist before the command), so that the next command finds the store open.
    pub fn start_if_worthwhile(settings: &Settings) {
        let slow = session::slow_store();
        let store_id = match Mode::from_env() {
            Ok(Mode::Auto) => slow,
            Ok(Mode::On) => slow.or_else(|| settings.store.clone()),
            _ => None,
        };
        let Some(store_id) = store_id else {
            return;
        };
        if let Some(dir) = absolute_dir(settings)
            && dir.is_dir()
            && socket_path(&dir).is_some()
        {
            start(&dir, Some((&store_id, settings.backend)));
        }
    }

    /// Starts the background process of `dir` (which opens `preload` first) and waits until it
    /// accepts connections. Returns whether it does.
    fn start(dir: &Path, preload: Option<(&str, BackendKind)>) -> bool {
        let Ok(exe) = std::env::current_exe() else {
            return false;
        };
        let mut command = std::process::Command::new(exe);
        command.arg(SERVE_ARG).arg(dir);
        if let Some((store_id, backend)) = preload {
            command.arg(store_id).arg(backend.as_str());
        }
        for variable in OPTION_VARIABLES {
            command.env_remove(variable);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C at the terminal does not reach it.
            .process_group(0);
        let Ok(mut child) = command.spawn() else {
            return false;
        };
        let Some(stdout) = child.stdout.take() else {
            return false;
        };
        // The child is not waited for: it outlives this process.
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).is_ok() && line.trim_end() == READY
    }

    /// `sds __serve <dir> [<store> <backend>]`: the background process of `dir`.
    pub fn serve(args: &[String]) -> u8 {
        let Some(dir) = args.first().map(PathBuf::from) else {
            return EXIT_USAGE;
        };
        let Ok(lock) = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK))
        else {
            return EXIT_GENERAL;
        };
        if lock.try_lock().is_err() {
            // Another background process serves the directory.
            announce_ready();
            return EXIT_OK;
        }
        let Some(socket) = socket_path(&dir) else {
            return EXIT_USAGE;
        };
        let _ = std::fs::remove_file(&socket);
        let Ok(listener) = std::os::unix::net::UnixListener::bind(&socket) else {
            return EXIT_GENERAL;
        };
        if std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600)).is_err() {
            let _ = std::fs::remove_file(&socket);
            return EXIT_GENERAL;
        }
        let identity = file_identity(&socket);
        announce_ready();
        session::keep_stores_open(KEPT_STORES);
        if let [_, store_id, backend] = args
            && let Some(backend) = BackendKind::parse(backend)
        {
            let settings = settings_for(&dir, Some(store_id.clone()), backend, Format::Text);
            // A store that cannot be opened now is reported to the command that uses it.
            let _ = match backend {
                BackendKind::Yrs => open_and_keep::<sds_yrs::YrsBackend>(&settings),
                BackendKind::Loro => open_and_keep::<sds_loro::LoroBackend>(&settings),
            };
        }
        let served = accept_until_idle(listener, &dir, &socket, identity);
        let _ = session::release_all();
        if file_identity(&socket) == identity {
            let _ = std::fs::remove_file(&socket);
        }
        drop(lock);
        if served.is_ok() {
            EXIT_OK
        } else {
            EXIT_GENERAL
        }
    }

    fn announce_ready() {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{READY}").and_then(|()| out.flush());
    }

    fn open_and_keep<B: NewBackend + 'static>(settings: &Settings) -> Result<(), CliError> {
        Session::<B>::open(settings, Access::Existing)?.close()
    }

    fn idle_limit() -> Duration {
        let secs = std::env::var(IDLE_VARIABLE)
            .ok()
            .and_then(|raw| raw.trim().parse::<u64>().ok())
            .unwrap_or(DEFAULT_IDLE_SECS);
        Duration::from_secs(secs)
    }

    fn accept_until_idle(
        listener: std::os::unix::net::UnixListener,
        dir: &Path,
        socket: &Path,
        identity: Option<(u64, u64)>,
    ) -> std::io::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        listener.set_nonblocking(true)?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::UnixListener::from_std(listener)?
        };
        let idle = idle_limit();
        let build = build_id();
        let mut last_command = Instant::now();
        loop {
            let wait = CHECK_EVERY.min(idle.saturating_sub(last_command.elapsed()));
            let accepted =
                runtime.block_on(async { tokio::time::timeout(wait, listener.accept()).await });
            if let Ok(accepted) = accepted {
                let stream = accepted?.0.into_std()?;
                stream.set_nonblocking(false)?;
                let outcome = handle(&stream, dir, &build);
                last_command = Instant::now();
                if outcome == Handled::Exit {
                    return Ok(());
                }
            }
            if last_command.elapsed() >= idle || file_identity(socket) != identity {
                return Ok(());
            }
        }
    }

    #[derive(Debug, PartialEq, Eq)]
    enum Handled {
        Done,
        /// Asked to stop, or a client of another build (this process makes way for a new
        /// one): the process exits.
        Exit,
    }

    /// Reads one request, runs it and writes the answer. A request this process cannot run
    /// as the client would is declined, and the client runs the command itself.
    fn handle(stream: &UnixStream, dir: &Path, build: &str) -> Handled {
        let _ = stream.set_read_timeout(Some(REQUEST_TIMEOUT));
        let mut line = String::new();
        let read = BufReader::new(stream.take(REQUEST_LIMIT)).read_line(&mut line);
        let request = match read {
            Ok(_) => serde_json::from_str::<JsonValue>(&line).ok(),
            Err(_) => None,
        };
        let Some(request) = request else {
            decline(stream);
            return Handled::Done;
        };
        if request["stop"].as_bool() == Some(true) {
            // Asked to stop: the engines are stopped before the answer, so the client knows
            // the checkpoints are written when it arrives.
            let _ = session::release_all();
            decline(stream);
            return Handled::Exit;
        }
        if request["build"].as_str() != Some(build) {
            decline(stream);
            return Handled::Exit;
        }
        match prepare(&request, dir) {
            Some((settings, args)) => run(stream, &settings, args),
            None => decline(stream),
        }
        Handled::Done
    }

    /// The checked options and the arguments of a request this process can run.
    fn prepare(request: &JsonValue, dir: &Path) -> Option<(Settings, Vec<String>)> {
        if request["protocol"].as_u64() != Some(PROTOCOL)
            || request["persistenceDir"].as_str().map(Path::new) != Some(dir)
        {
            return None;
        }
        let backend = BackendKind::parse(request["backend"].as_str()?)?;
        let format = Format::parse(request["format"].as_str()?).ok()?;
        let store = request["store"].as_str().map(str::to_owned);
        let args = request["args"]
            .as_array()?
            .iter()
            .map(|arg| arg.as_str().map(str::to_owned))
            .collect::<Option<Vec<String>>>()?;
        // Relative paths in the arguments (export files, value files) are the client's.
        std::env::set_current_dir(request["cwd"].as_str()?).ok()?;
        Some((settings_for(dir, store, backend, format), args))
    }

    fn run(stream: &UnixStream, settings: &Settings, args: Vec<String>) {
        let Ok(Parsed::Run { cli, info }) = parse(args) else {
            return decline(stream);
        };
        let Some(command) = cli.command.filter(serves) else {
            return decline(stream);
        };
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_command_to(settings, command, info, &mut stdout, &mut stderr)
        }))
        .unwrap_or_else(|_| {
            let _ = writeln!(stderr, "sds: error: the command failed unexpectedly");
            EXIT_GENERAL
        });
        let mut answer = Vec::with_capacity(stdout.len() + stderr.len() + 18);
        answer.push(RAN);
        answer.push(code);
        for block in [&stdout, &stderr] {
            answer.extend_from_slice(&(block.len() as u64).to_be_bytes());
            answer.extend_from_slice(block);
        }
        // A client that went away has nothing to read the answer with.
        let mut writer = stream;
        let _ = writer.write_all(&answer);
    }

    fn decline(mut stream: &UnixStream) {
        let _ = stream.write_all(&[DECLINED]);
    }

    fn settings_for(
        dir: &Path,
        store: Option<String>,
        backend: BackendKind,
        format: Format,
    ) -> Settings {
        Settings {
            store,
            persistence_dir: dir.to_path_buf(),
            backend,
            format,
            on_error: OnError::Stop,
            server: None,
            token: None,
            admin_token: None,
        }
    }

    fn file_identity(path: &Path) -> Option<(u64, u64)> {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
}
