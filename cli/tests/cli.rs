//! The `lmstore` binary end to end, in a temporary directory: the README's flow and
//! the error paths with their exit statuses.

mod cli_support;

use cli_support::{json, lmstore, ok, spawn, within_a_minute};
use std::process::Command;

#[test]
fn the_whole_flow_works_on_a_fresh_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let demo = ok(d, &["demo"]);
    assert!(demo.contains("reloaded equal"), "{demo}");
    assert!(d.join("lmlang.db").exists(), "the default database file is created");
    // Running it twice works.
    ok(d, &["demo"]);

    let list = json(d, &["list", "--json"]);
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "{list}");
    assert!(names.contains(&"sample"));
    let sample = list.as_array().unwrap().iter().find(|p| p["name"] == "sample").unwrap();
    assert!(sample["nodes"].as_u64().unwrap() > 20);

    let show = ok(d, &["show", "sample"]);
    assert!(show.contains("app::math::abs"), "{show}");
    let main = json(d, &["show", "sample", "--function", "main", "--json"]);
    assert!(!main["nodes"].as_array().unwrap().is_empty());

    ok(d, &["export", "sample", "-o", "sample.json"]);
    let exported: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("sample.json")).unwrap()).unwrap();
    assert_eq!(exported["export_format_version"], 1);
    assert!(exported["program"]["next_ids"]["node"].as_u64().is_some());
    ok(d, &["import", "sample.json", "--name", "copy"]);

    let diff = json(d, &["diff", "sample", "copy", "--json"]);
    for key in ["added", "removed", "changed"] {
        assert!(diff[key].as_array().unwrap().is_empty(), "{diff}");
    }
    let file_diff = json(d, &["diff", "sample.json", "copy", "--json"]);
    assert!(file_diff["changed"].as_array().unwrap().is_empty());

    let h1 = json(d, &["hash", "sample", "--json"]);
    let h2 = json(d, &["hash", "copy", "--json"]);
    assert_eq!(h1, h2);
    assert_eq!(h1["program"].as_str().unwrap().len(), 64);

    let verify = json(d, &["verify", "--json"]);
    assert_eq!(verify["ok"], true, "{verify}");
    ok(d, &["verify"]);

    ok(d, &["delete", "copy"]);
    let list = json(d, &["list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let migrate = ok(d, &["migrate"]);
    assert!(migrate.contains("schema version"), "{migrate}");

    // The deleted program's pages are free; vacuum gives them back and keeps the rest.
    let vacuum = ok(d, &["vacuum"]);
    let sizes: Vec<u64> = vacuum.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    assert!(sizes.len() == 2 && sizes[1] < sizes[0], "{vacuum}");
    assert_eq!(json(d, &["verify", "--json"])["ok"], true);
    assert_eq!(json(d, &["hash", "sample", "--json"]), h1);
}

#[test]
fn a_changed_function_shows_in_diff() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["generate", "--nodes", "2000", "--name", "a", "--seed", "3"]);
    ok(d, &["generate", "--nodes", "2000", "--name", "b", "--seed", "4"]);
    let diff = json(d, &["diff", "a", "b", "--json"]);
    let total: usize = ["added", "removed", "changed"].iter().map(|k| diff[k].as_array().unwrap().len()).sum();
    assert!(total > 0, "different seeds give different programs: {diff}");
}

