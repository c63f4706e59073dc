//! The 20 tools of SPEC §16.4: their input schemas and the dispatch of a call, including
//! `sds_batch` (§16.6).

use crate::config::{BackendKind, Config};
use crate::local::LocalCall;
use crate::net::{self, TokenRequest};
use crate::params::{Params, ToolError, ToolResult};
use crate::session::{Access, OpenStores, Session, Target, with_session};
use sds_core::NewBackend;
use sds_loro::LoroBackend;
use sds_yrs::YrsBackend;
use serde_json::{Map, Value as JsonValue, json};
use std::time::Duration;
use tokio::runtime::Handle;

/// A parameter's schema, in a short notation: `s` string, `i` integer, `b` boolean, `[s]`
/// array of strings, `{}` object, `a|b` a string enum, `cmd` the commands of a batch.
type ParamSpec = (&'static str, &'static str);

/// Name, description, parameters (a leading `*` marks a required one).
type ToolSpec = (&'static str, &'static str, &'static [ParamSpec]);

const STORE: ParamSpec = ("*StoreId", "s");
const DIR: ParamSpec = ("PersistenceDir", "s");
const BACKEND: ParamSpec = ("Backend", "yrs|loro");
const ID: ParamSpec = ("*Id", "s");
const AT: ParamSpec = ("at", "i");
const INFO: [ParamSpec; 2] = [("Info", "{}"), ("InfoDelete", "[s]")];
const VALUE: [ParamSpec; 3] = [("Value", "s"), ("ValueBase64", "s"), ("File", "s")];

/// Every tool, in the order of SPEC §16.4.
const TOOLS: &[ToolSpec] = &[
    (
        "sds_store_info",
        "Tells whether a store exists; for an existing store also its entry count and file.",
        &[STORE, DIR, BACKEND],
    ),
    (
        "sds_store_ping",
        "Connects to a sync server and authenticates, nothing else (no local changes).",
        &[STORE, ("*ServerURL", "s"), ("*Token", "s")],
    ),
    (
        "sds_store_sync",
        "Synchronises a store with a server for TimeoutMs milliseconds after connecting.",
        &[
            STORE,
            ("*ServerURL", "s"),
            ("*Token", "s"),
            DIR,
            ("TimeoutMs", "i"),
            BACKEND,
        ],
    ),
    (
        "sds_store_destroy",
        "Deletes a store's file.",
        &[STORE, DIR],
    ),
    (
        "sds_store_export",
        "Exports a store as JSON or as a binary snapshot, inline or into OutputFile.",
        &[
            STORE,
            DIR,
            ("Encoding", "json|binary"),
            ("OutputFile", "s"),
            BACKEND,
        ],
    ),
    (
        "sds_store_import",
        "Imports the entries of a JSON or binary export into Root (fresh ids).",
        &[
            STORE,
            DIR,
            ("InputFile", "s"),
            ("InputBase64", "s"),
            ("InputEncoding", "json|binary"),
            BACKEND,
        ],
    ),
    (
        "sds_entry_create",
        "Creates an item, or a link to Target, in Container (default root).",
        &[
            STORE,
            DIR,
            ("Target", "s"),
            ("Container", "s"),
            AT,
            ("Label", "s"),
            ("MIMEType", "s"),
            VALUE[0],
            VALUE[1],
            VALUE[2],
            INFO[0],
            INFO[1],
            BACKEND,
        ],
    ),
    (
        "sds_entry_get",
        "Reads an entry: Kind, Label, MIMEType, Value, Target and Info, or the selected Fields.",
        &[
            STORE,
            ID,
            DIR,
            ("Fields", "[s]"),
            ("InfoKeys", "[s]"),
            BACKEND,
        ],
    ),
    (
        "sds_entry_list",
        "Lists the entries of an item (recursively down to Depth levels with recursive).",
        &[
            STORE,
            ID,
            DIR,
            ("recursive", "b"),
            ("Depth", "i"),
            ("only", "items|links"),
            ("Fields", "[s]"),
            ("InfoKeys", "[s]"),
            BACKEND,
        ],
    ),
    (
        "sds_entry_update",
        "Changes an entry's label, MIME type, value and Info.",
        &[
            STORE,
            ID,
            DIR,
            ("Label", "s"),
            ("MIMEType", "s"),
            VALUE[0],
            VALUE[1],
            VALUE[2],
            INFO[0],
            INFO[1],
            BACKEND,
        ],
    ),
    (
        "sds_entry_move",
        "Moves an entry into the item `to`, at index `at` (default: the end).",
        &[STORE, ID, ("*to", "s"), DIR, AT, BACKEND],
    ),
    (
        "sds_entry_delete",
        "Moves an entry to the Trash.",
        &[STORE, ID, DIR, BACKEND],
    ),
    (
        "sds_entry_restore",
        "Moves an entry out of the Trash into `to` (default root).",
        &[STORE, ID, DIR, ("to", "s"), AT, BACKEND],
    ),
    (
        "sds_entry_purge",
        "Removes an entry that is in the Trash for good.",
        &[STORE, ID, DIR, BACKEND],
    ),
    (
        "sds_trash_list",
        "Lists the entries in the Trash.",
        &[STORE, DIR, ("only", "items|links"), BACKEND],
    ),
    (
        "sds_trash_purge_all",
        "Purges every entry in the Trash that can be purged.",
        &[STORE, DIR, BACKEND],
    ),
    (
        "sds_trash_purge_expired",
        "Purges the Trash entries older than TTLms (default 30 days).",
        &[STORE, DIR, ("TTLms", "i"), BACKEND],
    ),
    (
        "sds_tree_show",
        "The whole tree from Root (Trash and LostAndFound included), Depth levels deep.",
        &[STORE, DIR, ("Depth", "i"), BACKEND],
    ),
    (
        "sds_token_issue",
        "Asks a sync server for a new token (needs an admin token).",
        &[
            ("*ServerURL", "s"),
            ("*AdminToken", "s"),
            ("*Sub", "s"),
            ("*Scope", "read|write|admin"),
            ("Exp", "s"),
        ],
    ),
    (
        "sds_batch",
        "Runs several tools in order on one open store.",
        &[
            STORE,
            ("*Commands", "cmd"),
            DIR,
            ("onError", "stop|continue"),
            BACKEND,
        ],
    ),
];

/// Tools that may run inside `sds_batch`.
const BATCH_TOOLS: &[&str] = &[
    "sds_store_info",
    "sds_store_sync",
    "sds_store_export",
    "sds_store_import",
    "sds_entry_create",
    "sds_entry_get",
    "sds_entry_list",
    "sds_entry_update",
    "sds_entry_move",
    "sds_entry_delete",
    "sds_entry_restore",
    "sds_entry_purge",
    "sds_trash_list",
    "sds_trash_purge_all",
    "sds_trash_purge_expired",
    "sds_tree_show",
];

fn property(kind: &str) -> JsonValue {
    match kind {
        "s" => json!({"type": "string"}),
        "i" => json!({"type": "integer"}),
        "b" => json!({"type": "boolean"}),
        "[s]" => json!({"type": "array", "items": {"type": "string"}}),
        "{}" => json!({"type": "object"}),
        "cmd" => json!({
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"Tool": {"type": "string"}, "Params": {"type": "object"}},
                "required": ["Tool", "Params"],
            },
        }),
        choices => json!({"type": "string", "enum": choices.split('|').collect::<Vec<_>>()}),
    }
}

