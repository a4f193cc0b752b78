//! `lmstore --db postgres://...` end to end (feature `postgres`): every command but
//! bench and soak against a fresh schema of the test server (`LMLANG_TEST_PG_URL`,
//! made and dropped with `psql`). Skipped with one line without a server, unless
//! `LMLANG_PG_REQUIRED=1`.
#![cfg(feature = "postgres")]

mod cli_support;

use cli_support::{json, lmstore, ok};
use std::process::Command;

fn psql(url: &str, sql: &str) -> bool {
    Command::new("psql").args([url, "-qAtc", sql]).output().is_ok_and(|o| o.status.success())
}

/// A schema of its own on the test server, dropped on drop.
struct Schema {
    url: String,
    name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        psql(&self.url, &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
    }
}

fn schema() -> Option<Schema> {
    let required = std::env::var("LMLANG_PG_REQUIRED").is_ok_and(|v| v == "1");
    let url = std::env::var("LMLANG_TEST_PG_URL").ok();
    let name = format!("lmstore_test_{}", std::process::id());
    match url {
        Some(url) if psql(&url, &format!("CREATE SCHEMA {name}")) => Some(Schema { url, name }),
        other => {
            assert!(!required, "LMLANG_PG_REQUIRED=1 but no PostgreSQL server (or psql) for {other:?}");
            println!("skipped: no PostgreSQL test server");
            None
        }
    }
}

#[test]
fn every_command_works_against_a_server() {
    let Some(schema) = schema() else { return };
    let separator = if schema.url.contains('?') { '&' } else { '?' };
    let db = format!("{}{separator}options=-csearch_path%3D{}", schema.url, schema.name);
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let run = |args: &[&str]| ok(d, &[&["--db", db.as_str()], args].concat());

    assert!(run(&["migrate"]).contains("schema version"));
    assert!(run(&["demo"]).contains("reloaded equal"));
    assert!(!d.join("lmlang.db").exists(), "no SQLite file is made");
    let list = json(d, &["--db", &db, "list", "--json"]);
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    assert!(run(&["show", "sample"]).contains("app::math::abs"));
    run(&["export", "sample", "-o", "sample.json"]);
    run(&["import", "sample.json", "--name", "copy"]);
    assert!(run(&["diff", "sample", "copy"]).contains("no differences"));
    assert!(run(&["hash", "copy"]).contains("ROOT HASH"));
    assert!(run(&["verify"]).contains("ok"));
    run(&["dot", "sample", "--output", "sample.dot"]);
    run(&["vacuum"]);
    run(&["delete", "copy"]);
    let refused = lmstore(d, &["--db", &db, "bench"]);
    assert!(!refused.status.success(), "bench is SQLite's only");
}