#[test]
fn errors_are_one_line_with_a_failure_status() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);

    let out = lmstore(d, &["show", "no-such-program"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no program named \"no-such-program\""), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"));

    std::fs::write(d.join("corrupt.json"), "{ this is not json").unwrap();
    let out = lmstore(d, &["import", "corrupt.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not an lmstore export"));

    // A well-formed export of an invalid program: every violation listed, nothing written.
    ok(d, &["export", "sample", "-o", "sample.json"]);
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("sample.json")).unwrap()).unwrap();
    doc["program"]["nodes"][0]["owner"] = serde_json::json!(999);
    doc["program"]["edges"][0]["edge"] =
        serde_json::json!({"Data": {"source_port": 0, "target_port": 0, "value_type": 4242}});
    std::fs::write(d.join("broken.json"), doc.to_string()).unwrap();
    let out = lmstore(d, &["import", "broken.json", "--name", "broken"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("owner f999 does not exist"), "{err}");
    assert!(err.contains("value type t4242 does not exist"), "{err}");
    // Violations name their node or edge in the readable notation, not only by id.
    assert!(err.contains("edge e0 (n0:0 -> n2:0  t4242): value type t4242 does not exist"), "{err}");
    assert!(err.contains("node n0 (param 0): owner f999 does not exist"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    let list = json(d, &["list", "--json"]);
    assert!(list.as_array().unwrap().iter().all(|p| p["name"] != "broken"));

    // Partitioning is a PostgreSQL layout; on a file it is refused and the file kept.
    let out = lmstore(d, &["partition", "--partitions", "4"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PostgreSQL"));
    assert!(ok(d, &["verify"]).contains("ok"));

    let out = lmstore(d, &["frobnicate"]);
    assert_eq!(out.status.code(), Some(2), "clap reports usage errors with status 2");

    let out = lmstore(d, &["import", "missing-file.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

/// A name beginning or ending with `:` would make qualified paths ambiguous (module
/// `a:` holding `b` and module `a` holding `:b` are both `a:::b`): import refuses the
/// file, says which name and why, and stores nothing.
#[test]
fn import_refuses_names_beginning_or_ending_with_a_colon() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    ok(d, &["export", "sample", "-o", "sample.json"]);
    let text = std::fs::read_to_string(d.join("sample.json")).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let name = doc["program"]["functions"][0]["name"].as_str().unwrap().to_string();
    doc["program"]["functions"][0]["name"] = serde_json::json!(format!(":{name}"));
    doc["program"]["modules"][0]["name"] = serde_json::json!("root:");
    std::fs::write(d.join("colons.json"), doc.to_string()).unwrap();
    let out = lmstore(d, &["import", "colons.json", "--name", "colons"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("invalid name \":{name}\"")), "{err}");
    assert!(err.contains("invalid name \"root:\""), "{err}");
    assert!(err.contains("neither begin nor end with ':'"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    let list = json(d, &["list", "--json"]);
    assert!(list.as_array().unwrap().iter().all(|p| p["name"] != "colons"));
}

#[test]
fn help_has_an_example_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in [
        "demo",
        "generate",
        "list",
        "show",
        "export",
        "import",
        "hash",
        "diff",
        "dot",
        "verify",
        "delete",
        "migrate",
        "vacuum",
        "partition",
        "bench",
    ] {
        let help = ok(dir.path(), &[cmd, "--help"]);
        assert!(help.contains("Example"), "{cmd} --help lacks an example:\n{help}");
    }
}

#[test]
fn db_flag_and_environment_choose_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["--db", "other.db", "generate", "--nodes", "1000", "--name", "x"]);
    assert!(d.join("other.db").exists());
    assert!(!d.join("lmlang.db").exists());
    let out = Command::new(env!("CARGO_BIN_EXE_lmstore"))
        .args(["list", "--json"])
        .current_dir(d)
        .env("LMLANG_DB", "other.db")
        .output()
        .unwrap();
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
}

/// `--db` is a path: `file:abc.db` is the file so named, not SQLite's URI for
/// `abc.db`, so an export to `abc.db` cannot land on the database.
#[test]
fn a_db_path_that_looks_like_a_uri_is_the_file_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["generate", "--nodes", "1000", "--name", "x"]);
    ok(d, &["export", "x", "-o", "s.json"]);
    ok(d, &["--db", "file:abc.db", "import", "s.json", "--name", "p"]);
    assert!(d.join("file:abc.db").is_file(), "the database is the file named file:abc.db");
    assert!(!d.join("abc.db").exists(), "import created abc.db");
    ok(d, &["--db", "file:abc.db", "export", "p", "-o", "abc.db"]);
    serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(d.join("abc.db")).unwrap()).unwrap();
    let list = json(d, &["--db", "file:abc.db", "list", "--json"]);
    assert_eq!(list[0]["name"], "p", "the database is intact: {list}");

    let out = lmstore(d, &["--db", ":memory:", "import", "s.json", "--name", "p"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("in-memory") && stderr.contains("./:memory:"), "{stderr}");

    // An empty path (SQLite's private temporary database, which the library refuses)
    // is refused before it reaches the library, from the flag and from LMLANG_DB, and
    // nothing is written.
    let files = || std::fs::read_dir(d).unwrap().count();
    let before = files();
    for command in [&["import", "s.json", "--name", "p"][..], &["list"]] {
        let out = lmstore(d, &[&["--db", ""], command].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command:?}");
        assert!(stderr.contains("--db"), "{command:?}: {stderr}");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_lmstore"))
            .args(command)
            .current_dir(d)
            .env("LMLANG_DB", "")
            .output()
            .unwrap();
        assert!(!out.status.success(), "LMLANG_DB= {command:?}");
    }
    assert_eq!(files(), before, "nothing was written");
}

/// An export saved with a byte order mark (as some Windows editors do) imports; one
/// that is not UTF-8 is refused with the offset of the first bad byte.
#[test]
fn an_export_may_begin_with_a_byte_order_mark_and_bad_utf8_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["generate", "--nodes", "1000", "--name", "x"]);
    ok(d, &["export", "x", "-o", "x.json"]);
    let text = std::fs::read(d.join("x.json")).unwrap();
    std::fs::write(d.join("bom.json"), [b"\xEF\xBB\xBF".as_slice(), &text].concat()).unwrap();
    ok(d, &["import", "bom.json", "--name", "from-bom"]);

    let mut bad = text.clone();
    bad[40] = 0xFF;
    std::fs::write(d.join("bad.json"), &bad).unwrap();
    let out = lmstore(d, &["import", "bad.json", "--name", "bad"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not UTF-8") && err.contains("offset 40"), "{err}");
}

/// A reader that stops early (`lmstore export p | head`) ends lmstore quietly: no
/// panic message about a broken pipe.
#[test]
fn a_closed_pipe_ends_lmstore_quietly() {
    use std::io::Read;
    let dir = tempfile::tempdir().expect("temp dir");
    cli_support::ok(dir.path(), &["generate", "--nodes", "20000", "--name", "big"]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lmstore"))
        .args(["export", "big"])
        .current_dir(dir.path())
        .env_remove("LMLANG_DB")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = [0u8; 16];
    child.stdout.take().expect("stdout").read_exact(&mut first).expect("the export starts");
    // The reader goes away with most of the document unread.
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
}

/// Output that cannot be written (a full disk; here `> /dev/full`) is the command's
/// failure, reported on stderr, not a panic.
#[test]
fn an_unwritable_stdout_is_a_clean_failure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    ok(d, &["generate", "--nodes", "50", "--name", "p"]);
    ok(d, &["generate", "--nodes", "50", "--name", "q"]);
    let commands: [&[&str]; 7] = [
        &["list"],
        &["show", "p"],
        &["hash", "p"],
        &["verify"],
        &["log", "p", "--json"],
        &["diff", "p", "q"],
        &["delete", "q"],
    ];
    for args in commands {
        let full = std::fs::File::create("/dev/full").expect("/dev/full");
        let out = Command::new(env!("CARGO_BIN_EXE_lmstore"))
            .args(args)
            .current_dir(d)
            .env_remove("LMLANG_DB")
            .stdout(full)
            .output()
            .expect("the binary runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.starts_with("lmstore: error: cannot write to standard output"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// `demo` never deletes a program it did not store: a program of the user's named
/// `sample` (or the demo's sample edited since) stops it, untouched, until `--force`;
/// an earlier demo's programs are kept as they are, history and ids included.
#[test]
fn a_demo_keeps_its_own_programs_and_replaces_another_only_when_forced() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["generate", "--nodes", "20", "--name", "mine"]);
    ok(d, &["export", "mine", "-o", "mine.json"]);
    ok(d, &["import", "mine.json", "--name", "sample"]);
    let before = json(d, &["hash", "sample", "--json"])["program"].clone();
    let out = lmstore(d, &["demo"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"sample\" is already stored") && err.contains("--force"), "{err}");
    assert_eq!(json(d, &["hash", "sample", "--json"])["program"], before, "the user's program is untouched");

    // A user's tag on the demo's own generated program: `--force` replaces only what
    // differs, so that program and its history stay.
    ok(d, &["demo", "--force"]);
    ok(d, &["tag", "generated-10k", "v1"]);
    ok(d, &["delete", "sample"]);
    ok(d, &["import", "mine.json", "--name", "sample"]);
    let forced = ok(d, &["demo", "--force"]);
    assert!(forced.contains("replaced") && forced.contains("kept"), "{forced}");
    assert!(ok(d, &["tag", "generated-10k"]).contains("v1"), "the identical program was kept with its tags");
    assert_ne!(json(d, &["hash", "sample", "--json"])["program"], before);
    let id_of = |name: &str| {
        let list = json(d, &["list", "--json"]);
        list.as_array().unwrap().iter().find(|p| p["name"] == name).unwrap()["id"].clone()
    };
    let (sample, generated) = (id_of("sample"), id_of("generated-10k"));
    let again = ok(d, &["demo"]);
    assert!(again.contains("kept") && again.contains("reloaded equal"), "{again}");
    assert_eq!((id_of("sample"), id_of("generated-10k")), (sample, generated), "kept, not stored again");
}

/// The README's `show` example is what `show` prints for the demo's sample (the lines
/// it elides aside): its root hash, its node and edge lines.
#[test]
fn the_readme_show_example_is_what_show_prints() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let start = readme.find("$ lmstore show sample --function main\n").expect("the example");
    let block = &readme[start..];
    let block = &block[..block.find("\n\n$ ").expect("the example's end")];
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    let shown = ok(d, &["show", "sample", "--function", "main"]);
    let mut checked = 0;
    for line in block.lines().skip(1).map(str::trim_end) {
        if line.trim().is_empty() || line.trim() == "..." {
            continue;
        }
        let expected = line.split_once("...").map_or(line, |(head, _)| head);
        assert!(shown.lines().any(|l| l.starts_with(expected)), "README line {line:?} is not printed:\n{shown}");
        checked += 1;
    }
    assert!(checked > 10, "{block}");
}

/// A demo killed half-way leaves its program under a staging name; the next demo
/// deletes staging programs of processes that no longer run.
#[test]
fn a_demo_clears_what_a_killed_demo_left() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // No process has an id this high (Linux's ceiling is 4,194,304).
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let left = format!("sample (being stored by process 2000000000 on {})", host.trim());
    let left = left.as_str();
    // Another host's is left alone: its processes cannot be looked up from here.
    let elsewhere = "sample (being stored by process 2000000000 on another-host)";
    ok(d, &["generate", "--nodes", "10", "--name", left]);
    ok(d, &["generate", "--nodes", "10", "--name", elsewhere]);
    ok(d, &["demo"]);
    let list = json(d, &["list", "--json"]);
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(!names.contains(&left));
    assert!(names.contains(&elsewhere));
}

/// A service's table that refers to a program (a foreign key on `lmlang_programs`)
/// keeps `lmstore delete` from deleting it: said in one line that names the way out,
/// and nothing is deleted.
#[test]
fn delete_of_a_program_a_service_refers_to_says_so_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["generate", "--nodes", "50", "--name", "p"]);
    let conn = rusqlite::Connection::open(d.join("lmlang.db")).unwrap();
    conn.execute_batch(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, program_id BIGINT NOT NULL REFERENCES lmlang_programs (id)); \
         INSERT INTO users (program_id) VALUES (1);",
    )
    .unwrap();
    drop(conn);
    let out = lmstore(d, &["delete", "p"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("referred to by rows of another application's tables") && err.contains("nothing was deleted"));
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(ok(d, &["list"]).contains("p "), "the program is still there");
}