/// The tools of `tools/list`: name, description and input schema.
pub fn list() -> Vec<(&'static str, &'static str, Map<String, JsonValue>)> {
    TOOLS
        .iter()
        .map(|(name, description, params)| {
            let mut properties = Map::new();
            let mut required = Vec::new();
            for (param, kind) in *params {
                let bare = param.trim_start_matches('*');
                if bare.len() != param.len() {
                    required.push(bare);
                }
                properties.insert(bare.to_owned(), property(kind));
            }
            let schema = Map::from_iter([
                ("type".to_owned(), json!("object")),
                ("properties".to_owned(), JsonValue::Object(properties)),
                ("required".to_owned(), json!(required)),
            ]);
            (*name, *description, schema)
        })
        .collect()
}

/// Runs one call; `Err` carries the message of an `isError` result. Blocking: run it off
/// the async executor; the network tools drive their async parts on `rt`.
pub fn call(
    config: &Config,
    rt: &Handle,
    stores: &mut OpenStores,
    name: &str,
    args: &Map<String, JsonValue>,
) -> ToolResult<JsonValue> {
    let params = Params(args);
    match name {
        "sds_store_ping" => {
            let store_id = config.store_id(&params)?;
            let server = config.server_url(&params)?;
            let token = config.token(&params)?;
            Ok(net::ping(rt, &store_id, &server, &token))
        }
        "sds_token_issue" => {
            let server = params
                .string("ServerURL")?
                .or_else(|| config.server.clone())
                .ok_or_else(|| ToolError::new("ServerURL is required"))?;
            let admin_token = config.admin_token(&params)?;
            let sub = params.required("Sub")?;
            let scope = params.required("Scope")?;
            let request = TokenRequest {
                server: crate::config::check_server_url(server)?,
                admin_token,
                sub,
                scope,
                exp: params.string("Exp")?.unwrap_or_else(|| "24h".to_owned()),
            };
            request.check()?;
            net::issue_token(rt, &request)
        }
        "sds_store_destroy" => {
            let target = target(config, &params)?;
            if !target.exists()? {
                return Err(target.not_found());
            }
            stores.release();
            sds_sqlite::destroy_store_files(&target.dir, &target.store_id).map_err(|e| {
                ToolError::new(format!(
                    "failed to destroy store '{}': {}",
                    target.store_id,
                    crate::params::describe(&e)
                ))
            })?;
            Ok(json!({"StoreId": target.store_id, "destroyed": true}))
        }
        "sds_batch" => {
            let target = target(config, &params)?;
            match target.backend {
                BackendKind::Yrs => batch::<YrsBackend>(config, rt, stores, &target, &params),
                BackendKind::Loro => batch::<LoroBackend>(config, rt, stores, &target, &params),
            }
        }
        _ => {
            if !TOOLS.iter().any(|(tool, ..)| *tool == name) {
                return Err(ToolError::new(format!("unknown tool: '{name}'")));
            }
            let target = target(config, &params)?;
            match target.backend {
                BackendKind::Yrs => {
                    single::<YrsBackend>(config, rt, stores, &target, name, &params)
                }
                BackendKind::Loro => {
                    single::<LoroBackend>(config, rt, stores, &target, name, &params)
                }
            }
        }
    }
}

