//! Full disks: a write that runs out of space part-way fails with `StorageError::Full`,
//! writes nothing, leaves the store usable, and loses nothing committed.
//!
//! The space limit is SQLite's `max_page_count` on the writer connection
//! (`SqliteConfig::max_page_count`), which fails a write exactly as a full disk does
//! (`SQLITE_FULL`). A second test fills a real (tmpfs) file system; it needs the right
//! to mount one and is skipped, saying so, where that is not allowed.

mod reliability_support;

use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::model::{ComputeOp, FunctionId};
use lmlang_storage::sqlite::{SqliteConfig, SqliteStore};
use lmlang_storage::store::{GraphStore, ProgramId, StorageError};
use lmlang_storage::synth::{SynthConfig, generate};
use reliability_support::sample_program;
use std::path::Path;
use std::process::Command;

fn pages(store: &SqliteStore) -> u32 {
    let bytes = store.database_bytes().unwrap();
    u32::try_from(bytes / 4096).unwrap()
}

/// What the store holds, to compare before and after a failed write.
fn contents(store: &SqliteStore) -> Vec<(String, ProgramGraph)> {
    store.list_programs().unwrap().into_iter().map(|p| (p.name, store.load_program(p.id).unwrap())).collect()
}

/// Asserts that two sets of programs are equal, without printing whole graphs.
fn assert_same(what: &str, a: &[(String, ProgramGraph)], b: &[(String, ProgramGraph)]) {
    let names = |c: &[(String, ProgramGraph)]| {
        c.iter().map(|(n, g)| format!("{n} ({} nodes)", g.node_count())).collect::<Vec<_>>()
    };
    assert!(a == b, "{what}: {:?} differs from {:?}", names(a), names(b));
}

fn assert_full<T: std::fmt::Debug>(what: &str, result: Result<T, StorageError>) {
    assert!(matches!(result, Err(StorageError::Full)), "{what}: expected Full, got {result:?}");
}

/// Every kind of large write fails with `Full` and changes nothing; small writes that
/// fit still work; a CRUD call after a failed one gets the next id in order. Returns
/// what the store holds at the end.
fn exercise_full_store(store: &SqliteStore, small: ProgramId, big: &ProgramGraph) -> Vec<(String, ProgramGraph)> {
    let before = contents(store);
    assert_full("insert_program", store.insert_program("big", big));
    assert_same("a failed insert_program", &contents(store), &before);

    let grow = |g: &mut ProgramGraph| -> Result<(), lmlang_storage::graph::GraphError> {
        for i in 0..4_000i64 {
            g.add_core_op(FunctionId(0), ComputeOp::Const { value: lmlang_storage::model::ConstValue::I64(i) })?;
        }
        Ok(())
    };
    assert_full("edit", store.edit(small, &mut |g| grow(g)));
    assert_same("a failed edit", &contents(store), &before);

    let mut loaded = store.load_program(small).unwrap();
    grow(&mut loaded).unwrap();
    assert_full("save_program", store.save_program(small, &loaded));
    assert_same("a failed save", &contents(store), &before);
    assert_full("save_program of a copy", store.save_program(small, &loaded.clone()));
    assert_same("a failed save of a copy", &contents(store), &before);

    // The store is still usable: reads work, and so do writes that fit.
    let stored = store.load_program(small).unwrap();
    let next = stored.next_ids().node;
    let node = store.insert_node(small, FunctionId(0), ComputeOp::Print.into()).unwrap();
    assert_eq!(node.0, next, "ids continue from the committed state");
    assert!(store.get_node(small, node).is_ok());
    store.delete_node(small, node).unwrap();
    assert!(store.integrity_check().unwrap().is_empty());
    contents(store)
}

#[test]
fn a_write_past_max_page_count_fails_with_full_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("full.db");
    let (sample, _) = sample_program();
    let store = SqliteStore::open(&db).unwrap();
    let small = store.insert_program("small", &generate(&SynthConfig::new(300))).unwrap();
    store.insert_program("sample", &sample).unwrap();
    store.checkpoint().unwrap();
    let limit = pages(&store) + 24;
    drop(store);

    let config = SqliteConfig::default().with_max_page_count(Some(limit));
    let store = SqliteStore::open_with(&db, config).unwrap();
    let big = generate(&SynthConfig::new(20_000));
    let committed = exercise_full_store(&store, small, &big);
    drop(store);

    // With room again (the limit lifted), everything committed is there and the big
    // program fits.
    let store = SqliteStore::open(&db).unwrap();
    assert_same("after the limit was lifted", &contents(&store), &committed);
    let id = store.insert_program("big", &big).unwrap();
    assert!(store.load_program(id).unwrap() == big);
    assert!(store.integrity_check().unwrap().is_empty());
}

