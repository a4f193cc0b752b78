//! `SqliteStore::backup_to`, as an operator backing up a live store relies on it: the
//! copy is one moment of the store (every program equal to the store's own history at
//! the revision the copy holds), taken while another thread keeps committing; it
//! opens as any store, with history and ids that go on from where they were; it never
//! overwrites a file and leaves nothing half-written behind.

use lmlang_storage::model::{ComputeNodeOp, ComputeOp, ConstValue};
use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::{GraphStore, ProgramHistory, StorageError};
use lmlang_storage::synth::{SynthConfig, generate};
use std::sync::atomic::{AtomicBool, Ordering};

fn constant(v: i64) -> ComputeNodeOp {
    ComputeOp::Const { value: ConstValue::I64(v) }.into()
}

#[test]
fn a_backup_taken_during_commits_is_one_moment_of_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("live.db")).unwrap();
    store.set_history(true);
    let p = store.insert_program("p", &generate(&SynthConfig::new(2_000))).unwrap();
    let function = store.load_program(p).unwrap().functions().next().unwrap().id;
    let stop = AtomicBool::new(false);
    let copies: Vec<_> = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut k = 0;
            while !stop.load(Ordering::Relaxed) {
                let node = store.insert_node(p, function, constant(k)).unwrap();
                if k % 4 == 3 {
                    store.delete_node(p, node).unwrap();
                }
                k += 1;
            }
            k
        });
        let copies = (0..3)
            .map(|n| {
                std::thread::sleep(std::time::Duration::from_millis(30));
                let dest = dir.path().join(format!("copy-{n}.db"));
                let committed = store.program_summary(p).unwrap().revision;
                store.backup_to(&dest).unwrap();
                (dest, committed)
            })
            .collect();
        stop.store(true, Ordering::Relaxed);
        assert!(writer.join().unwrap() > 0, "the writer committed during the backups");
        copies
    });
    let mut revisions = Vec::new();
    for (dest, committed) in &copies {
        let copy = SqliteStore::open(dest).unwrap();
        assert_eq!(copy.integrity_check().unwrap(), Vec::<String>::new());
        let restored = copy.load_program(p).unwrap();
        let revision = copy.list_programs().unwrap()[0].revision;
        assert!(revision >= *committed, "every commit made before the backup is in it: {revision} < {committed}");
        let then = store.load_at(p, revision).unwrap();
        assert_eq!(restored.hashes().program(), then.hashes().program(), "{} at revision {revision}", dest.display());
        // The copy's history replays back to the first revision (a copy taken before the
        // writer's first commit holds only that one), and its ids go on past every one
        // handed out.
        for back in 1..=revision.min(2) {
            let (copied, live) = (copy.load_at(p, back).unwrap(), store.load_at(p, back).unwrap());
            assert_eq!(copied.hashes().program(), live.hashes().program(), "revision {back} of a copy at {revision}");
        }
        let node = copy.insert_node(p, function, constant(-1)).unwrap();
        assert_eq!(node.0, restored.next_ids().node, "a new id, never one the copy's program handed out");
        revisions.push(revision);
    }
    assert!(revisions.windows(2).all(|w| w[0] <= w[1]), "later backups are later moments: {revisions:?}");
    let mut names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.retain(|n| n.to_string_lossy().contains(".partial"));
    assert!(names.is_empty(), "half-written copies left: {names:?}");
}

