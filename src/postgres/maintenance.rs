//! Maintenance of a PostgreSQL store: its schema version, size and `VACUUM`.

use super::PgStore;
use super::error::reclassify;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::store::StorageResult;

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// This crate's tables, for size and vacuum (the store's schema is first on the
/// connection's `search_path`).
const TABLES: [&str; 10] = crate::rows::PROGRAM_TABLES;

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

    /// Bytes the store's tables and their indexes take on the server.
    pub fn database_bytes(&self) -> StorageResult<i64> {
        let sum = TABLES.map(|t| format!("pg_total_relation_size('{t}')")).join(" + ");
        self.backend().with_connection(|conn| {
            let rows: Vec<Number> = diesel::sql_query(format!("SELECT ({sum})::BIGINT AS n")).load(conn)?;
            Ok(rows.first().map(|r| r.n).unwrap_or(0))
        })
    }

    /// `VACUUM (ANALYZE)` of the store's tables: frees dead rows for reuse and refreshes
    /// the planner's statistics (after a large bulk save, for instance).
    pub fn vacuum(&self) -> StorageResult<()> {
        self.backend().with_connection(|conn| {
            conn.batch_execute(&format!("VACUUM (ANALYZE) {}", TABLES.join(", "))).map_err(|e| reclassify(e.into()))
        })
    }
}
