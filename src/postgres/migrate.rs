//! Schema migrations on PostgreSQL: embedded from `migrations/postgres/`, applied on
//! open under an advisory lock, refused when the database holds a newer schema.
//!
//! Several services starting at once each open a store: the advisory lock makes one
//! of them migrate while the others wait and then find nothing pending (Diesel's own
//! migration run is not safe against a concurrent one).

use super::connections::{PgPool, connection};
use super::error::reclassify;
use crate::store::{StorageError, StorageResult};
use diesel::connection::SimpleConnection;
use diesel::pg::{Pg, PgConnection};
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// The PostgreSQL schema migrations of this build, for host services that run them
/// with their own.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// The advisory lock key migrations run under ("lmlang" in ASCII).
pub(super) const MIGRATION_LOCK: i64 = 0x6c6d_6c61_6e67;

fn migration_error(e: Box<dyn std::error::Error + Send + Sync>) -> StorageError {
    match e.downcast::<diesel::result::Error>() {
        Ok(db) => super::error::classify(*db),
        Err(other) => StorageError::Migration(other.to_string()),
    }
}

fn version_number(version: &str) -> i64 {
    version.parse().unwrap_or(i64::MAX)
}

fn known_versions() -> StorageResult<Vec<String>> {
    let migrations = diesel::migration::MigrationSource::<Pg>::migrations(&MIGRATIONS).map_err(migration_error)?;
    Ok(migrations.iter().map(|m| m.name().version().to_string()).collect())
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = diesel::sql_types::Text)]
    version: String,
}

/// The versions this crate's migrations recorded in `lmlang_schema_versions`; `None`
/// before the first one made the table.
fn recorded_versions(conn: &mut PgConnection) -> StorageResult<Option<Vec<Version>>> {
    let exists = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
        "to_regclass('lmlang_schema_versions') IS NOT NULL",
    ))
    .get_result::<bool>(conn)
    .map_err(|e| reclassify(e.into()))?;
    if !exists {
        return Ok(None);
    }
    diesel::sql_query("SELECT version FROM lmlang_schema_versions")
        .load(conn)
        .map(Some)
        .map_err(|e| reclassify(e.into()))
}

/// Refuses a database that records migrations of this crate this build does not know.
fn refuse_newer(conn: &mut PgConnection) -> StorageResult<()> {
    let Some(own) = recorded_versions(conn)? else { return Ok(()) };
    let known = known_versions()?;
    if let Some(unknown) =
        own.iter().map(|v| &v.version).filter(|v| !known.contains(v)).max_by_key(|v| version_number(v))
    {
        return Err(StorageError::SchemaTooNew {
            found: version_number(unknown),
            supported: known.iter().map(|v| version_number(v)).max().unwrap_or(0),
        });
    }
    Ok(())
}

/// Whether this build's migrations are all recorded in `lmlang_schema_versions` (and no
/// newer one is): then there is nothing to do, and nothing is written. Diesel's own
/// check creates its table if absent, which a read-only role or a read-only session
/// (a standby, `default_transaction_read_only`) is not allowed to do.
fn all_applied(conn: &mut PgConnection) -> StorageResult<bool> {
    refuse_newer(conn)?;
    let Some(own) = recorded_versions(conn)? else { return Ok(false) };
    Ok(known_versions()?.iter().all(|known| own.iter().any(|v| &v.version == known)))
}

/// Applies pending migrations on one connection, under the advisory lock; returns the
/// versions applied. A current schema is only read, so a read-only role or session can
/// open a store on it.
pub fn run_migrations(conn: &mut PgConnection) -> StorageResult<Vec<String>> {
    if all_applied(conn)? {
        return Ok(Vec::new());
    }
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).map_err(|e| reclassify(e.into()))?;
    let result = refuse_newer(conn).and_then(|()| {
        conn.run_pending_migrations(MIGRATIONS)
            .map(|applied| applied.iter().map(|v| v.to_string()).collect::<Vec<_>>())
            .map_err(migration_error)
    });
    let unlocked =
        conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).map_err(|e| reclassify(e.into()));
    let applied = result?;
    unlocked?;
    if !applied.is_empty() {
        tracing::info!(applied = ?applied, "lmlang-storage PostgreSQL migrations applied");
    }
    Ok(applied)
}

/// [`run_migrations`] on a pooled connection.
pub fn migrate(pool: &PgPool) -> StorageResult<Vec<String>> {
    run_migrations(&mut *connection(pool)?)
}
