//! `lmstore` on files a user cannot or must not write, and on hostile exports: reading
//! commands work on a read-only database, writes are refused with a clear error, and
//! an export with ids at the top of the id space is refused in bounded memory.

mod cli_support;
#[path = "../../tests/reliability_support/mod.rs"]
mod reliability_support;

use cli_support::{json, lmstore, ok};
use std::path::Path;
use std::process::Command;

/// Makes a path immutable (even root cannot write it) for the life of the guard.
struct Immutable<'a>(Vec<&'a Path>);

impl<'a> Immutable<'a> {
    fn new(paths: Vec<&'a Path>) -> Option<Self> {
        for p in &paths {
            let done = Command::new("chattr").arg("+i").arg(p).status().is_ok_and(|s| s.success());
            if !done {
                return None;
            }
        }
        Some(Immutable(paths))
    }
}

impl Drop for Immutable<'_> {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = Command::new("chattr").arg("-i").arg(p).status();
        }
    }
}

/// Whether `lmstore` can be run as another user here (root, with setpriv); prints the
/// skip line when not.
fn can_run_as_another_user() -> bool {
    let is_root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let setpriv = Command::new("setpriv").arg("--version").output().is_ok_and(|o| o.status.success());
    if !is_root || !setpriv {
        println!("skipped: needs root and setpriv to run lmstore as another user");
    }
    is_root && setpriv
}

/// `lmstore --db DB ARGS` run as the user `nobody`.
fn as_nobody(db: &Path, args: &[&str]) -> std::process::Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_lmstore"), "--db"])
        .arg(db)
        .args(args)
        .env_remove("LMLANG_DB")
        .output()
        .expect("setpriv runs")
}

/// The demo's database made in `DIR/mine`, and a copy of the file alone (as a user
/// finds one: no WAL index beside it) in `DIR/NAME`; both directories returned.
fn demo_copied(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let mine = dir.join("mine");
    std::fs::create_dir(&mine).expect("dir");
    ok(&mine, &["demo"]);
    let work = dir.join(name);
    std::fs::create_dir(&work).expect("dir");
    std::fs::copy(mine.join("lmlang.db"), work.join("lmlang.db")).expect("copy");
    (mine, work)
}

#[test]
fn reading_commands_work_for_a_user_who_cannot_write_the_directory() {
    // Another user's directory: SQLite cannot create the WAL index there and answers
    // "read-only" (not "cannot open", as on an immutable directory), which reads took
    // for a file that needs migrating and then failed on.
    if !can_run_as_another_user() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (mine, work) = demo_copied(dir.path(), "theirs");
    let list_before = ok(&mine, &["list"]);
    use std::os::unix::fs::PermissionsExt;
    for (path, mode) in [(dir.path(), 0o755), (work.as_path(), 0o755), (work.join("lmlang.db").as_path(), 0o644)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let db = work.join("lmlang.db");
    let as_nobody = |args: &[&str]| as_nobody(&db, args);
    let list = as_nobody(&["list"]);
    assert!(list.status.success(), "list: {}", String::from_utf8_lossy(&list.stderr));
    assert_eq!(String::from_utf8_lossy(&list.stdout), list_before);
    for args in [vec!["show", "sample"], vec!["export", "sample"], vec!["verify"]] {
        let out = as_nobody(&args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let tag = as_nobody(&["tag", "sample", "mine"]);
    assert!(!tag.status.success());
    assert!(String::from_utf8_lossy(&tag.stderr).contains("read-only"), "{}", String::from_utf8_lossy(&tag.stderr));
}

/// An output path that is a symbolic link another user planted (in a shared directory
/// such as /tmp) is refused, not followed onto whatever it points at; a new output
/// file follows the umask, and one that replaces another user's file does not take
/// its mode bits (setuid, world-writable).
#[test]
fn outputs_refuse_other_users_links_and_take_no_foreign_mode_bits() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    let victim = d.join("victim.txt");
    std::fs::write(&victim, "secret").unwrap();
    let link = d.join("out.json");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    if std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).is_err() {
        println!("skipped: needs root to give a link to another user");
        return;
    }
    for args in [vec!["export", "sample", "-o", "out.json"], vec!["dot", "sample", "-o", "out.json"]] {
        let out = lmstore(d, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("symbolic link another user owns"), "{args:?}: {err}");
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "secret");
    // A link of the user's own is followed, even to a file still to be made.
    std::os::unix::fs::symlink(d.join("made.json"), d.join("mine.json")).unwrap();
    ok(d, &["export", "sample", "-o", "mine.json"]);
    assert!(std::fs::read_to_string(d.join("made.json")).unwrap().contains("export_format_version"));

    let private = Command::new("sh")
        .args(["-c", &format!("umask 077 && exec {} export sample -o private.json", env!("CARGO_BIN_EXE_lmstore"))])
        .current_dir(d)
        .env_remove("LMLANG_DB")
        .status()
        .unwrap();
    assert!(private.success());
    assert_eq!(std::fs::metadata(d.join("private.json")).unwrap().permissions().mode() & 0o777, 0o600);

    let foreign = d.join("foreign.dot");
    std::fs::write(&foreign, "theirs").unwrap();
    std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o6777)).unwrap();
    ok(d, &["dot", "sample", "-o", "foreign.dot"]);
    let replaced = std::fs::metadata(&foreign).unwrap();
    assert_eq!(replaced.uid(), 0, "a new file of this user's");
    assert_eq!(replaced.permissions().mode() & 0o7002, 0, "no setuid, setgid or world write: {:o}", replaced.mode());
}

/// A database another user may not read is refused with the system's reason, not
/// SQLite's bare "unable to open database file", for reading and writing commands.
#[test]
fn a_database_the_user_may_not_read_is_refused_with_the_reason() {
    if !can_run_as_another_user() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, work) = demo_copied(dir.path(), "private");
    use std::os::unix::fs::PermissionsExt;
    for (path, mode) in [(dir.path(), 0o755), (work.as_path(), 0o755), (work.join("lmlang.db").as_path(), 0o600)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    for args in [vec!["list"], vec!["tag", "sample", "t"]] {
        let out = as_nobody(&work.join("lmlang.db"), &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("Permission denied"), "{args:?}: {err}");
    }
}

