//! Schema migrations on PostgreSQL: embedded from `migrations/postgres/`, applied on
//! open under an advisory lock, refused when the database holds a newer schema.
//!
//! Several services starting at once each open a store: the advisory lock makes one
//! of them migrate while the others wait and then find nothing pending (Diesel's own
//! migration run is not safe against a concurrent one).

use super::connections::{PgPool, connection, in_transaction};
use super::error::reclassify;
use crate::store::{StorageError, StorageResult};
use diesel::connection::SimpleConnection;
use diesel::pg::{Pg, PgConnection};
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::time::{Duration, Instant};

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

/// Refuses a schema this build cannot work on without migrating it, for a store
/// opened with `migrate: false`: a newer one (`SchemaTooNew`), or an older one
/// (`SchemaTooOld`), which a reader would otherwise meet as a missing table in some
/// calls and not in others. A schema without this crate's tables (or whose table of
/// versions records none, or not every step up to its newest) is left to the first
/// query, as before, and so is a role that may not read the table of versions (granted
/// only the tables it reads): the check cannot be made, and the reader is not refused
/// for it. Only reads.
pub(super) fn require_current(pool: &PgPool) -> StorageResult<()> {
    match schema_is_current(&mut *connection(pool)?) {
        Err(StorageError::Database { kind: crate::store::DatabaseErrorKind::PermissionDenied, .. }) => Ok(()),
        checked => checked,
    }
}

fn schema_is_current(conn: &mut PgConnection) -> StorageResult<()> {
    if all_applied(conn)? {
        return Ok(());
    }
    let Some(own) = recorded_versions(conn)? else { return Ok(()) };
    let known = known_versions()?;
    let recorded = |k: &String| own.iter().any(|v| &v.version == k);
    let Some(newest) = own.iter().map(|v| version_number(&v.version)).max() else { return Ok(()) };
    // Not all applied, so older when every step up to the newest recorded is there
    // (the missing ones come after it). Steps missing below it, or none recorded at
    // all, are not a schema an older build made (a damaged table of versions, or
    // someone else's): left to the first query, as before, rather than sent to a
    // migration that cannot mend them.
    if !known.iter().filter(|k| version_number(k) <= newest).all(recorded) {
        return Ok(());
    }
    Err(StorageError::SchemaTooOld {
        found: newest,
        required: known.iter().map(|v| version_number(v)).max().unwrap_or(0),
    })
}

/// How long [`run_migrations`] waits for another session's migration run when the
/// session sets no `lock_timeout`: a run on a large store takes minutes, a session that
/// holds the lock for longer has most likely stopped.
const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(300);

/// Applies pending migrations on one connection, under the advisory lock; returns the
/// versions applied. A current schema is only read, so a read-only role or session can
/// open a store on it.
///
/// Inside the caller's transaction the lock is held until that transaction ends, so a
/// service starting at the same moment waits for the tables it will commit instead of
/// creating them a second time. The wait for another session's run is bounded by the
/// session's `lock_timeout`, or five minutes when it sets none.
///
/// A service whose own Diesel migrations may run at the same moment as these (another
/// instance starting) runs both under [`with_migration_lock`]: Diesel creates its
/// `__diesel_schema_migrations` table without a lock, and two sessions creating it at
/// once fail with a unique violation in PostgreSQL's catalog.
pub fn run_migrations(conn: &mut PgConnection) -> StorageResult<Vec<String>> {
    let span = tracing::info_span!(
        "lmlang_migrate",
        applied = tracing::field::Empty,
        duration_ms = tracing::field::Empty,
        error = tracing::field::Empty
    );
    crate::store::trace::Timed::new(span).run(|span| {
        let applied = run_migrations_untimed(conn);
        if let Ok(versions) = &applied {
            span.record("applied", versions.len());
        }
        applied
    })
}

fn run_migrations_untimed(conn: &mut PgConnection) -> StorageResult<Vec<String>> {
    require_schema(conn)?;
    if all_applied(conn)? {
        return Ok(Vec::new());
    }
    let applied = with_migration_lock(conn, |conn| {
        refuse_newer(conn)?;
        let inside = in_transaction(conn)?;
        let mut attempts = 0;
        loop {
            match conn.run_pending_migrations(MIGRATIONS) {
                Ok(applied) => return Ok(applied.iter().map(|v| v.to_string()).collect::<Vec<_>>()),
                // Another session (a service's own migrations, outside this lock) made
                // Diesel's table at the same moment: nothing of ours was applied, and a
                // second try finds the table there. Inside the caller's transaction the
                // failure has aborted it, so only the caller can try again.
                Err(e) if catalog_race(&*e) => {
                    if inside {
                        return Err(StorageError::Migration(format!(
                            "another session created a table at the same moment ({e}); the transaction \
                             is aborted: run it again, and run the service's own migrations under \
                             postgres::with_migration_lock"
                        )));
                    }
                    attempts += 1;
                    if attempts == 3 {
                        return Err(migration_error(e));
                    }
                }
                Err(e) => return Err(migration_error(e)),
            }
        }
    })?;
    if !applied.is_empty() {
        tracing::info!(applied = ?applied, "lmlang-storage PostgreSQL migrations applied");
    }
    Ok(applied)
}

