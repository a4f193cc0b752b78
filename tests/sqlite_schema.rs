//! The SQLite schema: `src/schema.rs` matches what the migrations create (checked without
//! the diesel CLI), migrations reverse cleanly, the op codes agree with `op_kinds`, and
//! a database from a newer build is refused without being touched.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, SmallInt, Text};
use diesel_migrations::MigrationHarness;
use lmlang_storage::sqlite::{MIGRATIONS, OP_NAMES, SqliteStore};
use lmlang_storage::store::{GraphStore, StorageError};
use std::collections::BTreeMap;

#[derive(QueryableByName, Debug)]
struct TableName {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName, Debug)]
struct ColumnInfo {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    decl: String,
    #[diesel(sql_type = Integer)]
    notnull: i32,
    #[diesel(sql_type = Integer)]
    pk: i32,
}

/// A table as `diesel::table!` describes it: primary key and `(column, type)` in order.
#[derive(Debug, PartialEq, Eq)]
struct TableShape {
    primary_key: Vec<String>,
    columns: Vec<(String, String)>,
}

/// The `table!` blocks of the generated schema file.
fn shapes_in_schema_file() -> BTreeMap<String, TableShape> {
    let text = include_str!("../src/schema.rs");
    let mut shapes = BTreeMap::new();
    let mut current: Option<(String, TableShape)> = None;
    for line in text.lines().map(str::trim) {
        if current.is_some() && line == "}" {
            if let Some((name, shape)) = current.take() {
                shapes.insert(name, shape);
            }
        } else if let Some((_, shape)) = current.as_mut() {
            if let Some((column, ty)) = line.trim_end_matches(',').split_once(" -> ") {
                shape.columns.push((column.to_string(), ty.to_string()));
            }
        } else if let Some(head) = line.strip_suffix(" {").filter(|h| h.contains(" (")) {
            let (name, key) = head.split_once(" (").expect("table head");
            let primary_key = key.trim_end_matches(')').split(", ").map(str::to_string).collect();
            current = Some((name.to_string(), TableShape { primary_key, columns: Vec::new() }));
        }
    }
    shapes
}

/// The type `diesel print-schema` writes for a declared SQLite type (the types this
/// schema uses), given `sqlite_integer_primary_key_is_bigint = true`.
fn diesel_type(declared: &str, rowid_key: bool) -> String {
    match declared.to_ascii_uppercase().as_str() {
        "INTEGER" if rowid_key => "BigInt".into(),
        "INTEGER" => "Integer".into(),
        "BIGINT" => "BigInt".into(),
        "SMALLINT" => "SmallInt".into(),
        "TEXT" => "Text".into(),
        "BOOLEAN" => "Bool".into(),
        "BLOB" => "Binary".into(),
        other => panic!("the drift test does not know the SQLite type {other}"),
    }
}

/// The tables a freshly migrated database has, described like `table!`.
fn shapes_in_database(conn: &mut SqliteConnection) -> BTreeMap<String, TableShape> {
    let tables: Vec<TableName> = diesel::sql_query(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
         AND name != '__diesel_schema_migrations' ORDER BY name",
    )
    .load(conn)
    .expect("table list");
    let mut shapes = BTreeMap::new();
    for t in tables {
        let columns: Vec<ColumnInfo> = diesel::sql_query(format!(
            "SELECT name, type AS decl, \"notnull\", pk FROM pragma_table_xinfo('{}')",
            t.name
        ))
        .load(conn)
        .expect("table info");
        let mut key: Vec<(i32, String)> = columns.iter().filter(|c| c.pk > 0).map(|c| (c.pk, c.name.clone())).collect();
        key.sort();
        let rowid_key = key.len() == 1;
        let shape = TableShape {
            primary_key: key.into_iter().map(|(_, n)| n).collect(),
            columns: columns
                .iter()
                .map(|c| {
                    let ty = diesel_type(&c.decl, rowid_key && c.pk == 1 && c.decl.eq_ignore_ascii_case("INTEGER"));
                    let ty = if c.notnull == 0 { format!("Nullable<{ty}>") } else { ty };
                    (c.name.clone(), ty)
                })
                .collect(),
        };
        shapes.insert(t.name, shape);
    }
    shapes
}

#[test]
fn schema_file_matches_the_migrations() {
    let store = SqliteStore::temporary().expect("store");
    let mut conn = SqliteConnection::establish(store.path().to_str().expect("utf-8 path")).expect("connection");
    let from_db = shapes_in_database(&mut conn);
    let from_file = shapes_in_schema_file();
    assert_eq!(from_db.keys().collect::<Vec<_>>(), from_file.keys().collect::<Vec<_>>(), "tables differ");
    for (name, shape) in &from_db {
        assert_eq!(
            Some(shape),
            from_file.get(name),
            "table {name} differs from src/schema.rs; run `diesel print-schema`"
        );
    }
}

#[test]
fn the_compiled_schema_names_the_same_columns() {
    // The column lists Diesel compiled from src/schema.rs, as it writes them in SQL.
    use lmlang_storage::schema::{lmlang_compute_nodes as compute_nodes, lmlang_flow_edges as flow_edges};
    let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&flow_edges::table.select(flow_edges::all_columns))
        .to_string();
    let expected = "program_id edge_id source_id target_id source_port target_port value_type branch kind";
    for column in expected.split(' ') {
        assert!(sql.contains(&format!("`lmlang_flow_edges`.`{column}`")), "{column} missing from {sql}");
    }
    let sql =
        diesel::debug_query::<diesel::sqlite::Sqlite, _>(&compute_nodes::table.select(compute_nodes::all_columns))
            .to_string();
    assert!(sql.contains("`lmlang_compute_nodes`.`payload`"), "{sql}");
}

