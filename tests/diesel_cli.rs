//! The real diesel CLI on this crate's migrations, as a service's developer runs it:
//! `diesel migration run` builds the schema, `print-schema` with the repository's
//! `diesel.toml` settings reproduces `src/schema.rs` byte for byte, and
//! `migration redo --all` (every `down.sql`, then every `up.sql`) gets back to the
//! same schema.
//!
//! Skipped with one line when `diesel` is not on the PATH; CI sets
//! `LMLANG_REQUIRE_DIESEL_CLI=1`, which turns the skip into a failure.

use std::path::Path;
use std::process::Command;

fn diesel_available() -> bool {
    let found = Command::new("diesel").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found && std::env::var_os("LMLANG_REQUIRE_DIESEL_CLI").is_some() {
        panic!("LMLANG_REQUIRE_DIESEL_CLI is set but the diesel CLI is not on the PATH");
    }
    found
}

/// Runs the CLI from a scratch directory whose `diesel.toml` is the repository's with
/// the schema written to a scratch file, so the test never touches `src/schema.rs`.
fn diesel(scratch: &Path, db: &Path, args: &[&str]) -> String {
    let out = Command::new("diesel")
        .args(args)
        .arg("--database-url")
        .arg(db)
        .arg("--config-file")
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

#[test]
fn the_diesel_cli_reproduces_src_schema_rs() {
    if !diesel_available() {
        println!(
            "skipped: the diesel CLI is not installed (cargo install diesel_cli --no-default-features --features sqlite-bundled)"
        );
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = tempfile::tempdir().expect("temp dir");
    let config = std::fs::read_to_string(root.join("diesel.toml")).expect("diesel.toml");
    let generated = scratch.path().join("schema.rs");
    let config = config
        .replace("file = \"src/schema.rs\"", &format!("file = {:?}", generated.to_str().expect("UTF-8")))
        .replace(
            "dir = \"migrations/sqlite\"",
            &format!("dir = {:?}", root.join("migrations/sqlite").to_str().expect("UTF-8")),
        );
    std::fs::write(scratch.path().join("diesel.toml"), config).expect("config");
    let db = scratch.path().join("cli.db");
    let committed = std::fs::read_to_string(root.join("src/schema.rs")).expect("src/schema.rs");

    diesel(scratch.path(), &db, &["migration", "run"]);
    let after_run = std::fs::read_to_string(&generated).expect("migration run writes the schema file");
    assert!(after_run == committed, "`diesel migration run` generates a schema.rs that differs from src/schema.rs");
    assert!(diesel(scratch.path(), &db, &["print-schema"]) == committed, "print-schema differs from src/schema.rs");

    diesel(scratch.path(), &db, &["migration", "redo", "--all"]);
    assert!(diesel(scratch.path(), &db, &["print-schema"]) == committed, "after redo --all the schema differs");
}
