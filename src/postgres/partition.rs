//! The partitioned layout: every table of the store hash-partitioned by program.
//!
//! Distributing programs over servers (Citus) or over partitions (PostgreSQL's own
//! `PARTITION BY HASH`) needs the program id in every primary key, unique constraint
//! and foreign key, and every table co-located by it. The migrations give the store
//! that shape (names live in `lmlang_program_names`, the directory, which stays whole);
//! [`partition_by_program`] then rebuilds each program table as N hash partitions, so
//! PostgreSQL itself enforces the rule Citus would, and the store runs on it unchanged.
//!
//! The rebuild is generic over the catalog: each table keeps its columns, defaults,
//! identity, generated columns, checks, keys, indexes and foreign keys (the service's
//! own foreign keys into the store's tables included), under the same names, its
//! owner, grants, comments and statistics targets, and its rows; what a service put on
//! a table that the rebuild cannot carry over is refused before anything changes. It
//! runs in one transaction under the migrations' advisory lock, so it either happens
//! whole or not at all; it locks every table first, in the order the store's
//! writers take them, and holds them while it copies them.

use super::connections::{in_transaction, quote_identifier};
use super::error::reclassify;
use super::migrate::MIGRATION_LOCK;
use crate::rows::PROGRAM_TABLES;
use crate::store::{StorageError, StorageResult};
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use std::time::Duration;

/// The most partitions [`partition_by_program`] makes: beyond a few hundred, planning
/// and locking every partition costs more than the partitions save.
pub const MAX_PARTITIONS: u32 = 256;

/// The directory of program names, left whole: names are looked up by name, not by
/// program (with Citus it would be a reference table).
const DIRECTORY: &str = "lmlang_program_names";

/// The tables partitioned, each by the column that holds its program id.
fn partitioned_tables() -> impl Iterator<Item = (&'static str, &'static str)> {
    PROGRAM_TABLES
        .into_iter()
        .filter(|t| *t != DIRECTORY)
        .map(|t| (t, if t == "lmlang_programs" { "id" } else { "program_id" }))
}

#[derive(QueryableByName)]
struct Definition {
    #[diesel(sql_type = Text)]
    owner: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    def: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    name: String,
}

fn db(e: diesel::result::Error) -> StorageError {
    reclassify(e.into())
}

fn refused(why: String) -> StorageError {
    StorageError::Migration(format!("partitioning by program: {why}"))
}

/// `ARRAY['t1', 't2', ...]::regclass[]` of the partitioned tables, resolved through
/// the connection's `search_path` as the store's own queries are.
fn table_array() -> String {
    let names: Vec<String> = partitioned_tables().map(|(t, _)| format!("'{t}'")).collect();
    format!("ARRAY[{}]::regclass[]", names.join(", "))
}

fn count(conn: &mut PgConnection, sql: &str) -> StorageResult<i64> {
    let rows: Vec<Count> = diesel::sql_query(sql).load(conn).map_err(db)?;
    Ok(rows.first().map(|r| r.n).unwrap_or(0))
}

/// How many hash partitions the store's tables have: 0 when they are not partitioned.
/// A mix (some tables partitioned, others not) is reported as an error: no step of
/// this crate leaves one.
pub fn partition_count(conn: &mut PgConnection) -> StorageResult<u32> {
    let tables = table_array();
    let partitioned =
        count(conn, &format!("SELECT count(*) AS n FROM pg_partitioned_table WHERE partrelid = ANY({tables})"))?;
    if partitioned == 0 {
        return Ok(0);
    }
    let all = i64::try_from(partitioned_tables().count()).unwrap_or(i64::MAX);
    if partitioned != all {
        return Err(refused(format!("only {partitioned} of the {all} program tables are partitioned")));
    }
    let parts =
        count(conn, "SELECT count(*) AS n FROM pg_inherits WHERE inhparent = 'lmlang_compute_nodes'::regclass")?;
    u32::try_from(parts).map_err(|_| refused(format!("{parts} partitions")))
}

