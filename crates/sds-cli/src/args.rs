//! The command line as clap sees it (SPEC §15.1, §15.2, §15.5). Values with rules of their own
//! (integers, `--format`, `--backend`, …) are taken as text and checked by the commands, so
//! that their error messages are exactly those of SPEC §15.

use clap::{Args, CommandFactory, Parser, Subcommand};

/// `sds` — work with Shareable Data Stores from the command line.
#[derive(Debug, Parser)]
#[command(
    name = "sds",
    version,
    about = "Work with Shareable Data Stores: a CRDT-backed tree of items and links",
    long_about = "Work with Shareable Data Stores: a CRDT-backed tree of items and links.\n\n\
        Stores live in <persistence-dir>/<store id>.db (SQLite). Every command opens the \
        store, performs its operation and writes a checkpoint. Ids accept the aliases \
        'root', 'trash' and 'lost-and-found'.\n\n\
        After a slow restore (a large store) a background process keeps the store open for \
        the next commands; it exits after SDS_DAEMON_IDLE seconds (600) without one. \
        SDS_DAEMON=off runs every command in its own process, SDS_DAEMON=on always uses \
        the background process.\n\n\
        Only 'store sync', 'store ping' and 'token issue' use the network: they talk to a \
        relay server (sds-server) given with --server ws://… or wss://….",
    after_help = "Exit codes: 0 ok, 1 general error, 2 usage error, 3 not found, \
        4 unauthorized, 5 network error, 6 forbidden."
)]
pub struct Cli {
    /// Global options, accepted before and after the command words.
    #[command(flatten)]
    pub global: GlobalArgs,

    /// Run the commands of a file line by line ('-' reads standard input).
    #[arg(long, value_name = "FILE|-", help_heading = "Global options")]
    pub script: Option<String>,

    /// The command.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The global options of SPEC §15.2.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// Relay server URL (ws:// or wss://), for store sync, store ping and token issue.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "SDS_SERVER_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub server: Option<String>,

    /// Store id.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "SDS_STORE_ID",
        value_name = "ID",
        hide_env_values = true
    )]
    pub store: Option<String>,

    /// Client token (read/write), for store sync and store ping.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "SDS_TOKEN",
        value_name = "JWT",
        hide_env_values = true
    )]
    pub token: Option<String>,

    /// Admin token, for token issue.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "SDS_ADMIN_TOKEN",
        value_name = "JWT",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,

    /// Directory of the store files [default: ~/.sds].
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "SDS_PERSISTENCE_DIR",
        value_name = "PATH",
        hide_env_values = true
    )]
    pub persistence_dir: Option<String>,

    /// CRDT backend of the store: yrs or loro (case-insensitive) [default: yrs].
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "SDS_BACKEND",
        value_name = "yrs|loro",
        hide_env_values = true
    )]
    pub backend: Option<String>,

    /// Output format: text or json [default: text].
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "text|json"
    )]
    pub format: Option<String>,

    /// What a script does when a line fails: stop, continue or ask [default: stop].
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "stop|continue|ask"
    )]
    pub on_error: Option<String>,
}

