//! # sds-sidecar
//!
//! A long-running process that keeps a local SQLite replica of one store synchronised with a
//! server and POSTs webhooks when changes match configured triggers (SPEC §17). The binary
//! `sds-sidecar` parses its command line into [`Args`], resolves it with the environment and
//! the JSON configuration file into a [`Config`] ([`resolve`]) and calls [`run`].
//!
//! * **Replica.** A sync engine (sds-sync) with [`sds_sqlite::SqlitePersistence`] on
//!   `<persistence-dir>/<safeId>.db` and a [`sds_ws::WsProvider`]; no presence. The engine
//!   appends every received patch that advances the document to the patch log before it
//!   handles the next frame, so a killed sidecar loses no received data.
//! * **Triggers.** A change handler registered on the engine's store sees every change set —
//!   the *precise* remote change sets of SPEC §3.4 and the sidecar's own repairs — and
//!   evaluates each webhook's scope and triggers on it ([`evaluate`]).
//! * **Durable outbox.** Matches become rows of the `webhook_outbox` table (SPEC §17.7) in
//!   the store's own SQLite file, written through a second connection (sds-sqlite accepts
//!   extra tables in a file it owns; both connections use WAL and wait for each other's
//!   writes). A worker task delivers due rows in id order, deletes them on 2xx and otherwise
//!   retries with exponential backoff and jitter until `WebHookMaxAttempts`. HTTP/1.1
//!   connections are kept alive per endpoint; `https://` uses rustls with *ring*.
//! * **Order.** Rows are sent in id order. A row whose endpoint answered with an error status
//!   waits for its own retry without holding up the rows after it (SPEC §17.7). An endpoint
//!   that does not answer at all (refused, timed out) is unreachable for every row: the rows
//!   behind the failed one wait for its retry instead of spending their own attempts, so
//!   once the endpoint is back it receives the events in the order they happened.
//!
//! ## Why a crash loses no event
//!
//! The rows of a change set are committed *before* the patch that caused it. The store calls
//! change handlers synchronously inside `apply_remote_patch`, and the engine appends the
//! received patch to the log only after that call returns; the handler commits its rows in
//! its own transaction before it returns. Repairs that follow a remote patch are deferred by
//! the engine until after the patch, so their rows, too, precede their patches. A crash
//! between the two commits leaves rows for a patch that is not stored: after the restart the
//! server (or a peer) sends the patch again, it produces the same change set again, and the
//! event is delivered twice — at least once, never lost. The opposite order (patch first, a
//! processed-cursor to re-derive events after a restart) would need the change set of an
//! already-applied patch, which the store cannot recompute once the patch is merged.
//!
//! The sidecar's store has no Trash TTL: the only changes it makes itself are repairs, so
//! every change it persists goes through the deferred path above.
//!
//! Triggers work on any store's change sets; the sidecar evaluates them exactly like this:
//!
//! ```
//! use sds_core::{ROOT_ID, Store, StoreOptions};
//! use sds_sidecar::{Scope, Trigger, Webhook, evaluate};
//! use std::sync::{Arc, Mutex};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let images = Webhook {
//!     url: "http://127.0.0.1:9000/hooks/images".into(),
//!     topic: None,
//!     scope: Scope::default(),
//!     triggers: vec![Trigger::parse("value:image/*")?],
//! };
//! let mut store = Store::<sds_yrs::YrsBackend>::from_scratch(StoreOptions::default())?;
//! let fired = Arc::new(Mutex::new(Vec::new()));
//! let sink = fired.clone();
//! store.on_change_invoke(move |store, _origin, changes| {
//!     sink.lock().unwrap().extend(evaluate(store, changes, std::slice::from_ref(&images)));
//! });
//!
//! let note = store.new_item_at(None, ROOT_ID, None)?;
//! store.write_value(&note, "not an image")?;
//! let photo = store.new_item_at(Some("image/png"), ROOT_ID, None)?;
//! store.write_value(&photo, vec![0x89, b'P', b'N', b'G'])?;
//!
//! let fired = fired.lock().unwrap();
//! assert_eq!(fired.len(), 1);
//! assert_eq!(fired[0].trigger, "value:image/*");
//! assert_eq!(fired[0].entries, vec![photo]);
//! # Ok(())
//! # }
//! ```
//!
//! Embedding the whole sidecar:
//!
//! ```no_run
//! use sds_sidecar::{Config, Trigger, Webhook, Scope, run};
//!
//! # #[tokio::main]
//! # async fn main() {
//! let mut config = Config::new("ws://127.0.0.1:8080", "notes", "<jwt>", "/var/lib/sds");
//! config.webhooks.push(Webhook {
//!     url: "http://127.0.0.1:9000/hooks/sds".into(),
//!     topic: Some("notes".into()),
//!     scope: Scope::default(),
//!     triggers: vec![Trigger::parse("value:image/*").unwrap()],
//! });
//! let outcome = run(config, async { let _ = tokio::signal::ctrl_c().await; }).await;
//! std::process::exit(match outcome {
//!     Ok(outcome) => outcome.exit_code(),
//!     Err(error) => error.exit_code(),
//! });
//! # }
//! ```

mod config;
mod delivery;
mod outbox;
mod runner;
mod triggers;

pub use config::{
    Args, BackendChoice, Config, ConfigError, DEFAULT_MAX_ATTEMPTS, DeliveryOptions, resolve,
};
pub use delivery::{Credentials, PostError, post_json, retry_delay, signature};
pub use outbox::{NewRow, Outbox, OutboxError, OutboxRow};
pub use runner::{Outcome, RunError, SidecarEvent, run, run_with_events};
pub use triggers::{Match, Scope, Trigger, Webhook, evaluate, glob_matches, js_string};

/// Now, in milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    sds_sync::driver::now_ms()
}

/// ISO-8601 UTC with milliseconds and `Z`, as JavaScript's `Date.prototype.toISOString`.
///
/// ```
/// assert_eq!(sds_sidecar::iso_timestamp(0), "1970-01-01T00:00:00.000Z");
/// assert_eq!(sds_sidecar::iso_timestamp(1_772_366_400_123), "2026-03-01T12:00:00.123Z");
/// ```
pub fn iso_timestamp(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let in_day = ms % 86_400_000;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1_000 % 60,
        in_day % 1_000
    )
}
