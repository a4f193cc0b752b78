//! The pool, what every pooled connection gets, and the two kinds of transaction.
//!
//! Loads read one snapshot (`REPEATABLE READ READ ONLY`). Writes run in `READ
//! COMMITTED` and lock the row of every program they touch (`SELECT ... FOR NO KEY
//! UPDATE`, see `backend::PgTx`), so writers of one program queue behind each other while
//! writers of different programs run in parallel, in this process or any other. A
//! write rolled back by a serialization failure or a deadlock runs again, a few times,
//! before `Busy` reaches the caller.

use super::error::{classify_pool, reclassify, retryable};
use crate::store::{DatabaseErrorKind, StorageError, StorageResult};
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::{Connection, RunQueryDsl};
use std::time::Duration;

/// An r2d2 pool of PostgreSQL connections.
pub type PgPool = Pool<ConnectionManager<PgConnection>>;

/// Settings of a [`PgStore`](super::PgStore).
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// Connections in the pool (readers and writers share it).
    pub pool_size: u32,
    /// How long a caller waits for a pooled connection: then `ConnectionLost` when the
    /// server could not be reached, or `Timeout` when every connection stayed in use.
    pub connection_timeout: Duration,
    /// The schema the store's tables live in (`search_path`, set on every pooled
    /// connection of the store's own pool, and checked on a host's pool given to
    /// [`PgStore::on_pool`](super::PgStore::on_pool)); `None` keeps the server's
    /// default (`public`). Lets several stores,
    /// or a store and a service, share a database.
    pub schema: Option<String>,
    /// How many times a write rolled back by a serialization failure or deadlock is run
    /// again before `Busy` is returned.
    pub write_retries: u32,
    /// Whether opening applies pending migrations (under an advisory lock). Without,
    /// opening only checks that the schema is this build's (a read-only role).
    pub migrate: bool,
    /// With replicas: how long a read waits for a replica's connection before it goes
    /// to the primary instead (kept short, so a replica that is down costs little).
    pub replica_timeout: Duration,
    /// With replicas: how long a replica that could not be reached is left alone before
    /// reads try it again.
    pub replica_retry_after: Duration,
    /// Whether every commit announces itself on the change feed (`pg_notify` in the
    /// commit's transaction; see [`ChangeFeed`](super::ChangeFeed)). Off by default:
    /// PostgreSQL serialises the commits of all notifying transactions of a database,
    /// which caps many writers at about one writer's rate.
    pub notify_changes: bool,
    /// Whether a big program loads over two pooled connections at once, sharing one
    /// snapshot (`pg_export_snapshot`): edges on one, the rest on the other.
    pub split_loads: bool,
}

impl Default for PgConfig {
    fn default() -> Self {
        PgConfig {
            pool_size: 8,
            connection_timeout: Duration::from_secs(10),
            schema: None,
            write_retries: 8,
            migrate: true,
            replica_timeout: Duration::from_secs(1),
            replica_retry_after: Duration::from_secs(5),
            notify_changes: false,
            split_loads: true,
        }
    }
}

/// Sets `search_path` on every new pooled connection, so the store's (and Diesel's
/// migration) tables resolve in the configured schema.
#[derive(Debug, Clone)]
pub struct PgCustomizer {
    schema: Option<String>,
}

impl PgCustomizer {
    /// A customizer for connections to `schema` (`None`: leave `search_path` alone).
    pub fn new(schema: Option<String>) -> Self {
        PgCustomizer { schema }
    }

    /// Applies the settings to one connection.
    pub fn apply(&self, conn: &mut PgConnection) -> diesel::QueryResult<()> {
        match &self.schema {
            Some(schema) => conn.batch_execute(&format!("SET search_path TO {}", quote_identifier(schema))),
            None => Ok(()),
        }
    }
}

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for PgCustomizer {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        self.apply(conn).map_err(diesel::r2d2::Error::QueryError)
    }
}

/// An SQL identifier, quoted: any text is a valid schema name this way.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Builds the pool; fails with `ConnectionLost` when the server cannot be reached
/// within `connection_timeout`, and with `CannotOpen` when it refuses the URL's
/// settings (see [`probe`]).
pub fn pool(url: &str, config: &PgConfig) -> StorageResult<PgPool> {
    // libpq's messages about a connection string can echo it, or its password alone:
    // scrubbed from every error the pool's making returns and every line it logs.
    let passwords = crate::redact::passwords(url);
    build_pool(url, config, &passwords).map_err(|e| scrubbed_error(e, &passwords))
}

