//! Diesel and SQLite errors classified once into [`StorageError`].
//!
//! Busy and locked databases become `Busy`, read-only ones `ReadOnly`, full ones `Full`,
//! corrupt files and files that are not databases `Corrupt`; everything else is
//! `Database` with a [`DatabaseErrorKind`] and the Diesel error kept as its source. The
//! conversion is a `From` impl, so `?` classifies at the first boundary a Diesel error
//! crosses.
//!
//! # What Diesel tells, and what it does not
//!
//! The classification is by SQLite result code, recovered as exactly as Diesel 2.3
//! allows without `unsafe`:
//!
//! - **Constraints**: when a statement fails, Diesel reads `sqlite3_extended_errcode`
//!   and keeps four codes as its `DatabaseErrorKind`: `SQLITE_CONSTRAINT_UNIQUE` and
//!   `_PRIMARYKEY` as `UniqueViolation`, `_FOREIGNKEY`, `_NOTNULL` and `_CHECK`. Those
//!   map one to one onto ours.
//! - **Every other code** becomes Diesel's `DatabaseErrorKind::Unknown`, and the error
//!   keeps nothing but the text of `sqlite3_errmsg` (its `DatabaseErrorInformation` is a
//!   bare `String`: no code, table, column or constraint). Asking SQLite for the code
//!   again would need the raw handle (`SqliteConnection::with_raw_connection`, an
//!   `unsafe` function this crate does not call), and inside a transaction Diesel's
//!   rollback has replaced the connection's last code before the error reaches us.
//! - What the text does tell: unless SQLite set a message of its own, `sqlite3_errmsg`
//!   is `sqlite3_errstr(code)`, the canonical text of the primary code (SQLite's
//!   `sqlite3ErrStr`, one fixed text per primary code, extended codes reported as their
//!   primary). So a message equal, whole, to the canonical text of a code identifies
//!   that primary code exactly ([`CANONICAL_TEXTS`]). Calling `sqlite3_errstr` here
//!   would be an `unsafe` FFI call, so the texts are written out;
//!   `tests/sqlite_errors.rs` checks them against the SQLite actually linked.
//! - Where SQLite sets a message of its own for these codes (SQLite 3.50), it is
//!   recognised by the fixed text it starts with, which SQLite uses for nothing else
//!   ([`DETAILED_TEXTS`]): shared-cache table and schema locks (`SQLITE_LOCKED`,
//!   "database table is locked: T", "database schema is locked: S") and an unreadable
//!   schema (`SQLITE_CORRUPT`, "malformed database schema (X)", perhaps with
//!   " - detail"). The `SQLITE_BUSY` of "cannot commit transaction - SQL statements in
//!   progress" (and of opening or releasing a savepoint) is deliberately left `Other`:
//!   it is a statement left running, which no retry cures. The extended code (which
//!   of busy, busy-snapshot, busy-timeout, ...) is never recoverable.
//! - **Opening**: Diesel turns a failed `sqlite3_open_v2` into
//!   `ConnectionError::BadConnection(libsqlite3_sys::code_to_str(code))`, with the
//!   primary code (SQLite masks extended codes unless asked for them). `code_to_str` is
//!   a safe function of the very libsqlite3-sys Diesel links, so calling it for each
//!   code maps the text back exactly.
//! - **r2d2 pools** keep only the text of the last connection error, after "timed out
//!   waiting for connection: ": one of the two texts above, mapped the same way.
//!
//! Anything else stays `Database { kind: Other }`. Nothing is classified by a substring
//! of the message: that took a JSON function's "malformed JSON" for a corrupt file.

use crate::store::{DatabaseErrorKind, StorageError};
use diesel::result::{ConnectionError, DatabaseErrorKind as DieselKind, Error as DieselError};
use libsqlite3_sys as ffi;
use std::os::raw::c_int;

/// The primary result codes a caller acts on, each with SQLite's canonical text
/// (`sqlite3_errstr`), which is what `sqlite3_errmsg` says when SQLite has nothing more
/// specific to say.
const CANONICAL_TEXTS: [(c_int, &str); 7] = [
    (ffi::SQLITE_BUSY, "database is locked"),
    (ffi::SQLITE_LOCKED, "database table is locked"),
    (ffi::SQLITE_READONLY, "attempt to write a readonly database"),
    (ffi::SQLITE_FULL, "database or disk is full"),
    (ffi::SQLITE_CORRUPT, "database disk image is malformed"),
    (ffi::SQLITE_NOTADB, "file is not a database"),
    (ffi::SQLITE_CANTOPEN, "unable to open database file"),
];

/// SQLite's own messages for those codes that carry a detail, by the fixed text each
/// begins with.
const DETAILED_TEXTS: [(c_int, &str); 3] = [
    (ffi::SQLITE_LOCKED, "database table is locked: "),
    (ffi::SQLITE_LOCKED, "database schema is locked: "),
    (ffi::SQLITE_CORRUPT, "malformed database schema ("),
];

