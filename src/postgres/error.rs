//! Diesel and PostgreSQL errors classified once into [`StorageError`], to the same
//! variants and [`DatabaseErrorKind`]s SQLite's errors get.
//!
//! Row code converts Diesel errors with `?` (through the SQLite classifier, which keeps
//! the Diesel error as the source); the backend calls [`reclassify`] on everything that
//! leaves it, so the Diesel error is classified here by its kind and, where Diesel has
//! no kind for the SQLSTATE, by the server's message (deadlock, lock or statement
//! timeout, disk full, lost connection, permission).

use crate::store::{DatabaseErrorKind, StorageError};
use diesel::result::{DatabaseErrorKind as DieselKind, Error as DieselError};

/// Whether a failed transaction may simply run again: a serialization failure (40001)
/// or a deadlock (40P01) rolled it back whole.
pub fn retryable(e: &StorageError) -> bool {
    match e {
        StorageError::Database { source, .. } => source.downcast_ref::<DieselError>().is_some_and(|d| match d {
            DieselError::DatabaseError(DieselKind::SerializationFailure, _) => true,
            DieselError::DatabaseError(_, info) => info.message().contains("deadlock detected"),
            _ => false,
        }),
        _ => false,
    }
}

/// Classifies what a PostgreSQL operation returned (see the module docs).
pub fn reclassify(e: StorageError) -> StorageError {
    match e {
        StorageError::Database { kind, source } => match source.downcast::<DieselError>() {
            Ok(diesel) => classify(*diesel),
            Err(other) => StorageError::Database { kind, source: other },
        },
        other => other,
    }
}

/// A lost connection, as every backend reports it.
pub fn connection_lost(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StorageError {
    StorageError::Database { kind: DatabaseErrorKind::ConnectionLost, source: source.into() }
}

/// Classifies a Diesel error from a PostgreSQL connection.
pub fn classify(e: DieselError) -> StorageError {
    if let DieselError::DeserializationError(inner) = &e {
        return crate::store::undecodable_row(inner.as_ref());
    }
    let kind = match &e {
        DieselError::DatabaseError(kind, info) => {
            let message = info.message().to_ascii_lowercase();
            match kind {
                DieselKind::UniqueViolation => DatabaseErrorKind::UniqueViolation,
                DieselKind::ForeignKeyViolation => DatabaseErrorKind::ForeignKeyViolation,
                DieselKind::CheckViolation => DatabaseErrorKind::CheckViolation,
                DieselKind::NotNullViolation => DatabaseErrorKind::NotNullViolation,
                // Retried by the store first; what is left is contention, as SQLite's.
                DieselKind::SerializationFailure => return StorageError::Busy,
                DieselKind::ReadOnlyTransaction => return StorageError::ReadOnly,
                DieselKind::ClosedConnection | DieselKind::UnableToSendCommand => DatabaseErrorKind::ConnectionLost,
                _ if message.contains("deadlock detected")
                    || message.contains("lock timeout")
                    || message.contains("could not obtain lock") =>
                {
                    return StorageError::Busy;
                }
                // 57014 from `statement_timeout`: the statement's own length, not
                // another writer, ran out the limit.
                _ if message.contains("statement timeout") => DatabaseErrorKind::Timeout,
                _ if message.contains("no space left on device") || message.contains("could not extend file") => {
                    return StorageError::Full;
                }
                _ if lost_connection(&message) => DatabaseErrorKind::ConnectionLost,
                // 42501: "permission denied for table ...", "must be owner of ...", and
                // row-level security refusing a row. (Diesel gives no SQLSTATE, so the
                // server's messages must be in English, as for the kinds above.)
                _ if message.starts_with("permission denied")
                    || message.starts_with("must be owner of")
                    || message.contains("violates row-level security policy") =>
                {
                    DatabaseErrorKind::PermissionDenied
                }
                _ => DatabaseErrorKind::Other,
            }
        }
        _ => DatabaseErrorKind::Other,
    };
    StorageError::Database { kind, source: Box::new(e) }
}

/// Whether a libpq or server message says the connection is gone (57P01 admin
/// shutdown, 08006/08003 connection failure, a server that closed the socket).
fn lost_connection(message: &str) -> bool {
    message.contains("terminating connection")
        || message.contains("server closed the connection")
        || message.contains("connection to server")
        || message.contains("no connection to the server")
        || message.contains("could not receive data")
        || message.contains("could not send data")
}

/// Classifies a failure to get a connection from `pool`. r2d2 appends the last failed
/// connection attempt's error to its message: with one, the server is unreachable.
/// Without one, the pool either kept every connection it may hold in use for the
/// whole wait (a `Timeout`: a larger pool or fewer held connections help) or could
/// not open one in that time (an attempt still hanging on a server that does not
/// answer records no error yet: `ConnectionLost`, which a service retries).
pub fn classify_pool(pool: &super::PgPool, e: diesel::r2d2::PoolError) -> StorageError {
    let full = pool.state().connections >= pool.max_size();
    if full && crate::sqlite::pool_exhausted(&e) {
        return StorageError::Database { kind: DatabaseErrorKind::Timeout, source: Box::new(e) };
    }
    connection_lost(e)
}
