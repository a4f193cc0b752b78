//! Schema migrations: embedded from `migrations/sqlite/`, applied on open, refused when the
//! file is newer than this build.
//!
//! Diesel runs each migration in a transaction, where `PRAGMA foreign_keys` cannot be
//! changed; a migration that rebuilds a table (SQLite's way to alter one) would trip
//! foreign keys half-way. So foreign keys are turned off around the run and
//! `PRAGMA foreign_key_check` proves the result consistent before anything else runs.

use super::error::classify;
use crate::store::trace::Timed;
use crate::store::{StorageError, StorageResult};
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::sqlite::{Sqlite, SqliteConnection};
use diesel::{QueryableByName, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::collections::BTreeSet;
use tracing::Span;
use tracing::field::Empty;

/// The schema migrations of this build, for host services that run them with their own
/// migrations (`MigrationHarness::run_pending_migrations(conn, MIGRATIONS)`); the store
/// runs them itself on open, and [`run_migrations`](super::run_migrations) runs them the same way
/// on a caller's connection.
///
/// Prefer `run_migrations` where you can: Diesel's harness takes no lock (services
/// starting together on a new file can race), leaves the file in its journal mode (the
/// store needs WAL), cannot upgrade a store of the first schema (its tables were not
/// yet `lmlang_*`), and leaves `PRAGMA foreign_keys = ON` on the connection that
/// applied the `program_names` migration (SQL cannot put back the setting it found).
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// A migration version as a number (`2026-11-25-055545-0000` is 202611250555450000),
/// which orders like the text.
fn version_number(version: &str) -> i64 {
    parsed_version(version).unwrap_or(i64::MAX)
}

/// [`version_number`], or `None` for text that is no migration version at all.
fn parsed_version(version: &str) -> Option<i64> {
    let digits: String = version.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 14 || !version.chars().all(|c| c.is_ascii_digit() || c == '-' || c == '_') {
        return None;
    }
    digits.parse().ok()
}

fn known_versions() -> StorageResult<BTreeSet<String>> {
    let migrations = diesel::migration::MigrationSource::<Sqlite>::migrations(&MIGRATIONS)
        .map_err(|e| StorageError::Migration(e.to_string()))?;
    Ok(migrations.iter().map(|m| m.name().version().to_string()).collect())
}

fn applied_versions(conn: &mut SqliteConnection) -> StorageResult<Vec<String>> {
    let applied = conn.applied_migrations().map_err(|e| match e.downcast::<diesel::result::Error>() {
        Ok(db) => classify(*db),
        Err(other) => StorageError::Migration(other.to_string()),
    })?;
    Ok(applied.iter().map(|v| v.to_string()).collect())
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = diesel::sql_types::Text)]
    version: String,
}

/// This crate's migrations that the database records as applied. A host service's
/// migrations share `__diesel_schema_migrations` with ours, so that table alone cannot
/// tell them from migrations of a newer lmlang-storage: `lmlang_schema_versions`
/// (created by the prefix migration, added to by every later one) can. A database
/// without it predates that migration and holds only versions this build knows.
fn own_versions(conn: &mut SqliteConnection) -> StorageResult<Vec<String>> {
    if !table_exists(conn, "lmlang_schema_versions")? {
        if !table_exists(conn, MIGRATIONS_TABLE)? {
            // Nothing migrated yet; asking Diesel would create its table, a write.
            return Ok(Vec::new());
        }
        let known = known_versions()?;
        return Ok(applied_versions(conn)?.into_iter().filter(|v| known.contains(v)).collect());
    }
    // Read as text whatever a newer build wrote; the table is ours alone.
    let rows: Vec<Version> =
        diesel::sql_query("SELECT version FROM lmlang_schema_versions").load(conn).map_err(classify)?;
    Ok(rows.into_iter().map(|r| r.version).collect())
}

/// Diesel's record of applied migrations, shared with a host service's own.
const MIGRATIONS_TABLE: &str = "__diesel_schema_migrations";

