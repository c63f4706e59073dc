//! `trash list | purge-all | purge-expired`.

use super::{Only, kind_name, parse_integer};
use crate::output::{CliError, Json, Output};
use crate::session::{Access, with_session};
use crate::settings::Settings;
use sds_core::limits::DEFAULT_TRASH_TTL;
use sds_core::{NewBackend, TRASH_ID};
use std::time::Duration;

/// `trash list`.
pub fn list<B: NewBackend + 'static>(
    settings: &Settings,
    only: Option<&str>,
) -> Result<Output, CliError> {
    let only = Only::parse(only)?;
    with_session::<B, _>(settings, Access::Existing, |session| {
        let store = session.store();
        let mut lines = Vec::new();
        let mut items = Vec::new();
        for id in store.inner_entry_ids(TRASH_ID) {
            let Some(entry) = store.entry(&id) else {
                continue;
            };
            if !only.keeps(entry.kind()) {
                continue;
            }
            let kind = kind_name(entry.kind());
            lines.push(format!("{id}  {kind}  {}", entry.label()));
            items.push(
                Json::object()
                    .with("id", &*id)
                    .with("kind", kind)
                    .with("label", entry.label()),
            );
        }
        if lines.is_empty() {
            lines.push("(trash is empty)".to_owned());
        }
        Ok(Output::Result {
            lines,
            json: Json::Array(items),
        })
    })
}

fn entries(n: usize) -> &'static str {
    if n == 1 { "entry" } else { "entries" }
}

/// `trash purge-all`.
pub fn purge_all<B: NewBackend + 'static>(settings: &Settings) -> Result<Output, CliError> {
    let purged = with_session::<B, _>(settings, Access::Existing, |session| {
        session.transact(|store| {
            let children = store.inner_entry_ids(TRASH_ID);
            Ok(children
                .iter()
                .filter(|id| store.purge_entry(id).is_ok())
                .count())
        })
    })?;
    Ok(Output::line(
        format!("purged {purged} {} from trash", entries(purged)),
        Json::object().with("purged", purged),
    ))
}

/// `trash purge-expired`.
pub fn purge_expired<B: NewBackend + 'static>(
    settings: &Settings,
    ttl: Option<&str>,
) -> Result<Output, CliError> {
    let ttl_ms = match ttl {
        None => DEFAULT_TRASH_TTL.as_millis() as i64,
        Some(raw) => parse_integer("--ttl", raw)?,
    };
    if ttl_ms <= 0 {
        return Err(CliError::usage(format!(
            "'--ttl' must be a positive integer — got {ttl_ms}"
        )));
    }
    let purged = with_session::<B, _>(settings, Access::Existing, |session| {
        session.transact(|store| {
            store.purge_expired_trash_entries(Some(Duration::from_millis(ttl_ms as u64)))
        })
    })?;
    Ok(Output::line(
        format!("purged {purged} expired {} from trash", entries(purged)),
        Json::object()
            .with("purged", purged)
            .with("ttlMs", ttl_ms as u64),
    ))
}
