//! A path given to `SqliteStore::open` names a file, whatever SQLite would make of it:
//! a relative `file:x.db` is the file so named, not a URI for `x.db`, and `:memory:` (or
//! the empty path, a private temporary database) is refused rather than opened as a
//! database the pool could not share.
//!
//! One test in a binary of its own: it changes the working directory, which is the
//! whole process's.

use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::sqlite::{SqliteConfig, SqliteStore};
use lmlang_storage::store::{DatabaseErrorKind, GraphStore};

#[test]
fn a_relative_path_opens_the_file_it_names() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();

    let store = SqliteStore::open("file:x.db").unwrap();
    store.insert_program("p", &ProgramGraph::new("app")).unwrap();
    drop(store);
    assert!(dir.path().join("file:x.db").is_file(), "the file named file:x.db holds the store");
    assert!(!dir.path().join("x.db").exists(), "no x.db beside it");
    let read_only = SqliteStore::open_with("file:x.db", SqliteConfig::default().with_read_only(true)).unwrap();
    assert_eq!(read_only.list_programs().unwrap().len(), 1, "a read-only open finds the same file");

    let Err(e) = SqliteStore::open(":memory:") else { panic!(":memory: opened") };
    assert_eq!(e.database_kind(), Some(DatabaseErrorKind::CannotOpen), "{e}");
    assert!(e.to_string().contains("./:memory:"), "says how to name such a file: {e}");
    SqliteStore::open("./:memory:").unwrap();
    assert!(dir.path().join(":memory:").is_file());

    // The empty path is SQLite's private temporary database: as unshareable, so as refused.
    for config in [SqliteConfig::default(), SqliteConfig::default().with_read_only(true)] {
        let Err(e) = SqliteStore::open_with("", config) else { panic!("the empty path opened") };
        assert_eq!(e.database_kind(), Some(DatabaseErrorKind::CannotOpen), "{e}");
        assert!(e.to_string().contains("empty path") && e.to_string().contains("name a file"), "{e}");
    }
}