/// Runs `work` under the advisory lock this crate's migrations take (waiting as
/// [`run_migrations`] does), so a service can apply its own migrations and these
/// without racing another instance doing the same:
/// `with_migration_lock(conn, |c| { c.run_pending_migrations(SERVICE)?; Ok(run_migrations(c)?) })`
/// (errors as `Box<dyn Error + Send + Sync>`; the lock is taken again inside, which
/// PostgreSQL allows). Inside a transaction the lock lasts until that transaction ends.
pub fn with_migration_lock<T, E>(
    conn: &mut PgConnection,
    work: impl FnOnce(&mut PgConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StorageError>,
{
    let inside = in_transaction(conn)?;
    lock(conn, inside)?;
    let result = work(conn);
    if !inside {
        let unlocked = conn
            .batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
            .map_err(|e| reclassify(e.into()));
        if result.is_ok() {
            unlocked?;
        }
    }
    result
}

/// Takes the migration lock (for the session, or until the transaction ends), polling
/// so that the wait is bounded (see [`run_migrations`]).
fn lock(conn: &mut PgConnection, in_transaction: bool) -> StorageResult<()> {
    let try_lock = if in_transaction { "pg_try_advisory_xact_lock" } else { "pg_try_advisory_lock" };
    let query = format!("{try_lock}({MIGRATION_LOCK})");
    let wait = lock_wait(conn)?;
    let started = Instant::now();
    loop {
        let taken = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&query))
            .get_result::<bool>(conn)
            .map_err(|e| reclassify(e.into()))?;
        if taken {
            return Ok(());
        }
        if started.elapsed() >= wait {
            return Err(StorageError::Migration(format!(
                "another session ({}) has held the lmlang migration lock for longer than {} s; \
                 nothing was applied",
                lock_holder(conn),
                wait.as_secs_f64()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The session's `lock_timeout`, or [`DEFAULT_LOCK_WAIT`] when it sets none.
fn lock_wait(conn: &mut PgConnection) -> StorageResult<Duration> {
    let ms = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(extract(epoch FROM current_setting('lock_timeout')::interval) * 1000)::bigint",
    ))
    .get_result::<i64>(conn)
    .map_err(|e| reclassify(e.into()))?;
    Ok(if ms > 0 { Duration::from_millis(ms.unsigned_abs()) } else { DEFAULT_LOCK_WAIT })
}

/// Who holds the migration lock, for the message: "process N", or "a session" when
/// the server does not say.
fn lock_holder(conn: &mut PgConnection) -> String {
    let query = format!(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND classid::bigint = ({MIGRATION_LOCK} >> 32) AND objid::bigint = ({MIGRATION_LOCK} & 4294967295) \
         AND pid <> pg_backend_pid() LIMIT 1"
    );
    match diesel::select(diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Integer>>(&format!(
        "({query})"
    )))
    .get_result::<Option<i32>>(conn)
    {
        Ok(Some(pid)) => format!("process {pid}"),
        _ => "a session".to_string(),
    }
}

/// Whether a migration failed because another session created a catalog object of the
/// same name at the same moment: PostgreSQL's unique indexes on its own catalog, or,
/// when the other session committed between the `IF NOT EXISTS` check and the create,
/// "relation (or its row type) already exists" for Diesel's own table (42P07 and 42710,
/// which Diesel reports without a kind).
fn catalog_race(e: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    e.downcast_ref::<diesel::result::Error>().is_some_and(|d| match d {
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, info) => {
            info.message().contains("pg_type_typname_nsp_index")
                || info.message().contains("pg_class_relname_nsp_index")
        }
        diesel::result::Error::DatabaseError(_, info) => {
            info.message().contains("\"__diesel_schema_migrations\" already exists")
        }
        _ => false,
    })
}

/// Refuses a session whose `search_path` names no schema that exists: PostgreSQL would
/// only say "no schema has been selected to create in".
fn require_schema(conn: &mut PgConnection) -> StorageResult<()> {
    let (schema, path) = diesel::select((
        diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>("current_schema()"),
        diesel::dsl::sql::<diesel::sql_types::Text>("current_setting('search_path')"),
    ))
    .get_result::<(Option<String>, String)>(conn)
    .map_err(|e| reclassify(e.into()))?;
    match schema {
        Some(_) => Ok(()),
        None => Err(StorageError::database(
            crate::store::DatabaseErrorKind::CannotOpen,
            format!("no schema of the search path ({path}) exists; create it first (CREATE SCHEMA)"),
        )),
    }
}

/// [`run_migrations`] on a pooled connection.
pub fn migrate(pool: &PgPool) -> StorageResult<Vec<String>> {
    run_migrations(&mut *connection(pool)?)
}
