//! The conformance suite: every test in `suite.rs` runs against every backend.
//! Adding a backend is one line at the end of this file.

#[path = "../common/mod.rs"]
mod common;
mod suite;

/// Expands every suite test into a `#[test]` for one backend.
macro_rules! conformance {
    ($backend:ident, $factory:expr) => {
        mod $backend {
            #[allow(unused_imports)]
            use super::*;
            fn store() -> impl lmlang_storage::store::GraphStore {
                $factory
            }
            conformance!(@tests
                programs_create_list_find_rename_delete,
                program_names_are_unique_and_non_empty,
                missing_program_is_a_typed_error,
                insert_and_load_round_trip_exactly,
                invalid_graph_is_refused_and_nothing_is_written,
                node_crud_and_errors,
                edge_crud_and_errors,
                type_crud_and_errors,
                function_crud_and_errors,
                module_crud_and_errors,
                queries_return_id_order,
                grouped_edit_is_all_or_nothing,
                delete_program_cascades,
                save_after_small_edit_writes_few_rows,
                save_of_unrelated_copy_writes_only_differences,
                save_function_writes_one_function,
                ids_are_not_reused_after_reload,
                crud_mutations_are_visible_to_load,
                random_programs_round_trip,
                next_ids_are_saved_even_when_no_row_changes,
            );
        }
    };
    (@tests $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let store = store();
                super::suite::$name(&store);
            }
        )*
    };
}

conformance!(in_memory, lmlang_storage::store::InMemoryStore::new());
conformance!(sqlite, lmlang_storage::sqlite::SqliteStore::temporary().expect("a temporary SQLite store"));
