//! A service on PostgreSQL lending its own connection: inside the service's
//! transaction the store's writes commit or roll back with the service's rows, a
//! refused store write undoes only its own savepoint, and the store's reads see the
//! transaction's uncommitted state while other connections do not. Skipped without a
//! server (see `pg_support`).
#![cfg(feature = "postgres")]

#[path = "pg_support/mod.rs"]
mod pg_support;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::postgres::PgConnectionStore;
use lmlang_storage::store::{GraphStore, StorageError};
use pg_support::TestSchema;

/// A schema migrated by the store, with a table of the service's own beside ours.
fn service_schema() -> Option<TestSchema> {
    let schema = TestSchema::new()?;
    drop(schema.store());
    schema.connection().batch_execute("CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT NOT NULL)").expect("users");
    Some(schema)
}

fn users(conn: &mut PgConnection) -> i64 {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("(SELECT count(*) FROM users)"))
        .get_result(conn)
        .expect("count")
}

#[test]
fn the_service_transaction_rolls_back_its_rows_and_the_program_together() {
    let Some(schema) = service_schema() else { return };
    let mut conn = schema.connection();
    let outcome: Result<(), StorageError> = conn.transaction(|c| {
        c.batch_execute("INSERT INTO users VALUES (1, 'ada')")?;
        let store = PgConnectionStore::on_connection(c);
        let p = store.insert_program("app", &ProgramGraph::new("app"))?;
        // The store reads what the open transaction wrote.
        assert_eq!(store.load_program(p)?, ProgramGraph::new("app"));
        Err(StorageError::InvalidProgramName("the service gives up".into()))
    });
    assert!(outcome.is_err());
    assert_eq!(users(&mut conn), 0);
    assert!(schema.store().list_programs().expect("list").is_empty(), "the program rolled back with the service");
}

#[test]
fn the_service_transaction_commits_its_rows_and_the_program_together() {
    let Some(schema) = service_schema() else { return };
    let mut conn = schema.connection();
    let other = schema.store();
    conn.transaction(|c| {
        c.batch_execute("INSERT INTO users VALUES (1, 'ada')")?;
        let store = PgConnectionStore::on_connection(c);
        store.insert_program("app", &ProgramGraph::new("app"))?;
        // Until the service commits, nobody else sees the program.
        assert!(other.list_programs()?.is_empty());
        Ok::<_, StorageError>(())
    })
    .expect("the service commits");
    assert_eq!(users(&mut conn), 1);
    assert_eq!(other.list_programs().expect("list").len(), 1);
}

#[test]
fn a_refused_store_write_undoes_only_its_savepoint() {
    let Some(schema) = service_schema() else { return };
    let mut conn = schema.connection();
    conn.transaction(|c| {
        c.batch_execute("INSERT INTO users VALUES (1, 'ada')")?;
        let store = PgConnectionStore::on_connection(c);
        store.insert_program("app", &ProgramGraph::new("app"))?;
        // A duplicate name fails inside the store's savepoint; the service's
        // transaction stays usable and keeps everything before it.
        assert!(matches!(
            store.insert_program("app", &ProgramGraph::new("app")),
            Err(StorageError::DuplicateProgramName(_))
        ));
        store.create_program("second")?;
        drop(store);
        c.batch_execute("INSERT INTO users VALUES (2, 'grace')")?;
        Ok::<_, StorageError>(())
    })
    .expect("the service commits");
    assert_eq!(users(&mut conn), 2);
    let names: Vec<String> = schema.store().list_programs().expect("list").into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["app", "second"]);
}

