//! `trash list | purge-all | purge-expired` and `tree show` (SPEC §15.5), on both backends.

mod common;

use common::*;
use serde_json::json;

fn trash_list(backend: &'static str) {
    let s = Sds::new(backend);
    let a = s.item(&["--label", "gone item"]);
    assert_eq!(s.run(&["trash", "list"]).ok(), "(trash is empty)\n");
    assert_eq!(s.run(&["--format", "json", "trash", "list"]).ok(), "[]\n");
    let l = s.link(&a, &["--label", "gone link"]);
    let nolabel = s.item(&[]);
    for id in [&a, &l, &nolabel] {
        s.run(&["entry", "delete", id]).line();
    }
    assert_eq!(
        s.run(&["trash", "list"]).ok(),
        format!("{a}  item  gone item\n{l}  link  gone link\n{nolabel}  item  \n")
    );
    assert_eq!(
        s.run(&["trash", "list", "--only", "links"]).ok(),
        format!("{l}  link  gone link\n")
    );
    assert_eq!(
        s.run(&["--format", "json", "trash", "list", "--only", "item"])
            .json(),
        json!([
            {"id": a, "kind": "item", "label": "gone item"},
            {"id": nolabel, "kind": "item", "label": ""}
        ])
    );
    assert_eq!(
        s.run(&["--format", "json", "trash", "list", "--only", "items"])
            .ok(),
        format!(
            "[\n  {{\n    \"id\": \"{a}\",\n    \"kind\": \"item\",\n    \"label\": \"gone item\"\n  }},\n  {{\n    \"id\": \"{nolabel}\",\n    \"kind\": \"item\",\n    \"label\": \"\"\n  }}\n]\n"
        )
    );
    s.run(&["trash", "list", "--only", "x"])
        .fails(2, "'--only' accepts 'items' or 'links' — got 'x'");
}

fn trash_purge_all_skips_protected_entries(backend: &'static str) {
    let s = Sds::new(backend);
    assert_eq!(s.run(&["entry", "create"]).code, 0, "the store is created");
    let protected = s.item(&["--label", "protected"]);
    s.link(&protected, &[]);
    let free = s.item(&[]);
    let other = s.item(&[]);
    for id in [&protected, &free, &other] {
        s.run(&["entry", "delete", id]).line();
    }
    assert_eq!(
        s.run(&["trash", "purge-all"]).line(),
        "purged 2 entries from trash"
    );
    assert_eq!(
        s.run(&["trash", "list"]).ok(),
        format!("{protected}  item  protected\n")
    );
    assert_eq!(
        s.run(&["--format", "json", "trash", "purge-all"]).ok(),
        "{\n  \"purged\": 0\n}\n"
    );
    let one = s.item(&[]);
    s.run(&["entry", "delete", &one]).line();
    assert_eq!(
        s.run(&["trash", "purge-all"]).line(),
        "purged 1 entry from trash"
    );
}

fn trash_purge_expired(backend: &'static str) {
    let s = Sds::new(backend);
    let a = s.item(&[]);
    let b = s.item(&[]);
    s.run(&["entry", "delete", &a]).line();
    s.run(&["entry", "delete", &b]).line();
    // Nothing is 30 days old.
    assert_eq!(
        s.run(&["trash", "purge-expired"]).line(),
        "purged 0 expired entries from trash"
    );
    assert_eq!(
        s.run(&["--format", "json", "trash", "purge-expired"]).ok(),
        "{\n  \"purged\": 0,\n  \"ttlMs\": 2592000000\n}\n"
    );
    // Everything deleted by an earlier process is at least a millisecond old.
    assert_eq!(
        s.run(&["--format", "json", "trash", "purge-expired", "--ttl", "1"])
            .json(),
        json!({"purged": 2, "ttlMs": 1})
    );
    let c = s.item(&[]);
    s.run(&["entry", "delete", &c]).line();
    assert_eq!(
        s.run(&["trash", "purge-expired", "--ttl", "1"]).line(),
        "purged 1 expired entry from trash"
    );
    assert_eq!(s.run(&["trash", "list"]).ok(), "(trash is empty)\n");
    for ttl in ["0", "-5"] {
        s.run(&["trash", "purge-expired", "--ttl", ttl]).fails(
            2,
            &format!("'--ttl' must be a positive integer — got {ttl}"),
        );
    }
}

