//! Diesel and PostgreSQL errors classified once into [`StorageError`], to the same
//! variants SQLite's errors get.
//!
//! Row code converts Diesel errors with `?` (through the SQLite classifier, which
//! recognises none of PostgreSQL's messages and keeps the error boxed); the backend
//! calls [`reclassify`] on everything that leaves it, so the boxed Diesel error is
//! classified here by its kind and, where Diesel has no kind for the SQLSTATE, by the
//! server's message (deadlock, lock or statement timeout, disk full, lost connection).

use crate::store::StorageError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Whether a failed transaction may simply run again: a serialization failure (40001)
/// or a deadlock (40P01) rolled it back whole.
pub fn retryable(e: &StorageError) -> bool {
    match e {
        StorageError::Database(source) => source.downcast_ref::<DieselError>().is_some_and(|d| match d {
            DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
            DieselError::DatabaseError(_, info) => info.message().contains("deadlock detected"),
            _ => false,
        }),
        _ => false,
    }
}

/// Classifies what a PostgreSQL operation returned (see the module docs).
pub fn reclassify(e: StorageError) -> StorageError {
    match e {
        StorageError::Database(source) => match source.downcast::<DieselError>() {
            Ok(diesel) => classify(*diesel),
            Err(other) => StorageError::Database(other),
        },
        other => other,
    }
}

/// Classifies a Diesel error from a PostgreSQL connection.
pub fn classify(e: DieselError) -> StorageError {
    if let DieselError::DatabaseError(kind, info) = &e {
        let message = info.message().to_ascii_lowercase();
        match kind {
            DatabaseErrorKind::SerializationFailure => return StorageError::Busy,
            DatabaseErrorKind::ReadOnlyTransaction => return StorageError::ReadOnly,
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => {
                return StorageError::ConnectionLost(info.message().to_string());
            }
            _ => {}
        }
        if message.contains("deadlock detected")
            || message.contains("lock timeout")
            || message.contains("statement timeout")
            || message.contains("could not obtain lock")
        {
            return StorageError::Busy;
        }
        if message.contains("no space left on device") || message.contains("could not extend file") {
            return StorageError::Full;
        }
        if lost_connection(&message) {
            return StorageError::ConnectionLost(info.message().to_string());
        }
    }
    StorageError::Database(Box::new(e))
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

/// Classifies a failure to get a pooled connection: the server is unreachable.
pub fn classify_pool(e: diesel::r2d2::PoolError) -> StorageError {
    StorageError::ConnectionLost(e.to_string())
}
