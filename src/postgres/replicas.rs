//! Reads on streaming replicas, writes on the primary, and read-your-writes between them.
//!
//! A store made by [`PgStore::connect_replicated`] sends loads and queries to its
//! replicas (in turn) and writes to the primary. After each commit it records the
//! primary's WAL flush position, which lies past the commit's record (a commit returns
//! once its record is flushed, with `synchronous_commit` at least `local`, the
//! default) and is as far as replicas are sent WAL; a replica serves a read only once `pg_last_wal_replay_lsn()` on it has reached the highest position
//! the store recorded, so the store never shows its caller a state older than its own
//! last commit. A replica that lags, cannot be reached or fails a read sends the read to
//! the primary with a `warn!`; one that could not be reached is left alone for
//! [`PgConfig::replica_retry_after`].
//!
//! The guarantee is the store's own writes (all threads of one store). A commit by
//! another instance reaches this store's replica reads when the replica has replayed it,
//! or at once after this store's [`ChangeFeed`](super::ChangeFeed) announced it (the feed
//! raises the position reads wait for). Writes never trust a read: they run on the
//! primary and check the program's revision under its row lock, so a graph loaded from
//! a replica and saved back is compared with the stored program, as on SQLite.

use super::connections::{self, PgConfig, PgCustomizer, PgPool, connection_lost};
use super::error::reclassify;
use crate::store::{StorageError, StorageResult, Store};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel::sql_types::{Nullable, Text};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{PgBackend, PgStore};

impl PgStore {
    /// Connects to a primary and its streaming replicas: writes go to `primary`, loads
    /// and queries to a replica that has replayed this store's last commit (else to the
    /// primary). Migrations run on the primary; replica URLs are not contacted until a
    /// read needs them, so a replica that is down does not stop the store from opening.
    pub fn connect_replicated(primary: &str, replicas: &[&str], config: PgConfig) -> StorageResult<Self> {
        let pool = connections::pool(primary, &config)?;
        if config.migrate {
            super::migrate::migrate(&pool)?;
        }
        let replicas = replicas.iter().map(|url| Replica::new(url, &config)).collect();
        Ok(Store::with_backend(PgBackend::with_reads(config.clone(), Reads::new(pool, replicas, &config))))
    }
}

/// A position in the primary's write-ahead log (`pg_lsn`), as a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Lsn(pub(crate) u64);

impl Lsn {
    /// Parses PostgreSQL's text form, `16/B374D848`.
    pub(crate) fn parse(text: &str) -> Option<Lsn> {
        let (high, low) = text.split_once('/')?;
        let high = u64::from_str_radix(high, 16).ok()?;
        let low = u64::from_str_radix(low, 16).ok()?;
        (high <= u64::from(u32::MAX) && low <= u64::from(u32::MAX)).then_some(Lsn(high << 32 | low))
    }
}

#[derive(QueryableByName)]
struct Position {
    #[diesel(sql_type = Nullable<Text>)]
    lsn: Option<String>,
}

/// Runs a one-value position query; `None` for NULL (`pg_last_wal_replay_lsn()` on a
/// server that is not replaying) or a value that is not a position.
fn position(conn: &mut PgConnection, sql: &'static str) -> StorageResult<Option<Lsn>> {
    let row: Position = diesel::sql_query(sql).get_result(conn).map_err(|e| reclassify(e.into()))?;
    Ok(row.lsn.as_deref().and_then(Lsn::parse))
}

/// The primary's WAL flush position: past every commit that has returned (with
/// `synchronous_commit` on), and what replicas can reach (they are sent flushed WAL
/// only; the insert position can stay ahead of it while the server is idle).
pub(crate) fn primary_position(conn: &mut PgConnection) -> StorageResult<Option<Lsn>> {
    position(conn, "SELECT pg_current_wal_flush_lsn()::text AS lsn")
}

fn replayed_position(conn: &mut PgConnection) -> StorageResult<Option<Lsn>> {
    position(conn, "SELECT pg_last_wal_replay_lsn()::text AS lsn")
}

/// One replica: its pool (no connection made until a read needs one) and what the
/// store knows about it.
struct Replica {
    /// Host, port and database, for log lines (never the password).
    name: String,
    pool: PgPool,
    /// The highest replay position seen on it: replay only moves forward, so a read
    /// needing no more than this skips the position query.
    replayed: AtomicU64,
    /// Until when reads leave it alone after it could not be reached.
    down_until: Mutex<Option<Instant>>,
}

