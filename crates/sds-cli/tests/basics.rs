//! Invocation, help, global options, environment variables, output formats of errors and
//! integer parsing (SPEC §15.1, §15.2, §15.4, §15.6, §15.7).

mod common;

use common::*;

fn sds() -> Sds {
    Sds::new("yrs")
}

#[test]
fn no_arguments_print_the_usage_help_on_stdout() {
    let s = sds();
    let out = run(&mut s.bare(), None);
    let help = out.ok();
    assert!(
        help.starts_with("Work with Shareable Data Stores"),
        "{help}"
    );
    assert!(help.contains("Usage: sds [OPTIONS] [COMMAND]"));
    for command in [
        "store",
        "entry",
        "trash",
        "tree",
        "token",
        "shell",
        "completions",
        "help",
    ] {
        assert!(
            help.contains(&format!("\n  {command} ")),
            "{command} missing"
        );
    }
}

#[test]
fn help_and_version_exit_0() {
    let s = sds();
    let version = format!("sds {}\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(run(s.bare().arg("--version"), None).ok(), version);
    assert_eq!(run(s.bare().arg("-V"), None).ok(), version);
    let top = run(s.bare().arg("--help"), None);
    assert!(top.ok().contains("Usage: sds [OPTIONS] [COMMAND]"));
    let help = run(s.bare().arg("help"), None);
    assert!(help.ok().contains("Usage: sds [OPTIONS] [COMMAND]"));
    for args in [
        &["help", "entry", "create"][..],
        &["entry", "create", "--help"],
        &["entry", "create", "-h"],
    ] {
        let out = run(s.bare().args(args), None);
        let text = out.ok();
        assert!(text.contains("Usage: sds entry create [OPTIONS]"), "{text}");
        assert!(text.contains("--info <JSON>"));
        assert!(text.contains("Global options:"));
    }
    let out = run(s.bare().args(["help", "tree", "show"]), None);
    assert!(out.ok().contains("Usage: sds tree show [OPTIONS]"));
}

#[test]
fn an_unknown_command_prints_the_message_and_help_and_exits_2() {
    let s = sds();
    let out = run(s.bare().arg("frobnicate"), None);
    assert_eq!(out.code, 2);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr
            .starts_with("sds: unrecognized subcommand 'frobnicate'\n\nWork with Shareable"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Usage: sds [OPTIONS] [COMMAND]"));
}

#[test]
fn an_unknown_option_prints_the_help_of_its_command() {
    let s = sds();
    let out = run(s.bare().args(["entry", "list", "root", "--frob"]), None);
    assert_eq!(out.code, 2);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.starts_with(
            "sds: unexpected argument '--frob' found\n\nList the entries of an item\n"
        ),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Usage: sds entry list [OPTIONS] <ID>"));
}

#[test]
fn missing_arguments_and_values_are_parser_errors() {
    let s = sds();
    let cases: &[(&[&str], &str)] = &[
        (
            &["entry", "list", "root", "--only"],
            "sds: a value is required for '--only <items|links>' but none was supplied\n\n",
        ),
        (
            &["entry", "get"],
            "sds: the following required arguments were not provided: <ID>\n\n",
        ),
        (
            &["entry", "move", "x"],
            "sds: the following required arguments were not provided: --to <ID>\n\n",
        ),
        (
            &["store", "import"],
            "sds: the following required arguments were not provided: --input <FILE>\n\n",
        ),
        (
            &["store"],
            "sds: 'sds store' requires a subcommand but one was not provided [subcommands: \
             info, destroy, export, import, sync, ping, help]\n\n",
        ),
        (
            &["--store"],
            "sds: a value is required for '--store <ID>' but none was supplied\n\n",
        ),
        (
            &["completions", "tcsh"],
            "sds: invalid value 'tcsh' for '<SHELL>'",
        ),
    ];
    for (args, start) in cases {
        let out = run(s.bare().args(*args), None);
        assert_eq!(out.code, 2, "{args:?}");
        assert_eq!(out.stdout, "");
        assert!(out.stderr.starts_with(start), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("Usage: sds"), "{args:?}");
    }
}

#[test]
fn network_commands_are_offered_with_help() {
    let s = sds();
    for (args, usage) in [
        (
            &["store", "sync", "--help"][..],
            "Usage: sds store sync [OPTIONS]",
        ),
        (
            &["store", "ping", "--help"],
            "Usage: sds store ping [OPTIONS]",
        ),
        (
            &["token", "issue", "--help"],
            "Usage: sds token issue [OPTIONS] --sub <SUB> --scope <read|write|admin>",
        ),
    ] {
        let out = run(s.bare().args(args), None);
        assert!(out.ok().contains(usage), "{args:?}: {}", out.stdout);
    }
    // --sub and --scope are required by the parser.
    let out = run(s.bare().args(["token", "issue", "--sub", "a"]), None);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .starts_with("sds: the following required arguments")
    );
}

#[test]
fn invalid_global_option_values_exit_2() {
    let s = sds();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--format", "xml", "tree", "show"],
            "'--format' accepts 'text' or 'json' — got 'xml'",
        ),
        (
            &["--on-error", "never", "tree", "show"],
            "'--on-error' accepts 'stop', 'continue', or 'ask' — got 'never'",
        ),
        (
            &["--backend", "automerge", "tree", "show"],
            "'--backend' accepts 'yrs' or 'loro' — got 'automerge'",
        ),
        (
            &["--server", "http://example.invalid", "tree", "show"],
            "invalid '--server' URL 'http://example.invalid' — must start with 'ws://' or 'wss://'",
        ),
    ];
    for (args, message) in cases {
        run(s.bare().args(*args), None).fails(2, message);
    }
    // Invalid values from the environment are refused the same way.
    run(
        s.bare().env("SDS_BACKEND", "crdt").args(["tree", "show"]),
        None,
    )
    .fails(2, "'--backend' accepts 'yrs' or 'loro' — got 'crdt'");
    run(
        s.bare()
            .env("SDS_SERVER_URL", "localhost:1")
            .args(["tree", "show"]),
        None,
    )
    .fails(
        2,
        "invalid '--server' URL 'localhost:1' — must start with 'ws://' or 'wss://'",
    );
    // An invalid backend is reported in the chosen format.
    run(
        s.bare()
            .args(["--format", "JSON", "--backend", "x", "tree", "show"]),
        None,
    )
    .fails_json(2, "'--backend' accepts 'yrs' or 'loro' — got 'x'");
}

