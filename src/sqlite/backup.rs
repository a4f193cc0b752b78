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
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::sql_types::{Integer, Text};
use diesel::sqlite::SqliteConnection;
use diesel::{QueryableByName, RunQueryDsl};
use std::path::{Path, PathBuf};

impl<C: Connections> Store<SqliteBackend<C>> {
    /// Writes a consistent copy of the whole file to `dest`, which must not exist (a
    /// link there counts): every program and its history as of one moment, while this
    /// store and others keep writing. The copy is written beside `dest` under a
    /// temporary name of its own, synced, then linked into place only if `dest` is
    /// still free, so `dest` is either the whole copy or untouched; it is compact (as
    /// after `vacuum`) and opens as any store file. On a connection a host lends inside
    /// its own transaction, or a pool whose connection is in one (a test transaction),
    /// it is refused saying so (SQLite copies only outside a transaction).
    /// What earlier backups to `dest` left when they were killed (their temporary copy
    /// and journal, unlocked and unwritten for a minute) is removed first.
    ///
    /// To restore, stop every store on the target, remove its `-wal` and `-shm` files
    /// (a WAL left from the old file would be replayed over the copy), then put the
    /// copy in its place.
    pub fn backup_to(&self, dest: &Path) -> StorageResult<()> {
        if dest.to_str().is_none() {
            return Err(refused(dest, "its path is not valid UTF-8, and SQLite names its files in UTF-8".into()));
        }
        refuse_existing(dest)?;
        let live = self.backend().connections().read(&mut main_file)?;
        if let Some(live) = live.as_ref().filter(|live| is_beside(dest, live)) {
            return Err(refused(
                dest,
                format!("it is the store's own file or one SQLite keeps beside {}", live.display()),
            ));
        }
        // No more readable by others than the live file (a private store's backup stays
        // private), and always the owner's to write, or SQLite could not write the copy.
        let mode = {
            use std::os::unix::fs::PermissionsExt;
            live.as_ref().and_then(|l| std::fs::metadata(l).ok()).map_or(0o600, |m| m.permissions().mode() & 0o077)
                | 0o600
        };
        let claim = claim_partial(dest, mode)?;
        let partial = claim.path.as_path();
        remove_abandoned(dest, &claim, live.as_deref());
        // The name SQLite takes literally (not as a URI), or why it cannot.
        let name = match super::connection::database_url(partial, false) {
            Ok(name) => name,
            Err(e) => {
                discard(partial);
                return Err(refused(dest, e.to_string()));
            }
        };
        let done = self
            .backend()
            .connections()
            .read(&mut |conn| vacuum_into(conn, &name, dest))
            .and_then(|()| place(partial, dest));
        if done.is_err() {
            // Nothing half-written is left to be taken for a backup.
            discard(partial);
        }
        done
    }
}

fn refused(dest: &Path, why: String) -> StorageError {
    StorageError::database(DatabaseErrorKind::CannotOpen, format!("backup to {}: {why}", dest.display()))
}

/// Any entry at `dest`, a dangling link included, is refused: a backup never replaces
/// a file, nor a link someone keeps there.
fn refuse_existing(dest: &Path) -> StorageResult<()> {
    if dest.symlink_metadata().is_ok() {
        return Err(refused(dest, "it already exists; a backup never overwrites a file or a link".to_string()));
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Attached {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    file: String,
}

/// The file the connection's main database is (`None` for a database without one).
fn main_file(conn: &mut SqliteConnection) -> StorageResult<Option<PathBuf>> {
    // A pragma: Diesel cannot express it.
    let attached: Vec<Attached> = diesel::sql_query("PRAGMA database_list").load(conn).map_err(classify)?;
    Ok(attached.into_iter().find(|a| a.name == "main" && !a.file.is_empty()).map(|a| PathBuf::from(a.file)))
}

/// The live database's own name and the names of the files SQLite keeps beside it.
const LIVE_SUFFIXES: [&str; 4] = ["", "-wal", "-shm", "-journal"];

/// Whether `dest` names `live` or a file SQLite keeps beside it (`-wal`, `-shm`,
/// `-journal`): a backup written there would be taken for one and replayed or
/// deleted at the next open.
fn is_beside(dest: &Path, live: &Path) -> bool {
    let (Some(dir), Some(file)) = (dest.parent(), dest.file_name()) else { return false };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let (Ok(dir), Ok(live)) = (dir.canonicalize(), live.canonicalize()) else { return false };
    let dest = dir.join(file);
    LIVE_SUFFIXES.iter().any(|suffix| {
        let mut beside = live.clone().into_os_string();
        beside.push(suffix);
        dest.as_os_str() == beside
    })
}

/// The file a backup writes its copy into, held open and locked while the backup runs:
/// the lock tells a later backup that this one is alive (it ends with its process).
#[derive(Debug)]
struct Claim {
    path: PathBuf,
    /// The file, open and locked until the backup is done.
    file: std::fs::File,
}

/// The start of a copy's temporary name: `dest`'s file name and `.lmlang-partial-`; the
/// process id, a time stamp and a counter follow.
fn partial_prefix(dest: &Path) -> std::ffi::OsString {
    let mut prefix = dest.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    prefix.push(".lmlang-partial-");
    prefix
}

/// Creates the file the copy is written into, beside `dest` (so the link stays on one
/// file system) under a name no other file has: created here, so a failure removes
/// only what this backup made. SQLite writes into an empty file as into a new one.
fn claim_partial(dest: &Path, mode: u32) -> StorageResult<Claim> {
    use std::os::unix::fs::OpenOptionsExt;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    for _ in 0..64 {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut name = partial_prefix(dest);
        name.push(format!("{}-{stamp}-{n}", std::process::id()));
        let partial = dest.with_file_name(name);
        if journal_of(&partial).symlink_metadata().is_ok() {
            continue;
        }
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&partial) {
            Ok(file) => {
                // New and unseen by anyone, so the lock is free; where the file system
                // has no locks, the claim is still this backup's, only less protected
                // from a later backup's clean-up (which also waits for it to age).
                let _ = rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive);
                return Ok(Claim { path: partial, file });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(refused(dest, "its directory does not exist".to_string()));
            }
            Err(e) => return Err(refused(dest, format!("cannot create a file beside it: {e}"))),
        }
    }
    Err(refused(dest, "no free temporary name beside it".to_string()))
}

