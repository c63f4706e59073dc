//! # sds-testkit
//!
//! The conformance suite of SPEC §18.1–§18.12, written once and run unchanged by every backend,
//! plus the seeded multi-replica property test and the malformed-input checks.
//!
//! A backend crate runs everything with one line in an integration test:
//!
//! ```text
//! sds_testkit::conformance_suite!(sds_yrs::YrsBackend);
//! ```
//!
//! The macro expands to one `#[test]` per behaviour, grouped in modules named after the SPEC
//! sections, each calling the generic test function with the backend type. A new backend gets
//! the whole suite by implementing `sds_core::NewBackend`.
//!
//! The backend-level suite ([`backend_suite`](mod@backend_suite): the `Backend` trait itself, patches, cursors,
//! snapshots, touched ids, malformed input) is expanded the same way:
//!
//! ```text
//! sds_testkit::backend_suite!(sds_yrs::YrsBackend);
//! ```
//!
//! [`every_field`] builds a store with every field of the document layout, and [`golden`]
//! reads the fixtures that JavaScript implementations wrote, for a backend crate's own
//! layout tests.

pub mod backend_suite;
pub mod every_field;
pub mod golden;
pub mod helpers;
pub mod persistence;
pub mod property;
pub mod suite;

pub use helpers::*;

/// Expands the whole conformance suite for a backend type implementing
/// `sds_core::NewBackend`.
#[macro_export]
macro_rules! conformance_suite {
    ($backend:ty) => {
        $crate::__suite_modules! { suite; $backend; ();
            construction {
                from_scratch_has_exactly_the_well_known_items,
                binary_snapshot_round_trips,
                json_round_trip_keeps_ids_and_creates_missing_well_known_items,
                literal_size_limit_boundary,
                invalid_options_are_rejected,
                independent_stores_converge,
                from_binary_rejects_garbage,
            }
            well_known {
                identity_predicates,
                well_known_items_cannot_be_deleted_or_purged,
                default_labels_and_relabelling,
                root_cannot_move_and_system_items_stay_in_root,
            }
            creation {
                default_and_custom_mime_types,
                insertion_indices,
                entry_lookup,
                mime_type_limits,
                invalid_containers_and_targets,
                new_ids_are_v4_uuids,
                inner_entry_list_is_an_ordinary_list,
            }
            label_info {
                label_set_get_and_change_records,
                label_length_limit_counts_utf16_units,
                label_minimal_splice_keeps_concurrent_insertions,
                concurrent_label_edits_converge,
                info_set_overwrite_delete,
                info_limits,
                trashed_at_reads_back_as_integer,
            }
            values {
                value_kind_transitions_and_boundaries,
                values_read_back_and_rewrites_record_nothing,
                change_value_replaces_utf16_ranges,
                change_value_rejects_bad_ranges,
                blob_hash_and_size,
                missing_blobs_read_as_pending,
                foreign_hashes_are_kept_and_pending,
                unknown_value_kinds_read_as_none,
                concurrent_value_writes_converge,
                blob_cache_verifies_hashes,
            }
            ordering {
                appends_keep_creation_order,
                equal_keys_sort_by_id,
                long_keys_trigger_rebalance,
                rebalance_gives_fresh_keys_and_records_outer_item,
                malformed_neighbour_keys_trigger_rebalance,
                move_within_container_inserts_before_index,
                insertion_between_equal_keys,
                flat_container_appends_stay_cheap,
            }
            moves {
                move_updates_placement_and_records_lists,
                moves_into_descendants_are_refused,
                moves_into_links_are_refused,
                leaving_trash_removes_the_stamp,
                method_style_equals_store_style,
            }
            trash {
                delete_moves_to_trash_and_stamps,
                purge_requires_direct_trash_child,
                purge_removes_the_subtree,
                link_protection,
                ttl_purges_expired_entries,
                ttl_none_and_check_interval,
                purged_links_never_resurrect_targets,
            }
            serialisation {
                json_shape_and_member_order,
                binary_and_json_round_trips,
                large_values_survive_json,
                unavailable_blobs_export_value_ref_only,
                js_json_without_value_ref_imports_as_pending,
                entry_binary_round_trips,
            }
            events {
                creation_reports_existence_outer_item_and_list,
                unsubscribe_and_multiple_handlers_and_nesting,
                no_event_without_change,
                origins_of_local_remote_and_repair_changes,
                failures_inside_transactions_keep_earlier_mutations,
                local_commits_carry_patches,
            }
            sync {
                replicas_from_one_snapshot_are_identical,
                patch_exchange_propagates_changes,
                bad_patches_and_cursors,
                remote_change_sets_are_precise,
                orphans_of_remote_purges_are_rescued,
                dangling_links_get_placeholders,
                concurrent_cross_moves_converge,
                three_entry_cycle_converges,
                concurrent_moves_of_one_entry_converge,
                concurrent_appends_then_insert_between,
                concurrent_orphan_repairs_converge,
                entries_inside_links_are_rescued,
            }
            import {
                item_import_copies_with_fresh_ids,
                links_inside_imports_are_retargeted,
                link_import_and_dispatch,
                invalid_imports_change_nothing,
                entry_binary_import,
            }
            malformed {
                random_patches_never_panic_or_change_the_store,
                random_snapshots_never_panic,
                random_json_never_panics,
            }
        }

        #[test]
        fn property_random_replicas_converge() {
            $crate::property::run_property_test::<$backend>();
        }
    };
}