/// A user who can only read a file in a directory they can write leaves `-wal` and
/// `-shm` files with the file's read-only mode. Once the file is writable, a write
/// fails on them: it names the file beside the database, not "the database is
/// read-only", which sent the user to a file they could write.
#[test]
fn a_write_blocked_by_a_read_only_file_beside_the_database_names_that_file() {
    if !can_run_as_another_user() {
        return;
    }
    use std::os::unix::fs::{PermissionsExt, chown};
    let dir = tempfile::tempdir().expect("temp dir");
    let (mine, work) = demo_copied(dir.path(), "shared");
    let export = dir.path().join("sample.json");
    ok(&mine, &["export", "sample", "-o", export.to_str().expect("UTF-8")]);
    let db = work.join("lmlang.db");
    chown(&db, Some(65534), None).expect("chown");
    for (path, mode) in [(dir.path(), 0o755), (work.as_path(), 0o777), (db.as_path(), 0o444), (export.as_path(), 0o644)]
    {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let as_nobody = |args: &[&str]| as_nobody(&db, args);
    let list = as_nobody(&["list"]);
    assert!(list.status.success(), "list: {}", String::from_utf8_lossy(&list.stderr));
    let shm = work.join("lmlang.db-shm");
    if !shm.exists() {
        println!("skipped: this SQLite left no -shm file behind a read-only open");
        return;
    }
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let import = ["import", export.to_str().expect("UTF-8"), "--name", "again"];
    // Maintenance writes too (`vacuum` runs outside the store's write transactions).
    for args in [&import[..], &["vacuum"]] {
        let out = as_nobody(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("lmlang.db-shm") && err.contains("is not"), "{args:?}: {err}");
    }
    // Done as the message says, the write goes through.
    std::fs::remove_file(&shm).expect("remove");
    let import = as_nobody(&import);
    assert!(import.status.success(), "{}", String::from_utf8_lossy(&import.stderr));
}

#[test]
fn reading_commands_work_on_a_read_only_database_and_writes_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let work = dir.path().join("ro");
    std::fs::create_dir(&work).expect("dir");
    ok(&work, &["demo"]);
    let export = dir.path().join("sample.json");
    ok(&work, &["export", "sample", "-o", export.to_str().expect("UTF-8")]);
    let list_before = ok(&work, &["list"]);
    // The file and its directory (no WAL or shared-memory file can be made there), as
    // on a read-only mount. chattr needs root and an ext4-like file system.
    let db = work.join("lmlang.db");
    let Some(_guard) = Immutable::new(vec![db.as_path(), work.as_path()]) else {
        println!("skipped: chattr +i is not available here");
        return;
    };
    assert_eq!(ok(&work, &["list"]), list_before);
    for args in [
        vec!["show", "sample"],
        vec!["show", "sample", "--function", "main"],
        vec!["export", "sample"],
        vec!["hash", "sample"],
        vec!["diff", "sample", "sample"],
        vec!["verify"],
        vec!["dot", "sample", "--function", "main"],
    ] {
        let out = lmstore(&work, &args);
        assert!(out.status.success(), "{args:?} on a read-only file: {}", String::from_utf8_lossy(&out.stderr));
    }
    for args in [
        vec!["delete", "sample"],
        vec!["import", export.to_str().expect("UTF-8"), "--name", "again"],
        vec!["generate", "--nodes", "100", "--name", "more"],
    ] {
        let out = lmstore(&work, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?} must fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(err.contains("read-only") || err.contains("readonly"), "{args:?}: {err}");
    }
    drop(_guard);
    assert_eq!(ok(&work, &["list"]), list_before, "nothing was changed");
}