/// A libpq `key=value` connection string is no URL, so `lmstore` takes it for a file's
/// name; the messages that echo it still never show its password.
#[test]
fn a_password_in_a_key_value_connection_string_is_not_printed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = lmstore(dir.path(), &["--db", "host=127.0.0.1 password=not-printed dbname=app", "list"]);
    assert!(!out.status.success());
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("password=***") && !text.contains("not-printed"), "{text}");

    // Every form libpq reads: whitespace around `=`, quoted values (with spaces and
    // escapes), any whitespace between pairs. The commands that fail and the one that
    // succeeds (`demo` on a file so named) all echo the string.
    for db in [
        "host=127.0.0.1 password = not-printed dbname=app",
        "host=127.0.0.1 password='not printed' dbname=app",
        "host=127.0.0.1 password='not-printed\\' also' dbname=app",
        "host=127.0.0.1\tpassword=not-printed\tdbname=app",
        "host=127.0.0.1\npassword\t=\tnot-printed\ndbname=app",
        "host=127.0.0.1 password=not\\ printed dbname=app",
    ] {
        for command in ["list", "demo"] {
            let out = lmstore(dir.path(), &["--db", db, command]);
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(text.contains("***"), "{db:?} {command}: {text}");
            assert!(!text.contains("not-printed") && !text.contains("printed'"), "{db:?} {command}: {text}");
            assert!(!text.contains("printed dbname") && !text.contains("also"), "{db:?} {command}: {text}");
        }
    }
}

