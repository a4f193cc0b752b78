//! The change feed: commits announce themselves with `NOTIFY`, and stores listen.
//!
//! With [`PgConfig::notify_changes`](super::PgConfig::notify_changes) on, every write
//! transaction calls `pg_notify` for each program it changed, before it commits, so
//! the announcement is delivered exactly when (and only if) the commit happens. The
//! channel is `lmlang:` followed by the store's schema (or, past PostgreSQL's 63
//! bytes, by the schema's MD5), so stores in different schemas of one database do not hear each other; the payload
//! is `<program id> <new revision>`, or `<program id> deleted`.
//!
//! [`PgStore::subscribe`] starts a thread that holds one of the store's pooled
//! connections in `LISTEN` and hands the announcements out as [`Change`]s, so a
//! service can drop its cached graphs when another instance commits instead of
//! asking the database on every read. The store's own engine needs no feed: it answers
//! every read from the database and checks the stored revision under the row lock
//! before every write, so it never serves or builds on a graph another instance has
//! replaced. With replicas, a store that receives a change also raises the WAL
//! position its reads wait for, so a load after the change sees it.
//!
//! Notifications are not persistent: a listener that loses its connection reconnects
//! and reports [`Change::Missed`], after which every cached program must be treated as
//! stale.

use super::connections::{self, PgPool};
use super::error::reclassify;
use super::replicas::{Reads, primary_position};
use super::{PgStore, quote_identifier};
use crate::store::{DatabaseErrorKind, ProgramId, StorageError, StorageResult};
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

/// The channel of the connection's current schema, computed by the server on both
/// sides so they agree whatever sets the schema (`search_path`, URL options).
/// A channel name is at most 63 bytes; a longer one (a schema name of many bytes, as
/// multibyte characters make quickly) is replaced by its hash rather than cut, which
/// could split a character.
const CHANNEL: &str = "CASE WHEN octet_length('lmlang:' || current_schema()) <= 63 \
                       THEN 'lmlang:' || current_schema() ELSE 'lmlang:' || md5(current_schema()) END";

/// How often the listener looks for notifications (Diesel's `notifications_iter`
/// does not block), and how long a stopping feed waits for it at most.
const POLL: Duration = Duration::from_millis(10);

/// How long one reconnection attempt waits for a pooled connection, so a dropped feed
/// stops soon even while the server is down.
const RECONNECT_WAIT: Duration = Duration::from_millis(500);

/// Announces a program's new revision (`None`: deleted) inside the current write
/// transaction; delivered to listeners if and when it commits.
pub(crate) fn announce(conn: &mut PgConnection, program: ProgramId, revision: Option<u64>) -> StorageResult<()> {
    let payload = match revision {
        Some(r) => format!("{} {r}", program.0),
        None => format!("{} deleted", program.0),
    };
    diesel::sql_query(format!("SELECT pg_notify({CHANNEL}, $1)"))
        .bind::<Text, _>(payload)
        .execute(conn)
        .map(drop)
        .map_err(|e| reclassify(e.into()))
}

/// A change another writer (or this store) committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The program now stands at `revision`.
    Committed {
        /// The program written.
        program: ProgramId,
        /// Its revision after the commit.
        revision: u64,
    },
    /// The program was deleted.
    Deleted {
        /// The program deleted.
        program: ProgramId,
    },
    /// The listener lost its connection and reconnected: announcements in between
    /// were lost, so every cached program may be stale.
    Missed,
}

impl Change {
    /// Reads a payload; `None` for one this crate did not write.
    fn parse(payload: &str) -> Option<Change> {
        let (id, what) = payload.split_once(' ')?;
        let program = ProgramId(id.parse().ok()?);
        if what == "deleted" {
            return Some(Change::Deleted { program });
        }
        Some(Change::Committed { program, revision: what.parse().ok()? })
    }
}

/// A subscription to the change feed of a store's schema; dropping it stops the
/// listener thread and returns its connection to the pool.
#[derive(Debug)]
pub struct ChangeFeed {
    changes: Receiver<Change>,
    stop: Arc<AtomicBool>,
    listener: Option<JoinHandle<()>>,
}

impl ChangeFeed {
    /// The next change, waiting at most `timeout`; `None` if none came (or the
    /// listener has stopped).
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Change> {
        self.changes.recv_timeout(timeout).ok()
    }

    /// The changes received so far, without waiting.
    pub fn try_iter(&self) -> impl Iterator<Item = Change> + '_ {
        self.changes.try_iter()
    }
}

impl Drop for ChangeFeed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(listener) = self.listener.take() {
            let _ = listener.join();
        }
    }
}