fn build_pool(url: &str, config: &PgConfig, passwords: &[String]) -> StorageResult<PgPool> {
    // r2d2 panics on a zero timeout.
    let wait = config.connection_timeout.max(Duration::from_millis(1));
    let refused = match probe(url, wait)? {
        Probe::Connected | Probe::NotReached => None,
        Probe::Refused(message) => Some(message),
    };
    Pool::builder()
        .max_size(config.pool_size.max(1))
        // Three workers open connections, as r2d2's own would, but stop with the pool
        // rather than 30 s after it (see `pool_threads`).
        .thread_pool(crate::pool_threads::workers("lmlang-pg-pool-{}", 3))
        // No `SELECT 1` round trip per checkout (a single-mutation commit is five round
        // trips): a connection libpq saw break is dropped by the pool anyway, and a
        // write that meets a dead one fails with `ConnectionLost`, which callers retry.
        .test_on_check_out(false)
        .connection_timeout(wait)
        .error_handler(Box::new(PoolLog { passwords: passwords.to_vec() }))
        .connection_customizer(Box::new(PgCustomizer::new(config.schema.clone())))
        .build(ConnectionManager::new(url))
        .map_err(|e| match refused {
            // Still refused after the wait: the database or role was not made meanwhile.
            Some(message) => StorageError::database(DatabaseErrorKind::CannotOpen, message),
            None => super::error::connection_lost(e),
        })
}

/// `e` with the passwords in its message masked (its source replaced by the masked
/// text, keeping its kind); unchanged when it holds none.
pub(crate) fn scrubbed_error(e: StorageError, passwords: &[String]) -> StorageError {
    match e {
        StorageError::Database { kind, source } if !passwords.is_empty() => {
            let text = source.to_string();
            let clean = crate::redact::scrubbed(&text, passwords);
            let source = if clean == text { source } else { clean.into() };
            StorageError::Database { kind, source }
        }
        other => other,
    }
}

/// How a pool of the store's reports a connection it could not open. r2d2's own
/// handler logs each at ERROR, ten a second while a server is down or a database is
/// being created (which the store waits for), and with libpq's words, which can hold
/// the password. The caller gets the outcome as an error; each attempt is a DEBUG line
/// with the passwords masked.
#[derive(Debug)]
pub(crate) struct PoolLog {
    pub(crate) passwords: Vec<String>,
}

impl diesel::r2d2::HandleError<diesel::r2d2::Error> for PoolLog {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        let error = crate::redact::scrubbed(&error.to_string(), &self.passwords);
        tracing::debug!(%error, "a pooled PostgreSQL connection could not be opened; the pool tries again");
    }
}

/// What one connection made before the pool found.
enum Probe {
    Connected,
    /// The server answered but refused a database or role that does not exist (yet:
    /// it may be being created, so the pool still waits for it).
    Refused(String),
    /// No connection (the server is down or starting, too many clients...): the
    /// pool's own retries decide.
    NotReached,
}

/// One connection made before the pool, so that settings the server refuses are
/// reported in its words as `CannotOpen`, where r2d2 alone would retry them until
/// `connection_timeout` and report a lost connection. A wrong password, a missing
/// `pg_hba.conf` entry or a malformed URL fails at once; a missing database or role
/// after the pool's wait. The probe runs on a thread of its own, bounded by libpq's
/// `connect_timeout` where the URL allows and by `wait` in any case: a host that never
/// answers would otherwise hold the caller for the system's TCP timeout (minutes).
fn probe(url: &str, wait: Duration) -> StorageResult<Probe> {
    use diesel::ConnectionError;
    let cannot_open =
        |e: ConnectionError| StorageError::Database { kind: DatabaseErrorKind::CannotOpen, source: e.into() };
    let probe_url = with_connect_timeout(url, wait);
    let (sender, answer) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new().name("lmlang-pg-probe".into()).spawn(move || {
        // The receiver is gone when the wait ended first; nothing is left to tell.
        let _ = sender.send(PgConnection::establish(&probe_url));
    });
    if spawned.is_err() {
        // No thread to spare: the pool's wait alone decides, as without the probe.
        return Ok(Probe::NotReached);
    }
    match answer.recv_timeout(wait) {
        Ok(Ok(_)) => Ok(Probe::Connected),
        Ok(Err(e @ (ConnectionError::InvalidConnectionUrl(_) | ConnectionError::InvalidCString(_)))) => {
            Err(cannot_open(e))
        }
        Ok(Err(ConnectionError::BadConnection(message))) => Ok(match refusal(&message) {
            Some(Refusal::Final) => return Err(cannot_open(ConnectionError::BadConnection(message))),
            Some(Refusal::UntilCreated) => Probe::Refused(message),
            None => Probe::NotReached,
        }),
        Ok(Err(_)) => Ok(Probe::NotReached),
        Err(_) => Err(super::error::connection_lost(format!("the server did not answer within {wait:?}"))),
    }
}

