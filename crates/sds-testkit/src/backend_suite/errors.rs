//! Cursors, snapshots and patches that do not decode: `invalid-data`, nothing changed
//! (DESIGN §5).

use crate::helpers::*;
use sds_core::gzip::compress;
use sds_core::{ErrorCode, NewBackend, ROOT_ID, Store, StoreOptions};

/// Bytes no backend decodes as anything, among them another format's magic number.
const GARBAGE: [&[u8]; 4] = [b"garbage", &[0xff; 12], b"loro\0\0\0\0", b"yjs"];

/// Cursors that do not decode are `invalid-data`; the store's own cursor works.
pub fn undecodable_cursors_are_invalid_data<B: NewBackend>() {
    let store = new_store::<B>();
    let cursors = GARBAGE
        .into_iter()
        .chain([&[1][..], &[0, 0], &[0, 0, 0], b"loro"]);
    for cursor in cursors {
        let err = store.export_patch(Some(cursor)).expect_err("rejected");
        assert_eq!(err.code(), ErrorCode::InvalidData, "{cursor:?}");
    }
    let good = store.current_cursor();
    assert!(store.export_patch(Some(&good)).is_ok());
}

/// Snapshot payloads that do not decode are `invalid-data`, for the backend and through the
/// store. (Whether an update that depends on history it does not carry restores, with
/// pending data, is the backend's format: yrs' snapshots are such updates.)
pub fn undecodable_snapshots_are_invalid_data<B: NewBackend>() {
    let store = new_store::<B>();
    let snapshot = store.backend().snapshot();
    let mut foreign_magic = b"loro".to_vec();
    foreign_magic.extend_from_slice(&[0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07]);
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        ("prose".into(), b"this is not a CRDT document".to_vec()),
        ("truncated".into(), snapshot[..snapshot.len() / 2].to_vec()),
        (
            "one byte short".into(),
            snapshot[..snapshot.len() - 1].to_vec(),
        ),
        ("trailing byte".into(), [&snapshot[..], &[0]].concat()),
        ("another format's magic".into(), foreign_magic),
    ];
    cases.extend(
        GARBAGE
            .iter()
            .map(|bytes| (format!("garbage {bytes:?}"), bytes.to_vec())),
    );
    for (name, payload) in cases {
        let Err(err) = B::from_snapshot(&payload) else {
            panic!("{name} restored as a snapshot");
        };
        assert_eq!(err.code(), ErrorCode::InvalidData, "{name}");
        let err =
            Store::<B>::from_binary(&compress(&payload), StoreOptions::default()).expect_err(&name);
        assert_eq!(
            err.code(),
            ErrorCode::InvalidData,
            "{name} through the store"
        );
    }
    assert!(B::from_snapshot(&snapshot).is_ok());
}

/// Patches that do not decode are `invalid-data` and leave the document as it was; the empty
/// patch is a no-op.
pub fn undecodable_patches_are_invalid_data_and_change_nothing<B: NewBackend>() {
    let mut a = Replica::<B>::from_scratch();
    let item = a.store.new_item_at(None, ROOT_ID, None).expect("item");
    a.store.set_label(&item, "label").expect("label");
    let patch = a.store.export_patch(None).expect("full");
    let before = DocumentState::of(a.store.backend());
    let json = a.store.as_json();
    let bad = [&patch[..patch.len() - 1], &patch[1..]]
        .into_iter()
        .chain(GARBAGE)
        .chain([&[0xff; 8][..]]);
    for bad in bad {
        let err = a.store.apply_remote_patch(bad).expect_err("rejected");
        assert_eq!(err.code(), ErrorCode::InvalidData, "{bad:?}");
    }
    assert!(
        DocumentState::of(a.store.backend()) == before,
        "a rejected patch changed the document"
    );
    assert_eq!(a.store.as_json(), json);
    a.store.check_consistency().expect("consistent");
    // An empty patch is a no-op.
    let outcome = a.store.apply_remote_patch(&[]).expect("no-op");
    assert!(!outcome.advanced && !outcome.changed);
    let raw = B::new_empty().apply_remote_patch(&[]).expect("no-op");
    assert!(!raw.advanced);
}