#[test]
fn a_read_only_store_of_an_older_schema_says_it_needs_migrating() {
    // It was reported as "the database is read-only; open a writable copy to change
    // it", for a command that only reads.
    let dir = tempfile::tempdir().expect("temp dir");
    let work = dir.path().join("old");
    std::fs::create_dir(&work).expect("dir");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/schema/v202612031400000000.db");
    let db = work.join("lmlang.db");
    std::fs::copy(fixture, &db).expect("copy");
    let Some(_guard) = Immutable::new(vec![db.as_path(), work.as_path()]) else {
        println!("skipped: chattr +i is not available here");
        return;
    };
    let out = lmstore(&work, &["list"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot be read without writing") && err.contains("migrate"), "{err}");
}

/// A writable file whose upgrade the migration refuses (a service's view reads the
/// column the upgrade moves) is no read-only file: the reading and the writing commands
/// say the upgrade was refused, naming the view, and leave the file at its schema.
#[test]
fn a_refused_upgrade_is_named_as_such_not_as_an_unwritable_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/schema/v202612031400000000.db");
    let db = d.join("lmlang.db");
    std::fs::copy(fixture, &db).expect("copy");
    let conn = rusqlite::Connection::open(&db).expect("connection");
    conn.execute_batch("CREATE VIEW svc_program_names AS SELECT id, name FROM lmlang_programs").expect("view");
    let versions = |conn: &rusqlite::Connection| -> i64 {
        conn.query_row("SELECT count(*) FROM lmlang_schema_versions", [], |r| r.get(0)).expect("versions")
    };
    let before = versions(&conn);
    for command in ["list", "migrate"] {
        let out = lmstore(d, &[command]);
        assert_eq!(out.status.code(), Some(1), "{command}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("svc_program_names") && err.contains("was refused"), "{command}: {err}");
        assert!(!err.contains("cannot be written here"), "{command}: {err}");
        assert_eq!(versions(&conn), before, "{command} left the schema as it was");
    }
    conn.execute_batch("DROP VIEW svc_program_names").expect("drop the view");
    assert!(lmstore(d, &["list"]).status.success());
}

#[test]
fn an_export_with_next_ids_at_the_top_is_refused_in_bounded_memory() {
    let dir = tempfile::tempdir().expect("temp dir");
    ok(dir.path(), &["demo"]);
    let text = ok(dir.path(), &["export", "sample"]);
    for field in ["node", "edge"] {
        let mut file: serde_json::Value = serde_json::from_str(&text).expect("export JSON");
        file["program"]["next_ids"][field] = serde_json::json!(4294967295u32);
        let path = dir.path().join(format!("hostile-{field}.json"));
        std::fs::write(&path, serde_json::to_string(&file).expect("JSON")).expect("write");
        // 2 GB of address space: building a list of every id below 2^32 would need
        // 16 GB and abort the process.
        let out = Command::new("sh")
            .arg("-c")
            .arg("ulimit -v 2000000 && exec \"$0\" import \"$1\" --name hostile")
            .arg(env!("CARGO_BIN_EXE_lmstore"))
            .arg(&path)
            .current_dir(dir.path())
            .env_remove("LMLANG_DB")
            .output()
            .expect("lmstore runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{field}: a typed refusal, not an abort: {err}");
        assert!(err.contains("implausibly"), "{field}: {err}");
        assert!(err.contains("nothing was written"), "{field}: {err}");
    }
    let listed = ok(dir.path(), &["list", "--json"]);
    assert!(!listed.contains("hostile"), "nothing was stored: {listed}");
}

/// A small export that claims 2^24 node and edge ids and lists none of them: its holes
/// are compared from its own lists, so it is refused at once in memory its size asks
/// for (sets of every id below the next ones took 590 MB and over 10 s).
#[test]
fn a_sparse_export_is_refused_without_listing_its_id_space() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    ok(d, &["demo"]);
    let mut file: serde_json::Value = serde_json::from_str(&ok(d, &["export", "sample"])).expect("export JSON");
    let program = &mut file["program"];
    program["nodes"] = serde_json::json!([]);
    program["edges"] = serde_json::json!([]);
    for function in program["functions"].as_array_mut().expect("functions") {
        function["entry_node"] = serde_json::Value::Null;
    }
    program["next_ids"]["node"] = serde_json::json!(1u32 << 24);
    program["next_ids"]["edge"] = serde_json::json!(1u32 << 24);
    std::fs::write(d.join("sparse.json"), serde_json::to_string(&file).expect("JSON")).expect("write");
    let before = ok(d, &["list", "--json"]);
    // SPARSE_LIMIT_KB of address space: the sets of every id took more.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {SPARSE_LIMIT_KB} && exec \"$0\" import sparse.json --name sparse"))
        .arg(env!("CARGO_BIN_EXE_lmstore"))
        .current_dir(d)
        .env_remove("LMLANG_DB")
        .output()
        .expect("lmstore runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a refusal, not an abort: {err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert!(err.contains("node ids missing from the file but not listed as holes: "), "{err}");
    assert!(err.contains("edge ids missing from the file but not listed as holes: "), "{err}");
    assert!(err.contains(" more; "), "the first few and a count: {err}");
    assert_eq!(ok(d, &["list", "--json"]), before, "the database gained nothing");
}

/// The address space (KiB) `import` of the sparse export above is given: a debug
/// build needed 500 to 700 MB (the library's dense id tables for 2^24 ids are most of
/// it), and over 900 MB when the hole check built sets of every id.
const SPARSE_LIMIT_KB: u64 = 800_000;

/// The command-line import refuses broken files with a message and exit status 1 (a
/// panic would be 101) and stores nothing.
#[test]
fn lmstore_import_refuses_broken_files_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let lmstore = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_lmstore"))
            .args(args)
            .current_dir(dir.path())
            .env_remove("LMLANG_DB")
            .output()
            .unwrap()
    };
    let (g, _) = reliability_support::sample_program();
    let export = serde_json::json!({
        "export_format_version": 1,
        "name": "sample",
        "root_hash": g.hashes().program().to_hex(),
        "holes": { "nodes": [3], "edges": [] },
        "program": g.to_document(),
    })
    .to_string();
    let ok = dir.path().join("ok.json");
    std::fs::write(&ok, &export).unwrap();
    let out = lmstore(&["import", "ok.json"]);
    assert!(out.status.success(), "the unbroken export imports: {}", String::from_utf8_lossy(&out.stderr));
    let broken: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", export.as_bytes()[..export.len() / 2].to_vec()),
        ("unknown variant", export.replace("\"Return\"", "\"Retorn\"").into_bytes()),
        ("dangling edge", export.replace("\"target\":9", "\"target\":99").into_bytes()),
        ("random bytes", (0..3000u32).map(|i| (i.wrapping_mul(2654435761) >> 11) as u8).collect()),
        ("empty", Vec::new()),
    ];
    for (name, bytes) in broken {
        std::fs::write(dir.path().join("broken.json"), &bytes).unwrap();
        let out = lmstore(&["import", "broken.json", "--name", name]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains("lmstore: error"), "{name}: {stderr}");
    }
    let list = lmstore(&["list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "only the unbroken import is stored: {listed}");
}

/// An export records the hash algorithm of its root: a file written by an earlier
/// algorithm (no version field: version 2) imports without a false "edited" note, and a
/// file of today's algorithm whose root does not match is reported as edited.
#[test]
fn import_compares_the_recorded_root_only_under_the_same_hash_algorithm() {
    let dir = tempfile::tempdir().expect("temp dir");
    ok(dir.path(), &["demo"]);
    let text = ok(dir.path(), &["export", "sample"]);
    let mut file: serde_json::Value = serde_json::from_str(&text).expect("export JSON");
    assert_eq!(file["hash_algorithm_version"], serde_json::json!(lmlang_storage::hash::HASH_ALGORITHM_VERSION));
    file["root_hash"] = serde_json::json!("00".repeat(32));
    let edited = dir.path().join("edited.json");
    std::fs::write(&edited, serde_json::to_string(&file).expect("JSON")).expect("write");
    let out = lmstore(dir.path(), &["import", edited.to_str().expect("UTF-8"), "--name", "edited"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("was edited since export"));

    let object = file.as_object_mut().expect("an object");
    object.remove("hash_algorithm_version");
    let older = dir.path().join("older.json");
    std::fs::write(&older, serde_json::to_string(&file).expect("JSON")).expect("write");
    let out = lmstore(dir.path(), &["import", older.to_str().expect("UTF-8"), "--name", "older"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("edited"), "{}", String::from_utf8_lossy(&out.stderr));

    // A root recorded by a newer algorithm is not compared, and the note says so.
    file["hash_algorithm_version"] = serde_json::json!(99);
    let newer = dir.path().join("newer.json");
    std::fs::write(&newer, serde_json::to_string(&file).expect("JSON")).expect("write");
    let out = lmstore(dir.path(), &["import", newer.to_str().expect("UTF-8"), "--name", "newer"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hash algorithm 99") && err.contains("not compared"), "{err}");
}

#[test]
fn names_of_any_length_or_with_control_characters_print_in_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    // The store refuses names past 1,024 bytes, but a database written by other means
    // may hold any: past 65,535 characters Rust's own padding panicked (exit 101).
    let long = "t".repeat(70_000);
    let refused = lmstore(d, &["tag", "sample", &long]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("at most 1024 bytes"), "{refused:?}");
    ok(d, &["tag", "sample", "short"]);
    ok(d, &["generate", "--nodes", "10", "--name", "long"]);
    let conn = rusqlite::Connection::open(d.join("lmlang.db")).unwrap();
    conn.execute("UPDATE lmlang_history_tags SET name = ?1 WHERE name = 'short'", [&long]).unwrap();
    conn.execute("UPDATE lmlang_program_names SET name = ?1 WHERE name = 'long'", [&long]).unwrap();
    drop(conn);
    let tags = ok(d, &["tag", "sample"]);
    assert!(tags.contains(&long), "the long tag is listed whole");
    ok(d, &["log", "sample"]);
    ok(d, &["generate", "--nodes", "10", "--name", "two\nlines"]);
    let list = ok(d, &["list"]);
    assert!(list.contains(&long));
    // The newline is shown escaped: the row stays one line.
    assert!(list.lines().any(|l| l.starts_with("two\\nlines") || l.contains(" two\\nlines")), "{list}");
    assert!(!list.lines().any(|l| l.starts_with("lines")), "{list}");
}

/// A store of every earlier schema, the first one included (its tables had no
/// `lmlang_` prefix), is this crate's: a reading command migrates it and reads it, as
/// `migrate` would, instead of calling it another application's.
#[test]
fn reading_commands_read_a_store_of_every_earlier_schema() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/schema");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for version in ["202611250555450000", "202612031000000000", "202612031400000000"] {
        let db = d.join(format!("v{version}.db"));
        std::fs::copy(fixtures.join(format!("v{version}.db")), &db).unwrap();
        let out = lmstore(d, &["--db", db.to_str().unwrap(), "list"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{version}: {err}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("synthetic with holes"), "{version}");
    }
}

#[test]
fn reading_commands_leave_another_applications_database_alone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("theirs.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ann');",
    )
    .unwrap();
    drop(conn);
    let bytes = std::fs::read(&db).unwrap();
    let path = db.to_str().unwrap();
    for args in [vec!["list"], vec!["show", "sample"], vec!["verify"]] {
        let mut full = vec!["--db", path];
        full.extend(args.iter().copied());
        let out = lmstore(d, &full);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("another application's tables") && err.contains("migrate"), "{args:?}: {err}");
        assert_eq!(std::fs::read(&db).unwrap(), bytes, "{args:?} changed the file");
    }
    // Asked for, the schema goes in beside their table.
    ok(d, &["--db", path, "migrate"]);
    assert!(ok(d, &["--db", path, "list"]).contains("no programs yet"));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let name: String = conn.query_row("SELECT name FROM users", [], |r| r.get(0)).unwrap();
    assert_eq!(name, "ann");
}

#[test]
fn verify_compares_the_stored_counts_with_the_program() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    assert!(lmstore(d, &["verify"]).status.success());
    let conn = rusqlite::Connection::open(d.join("lmlang.db")).unwrap();
    conn.execute_batch(
        "UPDATE lmlang_programs SET node_count = 4000000000 \
         WHERE id = (SELECT program_id FROM lmlang_program_names WHERE name = 'sample')",
    )
    .unwrap();
    drop(conn);
    let out = lmstore(d, &["verify"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("4000000000 nodes") && text.contains("the program has"), "{text}");
    let json: serde_json::Value = serde_json::from_slice(&lmstore(d, &["verify", "--json"]).stdout).unwrap();
    assert_eq!(json["ok"], false);
}

#[test]
fn a_file_that_is_no_database_a_directory_or_a_missing_directory_is_named_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("noise.db"), (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect::<Vec<u8>>()).unwrap();
    std::fs::create_dir(d.join("folder")).unwrap();
    for (db, words) in [
        ("noise.db", "is not an SQLite database"),
        ("folder", "is a directory"),
        ("missing/new.db", "the directory missing does not exist"),
    ] {
        for command in ["list", "demo"] {
            let out = lmstore(d, &["--db", db, command]);
            assert!(!out.status.success(), "{db} {command}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(words), "{db} {command}: {err}");
        }
    }
    assert!(!d.join("missing").exists());
}

/// One damaged program used to lock the user out of every program: `list`, `show '#N'`
/// and even `delete '#N'` of the damaged one failed on its row. Now a damaged program
/// row stops only the listing (with the way out), the others are read by id, the
/// damaged program can be deleted, and a program whose nodes are damaged is listed as
/// damaged beside the intact ones (exit status 1).
#[test]
fn a_damaged_program_leaves_the_others_usable_and_can_be_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    ok(d, &["export", "sample", "-o", "s.json"]);
    let ids = |d: &Path| -> Vec<(String, i64)> {
        let list = json(d, &["list", "--json"]);
        list.as_array()
            .unwrap()
            .iter()
            .map(|p| (p["name"].as_str().unwrap().to_string(), p["id"].as_i64().unwrap()))
            .collect()
    };
    let id_of = |d: &Path, name: &str| ids(d).into_iter().find(|(n, _)| n == name).unwrap().1;
    let (sample, generated) = (id_of(d, "sample"), id_of(d, "generated-10k"));
    let conn = rusqlite::Connection::open(d.join("lmlang.db")).unwrap();
    conn.execute("UPDATE lmlang_programs SET node_count = 'garbage' WHERE id = ?1", [sample]).unwrap();

    let out = lmstore(d, &["list"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("program #{sample} is damaged")), "{err}");
    assert!(err.contains(&format!("lmstore delete '#{sample}'")) && err.contains("node_count"), "{err}");
    // The damaged row hides nothing else: the other program is listed with its counts.
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |name: &str| text.lines().find(|l| l.contains(name)).map(str::to_string);
    assert!(line("generated-10k").is_some_and(|l| l.contains(" 87 ") && !l.contains("(damaged)")), "{text}");
    assert!(text.lines().any(|l| l.starts_with(&format!("{sample} ")) && l.contains("(damaged)")), "{text}");
    let listed: serde_json::Value = serde_json::from_slice(&lmstore(d, &["list", "--json"]).stdout).unwrap();
    let damaged = listed.as_array().unwrap().iter().find(|p| p["id"] == sample).unwrap();
    assert!(damaged["name"].is_null() && damaged["nodes"].is_null() && damaged["root_hash"].is_null(), "{listed}");
    assert!(damaged["damage"].as_str().is_some_and(|d| d.contains("node_count")), "{listed}");
    assert!(ok(d, &["show", &format!("#{generated}")]).contains("root hash"));
    // The other program is exported and verified as usual.
    ok(d, &["export", "generated-10k", "-o", "g.json"]);
    assert!(ok(d, &["verify", "generated-10k"]).contains("ok"));
    assert!(ok(d, &["delete", &format!("#{sample}")]).contains(&format!("deleted #{sample}")));
    assert_eq!(ids(d).into_iter().map(|(n, _)| n).collect::<Vec<_>>(), ["generated-10k"]);

    ok(d, &["import", "s.json", "--name", "copy"]);
    conn.execute_batch(&format!(
        "PRAGMA ignore_check_constraints = ON; UPDATE lmlang_compute_nodes SET op = 9999 \
         WHERE program_id = {generated} AND node_id = (SELECT min(node_id) FROM lmlang_compute_nodes \
         WHERE program_id = {generated})"
    ))
    .unwrap();
    drop(conn);
    let out = lmstore(d, &["list", "--json"]);
    assert!(!out.status.success(), "a damaged program makes the listing fail");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_name = |name: &str| listed.as_array().unwrap().iter().find(|p| p["name"] == name).unwrap().clone();
    assert!(by_name("copy")["root_hash"].as_str().is_some_and(|h| h.len() == 64));
    assert!(by_name("generated-10k")["root_hash"].is_null());
    assert!(by_name("generated-10k")["damage"].as_str().unwrap().contains("unknown op code 9999"));
    let out = lmstore(d, &["list"]);
    let (text, err) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("(damaged)") && text.contains("copy"), "{text}");
    assert!(err.contains(&format!("program #{generated} (generated-10k) is damaged")), "{err}");

    // A program whose name row is gone is listed as damaged the same way, beside the others.
    let copy = id_of_listed(&listed, "copy");
    let conn = rusqlite::Connection::open(d.join("lmlang.db")).unwrap();
    conn.execute("DELETE FROM lmlang_program_names WHERE program_id = ?1", [generated]).unwrap();
    drop(conn);
    let out = lmstore(d, &["list"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no name row"), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("copy"), "{out:?}");
    ok(d, &["export", "copy", "-o", "c.json"]);
    assert!(ok(d, &["verify", &format!("#{copy}")]).contains("ok"));
    assert!(ok(d, &["delete", &format!("#{generated}")]).contains(&format!("deleted #{generated}")));
    assert!(ok(d, &["list"]).contains("copy"));
}

fn id_of_listed(listed: &serde_json::Value, name: &str) -> i64 {
    listed.as_array().unwrap().iter().find(|p| p["name"] == name).unwrap()["id"].as_i64().unwrap()
}

/// A FIFO given as `--db` used to block the open for good (SQLite waited for a writer
/// on the pipe's other end); it is refused, as a directory is. The child is killed if
/// it is still running after a minute, so a regression fails rather than hangs.
#[cfg(unix)]
#[test]
fn a_fifo_as_the_database_is_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let made = Command::new("mkfifo").arg(d.join("pipe.db")).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: mkfifo is not available");
        return;
    }
    for command in ["list", "demo"] {
        let child = cli_support::spawn(d, &["--db", "pipe.db", command]);
        let out = cli_support::within_a_minute(child, &format!("lmstore --db pipe.db {command}"));
        assert!(!out.status.success(), "{command}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not a regular file"), "{command}: {err}");
    }
}

