//! The conformance suite: every test in `suite.rs` runs against every backend, and on
//! SQLite against every way a service can hold the connections (the store's own file,
//! the service's r2d2 pool, one lent connection, and one lent connection inside the
//! service's open transaction). Adding a backend is one function and one line at the
//! end of this file.

#[path = "../common/mod.rs"]
mod common;
mod history;
#[cfg(feature = "postgres")]
#[path = "../pg_support/mod.rs"]
mod pg_support;
mod suite;

use diesel::Connection;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel::sqlite::SqliteConnection;
use lmlang_storage::sqlite::{self, ConnectionStore, PooledSqliteStore, SqliteCustomizer, SqliteStore};
use lmlang_storage::store::{InMemoryStore, ProgramHistory, Store};

/// Runs one suite test on a store, with history recording on (it is opt-in) so the
/// history tests see it, and a switch for the tests of commits made with it off.
fn run<B: lmlang_storage::store::Backend>(store: &Store<B>, test: Test<'_>) {
    store.set_history(true);
    test(store, &|on| store.set_history(on));
}

/// One suite test: the store, and a switch that turns its history recording on or off.
type Test<'a> = &'a dyn Fn(&dyn ProgramHistory, &dyn Fn(bool));

fn in_memory(test: Test<'_>) {
    run(&InMemoryStore::new(), test);
}

fn sqlite_file(test: Test<'_>) {
    run(&SqliteStore::temporary().expect("a temporary SQLite store"), test);
}

/// A migrated database file the way a service would open it: its own connection.
fn host_connection_on(dir: &tempfile::TempDir) -> SqliteConnection {
    let url = dir.path().join("host.db");
    let mut conn = SqliteConnection::establish(url.to_str().expect("UTF-8 path")).expect("connection");
    SqliteCustomizer::default().apply(&mut conn).expect("settings");
    sqlite::run_migrations(&mut conn).expect("migrations");
    conn
}

fn host_pool(test: Test<'_>) {
    let dir = tempfile::tempdir().expect("temp dir");
    drop(host_connection_on(&dir));
    let url = dir.path().join("host.db").to_string_lossy().into_owned();
    let pool = Pool::builder()
        .max_size(3)
        .connection_customizer(Box::new(SqliteCustomizer::default()))
        .build(ConnectionManager::<SqliteConnection>::new(url))
        .expect("pool");
    run(&PooledSqliteStore::on_pool(pool), test);
}

fn host_connection(test: Test<'_>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut conn = host_connection_on(&dir);
    run(&ConnectionStore::on_connection(&mut conn), test);
}

fn host_transaction(test: Test<'_>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut conn = host_connection_on(&dir);
    conn.immediate_transaction(|c| {
        run(&ConnectionStore::on_connection(c), test);
        Ok::<_, diesel::result::Error>(())
    })
    .expect("the host's transaction commits");
}

/// PostgreSQL (feature `postgres`): a store in a fresh schema of the test server
/// (`LMLANG_TEST_PG_URL`), dropped after; skipped without a server unless
/// `LMLANG_PG_REQUIRED=1`.
#[cfg(feature = "postgres")]
fn postgres(test: Test<'_>) {
    pg_support::with_store(|store| run(store, test));
}

/// PostgreSQL with every program table hash-partitioned by program (4 partitions),
/// the layout a distributed PostgreSQL enforces: every key and foreign key includes
/// the program id.
#[cfg(feature = "postgres")]
fn postgres_partitioned(test: Test<'_>) {
    let Some(schema) = pg_support::TestSchema::new() else { return };
    schema.store().partition_by_program(4).expect("the partitioned layout");
    run(&schema.store(), test);
}

/// PostgreSQL on one connection a service lends, outside any transaction of its own:
/// each store write is its own transaction on that connection.
#[cfg(feature = "postgres")]
fn postgres_host_connection(test: Test<'_>) {
    let Some(schema) = pg_support::TestSchema::new() else { return };
    drop(schema.store());
    let mut conn = schema.connection();
    run(&lmlang_storage::postgres::PgConnectionStore::on_connection(&mut conn), test);
}

