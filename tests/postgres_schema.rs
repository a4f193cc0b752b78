//! The PostgreSQL schema: its tables match the shared Diesel tables (`src/schema.rs`)
//! column for column, the real diesel CLI reproduces `src/schema_postgres.rs` from
//! `migrations/postgres/` (and back after `migration redo --all`), and every query of
//! the store's trait uses an index (`EXPLAIN`). Server tests are skipped without one
//! (see `pg_support`); the CLI test also without a diesel CLI that speaks PostgreSQL,
//! unless `LMLANG_REQUIRE_DIESEL_CLI=1`.
#![cfg(feature = "postgres")]

#[path = "pg_support/mod.rs"]
mod pg_support;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use lmlang_storage::store::GraphStore;
use lmlang_storage::synth::{SynthConfig, generate};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Table name -> its columns (name and SQL type, PostgreSQL's aliases spelled as the
/// SQLite file spells them), from a file `diesel print-schema` wrote.
fn tables(schema: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in schema.lines().map(str::trim) {
        if line.starts_with("///") {
            continue;
        }
        if let Some((head, _)) = line.split_once(" (").filter(|_| line.ends_with('{') && !line.starts_with("diesel")) {
            current = Some(head.to_string());
            out.insert(head.to_string(), Vec::new());
        } else if let (Some(table), Some((column, ty))) = (&current, line.split_once(" -> ")) {
            let ty = ty
                .trim_end_matches(',')
                .replace("Int8", "BigInt")
                .replace("Int4", "Integer")
                .replace("Int2", "SmallInt")
                .replace("Bytea", "Binary");
            out.get_mut(table).expect("table").push((column.to_string(), ty));
        } else if line == "}" {
            current = None;
        }
    }
    out
}

#[test]
fn the_postgres_tables_match_the_shared_ones_column_for_column() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sqlite = tables(&std::fs::read_to_string(root.join("src/schema.rs")).expect("src/schema.rs"));
    let postgres =
        tables(&std::fs::read_to_string(root.join("src/schema_postgres.rs")).expect("src/schema_postgres.rs"));
    assert_eq!(sqlite.len(), 13, "the parser found every table");
    assert_eq!(sqlite, postgres);
}

fn diesel_speaks_postgres() -> bool {
    let found = Command::new("diesel")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("postgres"));
    assert!(
        found || std::env::var_os("LMLANG_REQUIRE_DIESEL_CLI").is_none(),
        "LMLANG_REQUIRE_DIESEL_CLI is set but no diesel CLI with PostgreSQL support is on the PATH"
    );
    found
}

fn diesel(scratch: &Path, url: &str, args: &[&str]) -> String {
    let out = Command::new("diesel")
        .args(args)
        .args(["--database-url", url, "--config-file"])
        .arg(scratch.join("diesel.toml"))
        .current_dir(scratch)
        .output()
        .expect("diesel runs");
    assert!(
        out.status.success(),
        "diesel {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    #[diesel(column_name = "QUERY PLAN")]
    line: String,
}

#[test]
fn the_diesel_cli_reproduces_src_schema_postgres_rs() {
    let Some((url, mut admin)) = pg_support::server() else { return };
    if !diesel_speaks_postgres() {
        println!("skipped: no diesel CLI with PostgreSQL support");
        return;
    }
    // A database of its own: print-schema reads the `public` schema.
    let db = format!("lmlang_drift_{}", std::process::id());
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db}")).expect("drop a leftover database");
    admin.batch_execute(&format!("CREATE DATABASE {db}")).expect("create database");
    let db_url = match url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{db}"),
        None => panic!("LMLANG_TEST_PG_URL has no database part: {url}"),
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = tempfile::tempdir().expect("temp dir");
    let generated = scratch.path().join("schema_postgres.rs");
    let config = std::fs::read_to_string(root.join("diesel_postgres.toml"))
        .expect("diesel_postgres.toml")
        .replace("file = \"src/schema_postgres.rs\"", &format!("file = {:?}", generated.to_str().expect("UTF-8")))
        .replace(
            "dir = \"migrations/postgres\"",
            &format!("dir = {:?}", root.join("migrations/postgres").to_str().expect("UTF-8")),
        );
    std::fs::write(scratch.path().join("diesel.toml"), config).expect("config");
    let committed = std::fs::read_to_string(root.join("src/schema_postgres.rs")).expect("src/schema_postgres.rs");

    diesel(scratch.path(), &db_url, &["migration", "run"]);
    let after_run = std::fs::read_to_string(&generated).expect("migration run writes the schema file");
    let printed = diesel(scratch.path(), &db_url, &["print-schema"]);
    diesel(scratch.path(), &db_url, &["migration", "redo", "--all"]);
    let after_redo = diesel(scratch.path(), &db_url, &["print-schema"]);
    admin.batch_execute(&format!("DROP DATABASE {db}")).expect("drop database");
    assert!(
        after_run == committed,
        "`diesel migration run` generates a schema that differs from src/schema_postgres.rs"
    );
    assert!(printed == committed, "print-schema differs from src/schema_postgres.rs");
    assert!(after_redo == committed, "after redo --all the schema differs");
}