/// A program named by a number: a command that changes data takes a bare number only
/// as a name (repeating `delete 1` must not go on to delete program #1), `#N` is the
/// id, and reading commands still fall back to the id.
#[test]
fn a_number_is_a_name_for_commands_that_change_data_and_hash_n_is_an_id() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    let list = json(d, &["list", "--json"]);
    let sample = list.as_array().unwrap().iter().find(|p| p["name"] == "sample").unwrap()["id"].to_string();
    ok(d, &["export", "sample", "-o", "s.json"]);
    ok(d, &["import", "s.json", "--name", &sample]);
    assert!(ok(d, &["delete", &sample]).contains(&format!("deleted {sample}")));
    let again = lmstore(d, &["delete", &sample]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains(&format!("write #{sample}")), "{again:?}");
    assert!(ok(d, &["list"]).contains("sample"), "program #{sample} is still there");
    assert!(ok(d, &["show", &sample]).contains("app::math"), "reading commands take the id");
    ok(d, &["delete", &format!("#{sample}")]);
    assert!(!ok(d, &["list"]).contains("sample"));
}

/// Output never goes over the database, and a reading command given a path where no
/// database is says so instead of creating one.
#[test]
fn outputs_spare_the_database_and_a_missing_database_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    let bytes = std::fs::read(d.join("lmlang.db")).unwrap();
    for args in [&["export", "sample", "-o", "lmlang.db"][..], &["dot", "sample", "-o", "lmlang.db-wal"]] {
        let out = lmstore(d, args);
        assert!(!out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("database's own file"), "{out:?}");
    }
    assert_eq!(std::fs::read(d.join("lmlang.db")).unwrap(), bytes);
    ok(d, &["verify"]);
    for args in [&["--db", "typo.db", "list"][..], &["--db", "typo.db", "verify"]] {
        let out = lmstore(d, args);
        assert!(!out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("no database at typo.db"), "{out:?}");
    }
    assert!(!d.join("typo.db").exists());
    // A loop of symbolic links is no missing database: said as it is.
    std::os::unix::fs::symlink("loop-b.db", d.join("loop-a.db")).unwrap();
    std::os::unix::fs::symlink("loop-a.db", d.join("loop-b.db")).unwrap();
    let out = lmstore(d, &["--db", "loop-a.db", "list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot open loop-a.db") && err.contains("symbolic links"), "{err}");
    // An empty file: said so (`list` lists no programs), and the schema is not written
    // into it by a read.
    std::fs::write(d.join("empty.db"), b"").unwrap();
    let out = lmstore(d, &["--db", "empty.db", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty.db is empty"), "{out:?}");
    assert!(ok(d, &["--db", "empty.db", "list"]).contains("no programs yet"));
    assert_eq!(std::fs::metadata(d.join("empty.db")).unwrap().len(), 0);
    for nodes in ["0", "18446744073709551615"] {
        assert_eq!(lmstore(d, &["generate", "--nodes", nodes, "--name", "x"]).status.code(), Some(2), "{nodes}");
    }
}

/// Output named as the database's rollback journal is refused: SQLite would take it
/// for a crashed transaction's hot journal and delete it on the next open.
#[test]
fn output_is_not_written_as_the_database_journal() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["generate", "--nodes", "50", "--name", "p"]);
    for args in [
        &["export", "p", "-o", "lmlang.db-journal"][..],
        &["dot", "p", "-o", "lmlang.db-journal"],
        &["checkout", "p", "--revision", "1", "-o", "lmlang.db-journal"],
    ] {
        let out = lmstore(d, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("database's own file"), "{out:?}");
        assert!(!d.join("lmlang.db-journal").exists(), "{args:?}");
    }
}