impl GlobalArgs {
    /// The options as arguments, for the lines of a REPL or script: they are placed before
    /// the line's own tokens, so that options on the line win.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        for (flag, value) in [
            ("--server", &self.server),
            ("--store", &self.store),
            ("--token", &self.token),
            ("--admin-token", &self.admin_token),
            ("--persistence-dir", &self.persistence_dir),
            ("--backend", &self.backend),
            ("--format", &self.format),
            ("--on-error", &self.on_error),
        ] {
            if let Some(value) = value {
                args.push(flag.to_owned());
                args.push(value.clone());
            }
        }
        args
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Store-level commands: info, destroy, export, import, sync, ping.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Create, read, change, move, delete, restore and purge entries.
    #[command(subcommand)]
    Entry(EntryCommand),
    /// List and purge the Trash.
    #[command(subcommand)]
    Trash(TrashCommand),
    /// Show the tree.
    #[command(subcommand)]
    Tree(TreeCommand),
    /// Issue client tokens through the server (needs an admin token).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Interactive shell: one command per line.
    Shell,
    /// Print a shell completion script.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `sds store …`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Show whether the store exists, its entry count and its file.
    Info,
    /// Delete the store's file (with -wal and -shm).
    Destroy,
    /// Export the store as JSON or binary.
    Export {
        /// json (default) or binary.
        #[arg(long, value_name = "json|binary")]
        encoding: Option<String>,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<String>,
    },
    /// Import the entries of a JSON or binary export into Root (with fresh ids).
    Import {
        /// The file to import.
        #[arg(long, value_name = "FILE", required = true)]
        input: String,
    },
    /// Sync the store with the server: upload local changes, download remote ones.
    #[command(
        long_about = "Sync the store with the server (--server, --token): opens or creates \
        the store, connects, uploads the local state and asks for what the server or the \
        other peers have, waits --timeout milliseconds after the connection is established \
        and writes a checkpoint. Without --data-dir the server is a pure relay: changes then \
        travel only between peers online at the same time."
    )]
    Sync {
        /// Milliseconds to stay connected [default: 5000].
        #[arg(long, value_name = "MS", allow_hyphen_values = true)]
        timeout: Option<String>,
    },
    /// Check that the server is reachable and accepts the token (no local store is opened).
    #[command(
        long_about = "Check that the server (--server) is reachable and accepts the token \
        (--token) for the store: opens the sync socket, waits up to one second for a refusal \
        and closes it. Sends nothing and does not open or create the local store. An \
        unreachable server is a result (exit 0); a refused token exits 4 (4001) or 6 (4003)."
    )]
    Ping,
}

/// `sds token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Ask the server for a client token of the admin token's store (POST /api/token).
    Issue(IssueArgs),
}

/// `sds token issue`.
#[derive(Debug, Args)]
#[command(
    after_help = "The admin token (--admin-token or SDS_ADMIN_TOKEN) must have the admin \
    scope; the new token is for the admin token's store. The server URL's ws:// or wss:// \
    becomes http:// or https://."
)]
pub struct IssueArgs {
    /// Subject (user name) of the new token.
    #[arg(long, value_name = "SUB", required = true, allow_hyphen_values = true)]
    pub sub: String,
    /// Scope of the new token: read, write or admin.
    #[arg(
        long,
        value_name = "read|write|admin",
        required = true,
        allow_hyphen_values = true
    )]
    pub scope: String,
    /// Lifetime: a number followed by s, m, h or d [default: 24h].
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub exp: Option<String>,
}

/// `sds entry …`.
#[derive(Debug, Subcommand)]
pub enum EntryCommand {
    /// Create an item, or a link with --target.
    Create(CreateArgs),
    /// Show an entry.
    Get(GetArgs),
    /// List the entries of an item.
    List(ListArgs),
    /// Change an entry's label, MIME type, value or Info.
    Update(UpdateArgs),
    /// Move an entry into another item.
    Move(MoveArgs),
    /// Move an entry to the Trash.
    Delete(IdArg),
    /// Move an entry out of the Trash.
    Restore(RestoreArgs),
    /// Remove an entry in the Trash for good.
    Purge(IdArg),
}

/// One id argument.
#[derive(Debug, Args)]
pub struct IdArg {
    /// Entry id (or root, trash, lost-and-found).
    pub id: String,
}

/// `sds entry create`.
#[derive(Debug, Args)]
#[command(
    after_help = "Info: --info.<key> <value>, --info.<key>=<value>, --info.<key> (true) \
    and --info-delete.<key>; values are JSON when they parse as JSON, else text."
)]
pub struct CreateArgs {
    /// Create a link to this item.
    #[arg(long, value_name = "ID")]
    pub target: Option<String>,
    /// The item to create the entry in [default: root].
    #[arg(long, value_name = "ID")]
    pub container: Option<String>,
    /// Insertion index [default: at the end].
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub at: Option<String>,
    /// Label.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub label: Option<String>,
    /// MIME type of an item [default: text/plain].
    #[arg(long, value_name = "TYPE")]
    pub mime: Option<String>,
    /// Value of an item.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub value: Option<String>,
    /// Read the value of an item from this file.
    #[arg(long, value_name = "PATH")]
    pub file: Option<String>,
    /// --value holds base64-encoded bytes.
    #[arg(long)]
    pub base64: bool,
    /// Info as a JSON object.
    #[arg(long, value_name = "JSON", allow_hyphen_values = true)]
    pub info: Option<String>,
}