/// A URL (`postgres://...`) with libpq's `connect_timeout` set to `wait` (whole
/// seconds, at least 2 as libpq requires) unless it sets one; other forms unchanged.
fn with_connect_timeout(url: &str, wait: Duration) -> String {
    let is_uri = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if !is_uri || url.contains("connect_timeout=") {
        return url.to_owned();
    }
    let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(2);
    // A query begins at the first '?' after the user-info, which only '@' or '/' ends
    // (libpq's reading): a '?' in a password is not one.
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = match rest.find(['@', '/']) {
        Some(at) if rest.as_bytes()[at] == b'@' => &rest[at + 1..],
        _ => rest,
    };
    let separator = if host.contains('?') { '&' } else { '?' };
    format!("{url}{separator}connect_timeout={seconds}")
}

/// How final a refusal in libpq's message is.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// Waiting cannot change it: a password, an access rule, a malformed option.
    Final,
    /// A database or role that does not exist, which a deployment may be creating.
    UntilCreated,
}

/// Reads libpq's message for the server's (or libpq's own) refusal of the settings.
/// Only exact phrases count: the server's "authentication failed" of LDAP, RADIUS or
/// PAM also means its authentication service is down, and names in a message (a host
/// called `password-db`, a role called `invalid_user`) must not decide.
fn refusal(message: &str) -> Option<Refusal> {
    let m = message.to_ascii_lowercase();
    let server_says = |phrase: &str| m.contains(&format!("fatal:  {phrase}"));
    let final_ = server_says("password authentication failed for user")
        || server_says("no pg_hba.conf entry")
        || server_says("unrecognized configuration parameter")
        || server_says("invalid value for parameter")
        || m.contains("fe_sendauth: no password supplied")
        // libpq's own checks of the connection string and its build (no server was asked).
        || m.starts_with("invalid ")
        || m.contains("for connection option \"")
        || m.contains("invalid connection option \"")
        || m.starts_with("missing \"=\" after")
        || m.contains("unexpected spaces found in")
        || m.contains("invalid when ssl support is not compiled in");
    if final_ {
        return Some(Refusal::Final);
    }
    let until_created = (server_says("database \"") || server_says("role \"")) && m.contains("\" does not exist");
    until_created.then_some(Refusal::UntilCreated)
}

/// A pooled connection; `ConnectionLost` if none can be had.
pub fn connection(pool: &PgPool) -> StorageResult<PooledConnection<ConnectionManager<PgConnection>>> {
    pool.get().map_err(|e| classify_pool(pool, e))
}

/// Runs `work` in a `REPEATABLE READ READ ONLY` transaction: everything it reads comes
/// from one snapshot.
pub fn snapshot<T>(
    conn: &mut PgConnection,
    work: impl FnOnce(&mut PgConnection) -> StorageResult<T>,
) -> StorageResult<T> {
    conn.build_transaction().repeatable_read().read_only().run(work).map_err(reclassify)
}

diesel::define_sql_function! {
    /// Exports the calling transaction's snapshot for other sessions to import.
    fn pg_export_snapshot() -> diesel::sql_types::Text;
}

/// Exports the snapshot of the transaction `conn` is in, so another connection can
/// read exactly what it reads ([`imported_snapshot`]).
pub fn export_snapshot(conn: &mut PgConnection) -> StorageResult<String> {
    Ok(diesel::select(pg_export_snapshot()).get_result::<String>(conn)?)
}

/// Runs `work` in a `REPEATABLE READ READ ONLY` transaction that reads the snapshot
/// `id` another transaction exported (which must still be open).
pub fn imported_snapshot<T>(
    conn: &mut PgConnection,
    id: &str,
    work: impl FnOnce(&mut PgConnection) -> StorageResult<T>,
) -> StorageResult<T> {
    // `SET TRANSACTION SNAPSHOT` takes no parameters; the id is the server's own
    // (hex digits and dashes), checked before it goes into the statement.
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(StorageError::database(
            DatabaseErrorKind::Other,
            format!("unexpected snapshot id {id:?} from pg_export_snapshot()"),
        ));
    }
    snapshot(conn, |c| {
        c.batch_execute(&format!("SET TRANSACTION SNAPSHOT '{id}'"))?;
        work(c)
    })
}

