//! The store a command works on: a SQLite file, or (feature `postgres`) a PostgreSQL
//! server when `--db` is a `postgres://` URL. Commands use it as a `GraphStore` with
//! its history (`ProgramHistory`); the
//! few maintenance calls that differ per backend are here.

use crate::Failure;
use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::{ProgramHistory, StorageError, StorageResult};

/// An opened store.
pub enum Db {
    /// A SQLite file.
    Sqlite(Box<SqliteStore>),
    /// A PostgreSQL database.
    #[cfg(feature = "postgres")]
    Postgres(Box<lmlang_storage::postgres::PgStore>),
}

impl std::ops::Deref for Db {
    type Target = dyn ProgramHistory;

    fn deref(&self) -> &Self::Target {
        match self {
            Db::Sqlite(s) => &**s,
            #[cfg(feature = "postgres")]
            Db::Postgres(s) => &**s,
        }
    }
}

/// Whether `path` is an SQLite database with tables, none of them this crate's: a
/// file of another application. Read without changing it; `false` when it cannot be
/// read that way (the store's own open then says why).
///
/// The first schema's tables had no `lmlang_` prefix (a later migration added it), so
/// a file that records one of this crate's migrations is ours, however old its tables:
/// it is migrated like any other old schema.
pub fn holds_only_foreign_tables(path: &std::path::Path) -> bool {
    // Bundled SQLite parses URIs: `./` keeps a relative `file:abc.db` the file so named.
    let literal = if path.is_relative() { std::path::Path::new(".").join(path) } else { path.to_path_buf() };
    let Ok(conn) = rusqlite::Connection::open_with_flags(literal, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return false;
    };
    let counts = conn.query_row(
        "SELECT count(*), count(*) FILTER (WHERE substr(name, 1, 7) = 'lmlang_') FROM sqlite_schema \
         WHERE type = 'table' AND substr(name, 1, 7) <> 'sqlite_' AND name <> '__diesel_schema_migrations'",
        [],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
    );
    matches!(counts, Ok((tables, ours)) if tables > 0 && ours == 0) && !records_own_migration(&conn)
}

/// Whether Diesel's table of applied migrations (shared with a host service's own)
/// lists a version of this crate's SQLite migrations.
fn records_own_migration(conn: &rusqlite::Connection) -> bool {
    use diesel::migration::MigrationSource;
    let Ok(own) = MigrationSource::<diesel::sqlite::Sqlite>::migrations(&lmlang_storage::sqlite::MIGRATIONS) else {
        return false;
    };
    let Ok(mut query) = conn.prepare("SELECT version FROM __diesel_schema_migrations") else { return false };
    let Ok(rows) = query.query_map([], |r| r.get::<_, String>(0)) else { return false };
    let recorded: Vec<String> = rows.flatten().collect();
    own.iter().any(|m| recorded.contains(&m.name().version().to_string()))
}

pub use crate::soak::target::redact::redacted;

/// Whether `--db` names a PostgreSQL server rather than a file.
/// Whether `path` is an empty file with no writes left beside it: an SQLite database
/// with nothing in it, which a reading command reads as such and does not write the
/// schema into.
pub fn is_empty_file(path: &std::path::Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0)
        && lmlang_storage::sqlite::writes_beside(path).is_none()
}

pub fn is_postgres_url(db: &std::path::Path) -> bool {
    db.to_str().is_some_and(|s| s.starts_with("postgres://") || s.starts_with("postgresql://"))
}

/// Connects to the PostgreSQL server `url` (applying pending migrations).
#[cfg(feature = "postgres")]
pub fn connect(url: &str) -> Result<Db, Failure> {
    lmlang_storage::postgres::PgStore::connect(url)
        .map(|s| Db::Postgres(Box::new(s)))
        .map_err(|e| upgrade_refused_or_connect_failure(url, e))
}

