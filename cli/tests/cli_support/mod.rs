//! Running the built `lmstore` binary as a child process in a temporary directory, as
//! a user would, for the CLI test files.

use std::path::Path;
use std::process::{Command, Output};

/// `lmstore ARGS` in `dir`, with `LMLANG_DB` unset so the default file is used.
pub fn lmstore(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lmstore"))
        .args(args)
        .current_dir(dir)
        .env_remove("LMLANG_DB")
        .output()
        .expect("the binary runs")
}

/// Standard output of a command that must succeed.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = lmstore(dir, args);
    assert!(out.status.success(), "lmstore {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Standard output of a command that must succeed, parsed as JSON.
#[allow(dead_code)] // not every test file reads JSON
pub fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ok(dir, args)).expect("valid JSON output")
}