/// Whether the database has a table of this name (read from the schema; Diesel's
/// migration harness would create its own table on the first question it is asked).
fn table_exists(conn: &mut SqliteConnection, name: &str) -> StorageResult<bool> {
    diesel::select(
        diesel::dsl::sql::<diesel::sql_types::Bool>(
            "EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ",
        )
        .bind::<diesel::sql_types::Text, _>(name)
        .sql(")"),
    )
    .get_result::<bool>(conn)
    .map_err(classify)
}

/// The schema version of the database: this crate's newest applied migration (0 if
/// none). A host service's own migrations do not count.
pub fn schema_version(conn: &mut SqliteConnection) -> StorageResult<i64> {
    Ok(own_versions(conn)?.iter().map(|v| version_number(v)).max().unwrap_or(0))
}

/// Refuses a database that records migrations of this crate that this build does not
/// know (it was written by a newer lmlang-storage), without changing the file. A host
/// service's own migrations, older or newer than ours, are not this crate's business.
pub fn refuse_newer(conn: &mut SqliteConnection) -> StorageResult<()> {
    let known = known_versions()?;
    let own = own_versions(conn)?;
    if let Some(garbled) = own.iter().find(|v| parsed_version(v).is_none()) {
        return Err(StorageError::Migration(format!(
            "the database records schema version {garbled:?}, which is no migration version: its schema \
             tables are damaged"
        )));
    }
    if let Some(unknown) = own.iter().filter(|v| !known.contains(*v)).max_by_key(|v| version_number(v)) {
        return Err(StorageError::SchemaTooNew {
            found: version_number(unknown),
            supported: known.iter().map(|v| version_number(v)).max().unwrap_or(0),
        });
    }
    Ok(())
}

#[derive(QueryableByName, Debug)]
struct ForeignKeyProblem {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    rowid: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    parent: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    fkid: i64,
}

/// Every row whose foreign key points at nothing, described for people.
pub fn foreign_key_problems(conn: &mut SqliteConnection) -> StorageResult<Vec<String>> {
    // A pragma: Diesel cannot express it. Only this crate's tables: a host service's
    // own rows are its business.
    let rows: Vec<ForeignKeyProblem> = diesel::sql_query(
        "SELECT \"table\", rowid, parent, fkid FROM pragma_foreign_key_check() \
         WHERE \"table\" LIKE 'lmlang\\_%' ESCAPE '\\'",
    )
    .load(conn)
    .map_err(classify)?;
    Ok(rows
        .into_iter()
        .map(|p| {
            let row = p.rowid.map(|r| format!(" row {r}")).unwrap_or_default();
            format!("{}{row}: foreign key {} points at a missing {} row", p.table, p.fkid, p.parent)
        })
        .collect())
}

/// Checks that the schema is exactly this build's, for a store that must not write:
/// a newer file is `SchemaTooNew`, one that needs migrating is `ReadOnly`.
pub fn require_current(conn: &mut SqliteConnection) -> StorageResult<()> {
    refuse_newer(conn)?;
    if !table_exists(conn, MIGRATIONS_TABLE)? {
        return Err(StorageError::ReadOnly);
    }
    let pending = conn.pending_migrations(MIGRATIONS).map_err(|e| match e.downcast::<diesel::result::Error>() {
        Ok(db) => classify(*db),
        Err(other) => StorageError::Migration(other.to_string()),
    })?;
    if pending.is_empty() { Ok(()) } else { Err(StorageError::ReadOnly) }
}

fn pending(conn: &mut SqliteConnection) -> StorageResult<usize> {
    conn.pending_migrations(MIGRATIONS).map(|p| p.len()).map_err(|e| match e.downcast::<diesel::result::Error>() {
        Ok(db) => classify(*db),
        Err(other) => StorageError::Migration(other.to_string()),
    })
}

