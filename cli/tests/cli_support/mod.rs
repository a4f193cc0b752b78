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

/// `lmstore ARGS` in `dir` started in the background, its output captured: for tests
/// that run several at once or must not wait on one forever.
#[allow(dead_code)] // not every test file runs commands in the background
pub fn spawn(dir: &Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_lmstore"))
        .args(args)
        .current_dir(dir)
        .env_remove("LMLANG_DB")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
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

/// Export text with its first 64-bit integer constant one higher, as a user edits an
/// export. Edited as text: the export's maps are in an order of their own, which a
/// round trip through `serde_json::Value` would not keep.
#[allow(dead_code)] // not every test file edits exports
pub fn bump_an_integer_constant(text: &str) -> String {
    let key = text.find("\"I64\":").expect("an integer constant") + "\"I64\":".len();
    let at = key + text[key..].find(|c: char| !c.is_whitespace()).expect("a value");
    let end = at + text[at..].find(|c: char| !(c.is_ascii_digit() || c == '-')).expect("its end");
    let bumped = text[at..end].parse::<i64>().expect("a number") + 1;
    format!("{}{bumped}{}", &text[..at], &text[end..])
}

/// The output of `child`, which must end within a minute: otherwise it is killed and
/// the test fails with `what`, so a command that waits for good fails rather than
/// hangs the suite.
#[allow(dead_code)] // not every test file runs commands in the background
pub fn within_a_minute(mut child: std::process::Child, what: &str) -> Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().expect("the child's status").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} still waits after a minute");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().expect("the child's output")
}
