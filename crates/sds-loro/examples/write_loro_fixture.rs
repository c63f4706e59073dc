//! Writes `tests/fixtures/loro/sds-written.bin`: a store built by sds-loro with every field of
//! the SPEC §9 layout (including a purged item and link, kept as tombstones), as `as_binary()`
//! output (gzip of the loro snapshot). Run by hand, then check it with loro-crdt (see
//! `tests/fixtures/loro/README.md`):
//!
//! ```sh
//! cargo run -p sds-loro --example write_loro_fixture
//! cd crates/sds-loro/tests/fixtures/loro && node verify.mjs sds-written.bin > report-sds-written.json
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

fn main() {
    let built = common::build_every_field_store::<sds_loro::LoroBackend>();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/loro/sds-written.bin");
    let bytes = built.store.as_binary();
    std::fs::write(&path, &bytes)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    println!(
        "wrote {} ({} bytes, {} entries)",
        path.display(),
        bytes.len(),
        built.store.entry_count()
    );
}
