//! The README's main job: builds a small tree on one replica, edits concurrently on a second,
//! exchanges patches both ways, and prints the converged tree of both replicas.
//!
//! ```text
//! cargo run -p sds-yrs --example demo
//! ```

use sds_core::{EntryRef, ROOT_ID, Store, StoreOptions};
use sds_yrs::YrsBackend;

fn print_tree(entry: EntryRef<'_, YrsBackend>, prefix: &str, out: &mut String) {
    let list = entry.inner_entry_list();
    for (i, child) in list.iter().enumerate() {
        let last = i + 1 == list.len();
        let label = if child.label().is_empty() {
            "(no label)"
        } else {
            child.label()
        };
        let kind = match child.target() {
            Some(target) => format!("→ {}", target.label()),
            None if child.is_link() => "→ (missing)".to_owned(),
            None => match child.read_value() {
                sds_core::Value::Text(t) => format!("= {t:?}"),
                _ => String::new(),
            },
        };
        out.push_str(&format!(
            "{prefix}{}{label} {kind}\n",
            if last { "└── " } else { "├── " }
        ));
        print_tree(
            *child,
            &format!("{prefix}{}", if last { "    " } else { "│   " }),
            out,
        );
    }
}

fn show(name: &str, store: &Store<YrsBackend>) -> String {
    let mut out = format!("{name}: {} entries\nroot/\n", store.entry_count());
    print_tree(store.root_item().expect("root exists"), "", &mut out);
    out
}

fn main() -> sds_core::Result<()> {
    let mut alice = Store::<YrsBackend>::from_scratch(StoreOptions::default())?;
    let projects = alice.new_item_at(None, ROOT_ID, None)?;
    alice.set_label(&projects, "Projects")?;
    let sds = alice.new_item_at(Some("text/markdown"), &projects, None)?;
    alice.set_label(&sds, "sds")?;
    alice.write_value(&sds, "# Shareable Data Store")?;
    let ideas = alice.new_item_at(None, ROOT_ID, None)?;
    alice.set_label(&ideas, "Ideas")?;

    // Bob starts from Alice's snapshot, then both edit while apart.
    let mut bob = Store::<YrsBackend>::from_binary(&alice.as_binary(), StoreOptions::default())?;
    let bob_cursor = bob.current_cursor();
    let alice_cursor = alice.current_cursor();
    alice.set_label(&ideas, "Ideas (Alice)")?;
    let shortcut = bob.new_link_at(&sds, &ideas, None)?;
    bob.set_label(&shortcut, "shortcut")?;
    bob.move_entry_to(&projects, &ideas, Some(0))?;

    // Exchange only what the other side lacks, in both directions.
    let to_bob = alice.export_patch(Some(&bob_cursor))?;
    let to_alice = bob.export_patch(Some(&alice_cursor))?;
    bob.apply_remote_patch(&to_bob)?;
    alice.apply_remote_patch(&to_alice)?;

    let (a, b) = (show("alice", &alice), show("bob", &bob));
    print!("{a}\n{b}");
    println!(
        "\npatches: {} bytes to bob, {} bytes to alice; replicas {}",
        to_bob.len(),
        to_alice.len(),
        if alice.as_json() == bob.as_json() {
            "converged"
        } else {
            "DIFFER"
        }
    );
    if alice.as_json() != bob.as_json() {
        std::process::exit(1);
    }
    Ok(())
}