fn tree_show_text_and_json(backend: &'static str) {
    let s = Sds::new(backend);
    let a = s.item(&["--label", "A"]);
    let a1 = s.item(&["--container", &a, "--label", "A1"]);
    let a11 = s.item(&["--container", &a1]);
    let la = s.link(&a11, &["--container", &a1, "--label", "to a11"]);
    let a2 = s.item(&["--container", &a]);
    let b = s.link(&a, &[]);
    let t = s.item(&["--label", "old"]);
    s.run(&["entry", "delete", &t]).line();
    let expected = format!(
        "root/\n\
         ├── {TRASH}  trash\n\
         │   └── {t}  old\n\
         ├── {LOST_AND_FOUND}  lost-and-found\n\
         ├── {a}  A\n\
         │   ├── {a1}  A1\n\
         │   │   ├── {a11}\n\
         │   │   └── {la}  to a11 → {a11}\n\
         │   └── {a2}\n\
         └── {b} → {a}\n"
    );
    assert_eq!(s.run(&["tree", "show"]).ok(), expected);
    // --depth counts levels.
    assert_eq!(
        s.run(&["tree", "show", "--depth", "1"]).ok(),
        format!(
            "root/\n├── {TRASH}  trash\n├── {LOST_AND_FOUND}  lost-and-found\n├── {a}  A\n└── {b} → {a}\n"
        )
    );
    assert_eq!(
        s.run(&["tree", "show", "--depth", "2"]).ok(),
        format!(
            "root/\n├── {TRASH}  trash\n│   └── {t}  old\n├── {LOST_AND_FOUND}  lost-and-found\n├── {a}  A\n│   ├── {a1}  A1\n│   └── {a2}\n└── {b} → {a}\n"
        )
    );
    assert_eq!(s.run(&["tree", "show", "--depth", "99"]).ok(), expected);
    assert_eq!(
        s.run(&["tree", "show", "--depth", "0"]).ok(),
        "root/\n  (empty)\n"
    );
    s.run(&["tree", "show", "--depth", "-1"])
        .fails(2, "'--depth' must be a non-negative integer — got -1");
    // The last entry of a nested level uses four spaces below it.
    let z = s.item(&["--container", &a2]);
    let out = s.run(&["tree", "show"]);
    assert!(
        out.ok()
            .contains(&format!("│   └── {a2}\n│       └── {z}\n")),
        "{}",
        out.stdout
    );
    assert_eq!(
        s.run(&["--format", "json", "tree", "show", "--depth", "2"])
            .json(),
        json!({"root": [
            {"Id": TRASH, "Kind": "item", "Label": "trash", "Children": [
                {"Id": t, "Kind": "item", "Label": "old", "Children": []}
            ]},
            {"Id": LOST_AND_FOUND, "Kind": "item", "Label": "lost-and-found", "Children": []},
            {"Id": a, "Kind": "item", "Label": "A", "Children": [
                {"Id": a1, "Kind": "item", "Label": "A1", "Children": []},
                {"Id": a2, "Kind": "item", "Label": "", "Children": []}
            ]},
            {"Id": b, "Kind": "link", "Label": "", "TargetId": a, "Children": []}
        ]})
    );
    let text = s
        .run(&["--format", "json", "tree", "show", "--depth", "1"])
        .ok()
        .to_owned();
    assert!(text.starts_with(&format!(
        "{{\n  \"root\": [\n    {{\n      \"Id\": \"{TRASH}\",\n      \"Kind\": \"item\",\n      \"Label\": \"trash\",\n      \"Children\": []\n    }},"
    )));
    assert!(text.contains(&format!(
        "\"Id\": \"{b}\",\n      \"Kind\": \"link\",\n      \"Label\": \"\",\n      \"TargetId\": \"{a}\",\n      \"Children\": []"
    )));
    assert_eq!(
        s.run(&["--format", "json", "tree", "show", "--depth", "0"])
            .ok(),
        "{\n  \"root\": []\n}\n"
    );
}

fn tree_prefixes_combine_bars_and_spaces(backend: &'static str) {
    let s = Sds::new(backend);
    let a = s.item(&["--label", "a"]);
    let b = s.item(&["--label", "b"]);
    let b1 = s.item(&["--container", &b, "--label", "b1"]);
    let b1x = s.item(&["--container", &b1, "--label", "b1x"]);
    let b1y = s.item(&["--container", &b1, "--label", "b1y"]);
    let b2 = s.item(&["--container", &b, "--label", "b2"]);
    let b2x = s.item(&["--container", &b2, "--label", "b2x"]);
    let a1 = s.item(&["--container", &a, "--label", "a1"]);
    assert_eq!(
        s.run(&["tree", "show"]).ok(),
        format!(
            "root/\n\
             ├── {TRASH}  trash\n\
             ├── {LOST_AND_FOUND}  lost-and-found\n\
             ├── {a}  a\n\
             │   └── {a1}  a1\n\
             └── {b}  b\n    \
             ├── {b1}  b1\n    \
             │   ├── {b1x}  b1x\n    \
             │   └── {b1y}  b1y\n    \
             └── {b2}  b2\n        \
             └── {b2x}  b2x\n"
        )
    );
}

fn trash_commands_on_an_empty_trash(backend: &'static str) {
    let s = Sds::new(backend);
    s.init();
    assert_eq!(
        s.run(&["trash", "purge-all"]).line(),
        "purged 0 entries from trash"
    );
    assert_eq!(
        s.run(&["trash", "purge-expired", "--ttl", "+1"]).line(),
        "purged 0 expired entries from trash"
    );
    assert_eq!(
        s.run(&["trash", "list", "--only", "link"]).ok(),
        "(trash is empty)\n"
    );
}

backend_tests!(
    trash_list,
    trash_purge_all_skips_protected_entries,
    trash_purge_expired,
    tree_show_text_and_json,
    tree_prefixes_combine_bars_and_spaces,
    trash_commands_on_an_empty_trash,
);