/// Rebuilds every program table of the store (on `conn`'s `search_path`, migrated by
/// this build) as `partitions` hash partitions of the program id, keeping rows, keys,
/// indexes and foreign keys. Returns the rows moved.
///
/// Already partitioned into as many: nothing to do (`Ok(0)`). Partitioned into a
/// different number, or asked for 0 or more than [`MAX_PARTITIONS`]: refused, nothing
/// changed. A failure (a view of the service's that depends on a table, say) rolls the
/// whole rebuild back.
///
/// Writers may keep writing meanwhile: they wait for the rebuild, which locks every
/// table before it changes any. A rebuild rolled back by a deadlock (with a service's
/// own transaction that holds the store's tables in another order) runs again, a few
/// times, before `Busy` reaches the caller; inside a transaction of the caller's it is
/// not run again.
pub fn partition_by_program(conn: &mut PgConnection, partitions: u32) -> StorageResult<u64> {
    if partitions == 0 || partitions > MAX_PARTITIONS {
        return Err(refused(format!("{partitions} partitions asked for; choose 1 to {MAX_PARTITIONS}")));
    }
    // In a transaction of the caller's, a rebuild rolled back to its savepoint would
    // meet the locks the caller's transaction still holds: only a rebuild of its own
    // runs again.
    let retries = if in_transaction(conn)? { 0 } else { REBUILD_RETRIES };
    let mut attempt = 0u32;
    loop {
        let result = conn.transaction(|conn| {
            conn.batch_execute(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")).map_err(db)?;
            if count(
                conn,
                &format!("SELECT CASE WHEN to_regclass('{DIRECTORY}') IS NULL THEN 1 ELSE 0 END::INT8 AS n"),
            )? == 1
            {
                return Err(refused("the store's migrations have not been run on this schema".into()));
            }
            match partition_count(conn)? {
                0 => rebuild(conn, partitions),
                n if n == partitions => Ok(0),
                n => Err(refused(format!("the tables already have {n} partitions, not {partitions}"))),
            }
        });
        match result {
            Err(StorageError::Busy) if attempt < retries => {
                attempt += 1;
                tracing::warn!(attempt, "partitioning rolled back by a deadlock with a writer; running it again");
                std::thread::sleep(Duration::from_millis(10u64 << attempt.min(6)));
            }
            other => return other,
        }
    }
}

/// How many times a rebuild rolled back by a deadlock (or a lock timeout) runs again
/// before `Busy` reaches the caller.
const REBUILD_RETRIES: u32 = 8;

/// The store's tables in the order its writers take them: a write locks its program's
/// row first (`lmlang_programs`), then the tables it changes; the name directory comes
/// last, as renames and deletes take it. (A new program's write reads the directory
/// first: if it then waits for the rebuild, the server's deadlock check, run first by
/// whoever waited first, rolls that write back, and the store runs it again.)
fn lock_order() -> impl Iterator<Item = &'static str> {
    PROGRAM_TABLES.into_iter().filter(|t| *t != DIRECTORY).chain([DIRECTORY])
}