/// `--busy-timeout` sets how long a command waits for another process's write: a short
/// one gives up with a message that names the option, a long one outlasts the write.
#[test]
fn busy_timeout_sets_how_long_a_command_waits_for_another_writer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    ok(d, &["demo"]);
    // Another process's write, holding the lock.
    let holder = rusqlite::Connection::open(d.join("lmlang.db")).expect("connection");
    holder.execute_batch("BEGIN IMMEDIATE").expect("lock");
    let out = lmstore(d, &["--busy-timeout", "0.2", "tag", "sample", "quick"]);
    assert_eq!(out.status.code(), Some(75), "EX_TEMPFAIL: a script may retry");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--busy-timeout") && err.contains("0.2 s"), "{err}");
    // Said to a user of the tool, who has no transaction of their own.
    assert!(err.contains("nothing was written") && !err.contains("transaction"), "{err}");
    // Held for longer than the default wait (5 s), which would give up.
    let patient = cli_support::spawn(d, &["--busy-timeout", "50", "tag", "sample", "patient"]);
    std::thread::sleep(std::time::Duration::from_secs(6));
    holder.execute_batch("COMMIT").expect("unlock");
    let out = cli_support::within_a_minute(patient, "a tag waiting for the lock");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tags = ok(d, &["tag", "sample"]);
    assert!(tags.contains("patient") && !tags.contains("quick"), "{tags}");
    let refused = lmstore(d, &["--busy-timeout", "-1", "list"]);
    assert_eq!(refused.status.code(), Some(2), "clap refuses a negative wait");
}

