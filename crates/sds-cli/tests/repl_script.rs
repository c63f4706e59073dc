//! The REPL (`sds shell`, SPEC §15.8), scripts (`--script`, SPEC §15.9) and the line tokenizer
//! as seen through them (SPEC §15.10).

mod common;

use common::*;
use serde_json::json;
use std::io::Write;

fn shell_runs_lines_without_greeting_on_a_pipe(backend: &'static str) {
    let s = Sds::new(backend);
    let a = s.item(&["--label", "A"]);
    let input = format!(
        "\n   \n# a comment\nentry get {a} --label\n  entry get nope  \nentry frobnicate\n\
         entry list root --label # trailing comment\nshell\n--script x\n\
         entry create --label 'from the shell' --format json\nexit\nentry list root\n"
    );
    let out = s.run_with_input(&["shell"], &input);
    assert_eq!(out.code, 0);
    let created = out
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("  \"id\": \""))
        .map(|rest| rest.trim_end_matches("\",").to_owned())
        .expect("created id");
    assert_eq!(
        out.stdout,
        format!(
            "id:    {a}\nlabel: A\n{a}  A\n{{\n  \"id\": \"{created}\",\n  \"created\": true,\n  \"kind\": \"item\"\n}}\n"
        )
    );
    assert_eq!(
        out.stderr,
        "sds: error: entry 'nope' not found\n\
         sds: unrecognized subcommand 'frobnicate'\n\
         sds: error: 'shell' is not available inside the shell or a script\n\
         sds: error: '--script' is not available inside the shell or a script\n"
    );
    // `quit` ends the session too, and so does the end of the input.
    let out = s.run_with_input(&["shell"], "quit\nentry get nope\n");
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, "", "")
    );
    let out = s.run_with_input(&["shell"], "entry list root");
    assert_eq!(out.ok(), format!("{a}\n{created}\n"));
}

fn shell_lines_inherit_and_override_global_options(backend: &'static str) {
    let s = Sds::new(backend);
    let a = s.item(&["--label", "A", "--info.keep", "1", "--info.drop", "2"]);
    // The shell's --format json applies to every line; a line can switch it back.
    let input = format!(
        "entry update {a} --info-delete.drop --info.added=yes\n\
         entry get {a} --info\n\
         entry get {a} --label --format text\n\
         entry get nope\n\
         entry create --store other --label elsewhere --format text\n"
    );
    let out = s.run_with_input(&["--format", "json", "shell"], &input);
    assert_eq!(out.code, 0);
    let mut lines = out.stdout.lines();
    let update: Vec<&str> = lines.by_ref().take(4).collect();
    assert_eq!(
        update.join("\n"),
        format!("{{\n  \"id\": \"{a}\",\n  \"updated\": true\n}}")
    );
    let get: Vec<&str> = lines.by_ref().take(7).collect();
    let get: serde_json::Value = serde_json::from_str(&get.join("\n")).unwrap();
    assert_eq!(get, json!({"id": a, "info": {"keep": 1, "added": "yes"}}));
    assert_eq!(lines.next(), Some(format!("id:    {a}").as_str()));
    assert_eq!(lines.next(), Some("label: A"));
    assert_eq!(
        lines.next().map(str::len),
        Some(36),
        "the id in another store"
    );
    assert_eq!(lines.next(), None);
    assert_eq!(
        out.stderr,
        "{\"error\":\"entry 'nope' not found\",\"exitCode\":3}\n"
    );
    assert!(s.dir().join("other.db").exists());
}

fn scripts_run_every_line_and_stop_at_the_first_failure(backend: &'static str) {
    let s = Sds::new(backend);
    let a = s.item(&["--label", "A"]);
    let script = s.file(
        "run.sds",
        format!(
            "# set up\n\nentry update {a} --label \"with \\\"quotes\\\" and spaces\"\n\
             entry get {a} --label\nentry get nope\nentry update {a} --label never\n"
        ),
    );
    let out = s.run(&["--script", &script]);
    assert_eq!(out.code, 3);
    assert_eq!(
        out.stdout,
        format!("updated '{a}'\nid:    {a}\nlabel: with \"quotes\" and spaces\n")
    );
    assert_eq!(out.stderr, "sds: error: entry 'nope' not found\n");
    // --on-error stop is the default and can be given explicitly.
    let out = s.run(&["--on-error", "stop", "--script", &script]);
    assert_eq!(out.code, 3);
    assert!(out.stdout.ends_with("spaces\n"));
}