#[derive(QueryableByName, Debug, PartialEq)]
struct OpKind {
    #[diesel(sql_type = SmallInt)]
    code: i16,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = SmallInt)]
    tier: i16,
}

#[test]
fn op_codes_agree_with_the_op_kinds_table() {
    let store = SqliteStore::temporary().expect("store");
    let mut conn = SqliteConnection::establish(store.path().to_str().expect("utf-8 path")).expect("connection");
    let rows: Vec<OpKind> = diesel::sql_query("SELECT code, name, tier FROM lmlang_op_kinds ORDER BY code")
        .load(&mut conn)
        .expect("op kinds");
    let expected: Vec<OpKind> = OP_NAMES
        .iter()
        .enumerate()
        .map(|(i, n)| OpKind { code: i as i16, name: n.to_string(), tier: if i < 32 { 1 } else { 2 } })
        .collect();
    assert_eq!(rows, expected);
}

#[test]
fn migrations_are_in_cli_layout_and_reverse_cleanly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for entry in std::fs::read_dir(&dir).expect("migrations dir").flatten() {
        if !entry.file_type().expect("file type").is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().to_string();
        let (version, _) = name.split_once('_').expect("version_name");
        assert!(
            version.len() == 22 && version.chars().all(|c| c.is_ascii_digit() || c == '-'),
            "{name} is not YYYY-MM-DD-HHMMSS-0000_name"
        );
        assert!(entry.path().join("up.sql").is_file() && entry.path().join("down.sql").is_file(), "{name}");
    }

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("m.db");
    let mut conn = SqliteConnection::establish(path.to_str().expect("utf-8 path")).expect("connection");
    let user_objects = |conn: &mut SqliteConnection| -> Vec<String> {
        let rows: Vec<TableName> = diesel::sql_query(
            "SELECT name FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
             AND name NOT LIKE '%diesel_schema_migrations%' ORDER BY name",
        )
        .load(conn)
        .expect("schema objects");
        rows.into_iter().map(|r| r.name).collect()
    };
    lmlang_storage::sqlite::run_migrations(&mut conn).expect("up");
    let created = user_objects(&mut conn);
    assert!(created.len() > 10, "{created:?}");
    conn.revert_all_migrations(MIGRATIONS).expect("down");
    assert_eq!(user_objects(&mut conn), Vec::<String>::new(), "down.sql leaves objects behind");
    lmlang_storage::sqlite::run_migrations(&mut conn).expect("up again");
    assert_eq!(user_objects(&mut conn), created);
    conn.batch_execute("PRAGMA foreign_keys = ON").expect("pragma");
}

#[test]
fn schema_version_is_the_newest_migration() {
    let store = SqliteStore::temporary().expect("store");
    let newest = std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite"))
        .expect("migrations dir")
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().split('_').next().map(|v| v.replace('-', "")))
        .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()))
        .max()
        .expect("a migration");
    assert_eq!(store.schema_version().expect("version").to_string(), newest);
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[test]
fn a_database_from_a_newer_build_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("newer.db");
    {
        let store = SqliteStore::open(&path).expect("store");
        store.create_program("kept").expect("program");
    }
    {
        // What a newer lmlang-storage would have recorded.
        let mut conn = SqliteConnection::establish(path.to_str().expect("utf-8 path")).expect("connection");
        conn.batch_execute(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('999912312359590000'); \
             INSERT INTO lmlang_schema_versions (version) VALUES ('999912312359590000'); \
             PRAGMA wal_checkpoint(TRUNCATE);",
        )
        .expect("fake a newer migration");
    }
    let before = std::fs::read(&path).expect("file");
    match SqliteStore::open(&path) {
        Err(StorageError::SchemaTooNew { found, supported }) => {
            assert_eq!(found, 999912312359590000);
            assert!(supported < found);
        }
        Err(other) => panic!("expected SchemaTooNew, got {other}"),
        Ok(_) => panic!("a newer database was opened"),
    }
    assert_eq!(std::fs::read(&path).expect("file"), before, "the refused file was modified");
    // It is still the newer build's database, programs intact.
    let mut conn = SqliteConnection::establish(path.to_str().expect("utf-8 path")).expect("connection");
    let n: Vec<Count> = diesel::sql_query("SELECT count(*) AS n FROM lmlang_programs").load(&mut conn).expect("count");
    assert_eq!(n[0].n, 1);
}

#[test]
fn an_empty_file_is_migrated_and_a_current_one_opens_as_is() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("fresh.db");
    std::fs::write(&path, b"").expect("empty file");
    let id = {
        let store = SqliteStore::open(&path).expect("migrates an empty file");
        store.create_program("p").expect("program")
    };
    let store = SqliteStore::open(&path).expect("reopens");
    assert_eq!(store.find_program("p").expect("found"), id);
}

#[test]
fn a_file_that_is_not_a_database_is_a_typed_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("garbage.db");
    std::fs::write(&path, vec![0x5au8; 8192]).expect("garbage");
    match SqliteStore::open(&path) {
        Err(StorageError::Corrupt { detail, .. }) => assert!(detail.contains("not a database"), "{detail}"),
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(_) => panic!("garbage opened as a database"),
    }
}
