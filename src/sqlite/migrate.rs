//! Schema migrations: embedded from `migrations/`, applied on open, refused when the
//! file is newer than this build.
//!
//! Diesel runs each migration in a transaction, where `PRAGMA foreign_keys` cannot be
//! changed; a migration that rebuilds a table (SQLite's way to alter one) would trip
//! foreign keys half-way. So foreign keys are turned off around the run and
//! `PRAGMA foreign_key_check` proves the result consistent before anything else runs.

use super::error::classify;
use crate::store::{StorageError, StorageResult};
use diesel::connection::SimpleConnection;
use diesel::sqlite::{Sqlite, SqliteConnection};
use diesel::{QueryableByName, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::collections::BTreeSet;

/// The schema migrations of this build, for host services that run them with their own
/// migrations (`MigrationHarness::run_pending_migrations(conn, MIGRATIONS)`); the store
/// runs them itself on open, and [`run_migrations`](super::run_migrations) runs them the same way
/// on a caller's connection.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// A migration version as a number (`2026-11-25-055545-0000` is 202611250555450000),
/// which orders like the text.
fn version_number(version: &str) -> i64 {
    version.chars().filter(char::is_ascii_digit).collect::<String>().parse().unwrap_or(i64::MAX)
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

/// The schema version of the database: its newest applied migration (0 if none).
pub fn schema_version(conn: &mut SqliteConnection) -> StorageResult<i64> {
    Ok(applied_versions(conn)?.iter().map(|v| version_number(v)).max().unwrap_or(0))
}

/// Refuses a database that has migrations this build does not know (it was written by
/// a newer lmlang-storage), without changing the file.
pub fn refuse_newer(conn: &mut SqliteConnection) -> StorageResult<()> {
    let known = known_versions()?;
    let applied = applied_versions(conn)?;
    if let Some(unknown) = applied.iter().filter(|v| !known.contains(*v)).max_by_key(|v| version_number(v)) {
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
    // A pragma: Diesel cannot express it.
    let rows: Vec<ForeignKeyProblem> = diesel::sql_query("PRAGMA foreign_key_check").load(conn).map_err(classify)?;
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
    let pending = conn.pending_migrations(MIGRATIONS).map_err(|e| match e.downcast::<diesel::result::Error>() {
        Ok(db) => classify(*db),
        Err(other) => StorageError::Migration(other.to_string()),
    })?;
    if pending.is_empty() { Ok(()) } else { Err(StorageError::ReadOnly) }
}

/// Brings the schema up to date: refuses a newer file, then applies pending
/// migrations with foreign keys off and checks them after. Returns the versions
/// applied.
pub fn migrate(conn: &mut SqliteConnection) -> StorageResult<Vec<String>> {
    refuse_newer(conn)?;
    let pending = conn.pending_migrations(MIGRATIONS).map_err(|e| StorageError::Migration(e.to_string()))?;
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    // Pragmas; they only take effect outside a transaction, which is where we are.
    conn.batch_execute("PRAGMA foreign_keys = OFF").map_err(classify)?;
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| versions.iter().map(|v| v.to_string()).collect::<Vec<_>>())
        .map_err(|e| StorageError::Migration(e.to_string()));
    let restored = conn.batch_execute("PRAGMA foreign_keys = ON").map_err(classify);
    let applied = applied?;
    restored?;
    let problems = foreign_key_problems(conn)?;
    if let Some(first) = problems.first() {
        return Err(StorageError::Migration(format!(
            "after migrating, {} row(s) break a foreign key; first: {first}",
            problems.len()
        )));
    }
    Ok(applied)
}