/// A store write that fails in the database (here: the program's row locked elsewhere
/// past the service's `lock_timeout`) rolls back its savepoint only: the service's
/// transaction goes on and commits its own rows and the store's later writes.
#[test]
fn a_store_write_failing_in_the_database_leaves_the_service_transaction_usable() {
    let Some(schema) = service_schema() else { return };
    let p = schema.store().create_program("app").expect("create");
    let mut holder = schema.connection();
    holder
        .batch_execute(&format!("BEGIN; SELECT id FROM lmlang_programs WHERE id = {} FOR UPDATE", p.0))
        .expect("lock");
    let mut conn = schema.connection();
    conn.transaction(|c| {
        c.batch_execute("SET LOCAL lock_timeout = '100ms'; INSERT INTO users VALUES (1, 'ada')")?;
        let store = PgConnectionStore::on_connection(c);
        assert!(matches!(store.rename_program(p, "renamed"), Err(StorageError::Busy)), "the lock timed out");
        holder.batch_execute("ROLLBACK").expect("unlock");
        store.rename_program(p, "renamed")?;
        drop(store);
        c.batch_execute("INSERT INTO users VALUES (2, 'grace')")?;
        Ok::<_, StorageError>(())
    })
    .expect("the service commits");
    assert_eq!(users(&mut conn), 2);
    assert_eq!(schema.store().find_program("renamed").expect("renamed"), p);
}

#[test]
fn a_name_postgresql_cannot_hold_leaves_the_service_transaction_usable() {
    // A NUL sent to the server fails the statement, and with it the service's whole
    // transaction: the look-up answers without asking.
    let Some(schema) = service_schema() else { return };
    let mut conn = schema.connection();
    conn.transaction(|c| {
        c.batch_execute("INSERT INTO users VALUES (1, 'ada')")?;
        let store = PgConnectionStore::on_connection(c);
        assert!(matches!(store.find_program("bad\0name"), Err(StorageError::ProgramNotFound(_))));
        drop(store);
        c.batch_execute("INSERT INTO users VALUES (2, 'grace')")?;
        Ok::<_, StorageError>(())
    })
    .expect("the service commits");
    assert_eq!(users(&mut conn), 2);
}

/// A load inside the service's `READ COMMITTED` transaction holds writers of the program
/// off until that transaction ends (so its several statements read one state), and a
/// load that fails there (here: it cannot get that lock in time) undoes only its own
/// savepoint, leaving the service's transaction and rows usable.
#[test]
fn a_load_in_the_service_transaction_reads_one_state_and_a_failed_one_leaves_it_usable() {
    let Some(schema) = service_schema() else { return };
    let p = schema.store().insert_program("app", &ProgramGraph::new("app")).expect("program");
    // Another session in the middle of a write to the program: it holds the row.
    let mut writer = schema.connection();
    writer
        .batch_execute(&format!("BEGIN; SELECT id FROM lmlang_programs WHERE id = {} FOR UPDATE", p.0))
        .expect("lock");
    let mut conn = schema.connection();
    conn.transaction(|c| {
        c.batch_execute("INSERT INTO users VALUES (1, 'ada'); SET LOCAL lock_timeout = '200ms'")?;
        let store = PgConnectionStore::on_connection(c);
        let err = store.load_program(p).expect_err("the load waits for the writer");
        assert!(matches!(err, StorageError::Busy), "{err:?}");
        assert_eq!(users(c), 1, "the service's transaction is still usable");
        Ok::<_, StorageError>(())
    })
    .expect("the service commits");
    assert_eq!(users(&mut conn), 1);
    writer.batch_execute("ROLLBACK").expect("writer done");

    // While the service's transaction has loaded the program, a writer waits for it.
    let update = format!("UPDATE lmlang_programs SET updated_at = updated_at WHERE id = {}", p.0);
    writer.batch_execute("SET lock_timeout = '200ms'").expect("writer setting");
    conn.transaction(|c| {
        PgConnectionStore::on_connection(c).load_program(p)?;
        let waited = writer.batch_execute(&update).expect_err("the writer waits for the service");
        assert!(waited.to_string().contains("lock timeout"), "{waited}");
        Ok::<_, StorageError>(())
    })
    .expect("the service commits");
    writer.batch_execute(&update).expect("the writer goes ahead once the service is done");
}