/// A connection refused because its role or session may not change the schema is,
/// when the schema needs the upgrade it tried, that refused upgrade and what to do
/// (not a failure to connect, which sends an operator to check grants and hosts).
#[cfg(feature = "postgres")]
fn upgrade_refused_or_connect_failure(url: &str, e: StorageError) -> Failure {
    use lmlang_storage::postgres::{PgConfig, PgStore};
    use lmlang_storage::store::DatabaseErrorKind;
    let not_allowed =
        matches!(e, StorageError::ReadOnly | StorageError::Database { kind: DatabaseErrorKind::PermissionDenied, .. });
    if not_allowed
        && let Err(old @ StorageError::SchemaTooOld { .. }) =
            PgStore::connect_with(url, PgConfig { migrate: false, ..PgConfig::default() })
    {
        let refused = refused_upgrade(redacted(url), &e);
        return Failure::new(format!("{}. {old}", refused.message));
    }
    connect_failure(url, e)
}

/// A migration that refused to upgrade the schema at `place` (a file, a server): no
/// failure to open or connect, and nothing the file's permissions explain. The
/// migration's own words say what stands in the way.
pub fn refused_upgrade(place: impl std::fmt::Display, e: &StorageError) -> Failure {
    Failure::new(format!(
        "upgrading the lmlang schema of {place} to this lmstore's was refused and left it as it was: {e}"
    ))
    .caused_by(e)
}

#[cfg(feature = "postgres")]
fn connect_failure(url: &str, e: StorageError) -> Failure {
    match e {
        StorageError::Migration(_) => refused_upgrade(redacted(url), &e),
        e => Failure::new(format!("cannot connect to {}: {e}", redacted(url))).caused_by(&e),
    }
}

/// Connects for a command that only reads: nothing is created or migrated when the
/// schema is current (a read-only role, a standby or a read-only session can list and
/// export), a database without this crate's tables is refused rather than given them
/// (as a SQLite file of another application is), and an older schema is migrated as a
/// writing command would.
#[cfg(feature = "postgres")]
pub fn connect_to_read(url: &str) -> Result<Db, Failure> {
    use lmlang_storage::postgres::{PgConfig, PgStore};
    use lmlang_storage::store::GraphStore;
    let config = PgConfig { migrate: false, ..PgConfig::default() };
    let store = match PgStore::connect_with(url, config) {
        Ok(store) => store,
        // An older schema is migrated as a writing command would (or that is refused).
        Err(StorageError::SchemaTooOld { .. }) => return connect(url),
        Err(e) => return Err(connect_failure(url, e)),
    };
    // Whether the tables answer, asked of one program's rows (any id: found or not,
    // the schema is there), not of the listing, whose cost grows with the programs.
    match store.program_summary(lmlang_storage::store::ProgramId(0)) {
        Ok(_) | Err(StorageError::ProgramNotFound(_) | StorageError::Corrupt { .. }) => {
            Ok(Db::Postgres(Box::new(store)))
        }
        Err(e) if e.to_string().contains("relation \"lmlang_programs\" does not exist") => {
            // `migrate` cannot add the tables to a schema that does not exist.
            let no_schema = store.backend().pool().get().ok().is_some_and(|mut conn| {
                use diesel::RunQueryDsl;
                diesel::select(diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>(
                    "current_schema()",
                ))
                .get_result::<Option<String>>(&mut conn)
                .is_ok_and(|schema| schema.is_none())
            });
            Err(Failure::new(if no_schema {
                format!(
                    "no schema of the search path of {} exists; create it (CREATE SCHEMA), then \
                     `lmstore --db URL migrate` adds the lmlang tables",
                    redacted(url)
                )
            } else {
                format!(
                    "{} holds no lmlang schema; `lmstore --db URL migrate` adds it beside what is there",
                    redacted(url)
                )
            }))
        }
        Err(_) => connect(url),
    }
}

/// Without the feature, a URL is refused with what to do.
#[cfg(not(feature = "postgres"))]
pub fn connect_to_read(url: &str) -> Result<Db, Failure> {
    connect(url)
}