/// `sds entry get`.
#[derive(Debug, Args)]
#[command(
    after_help = "Without field flags every field is shown. --info.<key> shows one \
    Info field (write the id first or use --info.<key>=)."
)]
pub struct GetArgs {
    /// Entry id (or root, trash, lost-and-found).
    pub id: String,
    /// Show the kind.
    #[arg(long)]
    pub kind: bool,
    /// Show the label.
    #[arg(long)]
    pub label: bool,
    /// Show the MIME type (items).
    #[arg(long)]
    pub mime: bool,
    /// Show the inline value (items).
    #[arg(long)]
    pub value: bool,
    /// Show the Info map.
    #[arg(long)]
    pub info: bool,
    /// Show the target (links).
    #[arg(long)]
    pub target: bool,
}

/// `sds entry list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The item whose entries are listed (or root, trash, lost-and-found).
    pub id: String,
    /// List the whole subtree (depth first, pre-order).
    #[arg(long)]
    pub recursive: bool,
    /// With --recursive: levels below the item to list [default: unlimited].
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub depth: Option<String>,
    /// Only items or only links.
    #[arg(long, value_name = "items|links")]
    pub only: Option<String>,
    /// Show labels.
    #[arg(long)]
    pub label: bool,
    /// Show MIME types.
    #[arg(long)]
    pub mime: bool,
    /// Show inline values.
    #[arg(long)]
    pub value: bool,
    /// Show Info maps.
    #[arg(long)]
    pub info: bool,
}

/// `sds entry update`.
#[derive(Debug, Args)]
#[command(
    after_help = "Info: --info.<key> <value>, --info.<key>=<value>, --info.<key> (true) \
    and --info-delete.<key>; values are JSON when they parse as JSON, else text."
)]
pub struct UpdateArgs {
    /// Entry id (or root, trash, lost-and-found).
    pub id: String,
    /// New label.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub label: Option<String>,
    /// New MIME type (items).
    #[arg(long, value_name = "TYPE")]
    pub mime: Option<String>,
    /// New value (items).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub value: Option<String>,
    /// Read the new value from this file (items).
    #[arg(long, value_name = "PATH")]
    pub file: Option<String>,
    /// --value holds base64-encoded bytes.
    #[arg(long)]
    pub base64: bool,
    /// Info entries to set, as a JSON object.
    #[arg(long, value_name = "JSON", allow_hyphen_values = true)]
    pub info: Option<String>,
}

/// `sds entry move`.
#[derive(Debug, Args)]
pub struct MoveArgs {
    /// Entry id.
    pub id: String,
    /// The item to move the entry into.
    #[arg(long, value_name = "ID", required = true)]
    pub to: String,
    /// Insertion index [default: at the end].
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub at: Option<String>,
}

/// `sds entry restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Entry id (a direct child of the Trash).
    pub id: String,
    /// The item to restore the entry into [default: root].
    #[arg(long, value_name = "ID")]
    pub to: Option<String>,
    /// Insertion index [default: at the end].
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub at: Option<String>,
}

/// `sds trash …`.
#[derive(Debug, Subcommand)]
pub enum TrashCommand {
    /// List the entries in the Trash.
    List {
        /// Only items or only links.
        #[arg(long, value_name = "items|links")]
        only: Option<String>,
    },
    /// Purge every entry in the Trash that can be purged.
    PurgeAll,
    /// Purge the entries that have been in the Trash for at least --ttl milliseconds.
    PurgeExpired {
        /// Age in milliseconds [default: 2592000000, 30 days].
        #[arg(long, value_name = "MS", allow_hyphen_values = true)]
        ttl: Option<String>,
    },
}

/// `sds tree …`.
#[derive(Debug, Subcommand)]
pub enum TreeCommand {
    /// Show the whole tree from Root.
    Show {
        /// Levels to show [default: all].
        #[arg(long, value_name = "N", allow_hyphen_values = true)]
        depth: Option<String>,
    },
}

/// The clap command with the settings derive cannot express: every level takes the last
/// value of a repeated option, and a missing subcommand is an error rather than help on
/// stderr.
pub fn cli_command() -> clap::Command {
    fn adjust(command: clap::Command) -> clap::Command {
        let command = command
            .args_override_self(true)
            .arg_required_else_help(false);
        let names: Vec<String> = command
            .get_subcommands()
            .map(|s| s.get_name().to_owned())
            .collect();
        names.into_iter().fold(command, |command, name| {
            command.mut_subcommand(name, adjust)
        })
    }
    adjust(Cli::command())
}
