//! `store info | destroy | export | import` and `completions`.

use crate::output::{CliError, Json, Output};
use crate::progress::Progress;
use crate::session::{Access, Session, probe, store_not_found, with_session};
use crate::settings::Settings;
use sds_core::{
    Backend, LOST_AND_FOUND_ID, NewBackend, Persistence, ROOT_ID, Store, StoreOptions, TRASH_ID,
};
use serde_json::Value as JsonValue;

/// `store info`.
pub fn info<B: NewBackend + 'static>(settings: &Settings) -> Result<Output, CliError> {
    let store_id = settings.store_id()?;
    let dir = &settings.persistence_dir;
    let not_found = store_not_found(store_id, dir);
    let session = match Session::<B>::open(settings, Access::Existing) {
        Ok(session) => session,
        Err(error) if error == not_found => {
            return Ok(Output::line(
                format!("store '{store_id}': not found in '{}'", dir.display()),
                Json::object()
                    .with("storeId", store_id)
                    .with("exists", false),
            ));
        }
        Err(error) => return Err(error),
    };
    let count = entry_count(session.store());
    let path = session.path.display().to_string();
    session.close()?;
    Ok(Output::Result {
        lines: vec![
            format!("store:       {store_id}"),
            format!("entries:     {count}"),
            format!("db path:     {path}"),
        ],
        json: Json::object()
            .with("storeId", store_id)
            .with("exists", true)
            .with("entryCount", count)
            .with("dbPath", path),
    })
}

/// Entries below Root, without Trash, LostAndFound and their subtrees.
fn entry_count<B: Backend>(store: &Store<B>) -> usize {
    let mut count = 0;
    let mut stack = vec![std::sync::Arc::<str>::from(ROOT_ID)];
    while let Some(id) = stack.pop() {
        for child in store.inner_entry_ids(&id) {
            if &*child == TRASH_ID || &*child == LOST_AND_FOUND_ID {
                continue;
            }
            count += 1;
            stack.push(child);
        }
    }
    count
}

/// `store destroy`.
pub fn destroy(settings: &Settings) -> Result<Output, CliError> {
    let store_id = settings.store_id()?;
    let dir = &settings.persistence_dir;
    let exists = match probe(settings)? {
        None => false,
        Some((mut persistence, exists)) => {
            let _ = persistence.close();
            exists
        }
    };
    if !exists {
        return Err(store_not_found(store_id, dir));
    }
    crate::session::release(settings)?;
    sds_sqlite::destroy_store_files(dir, store_id).map_err(|e| {
        CliError::general(format!(
            "failed to destroy store '{store_id}': {}",
            crate::session::describe(&e)
        ))
    })?;
    Ok(Output::line(
        format!("store '{store_id}': deleted"),
        Json::object()
            .with("storeId", store_id)
            .with("destroyed", true),
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Json,
    Binary,
}

/// `store export`.
pub fn export<B: NewBackend + 'static>(
    settings: &Settings,
    encoding: Option<&str>,
    output: Option<&str>,
) -> Result<Output, CliError> {
    let encoding = match encoding.map(str::to_ascii_lowercase).as_deref() {
        None | Some("json") => Encoding::Json,
        Some("binary") => Encoding::Binary,
        Some(_) => {
            return Err(CliError::usage(format!(
                "'--encoding' accepts 'json' or 'binary' — got '{}'",
                encoding.unwrap_or_default()
            )));
        }
    };
    let bytes = with_session::<B, _>(settings, Access::Existing, |session| {
        let progress = Progress::spinner(format!("exporting '{}'", session.store_id));
        let bytes = match encoding {
            Encoding::Json => {
                let mut text = session.store().as_json().to_json_string_pretty();
                text.push('\n');
                text.into_bytes()
            }
            Encoding::Binary => session.store().as_binary(),
        };
        progress.finish();
        Ok(bytes)
    })?;
    let Some(file) = output else {
        return Ok(Output::Raw(bytes));
    };
    std::fs::write(file, &bytes)
        .map_err(|e| CliError::general(format!("cannot write '{file}': {e}")))?;
    Ok(Output::line(
        format!("exported to '{file}'"),
        Json::object()
            .with("exported", true)
            .with("file", file)
            .with(
                "format",
                match encoding {
                    Encoding::Json => "json",
                    Encoding::Binary => "binary",
                },
            ),
    ))
}

/// `store import --input <file>`.
pub fn import<B: NewBackend + 'static>(
    settings: &Settings,
    file: &str,
) -> Result<Output, CliError> {
    settings.store_id()?;
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CliError::not_found(format!("file not found: '{file}'")));
        }
        Err(e) => return Err(CliError::general(format!("cannot read '{file}': {e}"))),
    };
    let progress = Progress::spinner(format!("reading '{file}'"));
    let root = decode_input(file, &bytes)?;
    drop(bytes);
    // Everything is checked before anything is imported: a bad entry imports nothing.
    let entries = sds_core::store_import_entries(root)
        .map_err(|_| CliError::usage(format!("'{file}' does not contain valid SDS data")))?;
    progress.finish();
    with_session::<B, _>(settings, Access::CreateIfMissing, |session| {
        let progress = Progress::counter(entries.len() as u64, format!("importing '{file}'"));
        session.transact(|store| {
            for entry in &entries {
                store.new_entry_from_json_at(entry, ROOT_ID, None)?;
                progress.inc(1);
            }
            // The document changes are committed (and made durable) when this returns.
            progress.set_message(format!("saving '{file}'"));
            Ok(())
        })?;
        progress.set_message("writing the checkpoint");
        Ok(())
    })?;
    Ok(Output::line(
        format!("imported '{file}'"),
        Json::object().with("imported", true).with("file", file),
    ))
}

/// Reads an input file as JSON: gzip input is a binary snapshot of either backend (SPEC
/// §8.5), text starting with `{` or `[` is JSON.
fn decode_input(file: &str, bytes: &[u8]) -> Result<JsonValue, CliError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let invalid =
            || CliError::usage(format!("'{file}' does not contain valid binary SDS data"));
        let payload = sds_core::gzip::decompress(bytes).map_err(|_| invalid())?;
        let json = match sds_core::gzip::detect_backend(&payload) {
            "loro" => Store::<sds_loro::LoroBackend>::from_binary(bytes, StoreOptions::default())
                .map(|s| s.as_json()),
            _ => Store::<sds_yrs::YrsBackend>::from_binary(bytes, StoreOptions::default())
                .map(|s| s.as_json()),
        }
        .map_err(|_| invalid())?;
        return Ok(json.to_value());
    }
    let text = String::from_utf8_lossy(bytes);
    let trimmed = text.trim();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return Err(CliError::usage(format!(
            "'{file}' does not contain valid SDS data"
        )));
    }
    serde_json::from_str(trimmed)
        .map_err(|_| CliError::usage(format!("'{file}' does not contain valid JSON")))
}

/// `completions <shell>`.
pub fn completions(shell: clap_complete::Shell) -> Output {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut crate::args::cli_command(), "sds", &mut script);
    Output::Plain(String::from_utf8_lossy(&script).into_owned())
}
