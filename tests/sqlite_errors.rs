//! SQLite errors arrive typed: real errors from real SQLite connections, converted as a
//! host service's `?` converts them (`From<diesel::result::Error> for StorageError`),
//! and as the store's own connections and pools report them.
//!
//! Constraint violations keep their kind; busy, read-only, full and corrupt databases
//! get their own variants; SQLite's canonical message texts, which the classification
//! relies on where Diesel keeps no result code, are checked against the SQLite linked.

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel::result::{DatabaseErrorKind as DieselKind, Error as DieselError};
use diesel::{Connection, SqliteConnection};
use lmlang_storage::sqlite::{PooledSqliteStore, SqliteStore};
use lmlang_storage::store::{DatabaseErrorKind, GraphStore, StorageError};
use std::ffi::CStr;
use std::os::raw::c_int;
use std::path::Path;
use std::time::Duration;

fn memory() -> SqliteConnection {
    SqliteConnection::establish(":memory:").unwrap()
}

/// The error of a batch that must fail, converted as `?` converts it.
fn failure(conn: &mut SqliteConnection, sql: &str) -> StorageError {
    match conn.batch_execute(sql) {
        Ok(()) => panic!("{sql} succeeded"),
        Err(e) => StorageError::from(e),
    }
}

fn assert_kind(e: &StorageError, kind: DatabaseErrorKind) {
    assert!(matches!(e, StorageError::Database { kind: k, .. } if *k == kind), "expected {kind:?}, got {e:?}");
    assert_eq!(e.database_kind(), Some(kind));
}

#[test]
fn a_unique_violation_keeps_its_kind() {
    let mut conn = memory();
    conn.batch_execute("CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT UNIQUE); INSERT INTO t VALUES (1, 'a')")
        .unwrap();
    let e = failure(&mut conn, "INSERT INTO t VALUES (2, 'a')");
    assert_kind(&e, DatabaseErrorKind::UniqueViolation);
    assert!(e.to_string().contains("UNIQUE constraint failed: t.x"), "{e}");
    // A duplicate primary key is a unique violation too.
    assert_kind(&failure(&mut conn, "INSERT INTO t VALUES (1, 'b')"), DatabaseErrorKind::UniqueViolation);
}

#[test]
fn foreign_key_check_and_not_null_violations_keep_their_kinds() {
    let mut conn = memory();
    conn.batch_execute(
        "PRAGMA foreign_keys = ON; \
         CREATE TABLE parent (id INTEGER PRIMARY KEY); \
         CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER NOT NULL REFERENCES parent (id), \
                             n INTEGER CHECK (n > 0));",
    )
    .unwrap();
    assert_kind(&failure(&mut conn, "INSERT INTO child VALUES (1, 7, 1)"), DatabaseErrorKind::ForeignKeyViolation);
    conn.batch_execute("INSERT INTO parent VALUES (7)").unwrap();
    assert_kind(&failure(&mut conn, "INSERT INTO child VALUES (1, 7, 0)"), DatabaseErrorKind::CheckViolation);
    assert_kind(&failure(&mut conn, "INSERT INTO child VALUES (1, NULL, 1)"), DatabaseErrorKind::NotNullViolation);
}

#[test]
fn a_held_write_lock_gives_busy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.db");
    let url = path.to_str().unwrap();
    let mut holder = SqliteConnection::establish(url).unwrap();
    holder.batch_execute("CREATE TABLE t (x INTEGER); BEGIN IMMEDIATE; INSERT INTO t VALUES (1)").unwrap();
    let mut other = SqliteConnection::establish(url).unwrap();
    other.batch_execute("PRAGMA busy_timeout = 50").unwrap();
    let e = failure(&mut other, "BEGIN IMMEDIATE");
    assert!(matches!(e, StorageError::Busy), "{e:?}");
    holder.batch_execute("ROLLBACK").unwrap();
    other.batch_execute("BEGIN IMMEDIATE; ROLLBACK").unwrap();
}

#[test]
fn a_write_through_a_read_only_connection_gives_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro.db");
    SqliteConnection::establish(path.to_str().unwrap()).unwrap().batch_execute("CREATE TABLE t (x INTEGER)").unwrap();
    let mut ro = SqliteConnection::establish(&format!("file:{}?mode=ro", path.display())).unwrap();
    let e = failure(&mut ro, "INSERT INTO t VALUES (1)");
    assert!(matches!(e, StorageError::ReadOnly), "{e:?}");
}

#[test]
fn a_write_past_the_page_limit_gives_full() {
    let mut conn = memory();
    conn.batch_execute("CREATE TABLE t (x BLOB); PRAGMA max_page_count = 4").unwrap();
    let e = failure(&mut conn, "INSERT INTO t VALUES (randomblob(100000))");
    assert!(matches!(e, StorageError::Full), "{e:?}");
}