/// Runs the read `work` on a pooled connection. A read that meets a dead connection (one
/// the server closed while it sat in the pool: a restart, `pg_terminate_backend`) runs
/// again on another, so only a read the server was running when it lost the
/// connection can fail with `ConnectionLost`; libpq marks the dead connection broken, so
/// the pool drops it.
pub fn read<T>(pool: &PgPool, work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>) -> StorageResult<T> {
    let mut attempts = 0u32;
    loop {
        let mut conn = connection(pool)?;
        match work(&mut conn).map_err(reclassify) {
            Err(e) if connection_lost(&e) && attempts < pool.max_size() => {
                discard_if_dead(&mut conn);
                attempts += 1;
                tracing::debug!(error = %e, "a pooled connection was dead; the read runs again on another");
            }
            other => return other,
        }
    }
}

/// Makes sure a connection that lost its server leaves the pool when it is returned.
///
/// The pool drops a connection Diesel considers broken, and Diesel notices a dead
/// connection only after a statement whose result it inspects; a prepared statement
/// that could not even be sent leaves it looking healthy. An empty statement lets
/// Diesel see libpq's state (on a live connection it costs one round trip, and
/// happens only after a `ConnectionLost`).
pub fn discard_if_dead(conn: &mut PgConnection) {
    let _ = conn.batch_execute("");
}

/// Whether an error says the connection to the server is gone.
pub fn connection_lost(e: &StorageError) -> bool {
    matches!(e, StorageError::Database { kind: DatabaseErrorKind::ConnectionLost, .. })
}

/// How many transactions and savepoints are open on `conn`, as Diesel's transaction
/// manager knows them. (A raw `BEGIN` escapes it; the README asks hosts to open
/// transactions through Diesel. Asking the server instead is not reliable under the
/// extended query protocol, whose statement and transaction start times differ.)
pub fn transaction_depth(conn: &mut PgConnection) -> StorageResult<u32> {
    match AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth() {
        Ok(depth) => Ok(depth.map_or(0, |d| d.get())),
        Err(broken) => Err(broken_transaction_manager(conn, broken)),
    }
}

/// Classifies Diesel's "transaction manager is broken". Diesel marks it so when libpq
/// can no longer tell the connection's transaction state, above all when the server
/// closed the connection (killed inside a host's transaction, say): then it is a
/// `ConnectionLost`, as every later call on the connection is. A cheap statement tells
/// that apart from a manager broken otherwise on a live connection (`Other`).
fn broken_transaction_manager(conn: &mut PgConnection, broken: diesel::result::Error) -> StorageError {
    let lost = conn.batch_execute("SELECT 1").err().map(|e| reclassify(e.into())).filter(connection_lost);
    lost.unwrap_or_else(|| StorageError::Database { kind: DatabaseErrorKind::Other, source: Box::new(broken) })
}

/// Whether `conn` is in a transaction already: a host's, which the store's reads and
/// writes then run in as savepoints.
pub fn in_transaction(conn: &mut PgConnection) -> StorageResult<bool> {
    Ok(transaction_depth(conn)? > 0)
}

/// Runs `work` in a `READ COMMITTED` write transaction on a pooled connection, again
/// (on a fresh transaction) when a serialization failure or deadlock rolled it back,
/// or when the connection turned out dead before the transaction began (nothing was
/// sent to the server, so nothing can have been written).
pub fn write<T>(
    pool: &PgPool,
    retries: u32,
    work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>,
) -> StorageResult<T> {
    let mut attempt = 0u32;
    let mut dead = 0u32;
    loop {
        let mut conn = connection(pool)?;
        if in_transaction(&mut conn)? {
            // A pool whose connections are in a transaction of the host's (a test pool:
            // its customizer calls `begin_test_transaction`): a savepoint in it, not
            // retried, as on a lent connection (`PgHostConnection`).
            return conn.transaction(|c| work(c)).map_err(reclassify);
        }
        let mut began = false;
        let result = conn.build_transaction().read_committed().run(|c| {
            began = true;
            work(c)
        });
        match result {
            Err(e) if attempt < retries && retryable(&e) => {
                attempt += 1;
                tracing::warn!(attempt, error = %e, "write rolled back by a serialization failure or deadlock; retrying");
                // Spread the retries of colliding writers apart.
                std::thread::sleep(Duration::from_millis(1u64 << attempt.min(7)));
            }
            Err(e) => {
                let e = reclassify(e);
                if connection_lost(&e) {
                    discard_if_dead(&mut conn);
                    if !began && dead < pool.max_size() {
                        dead += 1;
                        tracing::debug!(error = %e, "a pooled connection was dead; the write runs on another");
                        continue;
                    }
                }
                return Err(e);
            }
            Ok(value) => return Ok(value),
        }
    }
}

