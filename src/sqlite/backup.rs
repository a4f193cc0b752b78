//! A consistent copy of a live store's file, for backups.
//!
//! Copying the database file while a store runs is not a backup: the newest commits
//! may still be only in the WAL beside it (a copy without them opens cleanly, lacks
//! them, and hands out their ids again), and a copy taken while a checkpoint writes
//! pages can be torn. SQLite's `VACUUM INTO` writes a new file from one read
//! transaction: every commit up to one moment, while writers go on.

use super::error::classify;
use super::{Connections, SqliteBackend};
use crate::store::{DatabaseErrorKind, StorageError, StorageResult, Store};
use diesel::connection::SimpleConnection;
use diesel::sql_types::{Integer, Text};
use diesel::sqlite::SqliteConnection;
use diesel::{QueryableByName, RunQueryDsl};
use std::path::{Path, PathBuf};

impl<C: Connections> Store<SqliteBackend<C>> {
    /// Writes a consistent copy of the whole file to `dest`, which must not exist:
    /// every program and its history as of one moment, while this store and others
    /// keep writing. The copy is written beside `dest` under a temporary name, synced,
    /// then renamed, so `dest` is either the whole copy or absent; it is compact (as
    /// after `vacuum`) and opens as any store file. On a connection a host lends inside
    /// its own transaction it is refused (SQLite copies only outside a transaction).
    ///
    /// To restore, stop every store on the target, remove its `-wal` and `-shm` files
    /// (a WAL left from the old file would be replayed over the copy), then put the
    /// copy in its place.
    pub fn backup_to(&self, dest: &Path) -> StorageResult<()> {
        if dest.exists() {
            return Err(StorageError::database(
                DatabaseErrorKind::CannotOpen,
                format!("{} already exists; a backup never overwrites a file", dest.display()),
            ));
        }
        let partial = partial_name(dest);
        let Some(name) = literal(&partial) else {
            return Err(StorageError::database(
                DatabaseErrorKind::CannotOpen,
                format!("{}: SQLite takes only file names in UTF-8", dest.display()),
            ));
        };
        let written = self.backend().connections().read(&mut |conn| vacuum_into(conn, &name));
        let done = written.and_then(|()| {
            // SQLite does not sync what `VACUUM INTO` wrote: a backup must be on disk
            // before it is called one.
            let synced = std::fs::File::open(&partial).and_then(|f| f.sync_all());
            synced.and_then(|()| std::fs::rename(&partial, dest)).map_err(|e| {
                StorageError::database(
                    DatabaseErrorKind::CannotOpen,
                    format!("writing the backup {}: {e}", dest.display()),
                )
            })
        });
        if done.is_err() {
            // Nothing half-written is left to be taken for a backup.
            let _ = std::fs::remove_file(&partial);
        }
        done
    }
}

#[derive(QueryableByName)]
struct QueryOnly {
    #[diesel(sql_type = Integer)]
    query_only: i32,
}

/// `VACUUM INTO name` on `conn`. The store's readers refuse writes (`query_only`), and
/// SQLite counts writing the new file as one: lifted for this statement alone, and set
/// back as it was (a host's connection keeps its own setting).
fn vacuum_into(conn: &mut SqliteConnection, name: &str) -> StorageResult<()> {
    // Pragmas and `VACUUM INTO` are statements Diesel's builder does not have; the file
    // name is bound, never spliced into the SQL.
    let was: Vec<QueryOnly> = diesel::sql_query("PRAGMA query_only").load(conn).map_err(classify)?;
    let lifted = was.first().is_some_and(|q| q.query_only != 0);
    if lifted {
        conn.batch_execute("PRAGMA query_only = OFF").map_err(classify)?;
    }
    let copied = diesel::sql_query("VACUUM INTO ?").bind::<Text, _>(name).execute(conn).map_err(classify);
    let restored = if lifted { conn.batch_execute("PRAGMA query_only = ON").map_err(classify) } else { Ok(()) };
    copied.and(restored)
}

/// Where the copy is written before it is complete: beside `dest` (so the rename
/// stays on one file system), under a name no other backup uses at the same time.
fn partial_name(dest: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = dest.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".partial-{}-{n}", std::process::id()));
    dest.with_file_name(name)
}

/// `path` as SQLite must see it to take it literally: the store's connections parse
/// URI file names, so a relative `file:x.db` gets a `./` in front.
fn literal(path: &Path) -> Option<String> {
    let path = if path.is_relative() { Path::new(".").join(path) } else { path.to_path_buf() };
    path.to_str().map(str::to_string)
}