/// A device given as an export (`import /dev/zero`) is refused at once instead of read
/// until memory runs out; a pipe is still read.
#[test]
fn a_device_is_refused_as_an_export_and_a_pipe_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["generate", "--nodes", "50", "--name", "p"]);
    ok(d, &["export", "p", "-o", "p.json"]);
    // Under a memory limit, so that a build that reads the device whole fails the test
    // without starving the machine.
    let limited = |script: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -v 1000000; {script}"))
            .env("LMSTORE", env!("CARGO_BIN_EXE_lmstore"))
            .current_dir(d)
            .env_remove("LMLANG_DB")
            .output()
            .expect("sh runs")
    };
    for args in ["import /dev/zero", "save p /dev/zero"] {
        let out = limited(&format!("\"$LMSTORE\" {args}"));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args}: {err}");
        assert!(err.contains("/dev/zero is not an export file"), "{args}: {err}");
    }
    let piped = limited("cat p.json | \"$LMSTORE\" import /dev/stdin --name piped");
    assert!(piped.status.success(), "{}", String::from_utf8_lossy(&piped.stderr));
}

/// Text from a hostile export never reaches the terminal raw: a root hash that is not
/// hex is refused, and what messages quote from the file has its control characters
/// escaped.
#[test]
fn a_hostile_export_cannot_write_terminal_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["generate", "--nodes", "50", "--name", "p"]);
    ok(d, &["export", "p", "-o", "p.json"]);
    let text = std::fs::read_to_string(d.join("p.json")).unwrap();
    let root = text.find("\"root_hash\": \"").unwrap() + "\"root_hash\": \"".len();
    let fake = r"\u001b[2J\u001b[31mOWNED\nlmstore: error: fake";
    std::fs::write(d.join("root.json"), format!("{}{fake}{}", &text[..root], &text[root + 64..])).unwrap();
    let variant = text.find("\"I64\"").unwrap();
    let bad = format!("{}\"\\u001b[31mX\"{}", &text[..variant], &text[variant + 5..]);
    std::fs::write(d.join("variant.json"), bad).unwrap();
    for args in [&["import", "root.json"][..], &["save", "p", "root.json"], &["import", "variant.json"]] {
        let out = lmstore(d, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(!err.contains('\u{1b}') && err.trim_end().lines().count() == 1, "{args:?}: {err}");
        assert!(err.contains("is not an lmstore export"), "{args:?}: {err}");
    }
}

/// `verify` compares the newest history entry with the program: a damaged root there
/// (or an entry past the program's revision) fails the check.
#[test]
fn verify_compares_the_newest_history_entry_with_the_program() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    ok(d, &["export", "sample", "-o", "s.json"]);
    let edited = cli_support::bump_an_integer_constant(&std::fs::read_to_string(d.join("s.json")).unwrap());
    std::fs::write(d.join("e.json"), edited).unwrap();
    ok(d, &["save", "sample", "e.json"]);
    ok(d, &["verify"]);
    let conn = rusqlite::Connection::open(d.join("lmlang.db")).unwrap();
    conn.execute_batch(
        "UPDATE lmlang_history SET root_hash = zeroblob(32) WHERE revision = \
         (SELECT max(revision) FROM lmlang_history h WHERE h.program_id = lmlang_history.program_id)",
    )
    .unwrap();
    drop(conn);
    let out = lmstore(d, &["verify"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("history records root"), "{out:?}");
}

