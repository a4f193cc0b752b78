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
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

/// The handle of the checkpoint thread; dropping it lets the thread finish the
/// checkpoint it is running and waits for it.
#[derive(Debug)]
pub struct Checkpointer {
    wake: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread; it opens its connection to `url` on the first request.
    pub fn start(url: String, setup: ConnectionSetup) -> std::io::Result<Self> {
        // One pending request is enough: requests made while one waits add nothing.
        let (wake, requests) = mpsc::sync_channel(1);
        let thread =
            std::thread::Builder::new().name("lmlang-checkpoint".into()).spawn(move || run(&url, setup, &requests))?;
        Ok(Checkpointer { wake: Some(wake), thread: Some(thread) })
    }

    /// Asks for a passive checkpoint soon; returns at once.
    pub fn request(&self) {
        if let Some(wake) = &self.wake {
            // Full: a request is already waiting, and it covers this one. Disconnected:
            // the thread is gone (it panicked); SQLite's automatic checkpoints remain.
            let _ = wake.try_send(());
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

fn run(url: &str, setup: ConnectionSetup, requests: &Receiver<()>) {
    let mut conn = None;
    while requests.recv().is_ok() {
        if conn.is_none() {
            // This connection never waits for a lock: what it cannot do at once is
            // tried again below, or left for later.
            conn = connection::establish(url, setup.without_waiting()).ok();
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