/// What r2d2 puts before the last connection error of a pool that gave up.
const POOL_TIMEOUT_PREFIX: &str = "timed out waiting for connection: ";

/// Whether a pool gave up with no failed connection attempt to report: every
/// connection stayed in use for the whole wait. (r2d2 keeps its error's fields
/// private; its message is the only account of which it was.)
pub(crate) fn pool_exhausted(e: &diesel::r2d2::PoolError) -> bool {
    e.to_string() == POOL_TIMEOUT_PREFIX.trim_end_matches(": ")
}

/// Lets `?` classify Diesel errors wherever SQLite work returns a `StorageResult`,
/// transactions included (they need an error type that Diesel errors convert into).
/// A Diesel error does not say which backend raised it, so this is SQLite's reading;
/// errors from a PostgreSQL connection go through
/// `lmlang_storage::postgres::classify` (the store's own do), or a lock timeout there
/// would be `Database { kind: Other }` instead of `Busy`.
impl From<DieselError> for StorageError {
    fn from(e: DieselError) -> Self {
        classify(e)
    }
}

/// Classifies a Diesel error.
pub fn classify(e: DieselError) -> StorageError {
    if let DieselError::DeserializationError(inner) = &e {
        return crate::store::undecodable_row(inner.as_ref());
    }
    let kind = match &e {
        DieselError::DatabaseError(kind, info) => match kind {
            DieselKind::UniqueViolation => DatabaseErrorKind::UniqueViolation,
            DieselKind::ForeignKeyViolation => DatabaseErrorKind::ForeignKeyViolation,
            DieselKind::CheckViolation => DatabaseErrorKind::CheckViolation,
            DieselKind::NotNullViolation => DatabaseErrorKind::NotNullViolation,
            DieselKind::SerializationFailure => DatabaseErrorKind::SerializationFailure,
            DieselKind::ClosedConnection => DatabaseErrorKind::ConnectionLost,
            DieselKind::ReadOnlyTransaction => return StorageError::ReadOnly,
            _ => match statement_code(info.message()) {
                Some(code) => {
                    let message = info.message().to_string();
                    return from_code(code, &message, e);
                }
                None => DatabaseErrorKind::Other,
            },
        },
        _ => DatabaseErrorKind::Other,
    };
    StorageError::database(kind, e)
}

/// Classifies an error of establishing a connection.
pub fn classify_connection(e: ConnectionError) -> StorageError {
    match e {
        ConnectionError::BadConnection(message) => match open_code(&message) {
            Some(code) => from_code(code, &message, ConnectionError::BadConnection(message.clone())),
            None => StorageError::database(DatabaseErrorKind::Other, ConnectionError::BadConnection(message)),
        },
        // The connection opened, and Diesel's set-up of it failed.
        ConnectionError::CouldntSetupConfiguration(inner) => classify(inner),
        other => StorageError::database(DatabaseErrorKind::Other, other),
    }
}

/// Classifies an error of an r2d2 pool of connections (which keeps only the text of
/// the last connection error).
pub fn classify_pool(e: diesel::r2d2::PoolError) -> StorageError {
    let text = e.to_string();
    let last = text.strip_prefix(POOL_TIMEOUT_PREFIX);
    match last.and_then(|m| open_code(m).or_else(|| statement_code(m)).map(|code| (code, m))) {
        Some((code, message)) => from_code(code, message, e),
        None if pool_exhausted(&e) => StorageError::database(DatabaseErrorKind::Timeout, e),
        None => StorageError::database(DatabaseErrorKind::Other, e),
    }
}

/// The primary result code behind the message of a failed statement, when SQLite's
/// message identifies it (see the module docs).
fn statement_code(message: &str) -> Option<c_int> {
    let canonical = CANONICAL_TEXTS.iter().find(|(_, text)| *text == message);
    let detailed = || DETAILED_TEXTS.iter().find(|(_, head)| message.starts_with(head));
    canonical.or_else(detailed).map(|(code, _)| *code)
}

/// The primary result code behind the message of a failed open: Diesel's message is
/// exactly `libsqlite3_sys::code_to_str(code)`.
fn open_code(message: &str) -> Option<c_int> {
    CANONICAL_TEXTS.iter().map(|(code, _)| *code).find(|code| ffi::code_to_str(*code) == message)
}

/// The error for an SQLite result code a caller acts on.
fn from_code(code: c_int, message: &str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StorageError {
    match code {
        ffi::SQLITE_BUSY | ffi::SQLITE_LOCKED => StorageError::Busy,
        ffi::SQLITE_READONLY => StorageError::ReadOnly,
        ffi::SQLITE_FULL => StorageError::Full,
        ffi::SQLITE_CORRUPT | ffi::SQLITE_NOTADB => {
            StorageError::Corrupt { table: crate::store::WHOLE_FILE, key: String::new(), detail: message.to_string() }
        }
        ffi::SQLITE_CANTOPEN => StorageError::database(DatabaseErrorKind::CannotOpen, source),
        _ => StorageError::database(DatabaseErrorKind::Other, source),
    }
}