/// A write of an output file killed half-way leaves its temporary `.NAME.XXXXXX.partial`
/// beside it (nothing runs on SIGKILL); the next write of the same file removes every
/// such file no process is still writing, and leaves the rest alone.
#[test]
fn a_write_removes_the_partial_files_killed_writes_of_the_same_file_left() {
    use std::fs::{File, FileTimes};
    use std::time::{Duration, SystemTime};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    let old = SystemTime::now() - Duration::from_secs(3600);
    let partial = |name: &str, age: SystemTime| {
        let file = File::create(d.join(name)).unwrap();
        std::io::Write::write_all(&mut &file, b"{\"truncated").unwrap();
        file.set_times(FileTimes::new().set_modified(age)).unwrap();
        file
    };
    drop(partial(".out.json.a1b2c3.partial", old));
    drop(partial(".out.json.d4e5f6.partial", old));
    // Still being written by a live process (this one holds its lock).
    let writing = partial(".out.json.g7h8i9.partial", old);
    writing.lock().unwrap();
    // Just created: its writer may not have locked it yet.
    drop(partial(".out.json.j0k1l2.partial", SystemTime::now()));
    // Another file's, and files of the user's whose names only look alike.
    drop(partial(".other.json.m3n4o5.partial", old));
    drop(partial(".out.json.notes", old));
    drop(partial(".out.json.partial", old));
    drop(partial(".out.json.notes.partial", old));
    drop(partial(".out.json.abc.partial", old));
    drop(partial(".out.json.ab-def.partial", old));

    ok(d, &["export", "sample", "-o", "out.json"]);
    let mut left: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            ".other.json.m3n4o5.partial",
            ".out.json.ab-def.partial",
            ".out.json.abc.partial",
            ".out.json.g7h8i9.partial",
            ".out.json.j0k1l2.partial",
            ".out.json.notes",
            ".out.json.notes.partial",
            ".out.json.partial"
        ]
    );
    let export: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("out.json")).unwrap()).unwrap();
    assert!(export.is_object(), "the export itself is whole");
    drop(writing);
}

