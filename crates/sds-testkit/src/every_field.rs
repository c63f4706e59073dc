//! A store that uses every field of the SPEC §9 layout, on any backend: the document the
//! golden-fixture tests check against each backend's raw layout (and that the backends'
//! `write_yjs_fixture` and `write_loro_fixture` examples hand to the JavaScript implementations), and the material of
//! the migration tests.

use sds_core::{Clock, LOST_AND_FOUND_ID, NewBackend, ROOT_ID, Store, StoreOptions};
use serde_json::json;

/// The manual clock's time: what `_trashedAt` holds.
pub const NOW_MS: u64 = 1_700_000_000_000;

/// A label outside the Basic Multilingual Plane (two UTF-16 units per emoji).
pub const EMOJI_LABEL: &str = "😀 emoji label 🎉";

/// Texts longer than this become `literal-reference` values.
pub const LITERAL_SIZE_LIMIT: usize = 32;

/// The store and the ids of its interesting entries.
pub struct EveryFieldStore<B: NewBackend> {
    /// The store.
    pub store: Store<B>,
    /// An item in Root labelled `folder`, holding `emoji_item` and `link`.
    pub folder: String,
    /// An item with [`EMOJI_LABEL`] and Info of every JSON type.
    pub emoji_item: String,
    /// An item with a short literal value.
    pub literal_item: String,
    /// An `application/json` item with a literal value.
    pub json_item: String,
    /// An `application/octet-stream` item with ten bytes.
    pub binary_item: String,
    /// An item with a `literal-reference` value.
    pub reference_item: String,
    /// An `image/png` item with a `binary-reference` value of 3000 bytes.
    pub binary_reference_item: String,
    /// A link to `literal_item`, first in `folder`, with a label and Info.
    pub link: String,
    /// An item in the Trash (stamped `_trashedAt` = [`NOW_MS`]).
    pub trashed_item: String,
    /// A `text/markdown` item in LostAndFound.
    pub lost_item: String,
    /// Purged together with `purged_link` (tombstones on loro, missing keys on yrs).
    pub purged_item: String,
    /// A link to `purged_item`, inside it, purged with it.
    pub purged_link: String,
}

/// Options with a small literal size limit and a fixed clock.
pub fn options() -> StoreOptions {
    StoreOptions {
        literal_size_limit: LITERAL_SIZE_LIMIT,
        clock: Clock::from_fn(|| NOW_MS),
        ..StoreOptions::default()
    }
}

/// Builds a store with labels (emoji), Info of every JSON type, literal, binary,
/// literal-reference and binary-reference values, non-default MIME types, a nested item, a
/// link, a trashed entry, an entry in LostAndFound and a purged item with a purged link to it.
pub fn build_every_field_store<B: NewBackend>() -> EveryFieldStore<B> {
    build_every_field_store_with(options())
}

/// [`build_every_field_store`] with other options (a `replica_seed` makes the document, ids
/// included, the same on every run).
pub fn build_every_field_store_with<B: NewBackend>(options: StoreOptions) -> EveryFieldStore<B> {
    let mut store = Store::<B>::from_scratch(options).expect("store");
    let folder = store.new_item_at(None, ROOT_ID, None).expect("folder");
    store.set_label(&folder, "folder").expect("label");

    let emoji_item = store.new_item_at(None, &folder, None).expect("item");
    store.set_label(&emoji_item, EMOJI_LABEL).expect("label");
    let info = [
        ("integer", json!(42)),
        ("float", json!(3.5)),
        ("tenth", json!(0.1)),
        ("negative", json!(-7)),
        ("large", json!(1_700_000_000_000u64)),
        ("huge", json!(1e300)),
        ("beyond-safe", json!(9_007_199_254_740_994u64)),
        ("string", json!("some text ✓")),
        ("cid-like", json!("cid:root-Entries:Map")),
        ("true", json!(true)),
        ("false", json!(false)),
        ("null", json!(null)),
        ("array", json!([1, "two", [3], {"four": 4.25}])),
        ("object", json!({"b": {"c": "d"}, "a": 1})),
    ];
    for (key, value) in info {
        store.set_info(&emoji_item, key, value).expect("info");
    }

    let literal_item = store.new_item_at(None, ROOT_ID, None).expect("item");
    store.set_label(&literal_item, "greeting").expect("label");
    store
        .write_value(&literal_item, "Hello, 🌍!")
        .expect("literal");

    let json_item = store
        .new_item_at(Some("application/json"), ROOT_ID, None)
        .expect("item");
    store.set_label(&json_item, "config.json").expect("label");
    store
        .write_value(&json_item, r#"{"enabled":true}"#)
        .expect("literal");

    let binary_item = store
        .new_item_at(Some("application/octet-stream"), ROOT_ID, None)
        .expect("item");
    store.set_label(&binary_item, "ten bytes").expect("label");
    store
        .write_value(&binary_item, (0u8..10).collect::<Vec<u8>>())
        .expect("binary");

    let reference_item = store.new_item_at(None, ROOT_ID, None).expect("item");
    store
        .set_label(&reference_item, "long text")
        .expect("label");
    store
        .write_value(
            &reference_item,
            "This text is longer than the literal size limit, so it lives in a blob.",
        )
        .expect("reference");

    let binary_reference_item = store
        .new_item_at(Some("image/png"), ROOT_ID, None)
        .expect("item");
    store
        .set_label(&binary_reference_item, "large bytes")
        .expect("label");
    store
        .write_value(
            &binary_reference_item,
            (0..3000u32)
                .map(|i| (i * 7 % 256) as u8)
                .collect::<Vec<u8>>(),
        )
        .expect("binary reference");

    let link = store
        .new_link_at(&literal_item, &folder, Some(0))
        .expect("link");
    store.set_label(&link, "link to greeting").expect("label");
    store
        .set_info(&link, "purpose", json!("shortcut"))
        .expect("info");

    let trashed_item = store.new_item_at(None, ROOT_ID, None).expect("item");
    store
        .set_label(&trashed_item, "trashed item")
        .expect("label");
    store.delete_entry(&trashed_item).expect("delete");

    let lost_item = store
        .new_item_at(Some("text/markdown"), LOST_AND_FOUND_ID, None)
        .expect("item");
    store.set_label(&lost_item, "found again").expect("label");
    store.write_value(&lost_item, "# lost").expect("literal");

    let purged_item = store.new_item_at(None, ROOT_ID, None).expect("item");
    store.set_label(&purged_item, "purged item").expect("label");
    let purged_link = store
        .new_link_at(&purged_item, &purged_item, None)
        .expect("link");
    store.delete_entry(&purged_item).expect("delete");
    store.purge_entry(&purged_item).expect("purge");

    store.check_consistency().expect("consistent");
    EveryFieldStore {
        store,
        folder,
        emoji_item,
        literal_item,
        json_item,
        binary_item,
        reference_item,
        binary_reference_item,
        link,
        trashed_item,
        lost_item,
        purged_item,
        purged_link,
    }
}