#[test]
fn every_trait_query_uses_its_index() {
    let Some(schema) = pg_support::TestSchema::new() else { return };
    let store = schema.store();
    let g = generate(&SynthConfig { nodes: 20_000, seed: 7, gaps: false });
    let p = store.insert_program("plans", &g).expect("insert");
    let other = store.insert_program("other", &generate(&SynthConfig { nodes: 5_000, seed: 8, gaps: false }));
    other.expect("a second program");
    let mut conn = schema.connection();
    conn.batch_execute("ANALYZE").expect("analyze");
    let p = p.0;
    // (query as the store runs it, the index it must use)
    let cases = [
        (
            format!("SELECT * FROM lmlang_compute_nodes WHERE program_id = {p} AND node_id = 5"),
            "lmlang_compute_nodes_pkey",
        ),
        (
            format!("SELECT * FROM lmlang_compute_nodes WHERE program_id = {p} AND owner_id = 3 ORDER BY node_id"),
            "lmlang_compute_nodes_by_owner",
        ),
        (
            format!(
                "SELECT node_id FROM lmlang_compute_nodes WHERE program_id = {p} AND type_ref = 12 ORDER BY node_id"
            ),
            "lmlang_compute_nodes_by_type",
        ),
        (format!("SELECT * FROM lmlang_flow_edges WHERE program_id = {p} AND edge_id = 5"), "lmlang_flow_edges_pkey"),
        (
            format!("SELECT * FROM lmlang_flow_edges WHERE program_id = {p} AND source_id = 7 ORDER BY edge_id"),
            "lmlang_flow_edges_by_source",
        ),
        (
            format!("SELECT * FROM lmlang_flow_edges WHERE program_id = {p} AND target_id = 7 ORDER BY edge_id"),
            "lmlang_flow_edges_by_target",
        ),
        (
            format!("SELECT * FROM lmlang_flow_edges WHERE program_id = {p} AND value_type = 12 ORDER BY edge_id"),
            "lmlang_flow_edges_by_type",
        ),
        (
            format!("SELECT * FROM lmlang_functions WHERE program_id = {p} AND module_id = 0 ORDER BY function_id"),
            "lmlang_functions_by_module",
        ),
    ];
    for (query, index) in cases {
        let plan: Vec<Line> = diesel::sql_query(format!("EXPLAIN {query}")).load(&mut conn).expect("explain");
        let plan: Vec<String> = plan.into_iter().map(|l| l.line).collect();
        assert!(plan.iter().any(|l| l.contains(index)), "{query} does not use {index}:\n{}", plan.join("\n"));
    }
}