impl PgStore {
    /// Subscribes to the changes committed to this store's schema by every store with
    /// [`PgConfig::notify_changes`](super::PgConfig::notify_changes) on, this one
    /// included. The listener keeps one of the store's pooled connections (on the
    /// primary: replicas cannot `LISTEN`) until the feed is dropped.
    pub fn subscribe(&self) -> StorageResult<ChangeFeed> {
        let pool = self.backend().pool().clone();
        let mut conn = self.backend().primary_connection()?;
        listen(&mut conn)?;
        let (sender, changes) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let reads = Arc::downgrade(self.backend().reads());
        let listener = Listener { pool, sender, stop: Arc::clone(&stop), reads };
        let listener = std::thread::Builder::new()
            .name("lmlang-change-feed".into())
            .spawn(move || listener.run(conn))
            .map_err(StorageError::Io)?;
        Ok(ChangeFeed { changes, stop, listener: Some(listener) })
    }
}

#[derive(QueryableByName)]
struct ChannelName {
    #[diesel(sql_type = Nullable<Text>)]
    channel: Option<String>,
}

/// `LISTEN` on the channel of the connection's schema.
fn listen(conn: &mut PgConnection) -> StorageResult<()> {
    let row: ChannelName =
        diesel::sql_query(format!("SELECT {CHANNEL} AS channel")).get_result(conn).map_err(|e| reclassify(e.into()))?;
    let channel = row.channel.ok_or_else(|| {
        StorageError::database(DatabaseErrorKind::Other, "no current schema to listen on (the search_path is empty)")
    })?;
    conn.batch_execute(&format!("LISTEN {}", quote_identifier(&channel))).map_err(|e| reclassify(e.into()))
}

type Pooled = diesel::r2d2::PooledConnection<diesel::r2d2::ConnectionManager<PgConnection>>;

struct Listener {
    pool: PgPool,
    sender: Sender<Change>,
    stop: Arc<AtomicBool>,
    reads: Weak<Reads>,
}

impl Listener {
    fn run(self, mut conn: Pooled) {
        while !self.stop.load(Ordering::Relaxed) {
            let mut received = Vec::new();
            let mut lost = None;
            for notification in conn.notifications_iter() {
                match notification {
                    Ok(n) => received.extend(Change::parse(&n.payload)),
                    Err(e) => {
                        lost = Some(e);
                        break;
                    }
                }
            }
            if !received.is_empty() {
                self.raise_read_position(&mut conn);
                if received.into_iter().any(|change| self.sender.send(change).is_err()) {
                    break;
                }
            }
            if let Some(e) = lost {
                tracing::warn!(error = %e, "the change feed lost its connection; reconnecting");
                connections::discard_if_dead(&mut conn);
                match self.reconnect() {
                    Some(fresh) => conn = fresh,
                    None => break,
                }
                if self.sender.send(Change::Missed).is_err() {
                    break;
                }
            }
            std::thread::sleep(POLL);
        }
        // Leave the connection as the pool lent it.
        let _ = conn.batch_execute("UNLISTEN *");
    }

    /// With replicas, reads after a change must see it: the primary's position now is
    /// past the commit that sent it.
    fn raise_read_position(&self, conn: &mut PgConnection) {
        let Some(reads) = self.reads.upgrade().filter(|r| r.has_replicas()) else { return };
        match primary_position(conn) {
            Ok(Some(lsn)) => reads.require(lsn),
            Ok(None) => {}
            Err(e) => reads.after_failed_write(&e),
        }
    }

    /// A new listening connection, retried until it works or the feed is dropped.
    fn reconnect(&self) -> Option<Pooled> {
        let mut wait = POLL;
        while !self.stop.load(Ordering::Relaxed) {
            let conn = self.pool.get_timeout(RECONNECT_WAIT).map_err(|e| super::error::classify_pool(&self.pool, e));
            match conn.and_then(|mut c| listen(&mut c).map(|()| c)) {
                Ok(conn) => return Some(conn),
                Err(e) => {
                    tracing::warn!(error = %e, "the change feed cannot listen yet; retrying");
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_secs(1));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_read_back() {
        assert_eq!(Change::parse("7 12"), Some(Change::Committed { program: ProgramId(7), revision: 12 }));
        assert_eq!(Change::parse("7 deleted"), Some(Change::Deleted { program: ProgramId(7) }));
        for other in ["", "7", "x 1", "7 -1", "7 soon"] {
            assert_eq!(Change::parse(other), None, "{other:?}");
        }
    }
}
