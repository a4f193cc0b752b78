//! Progress of the long commands: a bar on a terminal, and nothing extra when the
//! output is piped (what scripts and these tests capture).

mod cli_support;

use cli_support::{lmstore, ok};
use std::path::Path;
use std::process::Command;

/// Whether `text` holds anything a progress bar draws: carriage returns, escape
/// sequences, spinner glyphs (Braille), or a step counter.
fn has_bar(text: &str) -> bool {
    text.contains('\r')
        || text.contains('\u{1b}')
        || text.chars().any(|c| ('\u{2800}'..='\u{28ff}').contains(&c))
        || text.contains("[1/")
}

fn piped(dir: &Path, args: &[&str]) -> (String, String) {
    let out = lmstore(dir, args);
    assert!(out.status.success(), "lmstore {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn piped_output_carries_no_progress_bar() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let commands: [&[&str]; 7] = [
        &["demo"],
        &["generate", "--nodes", "20000", "--name", "big"],
        &["export", "big", "-o", "big.json"],
        &["import", "big.json", "--name", "copy"],
        &["verify"],
        &["delete", "copy"],
        &["vacuum"],
    ];
    for args in commands {
        let (stdout, stderr) = piped(d, args);
        assert!(!has_bar(&stdout) && !has_bar(&stderr), "lmstore {args:?} drew a bar:\n{stdout}\n{stderr}");
    }
    // An export to standard output is the document and nothing else.
    let (stdout, stderr) = piped(d, &["export", "big"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("the whole output is the JSON document");
    assert_eq!(doc["name"], "big");
    assert!(stderr.is_empty(), "{stderr}");
}

/// Runs `lmstore ARGS` on a pseudo-terminal through util-linux `script`; `None` when
/// `script` is not there to do it.
fn on_terminal(dir: &Path, args: &str) -> Option<String> {
    let works = Command::new("script").args(["-q", "-e", "-c", "true", "/dev/null"]).output();
    if !works.is_ok_and(|o| o.status.success()) {
        return None;
    }
    let command = format!("'{}' --db '{}' {args}", env!("CARGO_BIN_EXE_lmstore"), dir.join("tty.db").display());
    let out = Command::new("script").args(["-q", "-e", "-c", &command, "/dev/null"]).current_dir(dir).output().ok()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_terminal_sees_the_steps() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(generate) = on_terminal(d, "generate --nodes 50000 --name big") else {
        eprintln!("no util-linux `script`: the terminal case is not checked here");
        return;
    };
    assert!(generate.contains("[1/2] generating 50000 nodes"), "{generate:?}");
    assert!(generate.contains("[2/2] storing 50000 nodes"), "{generate:?}");
    assert!(generate.contains("stored \"big\""), "{generate:?}");
    let verify = on_terminal(d, "verify").unwrap_or_default();
    assert!(verify.contains("integrity_check") && verify.contains("checking big"), "{verify:?}");
    assert!(verify.contains("3/3"), "two database checks and one program: {verify:?}");
    // The same command piped shows none of it.
    let (stdout, stderr) = piped(d, &["--db", "tty.db", "verify"]);
    assert!(!has_bar(&stdout) && !has_bar(&stderr));
    assert!(ok(d, &["--db", "tty.db", "list"]).contains("big"));
}

/// A step that names a stored program draws its name escaped on the terminal: a bell
/// or a bidirectional override in a name (a database written by other means) is
/// shown, not acted on.
#[test]
fn steps_draw_stored_names_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(_) = on_terminal(d, "generate --nodes 2000 --name big") else {
        eprintln!("no util-linux `script`: the terminal case is not checked here");
        return;
    };
    let conn = rusqlite::Connection::open(d.join("tty.db")).unwrap();
    conn.execute("UPDATE lmlang_program_names SET name = 'big' || char(7) || char(8238) || 'x'", []).unwrap();
    drop(conn);
    let verify = on_terminal(d, "verify").unwrap_or_default();
    assert!(verify.contains("checking big\\u{7}\\u{202e}x"), "{verify:?}");
    assert!(!verify.contains(['\u{7}', '\u{202e}']), "{verify:?}");
}