#[test]
fn a_file_that_is_not_a_database_gives_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.db");
    std::fs::write(&path, vec![b'x'; 8192]).unwrap();
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    match failure(&mut conn, "SELECT * FROM sqlite_schema") {
        StorageError::Corrupt { detail, .. } => assert_eq!(detail, "file is not a database"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_error_that_merely_mentions_malformed_text_is_not_corruption() {
    // A JSON function's error, not a damaged file: matching substrings of messages
    // took it for corruption.
    let mut conn = memory();
    assert_kind(&failure(&mut conn, "SELECT json('{')"), DatabaseErrorKind::Other);
    assert_kind(&failure(&mut conn, "SELECT * FROM no_such_table"), DatabaseErrorKind::Other);
}

#[test]
fn a_file_that_cannot_be_opened_is_cannot_open_on_open_and_through_a_pool() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no such directory").join("store.db");
    match SqliteStore::open(&missing) {
        Err(e) => {
            assert_kind(&e, DatabaseErrorKind::CannotOpen);
            assert!(e.to_string().contains("no such directory does not exist"), "{e}");
        }
        Ok(_) => panic!("opened a file in a missing directory"),
    }
    match SqliteStore::open(dir.path()) {
        Err(e) => {
            assert_kind(&e, DatabaseErrorKind::CannotOpen);
            assert!(e.to_string().contains("is a directory"), "{e}");
        }
        Ok(_) => panic!("opened a directory"),
    }
    assert!(!missing.exists());
    let pool = Pool::builder().connection_timeout(Duration::from_millis(300)).build_unchecked(ConnectionManager::<
        SqliteConnection,
    >::new(
        missing.to_str().unwrap(),
    ));
    match PooledSqliteStore::on_pool(pool).list_programs() {
        Err(e) => assert_kind(&e, DatabaseErrorKind::CannotOpen),
        Ok(p) => panic!("listed {p:?} through a pool that cannot connect"),
    }
}

/// `sqlite3_errstr`: SQLite's canonical text of a result code.
fn errstr(code: c_int) -> String {
    // SAFETY: sqlite3_errstr takes any int and returns a pointer to a static,
    // NUL-terminated English string (never NULL), which is only read here.
    let text = unsafe { CStr::from_ptr(libsqlite3_sys::sqlite3_errstr(code)) };
    text.to_str().unwrap().to_string()
}

/// SQLite reports a code without a message of its own as the code's canonical text;
/// the store recognises exactly those texts of the linked SQLite, extended codes
/// included (SQLite reports them as their primary code's text).
#[test]
fn the_canonical_texts_of_the_linked_sqlite_are_recognised() {
    use libsqlite3_sys as ffi;
    let classify = |code: c_int| {
        let info: Box<dyn diesel::result::DatabaseErrorInformation + Send + Sync> = Box::new(errstr(code));
        StorageError::from(DieselError::DatabaseError(DieselKind::Unknown, info))
    };
    for code in [ffi::SQLITE_BUSY, ffi::SQLITE_BUSY_SNAPSHOT, ffi::SQLITE_LOCKED, ffi::SQLITE_LOCKED_SHAREDCACHE] {
        assert!(matches!(classify(code), StorageError::Busy), "{code}: {}", errstr(code));
    }
    for code in [ffi::SQLITE_READONLY, ffi::SQLITE_READONLY_CANTLOCK, ffi::SQLITE_READONLY_DBMOVED] {
        assert!(matches!(classify(code), StorageError::ReadOnly), "{code}: {}", errstr(code));
    }
    assert!(matches!(classify(ffi::SQLITE_FULL), StorageError::Full));
    for code in [ffi::SQLITE_CORRUPT, ffi::SQLITE_CORRUPT_VTAB, ffi::SQLITE_NOTADB] {
        assert!(matches!(classify(code), StorageError::Corrupt { .. }), "{code}: {}", errstr(code));
    }
    for code in [ffi::SQLITE_CANTOPEN, ffi::SQLITE_CANTOPEN_ISDIR] {
        assert_kind(&classify(code), DatabaseErrorKind::CannotOpen);
    }
    for code in [ffi::SQLITE_ERROR, ffi::SQLITE_IOERR, ffi::SQLITE_MISUSE, ffi::SQLITE_CONSTRAINT] {
        assert_kind(&classify(code), DatabaseErrorKind::Other);
    }
}

/// A path under a regular file cannot be opened either.
#[test]
fn a_path_under_a_file_is_cannot_open() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, b"").unwrap();
    let inside: &Path = &not_a_dir.join("store.db");
    assert!(SqliteStore::open(inside).is_err_and(|e| e.database_kind() == Some(DatabaseErrorKind::CannotOpen)));
    assert!(!inside.exists());
}

/// A service pool whose every connection stays in use is a `Timeout` after the pool's
/// wait (the file is fine; a larger pool or fewer held connections is the answer), not
/// an unclassified error.
#[test]
fn a_pool_with_every_connection_in_use_times_out_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("held.db");
    drop(SqliteStore::open(&path).expect("migrated"));
    let pool = Pool::builder()
        .max_size(2)
        .connection_timeout(Duration::from_millis(300))
        .build(ConnectionManager::<SqliteConnection>::new(path.to_str().unwrap()))
        .expect("pool");
    let store = PooledSqliteStore::on_pool(pool.clone());
    let held = [pool.get().expect("one"), pool.get().expect("two")];
    match store.list_programs() {
        Err(e) => assert_kind(&e, DatabaseErrorKind::Timeout),
        Ok(p) => panic!("listed {p:?} without a free connection"),
    }
    drop(held);
    assert!(store.list_programs().expect("free again").is_empty());
}