#[test]
fn valid_global_option_values_are_case_insensitive() {
    let s = sds();
    s.init();
    let out = s.run(&["--format", "JSON", "--backend", "YRS", "store", "info"]);
    assert_eq!(out.json()["exists"], true);
    let out = s.run(&[
        "--server",
        "wss://example.invalid/sds",
        "--on-error",
        "Continue",
        "--format",
        "Text",
        "store",
        "info",
    ]);
    assert!(out.ok().starts_with("store:       test\n"));
}

#[test]
fn commands_that_need_a_store_id_exit_2_without_one() {
    let s = sds();
    let dir = s.dir();
    let dir = dir.to_str().unwrap();
    for args in [
        &["store", "info"][..],
        &["store", "destroy"],
        &["store", "export"],
        &["entry", "create"],
        &["entry", "list", "root"],
        &["trash", "list"],
        &["tree", "show"],
    ] {
        let out = run(s.bare().args(["--persistence-dir", dir]).args(args), None);
        out.fails(2, "no store ID — set SDS_STORE_ID or use --store");
    }
    let out = run(
        s.bare()
            .args(["--persistence-dir", dir, "--format", "json", "tree", "show"]),
        None,
    );
    out.fails_json(2, "no store ID — set SDS_STORE_ID or use --store");
    assert!(!dir_exists(&s.dir()));
}

fn dir_exists(path: &std::path::Path) -> bool {
    path.is_dir()
}

#[test]
fn options_beat_environment_variables_which_beat_defaults() {
    let s = sds();
    let env_dir = s.path("env-dir");
    let opt_dir = s.path("opt-dir");
    // Default directory: ~/.sds (HOME is the temporary directory).
    let id = run(
        s.bare()
            .args(["--store", "a", "entry", "create", "--label", "d"]),
        None,
    )
    .line();
    assert!(s.temp.path().join(".sds/a.db").exists());
    // The environment beats the default.
    let mut command = s.bare();
    command
        .env("SDS_PERSISTENCE_DIR", &env_dir)
        .env("SDS_STORE_ID", "b")
        .args(["entry", "create"]);
    run(&mut command, None).line();
    assert!(env_dir.join("b.db").exists());
    // Options beat the environment.
    let mut command = s.bare();
    command
        .env("SDS_PERSISTENCE_DIR", &env_dir)
        .env("SDS_STORE_ID", "b")
        .args([
            "--persistence-dir",
            opt_dir.to_str().unwrap(),
            "--store",
            "c",
        ])
        .args(["entry", "create"]);
    run(&mut command, None).line();
    assert!(opt_dir.join("c.db").exists());
    assert!(!env_dir.join("c.db").exists());
    // The default store of ~/.sds is still there with its entry.
    let out = run(
        s.bare()
            .args(["--store", "a", "entry", "get", &id, "--label"]),
        None,
    );
    assert_eq!(out.ok(), format!("id:    {id}\nlabel: d\n"));
}

