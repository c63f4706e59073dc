//! # sds — the command-line tool of the Shareable Data Store
//!
//! `sds` works on local stores: one SQLite file per store in a persistence directory
//! (`~/.sds` by default), opened through the sync engine with persistence only. Every command
//! of SPEC §15 is here: `store info | destroy | export | import | sync | ping`,
//! `entry create | get | list | update | move | delete | restore | purge`,
//! `trash list | purge-all | purge-expired`, `tree show`, `token issue`, an interactive
//! `shell`, scripts (`--script <file|->`) and shell completions.
//!
//! ```text
//! sds --store notes entry create --label "Shopping" --info.priority 1
//! sds --store notes tree show
//! sds --store notes --format json entry list root --recursive --label
//! ```
//!
//! Only three commands use the network, talking to a relay server (`sds-server`, SPEC §14)
//! given with `--server ws://…` or `wss://…`: `store sync` runs the store's engine connected
//! to the server for `--timeout` milliseconds (uploading local changes, downloading remote
//! ones), `store ping` checks that the server accepts the token without touching the local
//! store, and `token issue` asks the server for a client token (`POST /api/token`, with an
//! admin token). They run on a tokio runtime made for the command; the rest is synchronous.
//!
//! ```text
//! sds --server ws://127.0.0.1:3000 --store notes --admin-token "$ADMIN" token issue --sub ada --scope write
//! sds --server ws://127.0.0.1:3000 --store notes --token "$TOKEN" store ping
//! sds --server ws://127.0.0.1:3000 --store notes --token "$TOKEN" store sync --timeout 2000
//! ```
//!
//! Results go to stdout (text, or JSON with `--format json`), errors to stderr as
//! `sds: error: <message>` with the exit codes of SPEC §15.7. The backend (`yrs` or `loro`) is
//! chosen at run time with `--backend`; the command logic is generic over it.
//!
//! A command restores its store from the file, which takes seconds for 100,000 entries. After
//! such a slow restore `sds` starts a background process for the persistence directory that
//! keeps the store open, and later commands run in it over a Unix socket, printing exactly
//! what they would print in-process (see `daemon`; `SDS_DAEMON=auto|on|off`,
//! `SDS_DAEMON_IDLE=<seconds>`). The REPL and scripts keep their stores open themselves.
//!
//! This file only hands the arguments to [`app::run`]: parsing lives in `args` and
//! `info_args`, the commands in `commands` (the network ones in `commands::network`), store
//! access in `session`, output in `output`, and the REPL and scripts in `repl` with their
//! `tokenizer`.

mod app;
mod args;
mod commands;
mod daemon;
mod info_args;
mod output;
mod progress;
mod repl;
mod session;
mod settings;
mod tokenizer;

use std::process::ExitCode;

/// The CRDT libraries allocate and free hundreds of thousands of small buffers for a large
/// store; mimalloc does that markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    ExitCode::from(app::run(args))
}