/// How long a copy must have gone unwritten before a later backup takes it for
/// abandoned, on top of its being unlocked: a file system whose locks do not work
/// then still leaves a running backup alone, as SQLite writes its copy steadily.
const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// Removes, beside `dest`, the copies and journals that backups to `dest` left when
/// they were killed (nothing runs on SIGKILL, and a copy can be as large as the
/// store): files named as [`claim_partial`] names them, regular, owned by the user who
/// owns `ours`, not written for [`ABANDONED_AFTER`], and, for a copy, not locked by
/// the backup writing it. The `live` database and the files SQLite keeps beside it
/// are never removed, whatever their names. Best effort: what cannot be read or
/// removed stays.
fn remove_abandoned(dest: &Path, ours: &Claim, live: Option<&Path>) {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let Ok(owner) = ours.file.metadata().map(|m| m.uid()) else { return };
    let identity = |m: &std::fs::Metadata| (m.dev(), m.ino());
    let kept: Vec<(u64, u64)> = live
        .into_iter()
        .flat_map(|live| {
            LIVE_SUFFIXES.map(|suffix| {
                let mut name = live.as_os_str().to_os_string();
                name.push(suffix);
                PathBuf::from(name)
            })
        })
        .filter_map(|file| std::fs::metadata(file).ok().map(|m| identity(&m)))
        .collect();
    let prefix = partial_prefix(dest);
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((copy, journal)) = abandoned_name(name.as_bytes(), prefix.as_bytes()) else { continue };
        if ours.path.file_name() == Some(name.as_os_str()) {
            continue;
        }
        let path = entry.path();
        // Opened without following a link or waiting (a FIFO put there would block a
        // plain open), and judged as opened.
        let Some(file) = open_own_stale(&path, owner) else { continue };
        if file.metadata().is_ok_and(|m| kept.contains(&identity(&m))) {
            continue;
        }
        if journal {
            // A journal is only ever written with its copy held: one whose copy is gone
            // or abandoned is left from a killed backup.
            let copy_path = dir.join(std::ffi::OsStr::from_bytes(copy));
            if copy_path.symlink_metadata().is_err() {
                let _ = std::fs::remove_file(&path);
            }
            continue;
        }
        // Locked here while it is removed, so no backup can take it meanwhile.
        if rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok() {
            let _ = std::fs::remove_file(&path);
            let journal = journal_of(&path);
            let journal_file = open_own_stale(&journal, owner);
            if journal_file.is_some_and(|j| j.metadata().is_ok_and(|m| !kept.contains(&identity(&m)))) {
                let _ = std::fs::remove_file(&journal);
            }
        }
    }
}

/// If `name` is one of [`claim_partial`]'s names after `prefix` (three runs of digits
/// joined by `-`), or that name's journal: the copy's name, and whether `name` is the
/// journal.
fn abandoned_name<'a>(name: &'a [u8], prefix: &[u8]) -> Option<(&'a [u8], bool)> {
    let rest = name.strip_prefix(prefix)?;
    let (copy_rest, journal) = match rest.strip_suffix(b"-journal") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let parts: Vec<&[u8]> = copy_rest.split(|&b| b == b'-').collect();
    let numbered = parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit));
    numbered.then(|| (&name[..prefix.len() + copy_rest.len()], journal))
}