#[test]
fn the_backend_option_beats_the_environment() {
    let s = sds();
    let dir = s.dir();
    let dir = dir.to_str().unwrap();
    // Created with loro through the environment.
    run(
        s.bare().env("SDS_BACKEND", "loro").args([
            "--persistence-dir",
            dir,
            "--store",
            "x",
            "entry",
            "create",
        ]),
        None,
    )
    .line();
    // The option wins over the environment: yrs is refused for a loro store.
    run(
        s.bare().env("SDS_BACKEND", "loro").args([
            "--persistence-dir",
            dir,
            "--store",
            "x",
            "--backend",
            "yrs",
            "tree",
            "show",
        ]),
        None,
    )
    .fails(2, "store 'x' uses the loro backend — use --backend loro");
    // The default (yrs) is refused too; the environment alone works.
    run(
        s.bare()
            .args(["--persistence-dir", dir, "--store", "x", "tree", "show"]),
        None,
    )
    .fails(2, "store 'x' uses the loro backend — use --backend loro");
    let out = run(
        s.bare().env("SDS_BACKEND", "LORO").args([
            "--persistence-dir",
            dir,
            "--store",
            "x",
            "trash",
            "list",
        ]),
        None,
    );
    assert_eq!(out.ok(), "(trash is empty)\n");
}

#[test]
fn a_repeated_option_takes_its_last_value() {
    let s = sds();
    s.init();
    let out = s.run(&[
        "--store", "nope", "--store", STORE, "--format", "text", "--format", "json", "store",
        "info",
    ]);
    assert_eq!(out.json()["storeId"], STORE);
}

#[test]
fn global_options_work_after_the_command_words() {
    let s = sds();
    let dir = s.dir();
    let dir = dir.to_str().unwrap();
    let id = run(
        s.bare().args([
            "entry",
            "create",
            "--label",
            "late",
            "--store",
            "g",
            "--persistence-dir",
            dir,
            "--backend",
            "loro",
        ]),
        None,
    )
    .line();
    let out = run(
        s.bare().args([
            "entry",
            "get",
            &id,
            "--label",
            "--format",
            "json",
            "--backend",
            "loro",
            "--persistence-dir",
            dir,
            "--store",
            "g",
        ]),
        None,
    );
    assert_eq!(
        out.ok(),
        format!("{{\n  \"id\": \"{id}\",\n  \"label\": \"late\"\n}}\n")
    );
}

#[test]
fn json_errors_are_one_line_objects() {
    let s = sds();
    s.run(&["--format", "json", "tree", "show"]).fails_json(
        3,
        &format!("store 'test' not found in '{}'", s.dir().display()),
    );
    s.init();
    s.run(&["--format", "json", "entry", "get", "missing"])
        .fails_json(3, "entry 'missing' not found");
    s.run(&["--format", "json", "entry", "create", "--at", "x"])
        .fails_json(2, "invalid value for --at: 'x' — expected an integer");
    s.run(&["--format", "json", "entry", "delete", "root"])
        .fails_json(
            6,
            &format!("entry '{ROOT}' cannot be deleted (system entry)"),
        );
    // Errors of the parser stay text, with the help.
    let out = s.run(&["--format", "json", "entry", "frob"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .starts_with("sds: unrecognized subcommand 'frob'\n\n")
    );
}

#[test]
fn integer_options_reject_anything_but_decimal_integers() {
    let s = sds();
    s.init();
    let cases: &[(&[&str], &str)] = &[
        (&["entry", "create", "--at", "3abc"], "--at"),
        (&["entry", "create", "--at", "1.5"], "--at"),
        (
            &["entry", "move", "x", "--to", "root", "--at", "0x1"],
            "--at",
        ),
        (&["entry", "restore", "x", "--at", ""], "--at"),
        (
            &["entry", "list", "root", "--recursive", "--depth", "2d"],
            "--depth",
        ),
        (&["tree", "show", "--depth", "one"], "--depth"),
        (&["trash", "purge-expired", "--ttl", "30days"], "--ttl"),
    ];
    for (args, flag) in cases {
        let raw = args.last().unwrap();
        s.run(args).fails(
            2,
            &format!("invalid value for {flag}: '{raw}' — expected an integer"),
        );
    }
}

#[test]
fn completions_are_generated_for_every_shell() {
    let s = sds();
    for (shell, marker) in [
        ("bash", "_sds()"),
        ("zsh", "#compdef sds"),
        ("fish", "complete -c sds"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[sds]"),
    ] {
        let out = run(s.bare().args(["completions", shell]), None);
        assert!(out.ok().contains(marker), "{shell}");
        assert!(out.stdout.contains("purge-expired"), "{shell}");
    }
}

#[test]
fn a_script_cannot_be_combined_with_a_command() {
    let s = sds();
    let script = s.file("s.sds", "tree show\n");
    s.run(&["--script", &script, "tree", "show"])
        .fails(2, "'--script' cannot be combined with a command");
}
