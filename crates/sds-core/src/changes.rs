//! Change sets, origins and the events delivered to handlers (SPEC §3).

use indexmap::IndexMap;
use std::collections::BTreeSet;
use std::fmt;

/// A property name recorded in a change set (SPEC §3.2).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Property {
    /// The entry came into existence or ceased to exist.
    Existence,
    /// The entry's placement (`outerItemId` and/or `OrderKey`) changed.
    OuterItem,
    /// The ordered list of a container's children changed.
    InnerEntryList,
    /// The label text changed.
    Label,
    /// The item's MIME type changed.
    Type,
    /// The item's value changed.
    Value,
    /// The Info value under the key was set, changed or deleted.
    Info(String),
}

impl Property {
    /// The property name as JS SDS spells it (`Existence`, `outerItem`, `Info.<key>`, …).
    pub fn name(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Property::Existence => "Existence".into(),
            Property::OuterItem => "outerItem".into(),
            Property::InnerEntryList => "innerEntryList".into(),
            Property::Label => "Label".into(),
            Property::Type => "Type".into(),
            Property::Value => "Value".into(),
            Property::Info(key) => format!("Info.{key}").into(),
        }
    }
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Where a change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeOrigin {
    /// A local transaction (including the repair pass).
    Internal,
    /// An applied remote patch.
    External,
}

impl ChangeOrigin {
    /// `internal` or `external`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeOrigin::Internal => "internal",
            ChangeOrigin::External => "external",
        }
    }
}

/// A map from entry ids to the properties that changed, in the order the ids were first
/// recorded (SPEC §3.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    entries: IndexMap<String, BTreeSet<Property>>,
}

impl ChangeSet {
    /// An empty change set.
    pub fn new() -> Self {
        ChangeSet::default()
    }

    /// Records `property` for `id`.
    pub fn record(&mut self, id: &str, property: Property) {
        if let Some(set) = self.entries.get_mut(id) {
            set.insert(property);
        } else {
            self.entries
                .insert(id.to_owned(), BTreeSet::from([property]));
        }
    }

    /// Records every property of `properties` for `id` (nothing when it is empty), with one
    /// look-up instead of one per property.
    pub(crate) fn record_all(&mut self, id: &str, properties: impl Iterator<Item = Property>) {
        let mut properties = properties.peekable();
        if properties.peek().is_some() {
            self.entries
                .entry(id.to_owned())
                .or_default()
                .extend(properties);
        }
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of entries with recorded changes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The properties recorded for `id`.
    pub fn get(&self, id: &str) -> Option<&BTreeSet<Property>> {
        self.entries.get(id)
    }

    /// Whether `property` was recorded for `id`.
    pub fn contains(&self, id: &str, property: &Property) -> bool {
        self.entries.get(id).is_some_and(|s| s.contains(property))
    }

    /// Ids and their properties in the order the ids were first recorded.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &BTreeSet<Property>)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The recorded ids in the order they were first recorded.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Adds everything of `other` to this change set.
    pub fn merge(&mut self, other: &ChangeSet) {
        for (id, props) in other.iter() {
            for p in props {
                self.record(id, p.clone());
            }
        }
    }

    /// Empties the change set and returns its previous content.
    pub(crate) fn take(&mut self) -> ChangeSet {
        std::mem::take(self)
    }
}

/// What commit hooks receive after every local transaction that wrote to the document.
///
/// This is how a sync engine learns about local patches: it is delivered for every non-empty
/// patch, also when the transaction changed nothing observable (e.g. only the storage kind of a
/// value), so that no patch is ever missed.
#[derive(Debug, Clone, Copy)]
pub struct LocalCommit<'a> {
    /// The patch the transaction produced (SPEC §10.4).
    pub patch: &'a [u8],
    /// Hashes of blobs the transaction wrote into the blob cache; they must be persisted before
    /// (or with) the patch (SPEC §7.8).
    pub written_blobs: &'a [String],
    /// The change set of the transaction (may be empty).
    pub changes: &'a ChangeSet,
}
