//! Maintenance of a PostgreSQL store: its schema version, size and `VACUUM`.

use super::PgStore;
use super::error::reclassify;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::store::{DatabaseErrorKind, StorageError, StorageResult};

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// This crate's tables, for size and vacuum (the store's schema is first on the
/// connection's `search_path`).
const TABLES: [&str; 11] = crate::rows::PROGRAM_TABLES;

impl PgStore {
    /// The schema version: this crate's newest applied migration.
    pub fn schema_version(&self) -> StorageResult<i64> {
        self.backend().with_connection(|conn| {
            let rows: Vec<Number> =
                diesel::sql_query("SELECT COALESCE(MAX(version::BIGINT), 0) AS n FROM lmlang_schema_versions")
                    .load(conn)?;
            Ok(rows.first().map(|r| r.n).unwrap_or(0))
        })
    }

    /// Bytes the store's tables and their indexes take on the server (summed over the
    /// partitions of a partitioned layout, whose parents hold nothing themselves).
    pub fn database_bytes(&self) -> StorageResult<i64> {
        let tables = TABLES.map(|t| format!("'{t}'")).join(", ");
        self.backend().with_connection(|conn| {
            // A partitioned table holds nothing itself: its size is its partitions'. A
            // plain table has no partition tree (no rows), so its own size counts.
            let rows: Vec<Number> = diesel::sql_query(format!(
                "SELECT COALESCE(SUM(COALESCE( \
                     (SELECT SUM(pg_total_relation_size(p.relid)) FROM pg_partition_tree(t.rel) AS p), \
                     pg_total_relation_size(t.rel))), 0)::BIGINT AS n \
                 FROM unnest(ARRAY[{tables}]::regclass[]) AS t(rel)"
            ))
            .load(conn)?;
            Ok(rows.first().map(|r| r.n).unwrap_or(0))
        })
    }

    /// Rebuilds the store's tables as `partitions` hash partitions by program, on the
    /// primary: see [`partition_by_program`](super::partition_by_program). Returns the
    /// rows moved (0 when the layout already has that many partitions).
    pub fn partition_by_program(&self, partitions: u32) -> StorageResult<u64> {
        super::partition_by_program(&mut *self.backend().primary_connection()?, partitions)
    }

    /// Hash partitions per table of the store's layout; 0 when it is not partitioned.
    pub fn partition_count(&self) -> StorageResult<u32> {
        super::partition_count(&mut *self.backend().primary_connection()?)
    }

    /// `VACUUM (ANALYZE)` of the store's tables: frees dead rows for reuse and refreshes
    /// the planner's statistics (after a large bulk save, for instance).
    ///
    /// Only a table's owner, the database's owner or a superuser may vacuum a table:
    /// PostgreSQL skips any other with a warning a client never sees, and reports
    /// success. So a role that may not vacuum them all is refused as
    /// `PermissionDenied`, naming the tables, and nothing is vacuumed.
    pub fn vacuum(&self) -> StorageResult<()> {
        let tables = TABLES.map(|t| format!("'{t}'")).join(", ");
        self.backend().with_connection(|conn| {
            let refused: Vec<Name> = diesel::sql_query(format!(
                "SELECT t.rel::text AS name FROM unnest(ARRAY[{tables}]::regclass[]) AS t(rel) \
                 JOIN pg_class c ON c.oid = t.rel \
                 WHERE NOT pg_has_role(c.relowner, 'USAGE') \
                   AND NOT pg_has_role((SELECT datdba FROM pg_database WHERE datname = current_database()), 'USAGE')"
            ))
            .load(conn)?;
            if !refused.is_empty() {
                let names: Vec<String> = refused.into_iter().map(|n| n.name).collect();
                let message = format!(
                    "VACUUM needs the owner of the tables or of the database (or a superuser); this role owns \
                     neither of {}",
                    names.join(", ")
                );
                return Err(StorageError::Database {
                    kind: DatabaseErrorKind::PermissionDenied,
                    source: message.into(),
                });
            }
            conn.batch_execute(&format!("VACUUM (ANALYZE) {}", TABLES.join(", "))).map_err(|e| reclassify(e.into()))
        })
    }
}
