//! `lmstore` in scripts and pipelines: pipes and `-` as files, environment variables a
//! script sets empty, logs and JSON a script reads, an empty database file.

mod cli_support;

use cli_support::{bump_an_integer_constant, json, lmstore, ok};
use std::io::Write as _;
use std::process::{Command, Output, Stdio};

/// `lmstore ARGS` in `dir` with `input` on standard input and `env` set.
fn piped(dir: &std::path::Path, args: &[&str], input: &[u8], env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lmstore"))
        .args(args)
        .current_dir(dir)
        .env_remove("LMLANG_DB")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    // Written beside the child, which may answer before reading it all.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("the binary ends");
    writer.join().expect("writer");
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `diff` and `dot` read an export from a pipe (`<(lmstore export ...)`, `/dev/stdin`)
/// as `import` does, with or without a database; `-` is standard input for `import`
/// and standard output for `-o`.
#[test]
fn pipes_and_dash_stand_for_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    let exported = ok(d, &["export", "sample"]);
    assert_eq!(ok(d, &["export", "sample", "-o", "-"]), exported, "`-o -` is standard output");
    assert!(!d.join("-").exists(), "no file named -");
    std::fs::write(d.join("s.json"), &exported).unwrap();

    let diff = piped(d, &["diff", "/dev/stdin", "s.json", "--json"], exported.as_bytes(), &[]);
    assert!(diff.status.success(), "{}", stderr(&diff));
    let summary: serde_json::Value = serde_json::from_slice(&diff.stdout).unwrap();
    assert_eq!(summary["changed"], serde_json::json!([]), "{summary}");
    let dot = piped(d, &["dot", "/dev/stdin"], exported.as_bytes(), &[]);
    assert!(dot.status.success() && String::from_utf8_lossy(&dot.stdout).starts_with("digraph"), "{}", stderr(&dot));

    // Without a database, two exports, one of them piped, need none and make none.
    let empty = tempfile::tempdir().unwrap();
    let s = d.join("s.json");
    let diff = piped(empty.path(), &["diff", "/dev/stdin", s.to_str().unwrap()], exported.as_bytes(), &[]);
    assert!(diff.status.success(), "{}", stderr(&diff));
    assert!(!empty.path().join("lmlang.db").exists(), "no database was created");

    let import = piped(d, &["import", "-", "--name", "from-stdin"], exported.as_bytes(), &[]);
    assert!(import.status.success(), "{}", stderr(&import));
    let hash = |name: &str| json(d, &["hash", name, "--json"])["program"].clone();
    assert_eq!(hash("from-stdin"), hash("sample"));
}

