//! The threads a connection pool of the crate opens its connections on.
//!
//! r2d2 opens a pool's connections on worker threads of the pool's own (three unless
//! told otherwise) which, by default, outlive the pool until its next scheduled
//! clean-up, 30 s later: a service that opens and drops stores gathered three threads
//! a store. A worker also holds the pool while it opens a connection, so a store
//! dropped meanwhile was closed later, on the worker: its SQLite file stayed open (a
//! writer in another process met "database is locked"), and a temporary store's
//! directory, removed at once, was made again by the late connection. So each pool's
//! workers stop as soon as the pool is gone, and a store that owns its pool waits for
//! the work its worker already had before it lets the file go (see [`PoolThread`]).

use scheduled_thread_pool::{OnPoolDropBehavior, ScheduledThreadPool};
use std::sync::Arc;
use std::time::Duration;

/// Workers for one pool, stopped (their scheduled clean-ups dropped) when the pool is.
pub(crate) fn workers(name: &str, threads: usize) -> Arc<ScheduledThreadPool> {
    Arc::new(
        ScheduledThreadPool::builder()
            .num_threads(threads.max(1))
            .thread_name_pattern(name)
            .on_drop_behavior(OnPoolDropBehavior::DiscardPendingScheduled)
            .build(),
    )
}

/// The one worker of a pool that a store owns. Dropped after the pool (a field
/// declared after it), it waits until the worker has finished what it was given
/// before: the last such job may hold the pool, and the pool's connections close when
/// it lets go. One worker runs its jobs in order, so one more job, run and answered,
/// is that moment.
pub(crate) struct PoolThread {
    workers: Arc<ScheduledThreadPool>,
    /// The longest a drop waits (a connection being opened that does not return).
    settle_within: Duration,
}

impl PoolThread {
    /// A worker named `name`; a drop waits for it at most `settle_within`.
    pub(crate) fn new(name: &str, settle_within: Duration) -> Self {
        PoolThread { workers: workers(name, 1), settle_within }
    }

    /// The worker, for the pool's builder.
    pub(crate) fn for_pool(&self) -> Arc<ScheduledThreadPool> {
        Arc::clone(&self.workers)
    }
}

impl Drop for PoolThread {
    fn drop(&mut self) {
        let (done, finished) = std::sync::mpsc::channel();
        self.workers.execute(move || {
            let _ = done.send(());
        });
        if finished.recv_timeout(self.settle_within).is_err() {
            tracing::warn!("a connection pool's worker is still busy; its connections may close later");
        }
    }
}

impl std::fmt::Debug for PoolThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolThread").field("settle_within", &self.settle_within).finish()
    }
}