fn target(config: &Config, params: &Params<'_>) -> ToolResult<Target> {
    Ok(Target {
        store_id: config.store_id(params)?,
        dir: config.persistence_dir(params)?,
        backend: config.backend(params)?,
    })
}

/// The sync parameters of a call: server, token, timeout.
fn sync_params(config: &Config, params: &Params<'_>) -> ToolResult<(String, String, Duration)> {
    let server = config.server_url(params)?;
    let token = config.token(params)?;
    let timeout = params.positive("TimeoutMs", 5000)?;
    Ok((server, token, Duration::from_millis(timeout)))
}

/// One store tool outside a batch.
fn single<B: NewBackend + 'static>(
    config: &Config,
    rt: &Handle,
    stores: &mut OpenStores,
    target: &Target,
    name: &str,
    params: &Params<'_>,
) -> ToolResult<JsonValue> {
    if name == "sds_store_sync" {
        let (server, token, timeout) = sync_params(config, params)?;
        // The sync runs an engine of its own on the store.
        stores.release();
        return net::sync::<B>(rt, target, &server, &token, timeout);
    }
    let call = LocalCall::prepare(name, params)?
        .ok_or_else(|| ToolError::new(format!("unknown tool: '{name}'")))?;
    if matches!(call, LocalCall::StoreInfo) && !target.exists()? {
        return Ok(json!({"StoreId": target.store_id, "exists": false}));
    }
    with_session::<B, _>(stores, target, call.access(), |session| call.run(session))
}

/// `sds_batch` (SPEC §16.6).
fn batch<B: NewBackend + 'static>(
    config: &Config,
    rt: &Handle,
    stores: &mut OpenStores,
    target: &Target,
    params: &Params<'_>,
) -> ToolResult<JsonValue> {
    let Some(JsonValue::Array(commands)) = params.get("Commands") else {
        return Err(ToolError::new("Commands must be an array"));
    };
    let keep_going = params.string("onError")?;
    let keep_going = match keep_going.as_deref() {
        None | Some("stop") => false,
        Some("continue") => true,
        Some(other) => {
            return Err(ToolError::new(format!(
                "'onError' must be 'stop' or 'continue' — got '{other}'"
            )));
        }
    };
    let mut steps = Vec::with_capacity(commands.len());
    for command in commands {
        let Some(tool) = command.get("Tool").and_then(JsonValue::as_str) else {
            return Err(ToolError::new("each Command must have a string Tool field"));
        };
        if !BATCH_TOOLS.contains(&tool) {
            return Err(ToolError::new(format!(
                "tool '{tool}' is not allowed inside sds_batch"
            )));
        }
        let Some(JsonValue::Object(step_params)) = command.get("Params") else {
            return Err(ToolError::new(format!(
                "Command for '{tool}' must have a Params object"
            )));
        };
        steps.push((tool, step_params));
    }
    // `None` only between the checkpoint of a sync step and the reopening after it.
    let mut session = Some(match stores.take::<B>(target) {
        Some(open) => open,
        None => Session::<B>::open(target, Access::CreateIfMissing)?,
    });
    let mut results = Vec::with_capacity(steps.len());
    for (tool, step_params) in steps {
        let step_params = Params(step_params);
        let outcome = if tool == "sds_store_sync" {
            sync_params(config, &step_params).and_then(|(server, token, timeout)| {
                if let Some(open) = session.take() {
                    open.close()?;
                }
                let synced = net::sync::<B>(rt, target, &server, &token, timeout);
                session = Some(Session::<B>::open(target, Access::Existing)?);
                synced
            })
        } else {
            LocalCall::prepare(tool, &step_params).and_then(|call| {
                let call = call.ok_or_else(|| ToolError::new(format!("unknown tool: '{tool}'")))?;
                if session.is_none() {
                    session = Some(Session::<B>::open(target, Access::Existing)?);
                }
                match session.as_mut() {
                    Some(open) => call.run(open),
                    None => Err(target.not_found()),
                }
            })
        };
        let failed = outcome.is_err();
        results.push(match outcome {
            Ok(result) => json!({"Tool": tool, "ok": true, "Result": result}),
            Err(ToolError(error)) => json!({"Tool": tool, "ok": false, "Error": error}),
        });
        if failed && !keep_going {
            break;
        }
    }
    if let Some(open) = session {
        stores.keep(open);
    }
    Ok(json!({ "Results": results }))
}
