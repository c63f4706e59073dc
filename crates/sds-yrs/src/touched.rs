//! Which entries a remote patch touched, learnt from a deep observer on `Entries`.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError};
use yrs::types::{Event, PathSegment};
use yrs::{DeepObservable, MapRef, TransactionMut};

/// The observer's findings, shared between the observer and the backend.
#[derive(Default)]
struct Findings {
    /// Only remote applications are recorded; local commits are described by their ops.
    recording: bool,
    ids: HashSet<String>,
    /// Set when an event could not be attributed to an entry.
    all: bool,
}

/// Records the entry ids changed by the transactions that run while recording is on.
#[derive(Clone, Default)]
pub(crate) struct TouchedCollector(Arc<Mutex<Findings>>);

/// The ids a remote application touched, or "possibly all of them".
pub(crate) enum Collected {
    Ids(HashSet<String>),
    All,
}

impl TouchedCollector {
    /// Installs the observer on the `Entries` map.
    pub(crate) fn install(entries: &MapRef) -> Self {
        let collector = TouchedCollector::default();
        let sink = collector.clone();
        entries.observe_deep("sds-yrs/touched", move |txn, events| {
            let mut findings = sink.lock();
            if !findings.recording {
                return;
            }
            for event in events.iter() {
                // `path()` walks parent pointers with an `unwrap`; a document shape that breaks
                // it must not take the store down, so fall back to "everything may have changed".
                let attributed =
                    catch_unwind(AssertUnwindSafe(|| record(txn, event, &mut findings.ids)));
                if !matches!(attributed, Ok(true)) {
                    findings.all = true;
                }
            }
        });
        collector
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Findings> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts recording (clearing earlier findings).
    pub(crate) fn start(&self) {
        let mut findings = self.lock();
        findings.recording = true;
        findings.ids.clear();
        findings.all = false;
    }

    /// Stops recording and returns what was recorded.
    pub(crate) fn finish(&self) -> Collected {
        let mut findings = self.lock();
        findings.recording = false;
        let ids = std::mem::take(&mut findings.ids);
        if std::mem::take(&mut findings.all) {
            Collected::All
        } else {
            Collected::Ids(ids)
        }
    }
}

/// Adds the entry ids one event concerns; `false` when it cannot tell.
fn record(txn: &TransactionMut<'_>, event: &Event, ids: &mut HashSet<String>) -> bool {
    let path = event.path();
    match path.front() {
        // An event on `Entries` itself: the changed keys are the entry ids.
        None => match event {
            Event::Map(map_event) => {
                ids.extend(map_event.keys(txn).keys().map(|key| key.to_string()));
                true
            }
            _ => false,
        },
        // An event inside an entry (its map, Label, Info, literalValue, ...).
        Some(PathSegment::Key(id)) => {
            ids.insert(id.to_string());
            true
        }
        Some(PathSegment::Index(_)) => false,
    }
}