/// Renames the tables and indexes of a database migrated by the first schema alone
/// (as released until 2026-12-06, when the first migration created them without the
/// `lmlang_` prefix and the next one renamed them). The migrations now create the
/// prefixed names from the start, so this is the only way such a database gets them.
/// Only a database whose Diesel table records our first migration and which has our
/// unprefixed tables and no prefixed ones is touched: a service's own `programs` in a
/// database of ours is never renamed.
fn prefix_first_schema(conn: &mut SqliteConnection) -> StorageResult<()> {
    if !table_exists(conn, MIGRATIONS_TABLE)? || table_exists(conn, "lmlang_compute_nodes")? {
        return Ok(());
    }
    for ours in ["programs", "modules", "functions", "op_kinds", "compute_nodes", "flow_edges", "semantic_nodes"] {
        if !table_exists(conn, ours)? {
            return Ok(());
        }
    }
    if !applied_versions(conn)?.iter().any(|v| v == FIRST_SCHEMA) {
        return Ok(());
    }
    tracing::info!("renaming the tables of a first-schema store to their lmlang_ names");
    conn.batch_execute(include_str!("first_schema_prefix.sql")).map_err(classify)
}

/// The migration that rebuilds `lmlang_programs` (SQLite cannot drop its `name`
/// column, which is UNIQUE), as Diesel records it.
const PROGRAM_NAMES: &str = "202612031700000000";

#[derive(QueryableByName)]
struct SchemaObject {
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    sql: String,
    /// An index's planner statistics (`sqlite_stat1`), which its drop deletes.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    stat: Option<String>,
}

/// A service's triggers and indexes on `lmlang_programs`, dropped before the
/// [`PROGRAM_NAMES`] migration rebuilds that table (which would drop them without a
/// word; the migration itself refuses while any exist, for the diesel CLI) and made
/// again by [`restore_service_objects`] in the same transaction. The table has none of
/// this crate's own but its UNIQUE constraint's, which has no SQL.
fn set_aside_service_objects(conn: &mut SqliteConnection) -> StorageResult<Vec<SchemaObject>> {
    if !table_exists(conn, "lmlang_programs")? || own_versions(conn)?.iter().any(|v| v == PROGRAM_NAMES) {
        return Ok(Vec::new());
    }
    let stat = if table_exists(conn, "sqlite_stat1")? {
        "(SELECT stat FROM sqlite_stat1 WHERE idx = s.name AND s.type = 'index')"
    } else {
        "NULL"
    };
    let objects: Vec<SchemaObject> = diesel::sql_query(format!(
        "SELECT s.type AS kind, s.name, s.sql, {stat} AS stat FROM sqlite_schema s \
         WHERE lower(s.tbl_name) = 'lmlang_programs' AND s.type IN ('index', 'trigger') AND s.sql IS NOT NULL \
         ORDER BY s.rowid"
    ))
    .load(conn)
    .map_err(classify)?;
    for object in &objects {
        let quoted = object.name.replace('"', "\"\"");
        conn.batch_execute(&format!("DROP {} \"{quoted}\"", object.kind.to_uppercase())).map_err(classify)?;
    }
    Ok(objects)
}

#[derive(QueryableByName)]
struct TableName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

/// Refuses, naming them, while a service's tables have a foreign key to
/// `lmlang_programs (name)`, a column the [`PROGRAM_NAMES`] migration moves to
/// `lmlang_program_names`: the key would point at a column no longer UNIQUE, and every
/// later delete of a program would fail ("foreign key mismatch"). The migration itself
/// refuses too (`drop_the_foreign_keys_to_lmlang_programs_name_first`), for the diesel
/// CLI; only the service can move its key, so it is not set aside.
fn refuse_foreign_keys_on_the_moved_name(conn: &mut SqliteConnection) -> StorageResult<()> {
    if !table_exists(conn, "lmlang_programs")? || own_versions(conn)?.iter().any(|v| v == PROGRAM_NAMES) {
        return Ok(());
    }
    let tables: Vec<TableName> = diesel::sql_query(
        "SELECT DISTINCT t.name FROM sqlite_schema AS t, pragma_foreign_key_list(t.name) AS k \
         WHERE t.type = 'table' AND lower(k.\"table\") = 'lmlang_programs' AND lower(k.\"to\") = 'name' \
         ORDER BY t.name",
    )
    .load(conn)
    .map_err(classify)?;
    if tables.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    Err(StorageError::Migration(format!(
        "the foreign key of {} to lmlang_programs (name) would point at a column the program_names migration \
         moves to lmlang_program_names (drop_the_foreign_keys_to_lmlang_programs_name_first); nothing was \
         changed. Drop the key, migrate, and make it again on lmlang_program_names (name)",
        names.join(", ")
    )))
}

