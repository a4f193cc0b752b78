//! A background thread that checkpoints the WAL after a bulk write.
//!
//! A commit in WAL mode appends pages to the WAL; a checkpoint later copies them into
//! the database file and syncs both files. SQLite's automatic checkpoint runs inside
//! the commit that crosses `wal_autocheckpoint` pages, so a bulk save of a new program
//! would pay, before returning, for copying every page it wrote and for two `fsync`s
//! (about a sixth of a 100,000-node save on the reference machine). The writer turns
//! that automatic checkpoint off for such a commit and asks this thread to do the same
//! work on its own connection instead: the data is committed (durable against a crash
//! of the application) when the save returns, and the WAL is folded back soon after.
//!
//! Small commits keep SQLite's automatic checkpoint: moving them here would let a busy
//! writer outrun the checkpoints (a WAL is only reset between the writer's
//! transactions), and they copy few pages each.

use super::connection::{self, ConnectionSetup};
use super::maintenance;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

/// The handle of the checkpoint thread; dropping it lets the thread finish the
/// checkpoint it is running and waits for it.
#[derive(Debug)]
pub struct Checkpointer {
    wake: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
    /// Set while the thread cannot open its connection (no file descriptor left, say):
    /// its requests then do nothing, and the writer must checkpoint itself, or a
    /// writer of new programs alone (their commits skip SQLite's automatic checkpoint)
    /// would grow the WAL without bound.
    unconnected: Arc<AtomicBool>,
}

impl Checkpointer {
    /// Starts the thread; it opens its connection to `url` on the first request.
    pub fn start(url: String, setup: ConnectionSetup) -> std::io::Result<Self> {
        // One pending request is enough: requests made while one waits add nothing.
        let (wake, requests) = mpsc::sync_channel(1);
        let unconnected = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&unconnected);
        let thread = std::thread::Builder::new()
            .name("lmlang-checkpoint".into())
            .spawn(move || run(&url, setup, &requests, &flag))?;
        Ok(Checkpointer { wake: Some(wake), thread: Some(thread), unconnected })
    }

    /// Asks for a passive checkpoint soon; returns at once. `false` when the thread
    /// is known not to serve it (it could not open its connection last time, or is
    /// gone): the caller checkpoints itself. The request is still sent, so the thread
    /// tries to connect again.
    pub fn request(&self) -> bool {
        let Some(wake) = &self.wake else { return false };
        match wake.try_send(()) {
            // Full: a request is already waiting, and it covers this one.
            Ok(()) | Err(mpsc::TrySendError::Full(())) => !self.unconnected.load(Ordering::Acquire),
            // The thread is gone (it panicked).
            Err(mpsc::TrySendError::Disconnected(())) => false,
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop once pending requests are served.
        self.wake = None;
        if let Some(thread) = self.thread.take() {
            // A checkpoint that panicked left nothing to clean up: the WAL is intact.
            let _ = thread.join();
        }
    }
}

/// How often, and how far apart, the thread tries again to empty a WAL that a reader
/// or the writer was using (a load that began with the bulk write's commit, say): for
/// up to 30 s, as long as a 10M-node load. An attempt that finds a reader busy costs
/// two pragmas that return at once; a store that is dropped ends the wait.
const TRUNCATE_ATTEMPTS: u32 = 600;
const TRUNCATE_RETRY: Duration = Duration::from_millis(50);

fn run(url: &str, setup: ConnectionSetup, requests: &Receiver<()>, unconnected: &AtomicBool) {
    let mut conn = None;
    while requests.recv().is_ok() {
        if conn.is_none() {
            // This connection never waits for a lock: what it cannot do at once is
            // tried again below, or left for later.
            match connection::establish(url, setup.without_waiting()) {
                Ok(c) => {
                    conn = Some(c);
                    unconnected.store(false, Ordering::Release);
                }
                Err(e) => {
                    if !unconnected.swap(true, Ordering::AcqRel) {
                        tracing::warn!(error = %e, "the checkpoint thread cannot open its connection; the writer checkpoints itself");
                    }
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        for _ in 0..TRUNCATE_ATTEMPTS {
            // PASSIVE never waits for the writer or for readers; what it cannot copy
            // now (pages a reader still needs, or a lock held by another process),
            // the next checkpoint, or SQLite's automatic one, copies later. So a
            // failure here loses nothing and is not reported.
            let copied = maintenance::checkpoint_mode(c, "PASSIVE");
            if !copied.is_ok_and(|c| !c.busy && c.checkpointed_frames == c.wal_frames) {
                break;
            }
            // Everything is in the database file: empty the WAL now, here. Left to
            // SQLite, the next commit would restart the WAL and cut it back to
            // `journal_size_limit`, and that commit would wait while the kernel drops
            // the cut part of the file from its cache (27 ms after a 1M-node save,
            // hundreds at 10M). It needs every reader on the newest snapshot and no
            // writer, so while one is busy, try again a little later.
            if maintenance::checkpoint_mode(c, "TRUNCATE").is_ok_and(|t| !t.busy) {
                break;
            }
            match requests.recv_timeout(TRUNCATE_RETRY) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A thread that cannot connect says so through `request`, so the writer
    /// checkpoints itself instead of leaving the WAL to grow.
    #[test]
    fn a_thread_that_cannot_connect_hands_the_checkpoint_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("no such directory").join("x.db");
        let config = crate::sqlite::SqliteConfig::default();
        let setup = ConnectionSetup::writer(&config);
        let checkpointer = Checkpointer::start(missing.display().to_string(), setup).expect("thread");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while checkpointer.request() {
            assert!(std::time::Instant::now() < deadline, "the failed connection is never reported");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