impl Replica {
    fn new(url: &str, config: &PgConfig) -> Replica {
        let pool = Pool::builder()
            .max_size(config.pool_size.max(1))
            .min_idle(Some(0))
            // Workers that stop with the pool (see `pool_threads`).
            .thread_pool(crate::pool_threads::workers("lmlang-pg-replica-{}", 3))
            .test_on_check_out(false)
            .connection_timeout(config.replica_timeout.max(Duration::from_millis(1)))
            .error_handler(Box::new(super::connections::PoolLog { passwords: crate::redact::passwords(url) }))
            .connection_customizer(Box::new(PgCustomizer::new(config.schema.clone())))
            .build_unchecked(ConnectionManager::new(url));
        Replica { name: display_name(url), pool, replayed: AtomicU64::new(0), down_until: Mutex::new(None) }
    }

    fn down_until(&self) -> MutexGuard<'_, Option<Instant>> {
        self.down_until.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `host:port/db` of a URL, without user or password.
fn display_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    rest.split('?').next().unwrap_or(rest).to_string()
}

/// The WAL position the store's reads must see, shared by its threads.
#[derive(Debug, Default)]
struct Floor {
    lsn: u64,
    /// Set (to a fresh generation) when a write may have committed at a position the
    /// store could not read; reads go to the primary until one of them reads the
    /// primary's position after that generation began.
    unknown: Option<u64>,
    generation: u64,
}

impl Floor {
    /// Reads must see `lsn`.
    fn require(&mut self, lsn: Lsn) {
        self.lsn = self.lsn.max(lsn.0);
    }

    /// A commit's position is unknown: reads use the primary until resolved.
    fn mark_unknown(&mut self) {
        self.generation += 1;
        self.unknown = Some(self.generation);
    }

    /// The primary stood at `lsn` when read after the unknown commit(s) of
    /// `generation`: that covers them, but not a commit marked unknown since.
    fn resolve(&mut self, generation: u64, lsn: Lsn) {
        self.require(lsn);
        if self.unknown == Some(generation) {
            self.unknown = None;
        }
    }
}

/// Where a [`PgBackend`] reads: the primary alone, or replicas guarded by the position
/// of the store's last commit.
pub(crate) struct Reads {
    primary: PgPool,
    replicas: Vec<Replica>,
    next: AtomicUsize,
    floor: Mutex<Floor>,
    retry_after: Duration,
}

impl Reads {
    /// Reads on the primary only.
    pub(crate) fn primary_only(primary: PgPool) -> Reads {
        Reads::new(primary, Vec::new(), &PgConfig::default())
    }

    fn new(primary: PgPool, replicas: Vec<Replica>, config: &PgConfig) -> Reads {
        Reads {
            primary,
            replicas,
            next: AtomicUsize::new(0),
            floor: Mutex::new(Floor::default()),
            retry_after: config.replica_retry_after,
        }
    }

    fn floor(&self) -> MutexGuard<'_, Floor> {
        self.floor.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The primary's pool, which writes use.
    pub(crate) fn primary(&self) -> &PgPool {
        &self.primary
    }

    /// Whether any read can go to a replica (else the positions are not tracked).
    pub(crate) fn has_replicas(&self) -> bool {
        !self.replicas.is_empty()
    }

    /// Raises the position reads must see to `lsn`.
    pub(crate) fn require(&self, lsn: Lsn) {
        self.floor().require(lsn);
    }

    /// Records that a write has committed: reads from now on must see the primary's
    /// current position. Costs one query on the primary, only when there are replicas.
    pub(crate) fn after_commit(&self) {
        if !self.has_replicas() {
            return;
        }
        match connections::read(&self.primary, &mut |c| primary_position(c)) {
            Ok(Some(lsn)) => self.require(lsn),
            Ok(None) => self.position_unknown("the primary reported no WAL position"),
            Err(e) => self.position_unknown(&e.to_string()),
        }
    }

    /// Records that a write failed in a way that may still have committed (the
    /// connection was lost during it): reads go to the primary until its position is
    /// known again. A save refused for another's commit (`RevisionMoved`) raises the
    /// position to the primary's, as a commit does.
    pub(crate) fn after_failed_write(&self, e: &StorageError) {
        if self.has_replicas() && connection_lost(e) {
            self.position_unknown(&e.to_string());
        } else if matches!(e, StorageError::RevisionMoved { .. }) {
            // The write saw another instance's commit on the primary; the reread the
            // caller is told to make must see it too, or a replica still behind it
            // would fail the next save the same way.
            self.after_commit();
        }
    }

    fn position_unknown(&self, why: &str) {
        tracing::warn!(error = why, "the WAL position of a commit is unknown; reads use the primary until it is read");
        self.floor().mark_unknown();
    }