/// `verify` replays history back to its oldest reachable entry: a damaged delta or a
/// wrong root recorded there used to pass as "ok" and fail only at the next checkout.
#[test]
fn verify_replays_history_and_finds_a_damaged_entry() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    ok(d, &["export", "sample", "-o", "s.json"]);
    for _ in 0..3 {
        // Each save records its root in the file, so it is read again each time.
        let text = cli_support::bump_an_integer_constant(&std::fs::read_to_string(d.join("s.json")).unwrap());
        std::fs::write(d.join("s.json"), &text).unwrap();
        ok(d, &["save", "sample", "s.json"]);
    }
    ok(d, &["verify"]);
    let damage = |sql: &str| {
        let copy = d.join("damaged.db");
        std::fs::copy(d.join("lmlang.db"), &copy).unwrap();
        rusqlite::Connection::open(&copy).unwrap().execute_batch(sql).unwrap();
        lmstore(d, &["--db", "damaged.db", "verify"])
    };
    let sample = "(SELECT program_id FROM lmlang_program_names WHERE name = 'sample')";
    for (sql, words) in [
        (format!("UPDATE lmlang_history SET delta = X'7B7D' WHERE program_id = {sample} AND revision = 3"), "corrupt"),
        (
            format!("UPDATE lmlang_history SET root_hash = zeroblob(32) WHERE program_id = {sample} AND revision = 1"),
            "root",
        ),
    ] {
        let out = damage(&sql);
        assert!(!out.status.success(), "{sql}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("does not replay back to revision 1") && text.contains(words), "{sql}: {text}");
    }
}

#[test]
fn reading_commands_never_show_a_transaction_cut_off_midway() {
    // The files a writer leaves when it dies inside a transaction that had already
    // written pages into the database (rollback-journal mode). Read as immutable, they
    // showed the half-written transaction: a name never committed, and a healthy
    // program listed as damaged with advice to delete it.
    let dir = tempfile::tempdir().expect("temp dir");
    ok(dir.path(), &["demo"]);
    let list_before = ok(dir.path(), &["list"]);
    let crashed = dir.path().join("crashed");
    std::fs::create_dir(&crashed).expect("dir");
    {
        let db = dir.path().join("lmlang.db");
        let conn = rusqlite::Connection::open(&db).expect("open");
        // A one-page cache makes the transaction write its pages into the file early.
        conn.execute_batch(
            "PRAGMA journal_mode = DELETE; PRAGMA cache_size = 1; BEGIN; \
             UPDATE lmlang_program_names SET name = name || '-torn'; \
             UPDATE lmlang_compute_nodes SET program_id = program_id;",
        )
        .expect("half a transaction");
        std::fs::copy(&db, crashed.join("lmlang.db")).expect("copy");
        std::fs::copy(dir.path().join("lmlang.db-journal"), crashed.join("lmlang.db-journal")).expect("copy");
    }
    let listed = lmstore(&crashed, &["list"]);
    let out = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{out}{}", String::from_utf8_lossy(&listed.stderr));
    assert_eq!(out, list_before, "the listing is not the last committed state");
    ok(&crashed, &["verify", "sample"]);
}

/// `save` from a named pipe: the file is read once; recording the saved root in it
/// opened the pipe again and waited for a writer for good. The child is killed after a
/// minute, so a regression fails rather than hangs.
#[cfg(unix)]
#[test]
fn a_save_from_a_named_pipe_reads_it_once_and_ends() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["generate", "--nodes", "50", "--name", "p"]);
    ok(d, &["export", "p", "-o", "p.json"]);
    let edited = cli_support::bump_an_integer_constant(&std::fs::read_to_string(d.join("p.json")).unwrap());
    std::fs::write(d.join("edited.json"), edited).unwrap();
    if !Command::new("mkfifo").arg(d.join("p.fifo")).status().is_ok_and(|s| s.success()) {
        eprintln!("skipped: mkfifo is not available");
        return;
    }
    let mut feeder = Command::new("sh").arg("-c").arg("cat edited.json > p.fifo").current_dir(d).spawn().unwrap();
    let out = cli_support::within_a_minute(cli_support::spawn(d, &["save", "p", "p.fifo"]), "lmstore save p p.fifo");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    feeder.wait().unwrap();
    assert_ne!(ok(d, &["export", "p"]), std::fs::read_to_string(d.join("p.json")).unwrap(), "nothing was saved");
}

/// Module and function names and constants with control characters (a database
/// written by other means) are shown escaped by `show`, never sent to the terminal.
#[test]
fn show_escapes_control_characters_of_names_and_constants() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    let conn = rusqlite::Connection::open(d.join("lmlang.db")).unwrap();
    conn.execute_batch(
        "UPDATE lmlang_modules SET name = name || char(27) || '[2J' WHERE name <> ''; \
         UPDATE lmlang_functions SET name = 'ma' || char(27) || '[31min' WHERE name = 'main';",
    )
    .unwrap();
    drop(conn);
    let whole = ok(d, &["show", "sample"]);
    let main = ok(d, &["show", "sample", "--function", "ma\u{1b}[31min"]);
    for shown in [&whole, &main] {
        assert!(!shown.contains('\u{1b}'), "{shown}");
    }
    assert!(main.contains("::ma\\u{1b}[31min() -> unit"), "{main}");
    assert!(whole.contains("\\u{1b}[2J"), "{whole}");
}

/// Names holding a bidirectional override, a zero-width space or a C1 control (a
/// database written by other means) never reach the terminal raw, where they would
/// reorder or hide what follows: text output shows them escaped, JSON output as JSON
/// escapes that read back as the same name, and messages escape what they quote.
#[test]
fn reordering_and_invisible_characters_in_names_are_shown_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    ok(d, &["export", "sample", "-o", "before.json"]);
    let name = "ma\u{202e}ni\u{9b}31m";
    let conn = rusqlite::Connection::open(d.join("lmlang.db")).unwrap();
    conn.execute("UPDATE lmlang_functions SET name = ?1 WHERE name = 'main'", [name]).unwrap();
    conn.execute("UPDATE lmlang_program_names SET name = 'sample' || char(8203) WHERE name = 'sample'", []).unwrap();
    drop(conn);
    let program = "sample\u{200b}";
    let raw = |text: &str| text.contains(['\u{202e}', '\u{9b}', '\u{200b}']);
    let listed = ok(d, &["list"]);
    let shown = ok(d, &["show", program]);
    let diffed = ok(d, &["diff", "./before.json", program]);
    let drawn = ok(d, &["dot", program]);
    for (what, out) in [("list", &listed), ("show", &shown), ("diff", &diffed), ("dot", &drawn)] {
        assert!(!raw(out), "{what}: {out:?}");
    }
    assert!(listed.contains("sample\\u{200b}"), "{listed}");
    assert!(shown.contains("ma\\u{202e}ni\\u{9b}31m"), "{shown}");
    assert!(diffed.contains("+ app::ma\\u{202e}ni\\u{9b}31m"), "{diffed}");
    for args in [&["export", program][..], &["show", program, "--json"], &["list", "--json"]] {
        let text = ok(d, args);
        assert!(!raw(&text), "{args:?}: {text:?}");
        let read: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let expected = if args[0] == "list" { program } else { name };
        assert!(read.to_string().contains(expected), "{args:?}: the name reads back whole: {read}");
    }
    let out = lmstore(d, &["dot", program, "--function", "absent"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!raw(&err) && err.contains("sample\\u{200b}"), "{err:?}");
    // What a damaged row holds, quoted by the note `list` writes about it.
    let conn = rusqlite::Connection::open(d.join("lmlang.db")).unwrap();
    let bad = r#"{"Str\u001b[31mRED\u202e":{}}"#;
    conn.execute(
        "UPDATE lmlang_types SET definition = ?1 WHERE type_id = (SELECT max(type_id) FROM lmlang_types)",
        [bad],
    )
    .unwrap();
    drop(conn);
    let out = lmstore(d, &["list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is damaged") && err.contains("Str\\u{1b}[31mRED"), "{err:?}");
    assert!(!raw(&err) && !err.contains('\u{1b}'), "{err:?}");
}