/// [`write`] on one connection a host lends, outside any transaction of its own: a
/// write rolled back by a serialization failure or deadlock runs again. (A dead
/// connection is the host's to replace: the error is returned.)
pub fn write_on<T>(
    conn: &mut PgConnection,
    retries: u32,
    work: &mut dyn FnMut(&mut PgConnection) -> StorageResult<T>,
) -> StorageResult<T> {
    let mut attempt = 0u32;
    loop {
        match conn.build_transaction().read_committed().run(|c| work(c)) {
            Err(e) if attempt < retries && retryable(&e) => {
                attempt += 1;
                tracing::warn!(attempt, error = %e, "write rolled back by a serialization failure or deadlock; retrying");
                std::thread::sleep(Duration::from_millis(1u64 << attempt.min(7)));
            }
            other => return other.map_err(reclassify),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Refusal, refusal, with_connect_timeout};
    use std::time::Duration;

    #[test]
    fn only_the_servers_exact_refusals_of_the_settings_count() {
        for (message, expected) in [
            (
                "connection to server at \"db\" (10.0.0.1), port 5432 failed: FATAL:  password authentication failed for user \"app\"",
                Some(Refusal::Final),
            ),
            ("connection to server failed: fe_sendauth: no password supplied", Some(Refusal::Final)),
            (
                "FATAL:  no pg_hba.conf entry for host \"10.0.0.1\", user \"app\", database \"app\", no encryption",
                Some(Refusal::Final),
            ),
            ("invalid port number: \"x\"", Some(Refusal::Final)),
            ("missing \"=\" after \"host\" in connection info string", Some(Refusal::Final)),
            (
                "connection to server at \"127.0.0.1\", port 5432 failed: invalid integer value \"abc\" for connection option \"connect_timeout\"",
                Some(Refusal::Final),
            ),
            ("sslmode value \"require\" invalid when SSL support is not compiled in", Some(Refusal::Final)),
            (
                "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  unrecognized configuration parameter \"foo\"",
                Some(Refusal::Final),
            ),
            (
                "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  invalid value for parameter \"TimeZone\": \"x\"",
                Some(Refusal::Final),
            ),
            (
                "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  database \"nope\" does not exist",
                Some(Refusal::UntilCreated),
            ),
            (
                "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  role \"nobody\" does not exist",
                Some(Refusal::UntilCreated),
            ),
            // Transient, whatever words the names in them hold.
            ("connection to server at \"127.0.0.1\", port 1 failed: Connection refused", None),
            ("FATAL:  the database system is starting up", None),
            ("FATAL:  sorry, too many clients already", None),
            ("FATAL:  too many connections for role \"password_rotator\"", None),
            ("FATAL:  LDAP authentication failed for user \"app\"", None),
            (
                "could not translate host name \"password-db.internal\" to address: Temporary failure in name resolution",
                None,
            ),
            ("FATAL:  remaining connection slots are reserved for non-replication superuser connections", None),
        ] {
            assert_eq!(refusal(message), expected, "{message}");
        }
    }

    #[test]
    fn the_probe_bounds_libpqs_own_wait_unless_the_url_does() {
        let wait = Duration::from_millis(10_500);
        assert_eq!(with_connect_timeout("postgres://u@h/db", wait), "postgres://u@h/db?connect_timeout=11");
        assert_eq!(
            with_connect_timeout("postgres://u@h/db?sslmode=require", wait),
            "postgres://u@h/db?sslmode=require&connect_timeout=11"
        );
        assert_eq!(
            with_connect_timeout("postgres://u@h/db", Duration::from_millis(300)),
            "postgres://u@h/db?connect_timeout=2"
        );
        assert_eq!(
            with_connect_timeout("postgres://u@h/db?connect_timeout=5", wait),
            "postgres://u@h/db?connect_timeout=5"
        );
        assert_eq!(with_connect_timeout("host=h dbname=db", wait), "host=h dbname=db");
        // A '?' in the password begins no query (libpq ends the user-info at '@').
        assert_eq!(with_connect_timeout("postgres://u:pa?ss@h/db", wait), "postgres://u:pa?ss@h/db?connect_timeout=11");
    }
}
