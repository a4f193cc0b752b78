//! Diesel and SQLite errors classified once into [`StorageError`].
//!
//! SQLite reports busy, locked, read-only, full and corrupt databases through Diesel as
//! `DatabaseErrorKind::Unknown` with SQLite's message, so the message is what tells
//! them apart. Everything that is not one of those stays a `Database` error with its
//! source kept. The conversion is a `From` impl, so `?` classifies at the first
//! boundary a Diesel error crosses.

use crate::store::StorageError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Lets `?` classify Diesel errors wherever SQLite work returns a `StorageResult`,
/// transactions included (they need an error type that Diesel errors convert into).
impl From<DieselError> for StorageError {
    fn from(e: DieselError) -> Self {
        classify(e)
    }
}

/// Classifies a Diesel error.
pub fn classify(e: DieselError) -> StorageError {
    match &e {
        DieselError::DatabaseError(kind, info) => {
            let message = info.message();
            if let Some(class) = classify_message(message) {
                return class;
            }
            if matches!(kind, DatabaseErrorKind::ReadOnlyTransaction) {
                return StorageError::ReadOnly;
            }
            StorageError::Database(Box::new(e))
        }
        _ => StorageError::Database(Box::new(e)),
    }
}

/// Classifies an SQLite error message (the text of `sqlite3_errmsg`), if it is one a
/// caller acts on.
pub fn classify_message(message: &str) -> Option<StorageError> {
    let m = message.to_ascii_lowercase();
    if m.contains("database is locked") || m.contains("database table is locked") || m.contains("database is busy") {
        Some(StorageError::Busy)
    } else if m.contains("readonly database") || m.contains("read-only") {
        Some(StorageError::ReadOnly)
    } else if m.contains("database or disk is full") {
        Some(StorageError::Full)
    } else if m.contains("malformed") || m.contains("file is not a database") {
        Some(StorageError::Corrupt { table: "(database file)", key: String::new(), detail: message.to_string() })
    } else {
        None
    }
}

/// Classifies an error of establishing a connection.
pub fn classify_connection(e: diesel::ConnectionError) -> StorageError {
    let message = e.to_string();
    classify_message(&message).unwrap_or_else(|| StorageError::Database(Box::new(e)))
}

/// Classifies an error of the reader pool (which wraps connection errors).
pub fn classify_pool(e: diesel::r2d2::PoolError) -> StorageError {
    let message = e.to_string();
    classify_message(&message).unwrap_or_else(|| StorageError::Database(Box::new(e)))
}