/// Expands the persistence conformance suite (SPEC §18.13) for a provider: the argument is an
/// expression of a type implementing `sds_testkit::persistence::ProviderFactory`, evaluated
/// afresh in every test so that each test starts from an empty database.
///
/// ```text
/// sds_testkit::persistence_suite!(sds_testkit::persistence::MemoryFactory::new());
/// ```
///
/// A provider with a known, reported disagreement lists the affected tests; each of them must
/// keep failing until the provider is fixed (the run fails once one passes):
///
/// ```text
/// sds_testkit::persistence_suite!(MyFactory::new(), known_failures = ["test_name"]);
/// ```
#[macro_export]
macro_rules! persistence_suite {
    ($factory:expr) => {
        $crate::persistence_suite!($factory, known_failures = []);
    };
    ($factory:expr, known_failures = [$( $known:literal ),* $(,)?]) => {
        $crate::__persistence_tests! { $factory; [$( $known ),*];
            store_id_is_reported,
            snapshot_absent_present_overwritten_and_reopened,
            patches_empty_single_ascending_filtered_pruned,
            patches_since_the_largest_clock_are_none,
            patches_are_kept_across_reopen_and_per_store,
            empty_and_large_values_round_trip,
            clocks_are_max_plus_one_also_after_pruning,
            clocks_follow_a_snapshot_written_elsewhere,
            changes_since_a_known_state_are_read_without_the_snapshot,
            pending_uploads_are_kept_per_store_until_unmarked,
            two_providers_appending_alternately_never_collide,
            blobs_absent_present_first_data_kept,
            blobs_are_scoped_per_store,
            unreferenced_blobs_are_deleted_after_the_grace_period,
            checkpoint_deletes_unreferenced_blobs_after_the_grace_period,
            checkpoint_of_an_empty_store,
            checkpoint_hands_over_later_patches_and_prunes,
            checkpoint_keeps_the_stored_clock_when_no_later_patch_exists,
            checkpoint_hands_over_a_foreign_snapshot_only_when_its_clock_differs,
            failed_merge_changes_nothing,
            checkpoints_interleaved_with_another_providers_appends_lose_nothing,
            checkpoint_excludes_appends_while_merging,
            concurrent_appends_and_checkpoints_from_two_threads_lose_nothing,
            backend_marker_is_recorded_per_store,
            closed_provider_fails_and_data_survives,
        }
    };
}

/// Expands the backend-level suite ([`backend_suite`](mod@backend_suite)) for a backend type implementing
/// `sds_core::NewBackend`, in a module `backend_suite`.
///
/// A backend whose blobs carry a checksum, or whose CRDT library survives only some seeds of
/// the malformed-input fuzzing, says how to fuzz it (see
/// [`backend_suite::malformed::Fuzzing`]):
///
/// ```text
/// sds_testkit::backend_suite!(sds_loro::LoroBackend, fuzzing = common::FUZZING);
/// ```
#[macro_export]
macro_rules! backend_suite {
    ($backend:ty) => {
        $crate::backend_suite!(
            $backend,
            fuzzing = $crate::backend_suite::malformed::Fuzzing::DEFAULT
        );
    };
    ($backend:ty, fuzzing = $fuzzing:expr) => {
        mod backend_suite {
            #[allow(unused_imports)]
            use super::*;

            const FUZZING: $crate::backend_suite::malformed::Fuzzing = $fuzzing;

            $crate::__suite_modules! { backend_suite; $backend; ();
                patches {
                    a_one_label_commit_is_small_in_a_store_of_a_thousand_entries,
                    commit_without_ops_or_changes_returns_an_empty_patch,
                    applying_the_same_patch_twice_advances_only_once,
                    out_of_order_patches_are_pending_until_their_dependencies_arrive,
                    export_patch_from_a_cursor_brings_that_replica_up_to_date,
                    two_stores_created_independently_converge,
                    a_full_patch_into_an_empty_backend_reads_everything,
                    the_deepest_allowed_info_value_travels,
                    shuffled_and_duplicated_patches_converge,
                    a_cursor_lacking_all_of_a_patch_is_recognised,
                }
                errors {
                    undecodable_cursors_are_invalid_data,
                    undecodable_snapshots_are_invalid_data,
                    undecodable_patches_are_invalid_data_and_change_nothing,
                }
                touched {
                    touched_ids_are_precise,
                    writes_to_a_replaced_entry_map_touch_nothing_and_show_nothing,
                    a_patch_larger_than_the_document_is_read_in_full,
                }
                fields {
                    ops_write_what_read_entry_reads_back,
                    text_offsets_are_utf16_units,
                }
            }
            $crate::__suite_modules! { backend_suite; $backend; (FUZZING);
                malformed {
                    malformed_input_is_rejected_or_harmless,
                    garbage_snapshots_through_the_store_are_invalid_data,
                }
            }
        }
    };
}

/// One module of `#[test]`s per module of a suite (`$root`, a module of this crate), each
/// calling the generic function of the same name with the backend type and the arguments
/// `$args` (in parentheses).
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_modules {
    (
        $root:ident; $backend:ty; $args:tt;
        $( $module:ident { $( $test:ident ),* $(,)? } )*
    ) => {
        $(
            mod $module {
                #[allow(unused_imports)]
                use super::*;
                $(
                    #[test]
                    fn $test() {
                        $crate::$root::$module::$test::<$backend> $args;
                    }
                )*
            }
        )*
    };
}