/// Without the feature, a URL is refused with what to do.
#[cfg(not(feature = "postgres"))]
pub fn connect(url: &str) -> Result<Db, Failure> {
    Err(Failure::new(format!(
        "{}: this lmstore was built without PostgreSQL support (build with --features postgres)",
        redacted(url)
    )))
}

impl Db {
    /// Rebuilds a PostgreSQL store's tables as hash partitions by program; the rows
    /// moved. A SQLite file has no such layout.
    pub fn partition_by_program(&self, partitions: u32) -> Result<u64, Failure> {
        match self {
            Db::Sqlite(_) => Err(Failure::new(format!(
                "{partitions} partitions: partitioning is for a PostgreSQL store (--db postgres://...)"
            ))),
            #[cfg(feature = "postgres")]
            Db::Postgres(s) => s.partition_by_program(partitions).map_err(Failure::from),
        }
    }

    /// The store with history recording on.
    pub fn recording(self) -> Self {
        match &self {
            Db::Sqlite(s) => s.set_history(true),
            #[cfg(feature = "postgres")]
            Db::Postgres(s) => s.set_history(true),
        }
        self
    }

    /// The schema version (this crate's newest applied migration).
    pub fn schema_version(&self) -> StorageResult<i64> {
        match self {
            Db::Sqlite(s) => s.schema_version(),
            #[cfg(feature = "postgres")]
            Db::Postgres(s) => s.schema_version(),
        }
    }

    /// Bytes the store takes.
    pub fn database_bytes(&self) -> StorageResult<i64> {
        match self {
            Db::Sqlite(s) => s.database_bytes(),
            #[cfg(feature = "postgres")]
            Db::Postgres(s) => s.database_bytes(),
        }
    }

    /// Repacks (SQLite `VACUUM`) or vacuums and analyses (PostgreSQL) the store.
    pub fn vacuum(&self) -> StorageResult<()> {
        match self {
            Db::Sqlite(s) => s.vacuum(),
            #[cfg(feature = "postgres")]
            Db::Postgres(s) => s.vacuum(),
        }
    }

    /// A consistent copy of a SQLite store's file at `dest`; a server's store is
    /// backed up with the server's own tools.
    pub fn backup_to(&self, dest: &std::path::Path) -> Result<(), Failure> {
        match self {
            Db::Sqlite(s) => s.backup_to(dest).map_err(|e| match e {
                // Only the copy is written: the library's wording (free space, or raise
                // the store's max_page_count) is about the store's own file.
                StorageError::Full => Failure::new(format!(
                    "backup to {}: no room for the copy there (the disk is full); nothing was left there and the \
                     store is unchanged; free space there or back up to another disk",
                    dest.display()
                )),
                e => Failure::from(e),
            }),
            #[cfg(feature = "postgres")]
            Db::Postgres(_) => Err(Failure::new(
                "a PostgreSQL store is backed up with the server's own tools: pg_dump --schema=SCHEMA \
                 (README, Backups)",
            )),
        }
    }

    /// Whether `integrity_check` and `foreign_key_check` check anything (a PostgreSQL
    /// server checks its own pages and enforces every key).
    pub fn checks_its_files(&self) -> bool {
        matches!(self, Db::Sqlite(_))
    }

    /// Problems SQLite's `integrity_check` finds (none: empty); a PostgreSQL server
    /// checks its own pages, so none there.
    pub fn integrity_check(&self) -> StorageResult<Vec<String>> {
        match self {
            Db::Sqlite(s) => s.integrity_check(),
            #[cfg(feature = "postgres")]
            Db::Postgres(_) => Ok(Vec::new()),
        }
    }

    /// Rows whose foreign key points at nothing (PostgreSQL enforces every key, so
    /// none there).
    pub fn foreign_key_check(&self) -> StorageResult<Vec<String>> {
        match self {
            Db::Sqlite(s) => s.foreign_key_check(),
            #[cfg(feature = "postgres")]
            Db::Postgres(_) => Ok(Vec::new()),
        }
    }
}