#[test]
fn a_backup_never_overwrites_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("live.db")).unwrap();
    store.insert_program("p", &generate(&SynthConfig::new(100))).unwrap();
    let dest = dir.path().join("taken.db");
    std::fs::write(&dest, b"an earlier backup").unwrap();
    match store.backup_to(&dest) {
        Err(e @ StorageError::Database { .. }) => assert!(e.to_string().contains("already exists"), "{e}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(std::fs::read(&dest).unwrap(), b"an earlier backup");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4, "live.db, its -wal and -shm, taken.db");
}

/// A backup is no more readable than the store's file: a private store's backup stays
/// private (it was made as any new file, readable by everyone under the usual umask).
#[test]
fn a_backup_keeps_the_live_files_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.db");
    let store = SqliteStore::open(&live).unwrap();
    store.insert_program("p", &generate(&SynthConfig::new(100))).unwrap();
    // 0o444: a store file no one may write still backs up (the copy is its owner's).
    for (mode, name) in [(0o600, "private.db"), (0o640, "group.db"), (0o444, "read-only.db")] {
        std::fs::set_permissions(&live, std::fs::Permissions::from_mode(mode)).unwrap();
        let dest = dir.path().join(name);
        store.backup_to(&dest).unwrap();
        let got = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
        assert_eq!(got & 0o077 & !mode, 0, "{name}: {got:o} grants others more than the live file's {mode:o}");
        assert_eq!(got & 0o600, 0o600, "{name}: the owner reads and writes it");
    }
}

/// A backup killed before it finished leaves its copy (as large as the store) and
/// SQLite's journal beside DEST under temporary names. The next backup to DEST removes
/// those, and only those: the user's own regular files of that name, unlocked (no
/// backup is writing them) and not written for a minute. A copy still being written,
/// another user's file, a link and any other name stay.
#[test]
fn a_backup_removes_what_killed_backups_to_the_same_file_left() {
    use std::fs::{File, FileTimes};
    use std::time::{Duration, SystemTime};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = SqliteStore::open(d.join("live.db")).unwrap();
    store.insert_program("p", &generate(&SynthConfig::new(100))).unwrap();
    let old = FileTimes::new().set_modified(SystemTime::now() - Duration::from_secs(600));
    let make = |name: &str, aged: bool| {
        let file = File::create(d.join(name)).unwrap();
        std::fs::write(d.join(name), b"half a copy").unwrap();
        if aged {
            file.set_times(old).unwrap();
        }
        file
    };
    // Left by killed backups: a copy with its journal, and a journal alone.
    make("b.db.lmlang-partial-4000001-17-0", true);
    make("b.db.lmlang-partial-4000001-17-0-journal", true);
    make("b.db.lmlang-partial-4000002-18-3-journal", true);
    // Kept: a copy written a moment ago, one a running backup holds locked, another
    // user's, a link to an aged file, and names of another pattern or another DEST.
    make("b.db.lmlang-partial-4000003-19-0", false);
    let held = make("b.db.lmlang-partial-4000004-20-0", true);
    held.try_lock().unwrap();
    let running_as_root = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(d).unwrap()) == 0;
    make("b.db.lmlang-partial-4000005-21-0", true);
    if running_as_root {
        std::os::unix::fs::chown(d.join("b.db.lmlang-partial-4000005-21-0"), Some(65534), Some(65534)).unwrap();
    }
    make("aged-target", true);
    std::os::unix::fs::symlink(d.join("aged-target"), d.join("b.db.lmlang-partial-4000006-22-0")).unwrap();
    make("b.db.lmlang-partial-x-23-0", true);
    make("b.db.lmlang-partial-4000007-24", true);
    make("c.db.lmlang-partial-4000008-25-0", true);

    store.backup_to(&d.join("b.db")).unwrap();
    let mut names: Vec<String> =
        std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    let mut kept = vec![
        "aged-target",
        "b.db",
        "b.db.lmlang-partial-4000003-19-0",
        "b.db.lmlang-partial-4000004-20-0",
        "b.db.lmlang-partial-4000006-22-0",
        "b.db.lmlang-partial-4000007-24",
        "b.db.lmlang-partial-x-23-0",
        "c.db.lmlang-partial-4000008-25-0",
        "live.db",
        "live.db-shm",
        "live.db-wal",
    ];
    if running_as_root {
        kept.push("b.db.lmlang-partial-4000005-21-0");
        kept.sort();
    }
    assert_eq!(names, kept);
    drop(held);
    assert_eq!(SqliteStore::open(d.join("b.db")).unwrap().list_programs().unwrap().len(), 1);
}