fn scripts_continue_with_the_last_failure_code(backend: &'static str) {
    let s = Sds::new(backend);
    let a = s.item(&["--label", "A"]);
    let script = s.file(
        "run.sds",
        format!(
            "entry get nope\nentry delete root\nentry update {a} --label B\n\
             entry get {a} --label\n"
        ),
    );
    let out = s.run(&["--on-error", "continue", "--script", &script]);
    assert_eq!(out.code, 6, "the last non-zero code");
    assert_eq!(out.stdout, format!("updated '{a}'\nid:    {a}\nlabel: B\n"));
    assert_eq!(
        out.stderr,
        format!(
            "sds: error: entry 'nope' not found\nsds: error: entry '{ROOT}' cannot be deleted (system entry)\n"
        )
    );
    // `exit` ends a script early with the code so far.
    let script = s.file("exit.sds", "entry get nope\nexit\nentry delete root\n");
    let out = s.run(&["--on-error", "continue", "--script", &script]);
    assert_eq!(out.code, 3);
    // Without a terminal, `ask` behaves like `stop`.
    let script = s.file(
        "ask.sds",
        format!("entry get nope\nentry update {a} --label C\n"),
    );
    let out = s.run_with_input(&["--on-error", "ask", "--script", &script], "y\n");
    assert_eq!((out.code, out.stdout.as_str()), (3, ""));
    assert_eq!(out.stderr, "sds: error: entry 'nope' not found\n");
    assert_eq!(
        s.run(&["entry", "get", &a, "--label"]).ok(),
        format!("id:    {a}\nlabel: B\n")
    );
}

fn scripts_from_stdin_with_tokenizer_rules(backend: &'static str) {
    let s = Sds::new(backend);
    let a = s.item(&[]);
    let script = format!(
        "entry update {a} --label ''\nentry get {a} --label\n\
         entry update {a} --label a\\ b'c d'\"e\\\\f\"\nentry get {a} --label\n\
         entry update {a} --label \"unclosed # not a comment\nentry get {a} --label\n\
         entry update {a} --label x#y # comment\nentry get {a} --label\n\
         entry update {a} --label \"\"\nentry get {a} --label --format json\n"
    );
    let out = s.run_with_input(&["--script", "-"], &script);
    assert_eq!(
        out.ok(),
        format!(
            "updated '{a}'\nid:    {a}\nlabel: \n\
             updated '{a}'\nid:    {a}\nlabel: a bc de\\f\n\
             updated '{a}'\nid:    {a}\nlabel: unclosed # not a comment\n\
             updated '{a}'\nid:    {a}\nlabel: x#y\n\
             updated '{a}'\n{{\n  \"id\": \"{a}\",\n  \"label\": \"\"\n}}\n"
        )
    );
}

fn scripts_with_crlf_line_endings_work(backend: &'static str) {
    let s = Sds::new(backend);
    let a = s.item(&["--label", "A"]);
    let script = s.file(
        "crlf.sds",
        format!("# windows\r\nentry update {a} --label 'B C'\r\n\r\nentry get {a} --label\r\n"),
    );
    assert_eq!(
        s.run(&["--script", &script]).ok(),
        format!("updated '{a}'\nid:    {a}\nlabel: B C\n")
    );
}