/// A script's `LMLANG_DB=$UNSET` is refused by the variable's name (not as an empty
/// `--db` the user never typed, nor taken as the default file, which would send the
/// command elsewhere); a bad `LMLANG_BUSY_TIMEOUT` is named in the message.
#[test]
fn empty_or_bad_environment_variables_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    let before = ok(d, &["list", "--json"]);
    for (name, value) in [("LMLANG_DB", ""), ("LMLANG_BUSY_TIMEOUT", ""), ("LMLANG_BUSY_TIMEOUT", "abc")] {
        let out = piped(d, &["generate", "--nodes", "10", "--name", "x"], b"", &[(name, value)]);
        assert_eq!(out.status.code(), Some(2), "{name}={value:?}");
        assert!(stderr(&out).contains(name), "{name}={value:?}: {}", stderr(&out));
    }
    assert_eq!(ok(d, &["list", "--json"]), before, "nothing was written");
    // The option given on the command line wins over the empty variable.
    let out = piped(d, &["--db", "lmlang.db", "list", "--json"], b"", &[("LMLANG_DB", "")]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Logs written to a pipe or file carry no colour codes, whatever the terminal type.
#[test]
fn logs_to_a_pipe_have_no_escape_codes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    let out = piped(d, &["-v", "list"], b"", &[("TERM", "xterm-256color")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = stderr(&out);
    assert!(log.contains("lmlang_open"), "the log is there: {log}");
    assert!(!log.contains('\u{1b}'), "no escape codes: {log:?}");
}

/// An empty file is an empty database: `list` shows no programs and succeeds, and
/// hints about a database name the one in use.
#[test]
fn an_empty_file_lists_no_programs_and_hints_name_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("empty.db"), b"").unwrap();
    assert_eq!(json(d, &["--db", "empty.db", "list", "--json"]), serde_json::json!([]));
    let text = ok(d, &["--db", "empty.db", "list"]);
    assert!(text.contains("lmstore --db empty.db demo"), "{text}");
    assert_eq!(std::fs::metadata(d.join("empty.db")).unwrap().len(), 0, "nothing was written into it");
    let out = lmstore(d, &["--db", "missing.db", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("lmstore --db missing.db demo"), "{}", stderr(&out));
}

/// A file of a later export format is named as such, not as a field it lacks.
#[test]
fn an_export_of_another_format_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("later.json"), r#"{"export_format_version": 2}"#).unwrap();
    let out = lmstore(d, &["import", "later.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("has export format 2, this lmstore reads 1"), "{}", stderr(&out));
}

/// `verify --json` has the same keys whatever it finds, and a program that does not
/// load has a `null` root, as in `list --json`.
#[test]
fn verify_json_keeps_its_keys_and_a_program_that_does_not_load_has_no_root() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    let clean = json(d, &["verify", "--json"]);
    assert_eq!(clean["listing"], serde_json::json!([]), "{clean}");
    assert!(clean["programs"][0]["root_hash"].as_str().is_some_and(|h| h.len() == 64), "{clean}");
    let db = rusqlite::Connection::open(d.join("lmlang.db")).unwrap();
    let changed = db
        .execute("UPDATE lmlang_compute_nodes SET payload = '{\"bogus\":1}' WHERE program_id = 1 AND node_id = 1", [])
        .unwrap();
    assert_eq!(changed, 1);
    drop(db);
    let out = lmstore(d, &["verify", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let damaged = report["programs"].as_array().unwrap().iter().find(|p| p["name"] == "sample").unwrap();
    assert!(damaged["root_hash"].is_null(), "{report}");
    assert_eq!(report["listing"], serde_json::json!([]), "{report}");
}

/// An edited export whose next function, module or type id was mistyped far past the
/// program's (ids are never given back, so it would use them up for good) is refused,
/// by `save` and by `import`, and nothing is written.
#[test]
fn an_export_whose_next_ids_run_implausibly_far_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    let log_before = ok(d, &["log", "sample", "--json"]);
    let exported: serde_json::Value = serde_json::from_str(&ok(d, &["export", "sample"])).unwrap();
    for field in ["function", "module", "type"] {
        let mut edited = exported.clone();
        edited["program"]["next_ids"][field] = serde_json::json!(4_294_967_295u32);
        std::fs::write(d.join("edited.json"), edited.to_string()).unwrap();
        for args in [vec!["save", "sample", "edited.json"], vec!["import", "edited.json", "--name", "copy"]] {
            let out = lmstore(d, &args);
            assert_eq!(out.status.code(), Some(1), "{field} {args:?}");
            let expected = format!("next_ids.{field} 4294967295 is implausibly far");
            assert!(stderr(&out).contains(&expected), "{field} {args:?}: {}", stderr(&out));
        }
    }
    assert_eq!(ok(d, &["log", "sample", "--json"]), log_before, "nothing was written");
    assert!(!ok(d, &["list"]).contains("copy"));
}

/// An export of one program saved over another is refused as what it is, not as the
/// other program having changed since an export it never had.
#[test]
fn saving_another_programs_export_says_whose_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    ok(d, &["export", "sample", "-o", "s.json"]);
    ok(d, &["import", "s.json", "--name", "other"]);
    let edited = bump_an_integer_constant(&std::fs::read_to_string(d.join("s.json")).unwrap());
    std::fs::write(d.join("edited.json"), edited).unwrap();
    ok(d, &["save", "sample", "edited.json"]);
    ok(d, &["export", "sample", "-o", "s2.json"]);
    let out = lmstore(d, &["save", "other", "s2.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(r#"s2.json was exported from "sample", not "other""#), "{}", stderr(&out));
}

/// A field lmstore does not read is refused by its path, not dropped: a misspelt
/// `name` in a type entry used to import the type as anonymous without a word, and a
/// misspelt `revision` to save without the check that the program had not moved on.
#[test]
fn an_export_with_a_field_lmstore_does_not_read_is_refused_by_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    let log_before = ok(d, &["log", "sample", "--json"]);
    let exported: serde_json::Value = serde_json::from_str(&ok(d, &["export", "sample"])).unwrap();
    let named = exported["program"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .position(|t| t.get("name").is_some())
        .expect("the sample has a named type");
    let mut edited = exported.clone();
    let name = edited["program"]["types"][named].as_object_mut().unwrap().remove("name").unwrap();
    edited["program"]["types"][named]["nmae"] = name;
    let revision = edited.as_object_mut().unwrap().remove("revision").unwrap();
    edited["revison"] = revision;
    std::fs::write(d.join("edited.json"), edited.to_string()).unwrap();
    for args in [vec!["save", "sample", "edited.json"], vec!["import", "edited.json", "--name", "copy"]] {
        let out = lmstore(d, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains("fields lmstore does not read"), "{args:?}: {err}");
        assert!(err.contains("`revison`") && err.contains(&format!("`program.types.{named}.nmae`")), "{err}");
    }
    assert_eq!(ok(d, &["log", "sample", "--json"]), log_before, "nothing was written");
    assert!(!ok(d, &["list"]).contains("copy"));
    // The export as written reads.
    std::fs::write(d.join("s.json"), exported.to_string()).unwrap();
    ok(d, &["import", "s.json", "--name", "copy"]);
}

/// Exit status 75 (retry later) comes from the error itself, never from its text: a
/// name or path that quotes the library's sentence for a locked database is a plain
/// failure, and is shown as typed.
#[test]
fn a_name_that_quotes_the_locked_message_is_no_lock() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    let sentence = lmlang_storage::store::StorageError::Busy.to_string();
    for args in [vec!["export", sentence.as_str()], vec!["import", sentence.as_str()]] {
        let out = lmstore(d, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(&sentence) && !stderr(&out).contains("nothing was written"), "{}", stderr(&out));
    }
}