/// The store's own file is never taken for a killed backup's leftover, whatever its
/// name: a live database named as a backup's temporary copy of DEST, unwritten for a
/// while, and its WAL, stay.
#[test]
fn a_backup_never_removes_the_live_database_whatever_its_name() {
    use std::fs::{File, FileTimes};
    use std::time::{Duration, SystemTime};
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("x.db.lmlang-partial-1-2-3");
    let store = SqliteStore::open(&live).unwrap();
    let g = generate(&SynthConfig::new(100));
    let p = store.insert_program("p", &g).unwrap();
    store.checkpoint().unwrap();
    let old = FileTimes::new().set_modified(SystemTime::now() - Duration::from_secs(600));
    for suffix in ["", "-wal", "-shm"] {
        let mut name = live.as_os_str().to_os_string();
        name.push(suffix);
        File::options().write(true).open(&name).unwrap().set_times(old).unwrap();
    }
    store.backup_to(&dir.path().join("x.db")).unwrap();
    assert!(live.exists());
    assert_eq!(SqliteStore::open(&live).unwrap().load_program(p).unwrap(), g);
    assert_eq!(SqliteStore::open(dir.path().join("x.db")).unwrap().load_program(p).unwrap(), g);
}

/// A service's own pool backs up the same way, and its connection keeps its own
/// settings; inside the service's open transaction a backup is refused, leaving no file.
#[test]
fn a_store_on_a_services_pool_or_connection_backs_up_outside_its_transactions() {
    use diesel::connection::SimpleConnection;
    use diesel::r2d2::{ConnectionManager, Pool};
    use diesel::{Connection, RunQueryDsl, SqliteConnection};
    use lmlang_storage::sqlite::{self, ConnectionStore, PooledSqliteStore, SqliteCustomizer};
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("svc.db").to_str().unwrap().to_string();
    sqlite::run_migrations(&mut SqliteConnection::establish(&url).unwrap()).unwrap();
    let pool = Pool::builder()
        .max_size(1)
        .connection_customizer(Box::new(SqliteCustomizer::default()))
        .build(ConnectionManager::<SqliteConnection>::new(url.as_str()))
        .unwrap();
    let store = PooledSqliteStore::on_pool(pool.clone());
    let g = generate(&SynthConfig::new(300));
    let p = store.insert_program("p", &g).unwrap();
    let dest = dir.path().join("svc-copy.db");
    store.backup_to(&dest).unwrap();
    assert_eq!(SqliteStore::open(&dest).unwrap().load_program(p).unwrap(), g);
    // The service's connection still writes.
    pool.get().unwrap().batch_execute("CREATE TABLE svc_notes (id INTEGER PRIMARY KEY)").unwrap();

    let mut conn = SqliteConnection::establish(&url).unwrap();
    let inside = dir.path().join("inside.db");
    let refused: Result<(), diesel::result::Error> = conn.transaction(|conn| {
        diesel::sql_query("INSERT INTO svc_notes (id) VALUES (1)").execute(conn)?;
        let refused = ConnectionStore::on_connection(conn).backup_to(&inside).unwrap_err();
        assert!(refused.to_string().contains("runs outside transactions"), "{refused}");
        Ok(())
    });
    refused.unwrap();
    assert!(!inside.exists());
    // The same on a pool whose one connection is in a test transaction.
    pool.get().unwrap().begin_test_transaction().unwrap();
    let refused = store.backup_to(&inside).unwrap_err();
    assert!(refused.to_string().contains("runs outside transactions"), "{refused}");
    assert!(!inside.exists());
    let left = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().contains(".partial")));
    assert_eq!(left.count(), 0);
}