    /// Runs the read `work` on a replica that has replayed the store's last commit, or
    /// on the primary. Errors that say nothing about the data (a lost connection, a
    /// query cancelled by a recovery conflict) send the read on to the next server.
    pub(crate) fn read<T>(&self, work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>) -> StorageResult<T> {
        let (needed, unknown) = {
            let floor = self.floor();
            (floor.lsn, floor.unknown)
        };
        if let Some(generation) = unknown {
            return connections::read(&self.primary, &mut |c| {
                if let Some(lsn) = primary_position(c)? {
                    self.floor().resolve(generation, lsn);
                }
                work(c)
            });
        }
        let count = self.replicas.len();
        let start = if count > 1 { self.next.fetch_add(1, Ordering::Relaxed) } else { 0 };
        for i in 0..count {
            let replica = &self.replicas[(start + i) % count];
            match self.try_replica(replica, needed, work) {
                Ok(Some(value)) => return Ok(value),
                Ok(None) => {}
                Err(e) => return Err(e),
            }
        }
        connections::read(&self.primary, work)
    }

    /// The read on one replica: `Ok(None)` when it cannot serve it (lagging, down,
    /// failed), after a warning.
    fn try_replica<T>(
        &self,
        replica: &Replica,
        needed: u64,
        work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>,
    ) -> StorageResult<Option<T>> {
        if replica.down_until().is_some_and(|until| Instant::now() < until) {
            return Ok(None);
        }
        let mut conn = match connections::connection(&replica.pool) {
            Ok(conn) => conn,
            Err(e) => {
                self.set_down(replica, &e);
                return Ok(None);
            }
        };
        if replica.replayed.load(Ordering::Relaxed) < needed {
            match replayed_position(&mut conn) {
                Ok(Some(lsn)) => {
                    replica.replayed.fetch_max(lsn.0, Ordering::Relaxed);
                    if lsn.0 < needed {
                        tracing::warn!(
                            replica = %replica.name,
                            behind_bytes = needed - lsn.0,
                            "replica has not replayed this store's last commit; reading the primary"
                        );
                        return Ok(None);
                    }
                }
                Ok(None) => {
                    self.set_down(replica, &"it is not replaying WAL (not a standby)");
                    return Ok(None);
                }
                Err(e) => {
                    connections::discard_if_dead(&mut conn);
                    self.set_down(replica, &e);
                    return Ok(None);
                }
            }
        }
        match work(&mut conn).map_err(reclassify) {
            Ok(value) => Ok(Some(value)),
            Err(e @ (StorageError::Database { .. } | StorageError::Busy)) => {
                if connection_lost(&e) {
                    connections::discard_if_dead(&mut conn);
                    self.set_down(replica, &e);
                } else {
                    tracing::warn!(replica = %replica.name, error = %e, "a read failed on a replica; reading the primary");
                }
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn set_down(&self, replica: &Replica, e: &dyn std::fmt::Display) {
        tracing::warn!(
            replica = %replica.name,
            error = %e,
            retry_after_ms = self.retry_after.as_millis() as u64,
            "replica unusable; reading the primary"
        );
        *replica.down_until() = Some(Instant::now() + self.retry_after);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_parse_as_postgres_prints_them() {
        assert_eq!(Lsn::parse("0/0"), Some(Lsn(0)));
        assert_eq!(Lsn::parse("16/B374D848"), Some(Lsn(0x16_B374_D848)));
        assert!(Lsn::parse("1/0") > Lsn::parse("0/FFFFFFFF"));
        for bad in ["", "12", "x/1", "1/", "100000000/0"] {
            assert_eq!(Lsn::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn an_unknown_commit_position_is_resolved_only_by_a_read_after_it() {
        let mut floor = Floor::default();
        floor.require(Lsn(100));
        floor.require(Lsn(50));
        assert_eq!((floor.lsn, floor.unknown), (100, None), "the position never goes back");
        floor.mark_unknown();
        let first = floor.unknown.expect("unknown");
        // A second unknown commit while the primary's position is being read for the
        // first: that read does not cover it.
        floor.mark_unknown();
        floor.resolve(first, Lsn(200));
        assert!(floor.unknown.is_some(), "the later unknown commit still sends reads to the primary");
        let second = floor.unknown.expect("unknown");
        floor.resolve(second, Lsn(300));
        assert_eq!((floor.lsn, floor.unknown), (300, None));
    }

    #[test]
    fn log_names_leave_out_credentials() {
        assert_eq!(display_name("postgres://u:secret@db1:5433/app?sslmode=require"), "db1:5433/app");
        assert_eq!(display_name("postgres://127.0.0.1/test"), "127.0.0.1/test");
    }
}
