//! The top level: parsing (with the `--info.<key>` scan first), the checks of the global
//! options, and running one command, a REPL or a script.

use crate::args::{Cli, Command, GlobalArgs, cli_command};
use crate::info_args::{self, InfoArgs};
use crate::output::{CliError, EXIT_GENERAL, EXIT_OK, Format, Output, print_error, write_error};
use crate::settings::Settings;
use crate::{commands, daemon, repl};
use clap::FromArgMatches;
use clap::error::ErrorKind;
use std::io::Write;

/// What the argument list asks for.
pub enum Parsed {
    /// Help or version text for stdout.
    Print(String),
    /// A command line to run.
    Run {
        /// The parsed options and command.
        cli: Box<Cli>,
        /// The `--info.<key>` arguments taken out before parsing.
        info: InfoArgs,
    },
}

/// Parses an argument list (without the program name).
pub fn parse(args: Vec<String>) -> Result<Parsed, CliError> {
    let (rest, info) = info_args::extract(args);
    let argv = std::iter::once("sds".to_owned()).chain(rest.iter().cloned());
    let matches = match cli_command().try_get_matches_from(argv) {
        Ok(matches) => matches,
        Err(error) => {
            return match error.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    Ok(Parsed::Print(error.render().to_string()))
                }
                _ => Err(parser_error(&error, &rest)),
            };
        }
    };
    let cli = Cli::from_arg_matches(&matches).map_err(|e| parser_error(&e, &rest))?;
    Ok(Parsed::Run {
        cli: Box::new(cli),
        info,
    })
}

/// clap's message without its `error: ` prefix, tips and usage, on one line.
fn parser_error(error: &clap::Error, args: &[String]) -> CliError {
    let rendered = error.render().to_string();
    let body = rendered.strip_prefix("error: ").unwrap_or(&rendered);
    let first = body.split("\n\n").next().unwrap_or(body);
    let message = first
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    CliError::parser(message, help_for(args))
}

/// The help of the deepest command the arguments name (`sds entry get …` → `entry get`).
fn help_for(args: &[String]) -> String {
    let mut root = cli_command();
    root.build();
    let mut path: Vec<String> = Vec::new();
    {
        let mut current = &root;
        for arg in args.iter().filter(|a| !a.starts_with('-')) {
            match current.find_subcommand(arg) {
                Some(sub) => {
                    path.push(sub.get_name().to_owned());
                    current = sub;
                }
                None if current.has_subcommands() => break,
                None => {}
            }
        }
    }
    render_help(&mut root, &path)
}

fn render_help(command: &mut clap::Command, path: &[String]) -> String {
    if let Some((name, rest)) = path.split_first()
        && command.find_subcommand(name).is_some()
        && let Some(sub) = command.find_subcommand_mut(name)
    {
        return render_help(sub, rest);
    }
    command.render_help().to_string()
}

/// The help of `sds` itself.
pub fn top_help() -> String {
    cli_command().render_help().to_string()
}

/// Runs `sds` with these arguments and returns the exit code.
pub fn run(args: Vec<String>) -> u8 {
    if args.is_empty() {
        return print_output(&Output::Plain(top_help()), Format::Text);
    }
    if args.first().map(String::as_str) == Some(daemon::SERVE_ARG) {
        return daemon::serve(&args[1..]);
    }
    match parse(args.clone()) {
        Err(error) => {
            print_error(&error, Format::Text, true);
            error.code
        }
        Ok(Parsed::Print(text)) => print_output(&Output::Plain(text), Format::Text),
        Ok(Parsed::Run { cli, info }) => {
            let format = Settings::format_of(&cli.global);
            let settings = match Settings::for_command(&cli.global, cli.command.as_ref()) {
                Ok(settings) => settings,
                Err(error) => {
                    print_error(&error, format, true);
                    return error.code;
                }
            };
            let Cli {
                global,
                script,
                command,
            } = *cli;
            match (script, command) {
                (Some(_), Some(_)) => {
                    let error = CliError::usage("'--script' cannot be combined with a command");
                    print_error(&error, settings.format, true);
                    error.code
                }
                (Some(script), None) => repl::run_script(&script, &global, &settings),
                (None, Some(Command::Shell)) => repl::run_shell(&global),
                (None, Some(command)) => {
                    let served = daemon::serves(&command);
                    if served && let Some(code) = daemon::forward(&settings, &args) {
                        return code;
                    }
                    let code = run_command(&settings, command, info, true);
                    if served {
                        daemon::start_if_worthwhile(&settings);
                    }
                    code
                }
                (None, None) => print_output(&Output::Plain(top_help()), settings.format),
            }
        }
    }
}

/// Runs one line of a REPL or script: the session's global options, then the line's tokens.
pub fn run_line(global: &GlobalArgs, tokens: Vec<String>) -> u8 {
    let mut args = global.to_args();
    args.extend(tokens);
    let inherited = Settings::format_of(global);
    match parse(args) {
        Err(error) => {
            print_error(&error, inherited, false);
            error.code
        }
        Ok(Parsed::Print(text)) => print_output(&Output::Plain(text), inherited),
        Ok(Parsed::Run { cli, info }) => {
            let format = Settings::format_of(&cli.global);
            let settings = match Settings::for_command(&cli.global, cli.command.as_ref()) {
                Ok(settings) => settings,
                Err(error) => {
                    print_error(&error, format, false);
                    return error.code;
                }
            };
            let Cli {
                script, command, ..
            } = *cli;
            let not_here = |what: &str| {
                CliError::usage(format!(
                    "'{what}' is not available inside the shell or a script"
                ))
            };
            let error = match (script, command) {
                (Some(_), _) => not_here("--script"),
                (None, Some(Command::Shell)) => not_here("shell"),
                (None, Some(command)) => return run_command(&settings, command, info, false),
                (None, None) => return print_output(&Output::Plain(top_help()), format),
            };
            print_error(&error, format, false);
            error.code
        }
    }
}

fn run_command(settings: &Settings, command: Command, info: InfoArgs, top_level: bool) -> u8 {
    let result = commands::execute(settings, command, info);
    // stdout and stderr are locked only now: a progress bar draws on stderr from its own
    // thread while the command runs.
    report(
        result,
        settings.format,
        top_level,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}

/// Runs one command with its results written to `out` and its errors to `err` (the
/// background process of [`crate::daemon`] sends them back to the client).
pub fn run_command_to(
    settings: &Settings,
    command: Command,
    info: InfoArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let result = commands::execute(settings, command, info);
    report(result, settings.format, true, out, err)
}

fn report(
    result: Result<Output, CliError>,
    format: Format,
    top_level: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    match result {
        Ok(output) => write_output(&output, format, out, err),
        Err(error) => {
            write_error(err, &error, format, top_level);
            error.code
        }
    }
}

fn print_output(output: &Output, format: Format) -> u8 {
    write_output(
        output,
        format,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}

fn write_output(output: &Output, format: Format, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match output.write_to(out, format) {
        Ok(()) => EXIT_OK,
        // A reader that went away (`sds tree show | head`) is not an error of the command.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(e) => {
            write_error(
                err,
                &CliError::general(format!("cannot write the output: {e}")),
                format,
                true,
            );
            EXIT_GENERAL
        }
    }
}