/// Makes the objects [`set_aside_service_objects`] dropped again, on the rebuilt
/// table. One that no longer fits it (an index on the `name` column the migration moves
/// to `lmlang_program_names`, or a trigger that reads `NEW.name`) fails the whole run,
/// which then changes nothing. SQLite reads a trigger's body only when it fires, but a
/// rename with legacy renaming off checks every view and trigger of the schema, so a
/// scratch table is renamed once they are back.
fn restore_service_objects(conn: &mut SqliteConnection, objects: &[SchemaObject]) -> StorageResult<()> {
    if objects.is_empty() {
        return Ok(());
    }
    for object in objects {
        let refused = |why: String| {
            StorageError::Migration(format!(
                "the {} {:?} on lmlang_programs (not this crate's) cannot be made again after the program_names \
                 migration rebuilds that table: {why}; nothing was changed. Drop it, migrate, and make it anew",
                object.kind, object.name
            ))
        };
        // The text comes from the file, and a file may hold anything there (written
        // with `writable_schema`): it is run as the one CREATE statement it must be.
        // A prepared statement is its first statement only, so text after it (a
        // `COMMIT`, an `ATTACH` of another file) is never run; one that is not such a
        // CREATE is refused.
        let head = object.sql.trim_start().to_ascii_uppercase();
        let creates = ["CREATE INDEX", "CREATE UNIQUE INDEX", "CREATE TRIGGER"].iter().any(|c| head.starts_with(c));
        if !creates {
            return Err(refused("its stored SQL is not a CREATE INDEX or CREATE TRIGGER statement".into()));
        }
        diesel::sql_query(object.sql.as_str()).execute(conn).map_err(|e| refused(e.to_string()))?;
        if let Some(stat) = &object.stat {
            diesel::sql_query("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('lmlang_programs', ?, ?)")
                .bind::<diesel::sql_types::Text, _>(&object.name)
                .bind::<diesel::sql_types::Text, _>(stat)
                .execute(conn)
                .map_err(classify)?;
        }
    }
    conn.batch_execute(
        "PRAGMA legacy_alter_table = OFF;
         CREATE TABLE lmlang_migration_schema_check (x);
         ALTER TABLE lmlang_migration_schema_check RENAME TO lmlang_migration_schema_checked;
         DROP TABLE lmlang_migration_schema_checked;",
    )
    .map_err(|e| {
        StorageError::Migration(format!(
            "a trigger on lmlang_programs (not this crate's) no longer reads the table the program_names \
             migration rebuilds ({e}); nothing was changed. Drop it, migrate, and make it anew (program names \
             are in lmlang_program_names now)"
        ))
    })
}