/// `path` opened to read if it is a regular file of `owner`'s not written for
/// [`ABANDONED_AFTER`].
fn open_own_stale(path: &Path, owner: u32) -> Option<std::fs::File> {
    use rustix::fs::{Mode, OFlags};
    use std::os::unix::fs::MetadataExt;
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let file = std::fs::File::from(rustix::fs::open(path, flags, Mode::empty()).ok()?);
    let meta = file.metadata().ok()?;
    let stale = meta.modified().ok().and_then(|t| t.elapsed().ok()).is_some_and(|age| age >= ABANDONED_AFTER);
    (meta.is_file() && meta.uid() == owner && stale).then_some(file)
}

fn journal_of(partial: &Path) -> PathBuf {
    let mut journal = partial.as_os_str().to_os_string();
    journal.push("-journal");
    PathBuf::from(journal)
}

/// Removes the copy in progress and the journal SQLite kept while writing it.
fn discard(partial: &Path) {
    let _ = std::fs::remove_file(partial);
    let _ = std::fs::remove_file(journal_of(partial));
}

/// Syncs the finished copy, then gives it its name only if nothing took `dest`
/// meanwhile (a hard link fails where a rename would replace).
fn place(partial: &Path, dest: &Path) -> StorageResult<()> {
    // SQLite does not sync what `VACUUM INTO` wrote: a backup must be on disk before
    // it is called one.
    std::fs::File::open(partial).and_then(|f| f.sync_all()).map_err(|e| refused(dest, format!("syncing: {e}")))?;
    match std::fs::hard_link(partial, dest) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(refused(dest, "a file appeared there during the backup; it was left alone".to_string()));
        }
        // A file system without hard links: the name is checked once more, then taken.
        Err(_) => {
            refuse_existing(dest)?;
            std::fs::rename(partial, dest).map_err(|e| refused(dest, format!("naming the copy: {e}")))?;
        }
    }
    let _ = std::fs::remove_file(partial);
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The new name is on disk too (best effort: not every system syncs a directory).
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

#[derive(QueryableByName)]
struct QueryOnly {
    #[diesel(sql_type = Integer)]
    query_only: i32,
}

/// `VACUUM INTO name` on `conn`, for a backup to `dest`. The store's readers refuse
/// writes (`query_only`), and SQLite counts writing the new file as one: lifted for
/// this statement alone, and set back as it was (a host's connection keeps its own
/// setting). Refused on a connection inside a transaction, whose refusal by SQLite
/// ("cannot VACUUM from within a transaction") says neither whose nor what to do.
fn vacuum_into(conn: &mut SqliteConnection, name: &str, dest: &Path) -> StorageResult<()> {
    if AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth()?.is_some() {
        return Err(refused(
            dest,
            "a backup runs outside transactions, and the connection it got is inside one (a transaction of the \
             host's, or a test transaction on its pool); back up on a connection that is not"
                .into(),
        ));
    }
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

#[cfg(test)]
mod tests {
    use super::{claim_partial, discard, journal_of, place};

    /// A file that appears at `dest` while the copy is written is left alone, and the
    /// copy keeps its temporary name for the caller to discard with its journal.
    #[test]
    fn placing_the_copy_never_replaces_what_appeared_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("b.db");
        let claim = claim_partial(&dest, 0o600).unwrap();
        let partial = claim.path.clone();
        std::fs::write(&partial, b"the copy").unwrap();
        std::fs::write(&dest, b"an operator's file").unwrap();
        assert!(place(&partial, &dest).unwrap_err().to_string().contains("appeared"));
        assert_eq!(std::fs::read(&dest).unwrap(), b"an operator's file");
        std::fs::write(journal_of(&partial), b"journal").unwrap();
        discard(&partial);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("b.db")]);
        std::fs::remove_file(&dest).unwrap();
        let partial = claim_partial(&dest, 0o600).unwrap().path;
        std::fs::write(&partial, b"the copy").unwrap();
        place(&partial, &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"the copy");
        assert!(!partial.exists());
    }

    /// Every claim is a file of its own, made empty by the claim.
    #[test]
    fn each_claim_is_a_new_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("b.db");
        let claims: Vec<_> = (0..5).map(|_| claim_partial(&dest, 0o600).unwrap().path).collect();
        for (k, claim) in claims.iter().enumerate() {
            assert_eq!(std::fs::metadata(claim).unwrap().len(), 0);
            assert!(!claims[..k].contains(claim));
        }
        let missing = dir.path().join("nowhere").join("b.db");
        assert!(claim_partial(&missing, 0o600).unwrap_err().to_string().contains("directory does not exist"));
    }
}