/// An output file with a long name (up to the 255 bytes a name may have) is still
/// written whole or not at all: into a temporary file, then renamed over the old one
/// (a new inode), never truncated in place.
#[cfg(unix)]
#[test]
fn an_output_file_with_a_long_name_is_replaced_not_written_over() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    for length in [200, 240, 250] {
        let name = format!("{}.json", "x".repeat(length - 5));
        ok(d, &["export", "sample", "-o", &name]);
        let before = std::fs::metadata(d.join(&name)).unwrap().ino();
        ok(d, &["export", "sample", "-o", &name]);
        assert_ne!(std::fs::metadata(d.join(&name)).unwrap().ino(), before, "{length} bytes: replaced, not rewritten");
    }
}

/// A small tmpfs mounted for the life of the value (unmounted even when a test fails).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: std::path::PathBuf, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(&at).ok()?;
        let mounted =
            Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(&at).output();
        mounted.ok()?.status.success().then_some(Tmpfs(at))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
    }
}

/// A backup to a disk that fills says the copy found no room there (not the store's
/// own `max_page_count`), leaves nothing there, and leaves the store as it was.
#[test]
fn a_backup_to_a_full_disk_leaves_nothing_there_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["generate", "--nodes", "20000", "--name", "big"]);
    let hash = ok(d, &["hash", "big"]);
    let Some(small) = Tmpfs::mount(d.join("small"), "256k") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs CAP_SYS_ADMIN)");
        return;
    };
    let out = lmstore(d, &["backup", "small/copy.db"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("backup to small/copy.db: no room for the copy there"), "{err}");
    assert!(!err.contains("max_page_count"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&small.0).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "{left:?}");
    drop(small);
    assert!(lmstore(d, &["verify"]).status.success());
    assert_eq!(ok(d, &["hash", "big"]), hash);
}

/// `lmstore backup` while another process writes: the copy verifies clean and holds
/// what was committed before it began; it never overwrites a file, and a `file:` name
/// is a file so named, not a URI.
#[test]
fn backup_copies_a_live_file_consistently_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["demo"]);
    let sample = ok(d, &["hash", "sample"]);
    let writer = spawn(d, &["generate", "--nodes", "20000", "--name", "during"]);
    assert!(ok(d, &["backup", "during.db"]).contains("during.db written"));
    assert!(within_a_minute(writer, "the writer").status.success());
    let verified = lmstore(d, &["--db", "during.db", "verify"]);
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stdout));
    assert_eq!(ok(d, &["--db", "during.db", "hash", "sample"]), sample);
    let again = lmstore(d, &["backup", "during.db"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"), "{again:?}");
    // A link at the name (here dangling), the live file's journal name, a missing
    // directory: refused, nothing made or removed.
    std::os::unix::fs::symlink(d.join("elsewhere").join("copy.db"), d.join("link.db")).unwrap();
    for dest in ["link.db", "lmlang.db-journal", "nowhere/copy.db"] {
        let out = lmstore(d, &["backup", dest]);
        assert_eq!(out.status.code(), Some(1), "{dest}: {out:?}");
    }
    assert!(d.join("link.db").symlink_metadata().unwrap().file_type().is_symlink());
    assert!(!d.join("lmlang.db-journal").exists() && !d.join("nowhere").exists());
    ok(d, &["backup", "file:literal.db"]);
    assert!(d.join("file:literal.db").is_file());
    assert_eq!(ok(d, &["--db", "file:literal.db", "hash", "sample"]), sample);
    let left: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".partial"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