/// Records in Diesel's table this crate's migrations that `lmlang_schema_versions`
/// lists as applied but Diesel's table lacks. The `program_names` step runs outside
/// Diesel's transaction: a diesel CLI killed after the step committed and before it
/// recorded the version left the file where every later run (the CLI's and the
/// store's) failed on the existing `lmlang_program_names`. Each migration adds its
/// version to `lmlang_schema_versions` in the same commit as its changes, so one listed
/// there is applied. Returns the versions recorded.
fn record_applied_but_unrecorded(conn: &mut SqliteConnection) -> StorageResult<Vec<String>> {
    if !table_exists(conn, MIGRATIONS_TABLE)? || !table_exists(conn, "lmlang_schema_versions")? {
        return Ok(Vec::new());
    }
    let known = known_versions()?;
    let recorded: BTreeSet<String> = applied_versions(conn)?.into_iter().collect();
    let missing: Vec<String> =
        own_versions(conn)?.into_iter().filter(|v| known.contains(v) && !recorded.contains(v)).collect();
    for version in &missing {
        tracing::warn!(version = %version, "recording a migration applied but not recorded (an interrupted run)");
        diesel::sql_query(format!("INSERT INTO {MIGRATIONS_TABLE} (version) VALUES (?)"))
            .bind::<diesel::sql_types::Text, _>(version)
            .execute(conn)
            .map_err(classify)?;
    }
    Ok(missing)
}

/// The first migration's version as Diesel records it.
const FIRST_SCHEMA: &str = "202611250555450000";

/// Brings the schema up to date: refuses a newer file, then applies pending
/// migrations with foreign keys off and checks them after. Returns the versions
/// applied.
///
/// Several processes may open a new file at once. The common case (nothing pending)
/// is answered without a write lock; otherwise the check and the migrations run
/// inside one `BEGIN IMMEDIATE` transaction (each migration a savepoint in it), so the
/// second opener waits for the first and then finds nothing left to do.
pub fn migrate(conn: &mut SqliteConnection) -> StorageResult<Vec<String>> {
    let span =
        tracing::info_span!("lmlang_migrate", pending = Empty, applied = Empty, duration_ms = Empty, error = Empty);
    Timed::new(span).run(|span| {
        let applied = migrate_untimed(conn, span)?;
        span.record("applied", applied.len());
        Ok(applied)
    })
}

fn migrate_untimed(conn: &mut SqliteConnection, span: &Span) -> StorageResult<Vec<String>> {
    refuse_newer(conn)?;
    // Without Diesel's table everything is pending: it is created in the transaction
    // below, so a migration that fails leaves the file as it was.
    let waiting = if table_exists(conn, MIGRATIONS_TABLE)? { pending(conn)? } else { known_versions()?.len() };
    span.record("pending", waiting);
    if waiting == 0 {
        return Ok(Vec::new());
    }
    if AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth().map_err(classify)?.is_some() {
        return Err(StorageError::Migration(format!(
            "{waiting} migration(s) of lmlang-storage are pending; they run in a transaction of their own \
             (with foreign keys off, which SQLite ignores inside a transaction), so run them outside any"
        )));
    }
    // Pragmas; they only take effect outside a transaction, which is where we are. The
    // connection keeps the foreign-key setting it came with.
    let enforced = super::connection::foreign_keys_enforced(conn);
    conn.batch_execute("PRAGMA foreign_keys = OFF").map_err(classify)?;
    let applied = conn.immediate_transaction(|c| {
        refuse_newer(c)?;
        record_applied_but_unrecorded(c)?;
        if pending(c)? == 0 {
            return Ok(Vec::new());
        }
        prefix_first_schema(c)?;
        refuse_foreign_keys_on_the_moved_name(c)?;
        let set_aside = set_aside_service_objects(c)?;
        let applied = c
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(|v| v.to_string()).collect::<Vec<_>>())
            .map_err(|e| StorageError::Migration(e.to_string()))?;
        restore_service_objects(c, &set_aside)?;
        let problems = foreign_key_problems(c)?;
        if let Some(first) = problems.first() {
            return Err(StorageError::Migration(format!(
                "after migrating, {} row(s) break a foreign key; first: {first}",
                problems.len()
            )));
        }
        Ok(applied)
    });
    let restored = conn
        .batch_execute(if enforced { "PRAGMA foreign_keys = ON" } else { "PRAGMA foreign_keys = OFF" })
        .map_err(classify);
    let applied = applied?;
    restored?;
    tracing::info!(applied = ?applied, "lmlang-storage migrations applied");
    Ok(applied)
}