/// PostgreSQL inside the service's open transaction: every store write is a savepoint
/// in it, and the service commits at the end.
#[cfg(feature = "postgres")]
fn postgres_host_transaction(test: Test<'_>) {
    let Some(schema) = pg_support::TestSchema::new() else { return };
    drop(schema.store());
    let mut conn = schema.connection();
    conn.transaction(|c| {
        run(&lmlang_storage::postgres::PgConnectionStore::on_connection(c), test);
        Ok::<_, diesel::result::Error>(())
    })
    .expect("the host's transaction commits");
}

/// PostgreSQL on a service's test pool (one connection, in a test transaction that
/// never commits): every store read and write is a savepoint in it.
#[cfg(feature = "postgres")]
fn postgres_test_transaction_pool(test: Test<'_>) {
    let Some(schema) = pg_support::TestSchema::new() else { return };
    drop(schema.store());
    run(&lmlang_storage::postgres::PgStore::on_pool(schema.test_transaction_pool(), schema.config()), test);
}

/// Expands every suite test into a `#[test]` for one way of holding a store.
macro_rules! conformance {
    ($backend:ident) => {
        mod $backend {
            conformance!(@tests $backend,
                programs_create_list_find_rename_delete,
                program_names_are_unique_and_non_empty,
                names_with_nul_are_refused,
                next_ids_raised_implausibly_far_are_refused,
                missing_program_is_a_typed_error,
                insert_and_load_round_trip_exactly,
                invalid_graph_is_refused_and_nothing_is_written,
                invalid_root_module_name_is_refused_and_nothing_is_written,
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
                save_function_refuses_a_new_name_the_rule_forbids,
                ids_are_not_reused_after_reload,
                an_edit_that_replaces_its_graph_is_refused_and_writes_nothing,
                a_program_with_millions_of_ids_handed_out_loads_again,
                a_write_leaving_too_few_nodes_for_the_ids_handed_out_is_refused,
                crud_mutations_are_visible_to_load,
                stored_counts_and_next_ids_follow_every_kind_of_commit,
                random_programs_round_trip,
                next_ids_are_saved_even_when_no_row_changes,
                a_stale_save_never_hands_out_an_id_twice,
                a_stale_save_function_never_hands_out_an_id_twice,
                save_function_of_ids_another_writer_took_is_refused_as_such,
                a_save_if_at_an_old_revision_writes_nothing,
                unnamed_structs_and_enums_are_refused,
                a_named_types_own_name_is_replaced_by_the_registered_one,
                calls_from_inside_an_edit_are_refused_or_answered_never_hung,
            );
            conformance!(@history $backend,
                undo_and_redo_every_kind_of_write,
                undo_walks_back_to_the_first_revision_and_ids_stay_unique,
                log_records_every_commit_newest_first,
                checkout_gives_each_revision_as_it_was,
                tags_name_revisions,
                adding_a_tag_never_moves_it_and_moving_one_says_from_where,
                pruning_drops_old_history_only,
                deleting_a_program_deletes_its_history,
                random_edits_check_out_and_undo_exactly,
                a_message_with_a_nul_is_refused_alike_and_writes_nothing,
                writes_that_change_nothing_make_no_commit,
                history_calls_from_inside_an_edit_are_refused_or_answered,
            );
            conformance!(@recording $backend,
                an_undo_over_a_commit_made_with_recording_off_names_it,
            );
        }
    };
    (@recording $backend:ident, $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                crate::$backend(&|store, set_history| crate::history::$name(store, set_history));
            }
        )*
    };
    (@history $backend:ident, $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                crate::$backend(&|store, _| crate::history::$name(store));
            }
        )*
    };
    (@tests $backend:ident, $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                crate::$backend(&|store, _| crate::suite::$name(store));
            }
        )*
    };
}

conformance!(in_memory);
conformance!(sqlite_file);
conformance!(host_pool);
conformance!(host_connection);
conformance!(host_transaction);
#[cfg(feature = "postgres")]
conformance!(postgres);
#[cfg(feature = "postgres")]
conformance!(postgres_partitioned);
#[cfg(feature = "postgres")]
conformance!(postgres_host_connection);
#[cfg(feature = "postgres")]
conformance!(postgres_host_transaction);
#[cfg(feature = "postgres")]
conformance!(postgres_test_transaction_pool);
