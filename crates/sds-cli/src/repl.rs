//! The REPL (`sds shell`, SPEC §15.8) and script mode (`--script`, SPEC §15.9). Both run each
//! line as one command with the session's global options placed before the line's tokens,
//! and keep the stores their lines use open between lines.

use crate::app::run_line;
use crate::args::GlobalArgs;
use crate::output::{CliError, EXIT_NOT_FOUND, Format, print_error};
use crate::session;
use crate::settings::{OnError, Settings};
use crate::tokenizer::tokenize;
use std::io::{BufRead, IsTerminal, Write};

const GREETING: &str = "SDS interactive shell — type \"help [command]\" for help, \"exit\" to quit";
const PROMPT: &str = "\x1b[1msds> \x1b[0m";

/// What one line asks for.
enum Line {
    /// Nothing to run (blank or comment).
    Skip,
    /// `exit` or `quit`.
    End,
    /// A command.
    Run(Vec<String>),
}

fn classify(line: &str) -> Line {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Line::Skip;
    }
    if line == "exit" || line == "quit" {
        return Line::End;
    }
    let tokens = tokenize(line);
    if tokens.is_empty() {
        Line::Skip
    } else {
        Line::Run(tokens)
    }
}

/// How many stores a REPL or script keeps open between its lines.
const KEPT_STORES: usize = 4;

/// Runs a REPL or a script with the stores its lines use kept open between lines (restoring
/// a large store takes seconds); at the end their engines are stopped (checkpoints). A failed
/// checkpoint is reported and turns a success into its exit code.
fn keeping_stores(format: Format, run: impl FnOnce() -> u8) -> u8 {
    session::keep_stores_open(KEPT_STORES);
    let code = run();
    match session::release_all() {
        Ok(()) => code,
        Err(error) => {
            print_error(&error, format, true);
            if code == 0 { error.code } else { code }
        }
    }
}

/// `sds shell`: errors are printed and the session goes on; the exit code is 0.
pub fn run_shell(global: &GlobalArgs) -> u8 {
    keeping_stores(Settings::format_of(global), || shell_loop(global))
}

fn shell_loop(global: &GlobalArgs) -> u8 {
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    if interactive {
        println!("{GREETING}");
    }
    let mut input = stdin.lock();
    loop {
        if interactive {
            print!("{PROMPT}");
            let _ = std::io::stdout().flush();
        }
        let mut line = String::new();
        match input.read_line(&mut line) {
            Ok(0) | Err(_) => {
                if interactive {
                    println!();
                }
                break;
            }
            Ok(_) => {}
        }
        match classify(&line) {
            Line::Skip => {}
            Line::End => break,
            Line::Run(tokens) => {
                run_line(global, tokens);
            }
        }
    }
    0
}

/// `--script <file|->`: returns the exit code the `--on-error` policy gives.
pub fn run_script(path: &str, global: &GlobalArgs, settings: &Settings) -> u8 {
    keeping_stores(settings.format, || script_lines(path, global, settings))
}

fn script_lines(path: &str, global: &GlobalArgs, settings: &Settings) -> u8 {
    let lines: Box<dyn Iterator<Item = String>> = if path == "-" {
        Box::new(std::io::stdin().lock().lines().map_while(Result::ok))
    } else {
        match std::fs::read(path) {
            Ok(bytes) => Box::new(
                String::from_utf8_lossy(&bytes)
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
                    .into_iter(),
            ),
            Err(_) => {
                let error =
                    CliError::new(EXIT_NOT_FOUND, format!("cannot open script file '{path}'"));
                print_error(&error, settings.format, true);
                return error.code;
            }
        }
    };
    let mut last_failure = 0;
    for line in lines {
        let tokens = match classify(&line) {
            Line::Skip => continue,
            Line::End => break,
            Line::Run(tokens) => tokens,
        };
        let code = run_line(global, tokens);
        if code == 0 {
            continue;
        }
        match settings.on_error {
            OnError::Stop => return code,
            OnError::Continue => last_failure = code,
            OnError::Ask => {
                if ask_to_continue() {
                    last_failure = code;
                } else {
                    return code;
                }
            }
        }
    }
    last_failure
}

/// Asks on a terminal whether to go on after a failed line; without one the answer is no.
fn ask_to_continue() -> bool {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return false;
    }
    eprint!("error — continue? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if stdin.lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim(), "y" | "Y")
}
