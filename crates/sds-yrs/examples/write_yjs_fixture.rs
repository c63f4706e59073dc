//! Writes `tests/fixtures/yjs/sds-written.bin`: a store built by sds-yrs with every field of
//! the SPEC §9 layout, as `as_binary()` output (gzip of the full v1 update). Run by hand, then
//! check it with Y.js (see `tests/fixtures/yjs/README.md`):
//!
//! ```sh
//! cargo run -p sds-yrs --example write_yjs_fixture
//! cd crates/sds-yrs/tests/fixtures/yjs && node verify.mjs sds-written.bin > report-sds-written.json
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

fn main() {
    let built = common::build_every_field_store();
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/yjs/sds-written.bin");
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
