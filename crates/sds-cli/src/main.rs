//! # sds — the command-line tool of the Shareable Data Store
//!
//! `sds` works on local stores: one SQLite file per store in a persistence directory
//! (`~/.sds` by default), opened through the sync engine with persistence only. Every command
//! of SPEC §15 that needs no network is here: `store info | destroy | export | import`,
//! `entry create | get | list | update | move | delete | restore | purge`,
//! `trash list | purge-all | purge-expired`, `tree show`, an interactive `shell`, scripts
//! (`--script <file|->`) and shell completions.
//!
//! ```text
//! sds --store notes entry create --label "Shopping" --info.priority 1
//! sds --store notes tree show
//! sds --store notes --format json entry list root --recursive --label
//! ```
//!
//! Results go to stdout (text, or JSON with `--format json`), errors to stderr as
//! `sds: error: <message>` with the exit codes of SPEC §15.7. The backend (`yrs` or `loro`) is
//! chosen at run time with `--backend`; the command logic is generic over it.
//!
//! This file only hands the arguments to [`app::run`]: parsing lives in `args` and
//! `info_args`, the commands in `commands`, store access in `session`, output in `output`,
//! and the REPL and scripts in `repl` with their `tokenizer`.

mod app;
mod args;
mod commands;
mod info_args;
mod output;
mod progress;
mod repl;
mod session;
mod settings;
mod tokenizer;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    ExitCode::from(app::run(args))
}