/// The shell keeps the store open between lines and still sees what other processes do to
/// the file: a new entry, then the store destroyed and created again.
fn the_shell_sees_changes_other_processes_make(backend: &'static str) {
    use std::io::{BufRead, BufReader};
    let s = Sds::new(backend);
    let a = s.item(&["--label", "A"]);
    let mut shell = s
        .command()
        .arg("shell")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the shell");
    let mut input = shell.stdin.take().expect("stdin");
    let mut output = BufReader::new(shell.stdout.take().expect("stdout"));
    // Runs `entry list root` and returns its lines, up to the marker line the shell prints
    // afterwards.
    let mut list_root = |input: &mut std::process::ChildStdin| {
        writeln!(input, "entry list root --label\n--version").expect("write a line");
        input.flush().expect("flush");
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            assert_ne!(
                output.read_line(&mut line).expect("read"),
                0,
                "the shell ended"
            );
            if line.starts_with("sds ") {
                return lines;
            }
            lines.push(line.trim_end().to_owned());
        }
    };
    assert_eq!(list_root(&mut input), [format!("{a}  A")]);

    let b = s.item(&["--label", "B"]);
    assert_eq!(
        list_root(&mut input),
        [format!("{a}  A"), format!("{b}  B")]
    );

    s.run(&["store", "destroy"]).ok();
    let c = s.item(&["--label", "C"]);
    assert_eq!(list_root(&mut input), [format!("{c}  C")]);

    writeln!(input, "entry update {c} --label C2").expect("write a line");
    drop(input);
    let status = shell.wait().expect("wait for the shell");
    assert!(status.success());
    assert_eq!(
        s.run(&["entry", "get", &c, "--label"]).ok(),
        format!("id:    {c}\nlabel: C2\n")
    );
}

backend_tests!(
    shell_runs_lines_without_greeting_on_a_pipe,
    the_shell_sees_changes_other_processes_make,
    shell_lines_inherit_and_override_global_options,
    scripts_run_every_line_and_stop_at_the_first_failure,
    scripts_continue_with_the_last_failure_code,
    scripts_from_stdin_with_tokenizer_rules,
    scripts_with_crlf_line_endings_work,
);

#[test]
fn an_unopenable_script_exits_3() {
    let s = Sds::new("yrs");
    let missing = s.path("missing.sds").display().to_string();
    s.run(&["--script", &missing])
        .fails(3, &format!("cannot open script file '{missing}'"));
    let dir = s.temp.path().display().to_string();
    s.run(&["--script", &dir])
        .fails(3, &format!("cannot open script file '{dir}'"));
    s.run(&["--format", "json", "--script", &missing])
        .fails_json(3, &format!("cannot open script file '{missing}'"));
}

#[test]
fn a_script_of_comments_and_blank_lines_exits_0() {
    let s = Sds::new("yrs");
    let script = s.file("c.sds", "# only\n\n   # comments\n\t\n");
    let out = s.run(&["--script", &script]);
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, "", "")
    );
    let out = s.run_with_input(&["--script", "-"], "");
    assert_eq!(out.code, 0);
    assert!(!s.db().exists());
}

#[test]
fn an_invalid_on_error_value_stops_before_the_script() {
    let s = Sds::new("yrs");
    let script = s.file("c.sds", "entry create\n");
    s.run(&["--on-error", "retry", "--script", &script]).fails(
        2,
        "'--on-error' accepts 'stop', 'continue', or 'ask' — got 'retry'",
    );
    assert!(!s.db().exists());
}

#[test]
fn parser_errors_inside_scripts_print_no_help() {
    let s = Sds::new("yrs");
    let script = s.file("p.sds", "entry list\nentry list root --only\n");
    let out = s.run(&["--on-error", "continue", "--script", &script]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "sds: the following required arguments were not provided: <ID>\n\
         sds: a value is required for '--only <items|links>' but none was supplied\n"
    );
}

#[test]
fn help_and_version_work_inside_the_shell() {
    let s = Sds::new("yrs");
    let out = s.run_with_input(&["shell"], "help entry get\n--version\n");
    let text = out.ok();
    assert!(text.contains("Usage: sds entry get [OPTIONS] <ID>"));
    assert!(text.ends_with(&format!("sds {}\n", env!("CARGO_PKG_VERSION"))));
}