/// `diff` and `dot` read an export whose path is not UTF-8 (a name no program can
/// have), against a stored program or without a database, as `import` reads it; a
/// backup to such a path, which SQLite cannot name, is refused saying so once.
#[test]
fn non_utf8_paths_are_read_by_diff_and_dot_and_refused_plainly_by_backup() {
    use std::os::unix::ffi::OsStrExt as _;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    let odd = std::ffi::OsStr::from_bytes(b"caf\xe9.json");
    std::fs::write(d.join(odd), ok(d, &["export", "sample"])).unwrap();
    let run = |dir: &Path, args: &[&std::ffi::OsStr]| {
        let out =
            Command::new(env!("CARGO_BIN_EXE_lmstore")).args(args).current_dir(dir).env_remove("LMLANG_DB").output();
        let out = out.expect("the binary runs");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8 output")
    };
    let diffed = run(d, &["diff".as_ref(), odd, "sample".as_ref()]);
    assert!(diffed.starts_with("no differences"), "{diffed}");
    assert!(run(d, &["dot".as_ref(), odd]).starts_with("digraph"));
    let apart = tempfile::tempdir().unwrap();
    std::fs::copy(d.join(odd), apart.path().join(odd)).unwrap();
    let diffed = run(apart.path(), &["diff".as_ref(), odd, odd]);
    assert!(diffed.starts_with("no differences"), "{diffed}");
    assert!(!apart.path().join("lmlang.db").exists(), "comparing files created no database");
    let dest = std::ffi::OsStr::from_bytes(b"copy\xe9.db");
    let out = Command::new(env!("CARGO_BIN_EXE_lmstore")).arg("backup").arg(dest).current_dir(d).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is not valid UTF-8") && err.matches("database error").count() <= 1, "{err}");
    let left: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_str().is_none() && n != odd)
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A program whose function type shares its parts (seven levels, each taking the one
/// below six times: 6^7 `i64`s spelled out in full) imports, and `show` and `dot` print
/// it with every type name cut short: output of a few kilobytes, not megabytes.
#[test]
fn show_and_dot_print_a_type_whose_parts_are_shared_in_bounded_output() {
    use lmlang_storage::graph::ProgramGraph;
    use lmlang_storage::model::{ComputeOp, LmType, ModuleId, TypeId, Visibility};
    let mut g = ProgramGraph::new("app");
    let mut t = TypeId::I64;
    for _ in 0..7 {
        t = g.register_type(LmType::Function { params: vec![t; 6], return_type: t }).expect("type");
    }
    let f = g.add_function(ModuleId::ROOT, "wide", Visibility::Public, vec![("x".into(), t)], t).expect("function");
    let p = g.add_core_op(f, ComputeOp::Parameter { index: 0 }).expect("param");
    let r = g.add_core_op(f, ComputeOp::Return).expect("return");
    g.add_data_edge(p, r, 0, 0, t).expect("edge");
    let export = serde_json::json!({
        "export_format_version": 1,
        "name": "wide",
        "root_hash": g.hashes().program().to_hex(),
        "holes": { "nodes": [], "edges": [] },
        "program": g.to_document(),
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    std::fs::write(d.join("wide.json"), export.to_string()).expect("write");
    ok(d, &["import", "wide.json"]);
    for args in
        [&["show", "wide"][..], &["show", "wide", "--function", "wide"], &["show", "wide", "--json"], &["dot", "wide"]]
    {
        let out = ok(d, args);
        assert!(out.len() < 8_000, "{args:?}: {} bytes", out.len());
        assert!(out.contains("fn(fn(fn(fn(fn(fn(fn(i64, i64"), "{args:?}: {out}");
    }
}

/// Rows damaged by hand or by a service's own writer, each in one program of the demo:
/// a NULL where the schema said NOT NULL (the constraint dropped) is corrupt data, so
/// `list` still lists the other program; a revision at the largest a row holds refuses
/// the next commit and writes nothing; a megabyte-long unknown op leaves a short error;
/// control characters in a stored name reach no terminal through `dot`.
#[test]
fn damaged_rows_are_typed_bounded_and_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    let db = d.join("lmlang.db");
    let sample = "(SELECT program_id FROM lmlang_program_names WHERE name = 'sample')";
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "PRAGMA writable_schema = ON; \
         UPDATE sqlite_schema SET sql = replace(sql, '    name TEXT NOT NULL,', '    name TEXT,') \
         WHERE name = 'lmlang_functions'; PRAGMA writable_schema = OFF;",
    )
    .unwrap();
    drop(conn);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        &format!("UPDATE lmlang_functions SET name = NULL WHERE program_id = {sample} AND function_id = 0"),
        [],
    )
    .unwrap();
    let out = lmstore(d, &["list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("generated-10k") && text.contains("(damaged)"), "{text}");
    let out = lmstore(d, &["show", "sample"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("corrupt data"), "{out:?}");
    conn.execute(
        &format!("UPDATE lmlang_functions SET name = 'abs' WHERE program_id = {sample} AND function_id = 0"),
        [],
    )
    .unwrap();

    // The next commit could not be numbered apart from this one.
    let export = d.join("sample.json");
    ok(d, &["export", "sample", "-o", export.to_str().unwrap()]);
    let history = |conn: &rusqlite::Connection| -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM lmlang_history WHERE program_id = {sample}"), [], |r| r.get(0))
            .unwrap()
    };
    let entries = history(&conn);
    let edited = std::fs::read_to_string(&export).unwrap().replace("\"abs\"", "\"absolute\"");
    std::fs::write(&export, edited).unwrap();
    // One short of the largest too: a log or an undo bounds its range by the revision
    // after the newest.
    for revision in [i64::MAX, i64::MAX - 1] {
        conn.execute(&format!("UPDATE lmlang_programs SET revision = {revision} WHERE id = {sample}"), []).unwrap();
        let out = lmstore(d, &["save", "sample", export.to_str().unwrap(), "--force"]);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("leaves no room for another commit"), "{out:?}");
        assert_eq!(history(&conn), entries, "nothing recorded");
    }
    let names: i64 = conn
        .query_row(
            &format!("SELECT count(*) FROM lmlang_functions WHERE program_id = {sample} AND name = 'absolute'"),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(names, 0, "nothing saved");
    conn.execute(&format!("UPDATE lmlang_programs SET revision = 3 WHERE id = {sample}"), []).unwrap();

    // An unknown op of a megabyte: the error quotes a little of it.
    let op = format!("\"{}\"", "x".repeat(1_000_000));
    conn.execute(
        &format!("UPDATE lmlang_compute_nodes SET payload = ?1 WHERE program_id = {sample} AND node_id = 1"),
        [&op],
    )
    .unwrap();
    let out = lmstore(d, &["show", "sample"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.len() < 2_000, "{} bytes of error", out.stderr.len());
}

#[test]
fn dot_writes_control_characters_of_stored_names_out() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    let conn = rusqlite::Connection::open(d.join("lmlang.db")).unwrap();
    conn.execute(
        "UPDATE lmlang_functions SET name = ?1 WHERE function_id = 0 \
         AND program_id = (SELECT program_id FROM lmlang_program_names WHERE name = 'sample')",
        ["sq\u{1b}]0;pwned\u{7}\u{1b}[31mRED"],
    )
    .unwrap();
    let out = lmstore(d, &["dot", "sample"]);
    assert!(out.status.success(), "{out:?}");
    assert!(!out.stdout.iter().any(|b| *b == 0x1b || *b == 0x07), "a control character reached the output");
    assert!(String::from_utf8_lossy(&out.stdout).contains("sq\\\\u{1b}]0;pwned"), "the name is written out");
}

/// A damaged program row is reported by `verify`, which still checks every program, the
/// damaged one included, and the file.
#[test]
fn verify_checks_every_program_and_the_file_beside_a_damaged_program_row() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    let conn = rusqlite::Connection::open(d.join("lmlang.db")).unwrap();
    conn.execute(
        "UPDATE lmlang_programs SET module_count = -1 \
         WHERE id = (SELECT program_id FROM lmlang_program_names WHERE name = 'sample')",
        [],
    )
    .unwrap();
    let out = lmstore(d, &["verify"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    for line in ["integrity_check    ok", "foreign_key_check  ok", "program rows       FAILED", "module_count -1"] {
        assert!(text.contains(line), "{line}: {text}");
    }
    let checked = |name: &str| text.lines().any(|l| l.starts_with(&format!("program {name} ")) && l.ends_with(" ok"));
    assert!(checked("generated-10k") && checked("#1"), "both programs are checked: {text}");
    let json: serde_json::Value = serde_json::from_slice(&lmstore(d, &["verify", "--json"]).stdout).unwrap();
    assert_eq!(json["ok"], false);
    assert!(json["listing"][0].as_str().is_some_and(|l| l.contains("lmlang_programs")), "{json}");
    assert_eq!(json["programs"].as_array().map(Vec::len), Some(2), "both programs checked: {json}");
    // Asked for the other program alone, the damaged row is none of its business.
    let other: serde_json::Value =
        serde_json::from_slice(&lmstore(d, &["verify", "generated-10k", "--json"]).stdout).unwrap();
    assert_eq!(other["ok"], true, "{other}");
}

/// A program row whose revision was set back behind its history refuses the next
/// commit as corrupt, naming it, and writes nothing.
#[test]
fn a_revision_set_back_behind_history_refuses_the_next_commit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    let export = d.join("sample.json");
    ok(d, &["export", "sample", "-o", export.to_str().unwrap()]);
    let text = std::fs::read_to_string(&export).unwrap();
    std::fs::write(&export, text.replace("\"abs\"", "\"absolute\"")).unwrap();
    ok(d, &["save", "sample", export.to_str().unwrap()]);
    let conn = rusqlite::Connection::open(d.join("lmlang.db")).unwrap();
    let sample = "(SELECT program_id FROM lmlang_program_names WHERE name = 'sample')";
    let revision: i64 =
        conn.query_row(&format!("SELECT revision FROM lmlang_programs WHERE id = {sample}"), [], |r| r.get(0)).unwrap();
    conn.execute(&format!("UPDATE lmlang_programs SET revision = {} WHERE id = {sample}", revision - 1), []).unwrap();
    let entries = |conn: &rusqlite::Connection| -> i64 {
        conn.query_row("SELECT count(*) FROM lmlang_history", [], |r| r.get(0)).unwrap()
    };
    let before = entries(&conn);
    std::fs::write(&export, text.replace("\"abs\"", "\"magnitude\"")).unwrap();
    let out = lmstore(d, &["save", "sample", export.to_str().unwrap(), "--force"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("corrupt data in table lmlang_programs") && err.contains("behind the program's history"),
        "{err}"
    );
    assert_eq!(entries(&conn), before);
    let magnitude: i64 =
        conn.query_row("SELECT count(*) FROM lmlang_functions WHERE name = 'magnitude'", [], |r| r.get(0)).unwrap();
    assert_eq!(magnitude, 0, "nothing saved");
}

/// A copy whose table of programs is torn (a file copied while a writer committed):
/// `verify` still runs SQLite's checks of the file and says what it found, and a
/// program asked for by name is reported as not loading, instead of one line about a
/// damaged file and nothing else.
#[test]
fn verify_reports_on_a_file_whose_listing_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    let file = d.join("lmlang.db");
    let (root, page_size): (i64, i64) = {
        let conn = rusqlite::Connection::open(&file).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        let root = conn
            .query_row("SELECT rootpage FROM sqlite_schema WHERE name = 'lmlang_programs'", [], |r| r.get(0))
            .unwrap();
        (root, conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap())
    };
    let mut bytes = std::fs::read(&file).unwrap();
    let at = ((root - 1) * page_size) as usize;
    // Not a B-tree page any more: its type byte and cell count are garbage.
    bytes[at..at + 8].copy_from_slice(&[0x4a; 8]);
    std::fs::write(&file, &bytes).unwrap();

    let out = lmstore(d, &["verify"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for line in ["integrity_check    FAILED", "program rows       FAILED", "the programs cannot be listed"] {
        assert!(text.contains(line), "{line}: {text}");
    }
    let json: serde_json::Value = serde_json::from_slice(&lmstore(d, &["verify", "--json"]).stdout).unwrap();
    assert_eq!(json["ok"], false);
    assert!(json["integrity_check"].as_array().is_some_and(|found| !found.is_empty()), "{json}");
    let one: serde_json::Value = serde_json::from_slice(&lmstore(d, &["verify", "sample", "--json"]).stdout).unwrap();
    assert_eq!(one["ok"], false);
    assert_eq!(one["programs"][0]["name"], "sample", "{one}");
    assert!(one["programs"][0]["violations"].as_array().is_some_and(|v| !v.is_empty()), "{one}");
}