fn rebuild(conn: &mut PgConnection, partitions: u32) -> StorageResult<u64> {
    // Every table, in one statement and in the writers' order, before anything else: a
    // rebuild that locked them one by one as its DDL reached them waited for a writer
    // holding one table while holding another the writer needed next.
    let all: Vec<&str> = lock_order().collect();
    conn.batch_execute(&format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", all.join(", "))).map_err(db)?;
    let tables = table_array();
    // What a service may have put on the tables that the rebuild cannot carry over to
    // partitioned ones (PostgreSQL refuses exclusion constraints there) or does not:
    // refused, naming each, rather than dropped with the old tables without a word.
    let uncarried: Vec<Column> = diesel::sql_query(format!(
        "SELECT format('exclusion constraint %I on %s', conname, conrelid::regclass) AS name \
           FROM pg_constraint WHERE contype = 'x' AND conrelid = ANY({tables}) \
         UNION ALL SELECT format('privileges on column %I of %s', attname, attrelid::regclass) \
           FROM pg_attribute WHERE attrelid = ANY({tables}) AND attacl IS NOT NULL \
         UNION ALL SELECT format('statistics object %I on %s', stxname, stxrelid::regclass) \
           FROM pg_statistic_ext WHERE stxrelid = ANY({tables}) \
         UNION ALL SELECT format('trigger %I on %s', tgname, tgrelid::regclass) \
           FROM pg_trigger WHERE tgrelid = ANY({tables}) AND NOT tgisinternal \
         UNION ALL SELECT format('row security policy %I on %s', polname, polrelid::regclass) \
           FROM pg_policy WHERE polrelid = ANY({tables}) \
         UNION ALL SELECT format('row level security on %s', oid::regclass) \
           FROM pg_class WHERE oid = ANY({tables}) AND relrowsecurity \
         UNION ALL SELECT format('storage parameters of %s', oid::regclass) \
           FROM pg_class WHERE oid = ANY({tables}) AND reloptions IS NOT NULL \
         UNION ALL SELECT format('options of column %I of %s', attname, attrelid::regclass) \
           FROM pg_attribute WHERE attrelid = ANY({tables}) \
           AND EXISTS (SELECT 1 FROM unnest(attoptions) o WHERE o LIKE 'n\\_distinct%') \
         UNION ALL SELECT format('rule %I on %s', rulename, ev_class::regclass) \
           FROM pg_rewrite WHERE ev_class = ANY({tables}) AND rulename <> '_RETURN' \
         UNION ALL SELECT format('replica identity of %s', oid::regclass) \
           FROM pg_class WHERE oid = ANY({tables}) AND relreplident <> 'd' \
         UNION ALL SELECT format('publication %I of %s', p.pubname, r.prrelid::regclass) \
           FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid WHERE r.prrelid = ANY({tables})"
    ))
    .load(conn)
    .map_err(db)?;
    if !uncarried.is_empty() {
        let list: Vec<&str> = uncarried.iter().map(|u| u.name.as_str()).collect();
        return Err(refused(format!(
            "the rebuild cannot carry over the {}; nothing was changed: drop them, partition, and make them \
             again where PostgreSQL allows it on partitioned tables",
            list.join(", ")
        )));
    }
    // Everything that names the tables, captured before they are renamed (definitions
    // then name the tables that replace them).
    let foreign_keys: Vec<Definition> = diesel::sql_query(format!(
        "SELECT conrelid::regclass::text AS owner, conname::text AS name, pg_get_constraintdef(oid) AS def \
         FROM pg_constraint WHERE contype = 'f' AND (conrelid = ANY({tables}) OR confrelid = ANY({tables})) \
         ORDER BY oid"
    ))
    .load(conn)
    .map_err(db)?;
    let keys: Vec<Definition> = diesel::sql_query(format!(
        "SELECT conrelid::regclass::text AS owner, conname::text AS name, pg_get_constraintdef(oid) AS def \
         FROM pg_constraint WHERE contype IN ('p', 'u') AND conrelid = ANY({tables}) ORDER BY oid"
    ))
    .load(conn)
    .map_err(db)?;
    let indexes: Vec<Definition> = diesel::sql_query(format!(
        "SELECT i.indrelid::regclass::text AS owner, i.indexrelid::regclass::text AS name, \
         pg_get_indexdef(i.indexrelid) AS def FROM pg_index i \
         WHERE i.indrelid = ANY({tables}) AND NOT EXISTS (SELECT 1 FROM pg_constraint c \
         WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x')) \
         ORDER BY i.indexrelid"
    ))
    .load(conn)
    .map_err(db)?;
    // The privileges granted on the tables and on the program id sequence (roles a
    // service gave read or write access), which `CREATE TABLE ... (LIKE ...)` does not
    // copy: as statements with a placeholder for the object, which keeps its name for
    // a table and gets a new one for the sequence.
    let grants: Vec<Definition> = diesel::sql_query(format!(
        "SELECT CASE WHEN c.relkind = 'S' THEN '' ELSE c.relname::text END AS owner, ''::text AS name, \
         format('GRANT %s ON %s %%s TO %s%s', a.privilege_type, \
                CASE WHEN c.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, \
                CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END, \
                CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) AS def \
         FROM pg_class c, aclexplode(c.relacl) a \
         WHERE (c.oid = ANY({tables}) \
                OR c.oid = pg_get_serial_sequence('lmlang_programs', 'id')::regclass) \
           AND a.grantee <> c.relowner ORDER BY c.oid"
    ))
    .load(conn)
    .map_err(db)?;
    // What else the new tables must have as the old ones had it: their owners (a
    // rebuild run by a superuser or another role must not lock the owner out), their
    // comments and those of the constraints and indexes made again from their
    // definitions, and per-column statistics targets. As statements, run last; an
    // owner goes to each partition too (the sequence follows its table).
    let owners: Vec<Definition> = diesel::sql_query(format!(
        "SELECT relname::text AS owner, ''::text AS name, quote_ident(pg_get_userbyid(relowner)) AS def \
         FROM pg_class WHERE oid = ANY({tables})"
    ))
    .load(conn)
    .map_err(db)?;
    let properties: Vec<Column> = diesel::sql_query(format!(
        "SELECT format('COMMENT ON TABLE %I IS %L', c.relname, d.description) AS name \
           FROM pg_class c JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass \
           AND d.objsubid = 0 WHERE c.oid = ANY({tables}) \
         UNION ALL SELECT format('COMMENT ON INDEX %s IS %L', i.indexrelid::regclass, d.description) \
           FROM pg_index i JOIN pg_description d ON d.objoid = i.indexrelid \
           AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0 WHERE i.indrelid = ANY({tables}) \
         UNION ALL SELECT format('COMMENT ON CONSTRAINT %I ON %s IS %L', c.conname, c.conrelid::regclass, d.description) \
           FROM pg_constraint c JOIN pg_description d ON d.objoid = c.oid \
           AND d.classoid = 'pg_constraint'::regclass WHERE c.contype IN ('p', 'u', 'f') \
           AND (c.conrelid = ANY({tables}) OR c.confrelid = ANY({tables})) \
         UNION ALL SELECT format('ALTER TABLE %I ALTER COLUMN %I SET STATISTICS %s', c.relname, a.attname, \
           a.attstattarget) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
           WHERE a.attrelid = ANY({tables}) AND a.attnum > 0 AND NOT a.attisdropped AND a.attstattarget >= 0"
    ))
    .load(conn)
    .map_err(db)?;
    // The last program id handed out (ids are never reused, even past deleted ones).
    let sequence = count(
        conn,
        "SELECT COALESCE(pg_sequence_last_value(pg_get_serial_sequence('lmlang_programs', 'id')::regclass), 0) AS n",
    )?;

    let mut sql = String::new();
    for fk in &foreign_keys {
        sql += &format!("ALTER TABLE {} DROP CONSTRAINT {};\n", fk.owner, quote_identifier(&fk.name));
    }
    for (table, key) in partitioned_tables() {
        let old = format!("{table}_unpartitioned");
        sql += &format!("ALTER TABLE {table} RENAME TO {old};\n");
        for k in keys.iter().filter(|k| k.owner.rsplit('.').next() == Some(table)) {
            sql += &format!("ALTER TABLE {old} DROP CONSTRAINT {};\n", quote_identifier(&k.name));
        }
        for i in indexes.iter().filter(|i| i.owner.rsplit('.').next() == Some(table)) {
            sql += &format!("DROP INDEX {};\n", i.name);
        }
        if table == "lmlang_programs" {
            sql += "ALTER SEQUENCE IF EXISTS lmlang_programs_id_seq RENAME TO lmlang_programs_id_seq_unpartitioned;\n";
        }
        sql += &format!(
            "CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING GENERATED \
             INCLUDING CONSTRAINTS INCLUDING COMMENTS INCLUDING STORAGE INCLUDING COMPRESSION) PARTITION BY HASH ({key});\n"
        );
        for k in 0..partitions {
            sql += &format!(
                "CREATE TABLE {} PARTITION OF {table} FOR VALUES WITH (MODULUS {partitions}, REMAINDER {k});\n",
                quote_identifier(&format!("{table}_p{k}"))
            );
        }
    }
    conn.batch_execute(&sql).map_err(db)?;

    let mut moved = 0u64;
    for (table, _) in partitioned_tables() {
        let columns: Vec<Column> = diesel::sql_query(format!(
            "SELECT quote_ident(attname) AS name FROM pg_attribute WHERE attrelid = '{table}'::regclass \
             AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum"
        ))
        .load(conn)
        .map_err(db)?;
        let columns = columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
        let rows = diesel::sql_query(format!(
            "INSERT INTO {table} ({columns}) OVERRIDING SYSTEM VALUE SELECT {columns} FROM {table}_unpartitioned"
        ))
        .execute(conn)
        .map_err(db)?;
        moved += rows as u64;
    }

    let mut sql = String::new();
    if sequence > 0 {
        sql += &format!("SELECT setval(pg_get_serial_sequence('lmlang_programs', 'id'), {sequence});\n");
    }
    for k in &keys {
        sql += &format!("ALTER TABLE {} ADD CONSTRAINT {} {};\n", k.owner, quote_identifier(&k.name), k.def);
    }
    for i in &indexes {
        sql += &format!("{};\n", i.def);
    }
    for (table, _) in partitioned_tables() {
        sql += &format!("DROP TABLE {table}_unpartitioned;\n");
    }
    for fk in &foreign_keys {
        sql += &format!("ALTER TABLE {} ADD CONSTRAINT {} {};\n", fk.owner, quote_identifier(&fk.name), fk.def);
    }
    let new_sequence = diesel::select(diesel::dsl::sql::<diesel::sql_types::Nullable<Text>>(
        "pg_get_serial_sequence('lmlang_programs', 'id')",
    ))
    .get_result::<Option<String>>(conn)
    .map_err(db)?;
    for g in &grants {
        let object = if g.owner.is_empty() { new_sequence.clone() } else { Some(quote_identifier(&g.owner)) };
        if let Some(object) = object {
            sql += &format!("{};\n", g.def.replacen("%s", &object, 1));
        }
    }
    for property in &properties {
        sql += &format!("{};\n", property.name);
    }
    for o in &owners {
        sql += &format!("ALTER TABLE {} OWNER TO {};\n", quote_identifier(&o.owner), o.def);
        for k in 0..partitions {
            sql += &format!("ALTER TABLE {} OWNER TO {};\n", quote_identifier(&format!("{}_p{k}", o.owner)), o.def);
        }
    }
    for (table, _) in partitioned_tables() {
        sql += &format!("ANALYZE {table};\n");
    }
    conn.batch_execute(&sql).map_err(db)?;
    tracing::info!(partitions, rows = moved, "lmlang-storage tables partitioned by program");
    Ok(moved)
}