/// Mounts a small tmpfs for the life of the value.
struct Tmpfs<'a>(&'a Path);

impl<'a> Tmpfs<'a> {
    fn mount(at: &'a Path, size: &str) -> Option<Self> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(at))
    }
}

impl Drop for Tmpfs<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0).status();
    }
}

#[test]
fn a_really_full_file_system_fails_with_full_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_mount) = Tmpfs::mount(dir.path(), "6m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs CAP_SYS_ADMIN)");
        return;
    };
    let db = dir.path().join("full.db");
    let store = SqliteStore::open(&db).unwrap();
    let small = store.insert_program("small", &generate(&SynthConfig::new(300))).unwrap();
    store.insert_program("sample", &sample_program().0).unwrap();
    // Fill the file system, leaving a little room, with a file we can delete later.
    let ballast = dir.path().join("ballast");
    let free = {
        let out = Command::new("df").args(["-B1", "--output=avail"]).arg(dir.path()).output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse::<u64>().unwrap()
    };
    std::fs::write(&ballast, vec![0u8; free.saturating_sub(160 * 1024) as usize]).unwrap();
    let committed = exercise_full_store(&store, small, &generate(&SynthConfig::new(20_000)));

    // Free the space: the same store writes again, nothing was lost.
    std::fs::remove_file(&ballast).unwrap();
    let big = generate(&SynthConfig::new(5_000));
    let id = store.insert_program("big", &big).unwrap();
    assert!(store.load_program(id).unwrap() == big);
    drop(store);
    let store = SqliteStore::open(&db).unwrap();
    assert_eq!(contents(&store).len(), committed.len() + 1);
    assert!(store.integrity_check().unwrap().is_empty());
}

/// Opening a store whose `-shm` file must be made (every earlier user closed it) on a
/// full file system failed with SQLite's "disk I/O error", a hint of damage; and a
/// store opened for writing on a read-only mount said "unable to open database file".
/// Both now say what the file system is.
#[test]
fn opening_on_a_full_or_read_only_file_system_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_mount) = Tmpfs::mount(dir.path(), "4m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs CAP_SYS_ADMIN)");
        return;
    };
    let db = dir.path().join("c.db");
    let program = generate(&SynthConfig::new(300));
    SqliteStore::open(&db).unwrap().insert_program("p", &program).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.path().join(format!("c.db{suffix}")));
    }
    let ballast = dir.path().join("ballast");
    {
        use std::io::Write as _;
        let mut file = std::fs::File::create(&ballast).unwrap();
        while file.write_all(&[0u8; 4096]).is_ok() {}
    }
    let read_only = SqliteConfig::default().with_read_only(true);
    assert_full("a writable open", SqliteStore::open(&db).map(drop));
    assert_full("a read-only open", SqliteStore::open_with(&db, read_only.clone()).map(drop));
    std::fs::remove_file(&ballast).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.path().join(format!("c.db{suffix}")));
    }
    let remount = |mode: &str| {
        let status = Command::new("mount").args(["-o", &format!("remount,{mode}")]).arg(dir.path()).status();
        assert!(status.is_ok_and(|s| s.success()), "remount {mode}");
    };
    std::fs::create_dir(dir.path().join("adir")).unwrap();
    remount("ro");
    let writable = SqliteStore::open(&db).map(drop);
    let directory = SqliteStore::open(dir.path().join("adir")).map(drop);
    let reader = SqliteStore::open_with(&db, read_only).and_then(|s| s.load_program(s.find_program("p")?));
    remount("rw");
    assert!(matches!(writable, Err(StorageError::ReadOnly)), "{writable:?}");
    let not_a_file = "is a directory, not a database file";
    assert!(directory.as_ref().is_err_and(|e| e.to_string().contains(not_a_file)), "{directory:?}");
    assert!(reader.is_ok_and(|g| g == program), "a read-only store reads a read-only mount");
    let store = SqliteStore::open(&db).unwrap();
    let id = store.find_program("p").unwrap();
    assert!(store.load_program(id).unwrap() == program);
}
