//! `StorageError`: every way a store operation can fail, typed so callers can match.
//!
//! Backend errors (Diesel, SQLite) are classified once, at the backend boundary, into
//! the variants a caller acts on (busy, read-only, full, corrupt, too new); what remains
//! is `Database`, with its source kept and a [`DatabaseErrorKind`] a caller can match
//! without depending on the backend's own error types.

use super::ProgramId;
use crate::graph::{Entity, GraphError, Violation};
use std::fmt;

/// How a caller named a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgramRef {
    Id(ProgramId),
    Name(String),
}

impl fmt::Display for ProgramRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProgramRef::Id(id) => write!(f, "program {id}"),
            ProgramRef::Name(n) => write!(f, "program {n:?}"),
        }
    }
}

/// What kind of database error a [`StorageError::Database`] is, as far as the backend
/// can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DatabaseErrorKind {
    /// A UNIQUE or PRIMARY KEY constraint refused a row.
    UniqueViolation,
    /// A FOREIGN KEY constraint refused a row.
    ForeignKeyViolation,
    /// A CHECK constraint refused a row.
    CheckViolation,
    /// A NOT NULL constraint refused a row.
    NotNullViolation,
    /// The database could not serialise the transaction against a concurrent one.
    SerializationFailure,
    /// The connection was closed under the operation.
    ConnectionLost,
    /// The database file could not be opened (a missing directory, no permission, a
    /// read-only open of a file that does not exist, or a WAL file whose shared-memory
    /// file cannot be made).
    CannotOpen,
    /// Anything else; the source says what.
    Other,
}

impl fmt::Display for DatabaseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DatabaseErrorKind::UniqueViolation => "unique constraint violated",
            DatabaseErrorKind::ForeignKeyViolation => "foreign key constraint violated",
            DatabaseErrorKind::CheckViolation => "check constraint violated",
            DatabaseErrorKind::NotNullViolation => "not-null constraint violated",
            DatabaseErrorKind::SerializationFailure => "serialization failure",
            DatabaseErrorKind::ConnectionLost => "connection lost",
            DatabaseErrorKind::CannotOpen => "cannot open the database file",
            DatabaseErrorKind::Other => "database error",
        })
    }
}

/// Why a store operation failed. A failed operation has changed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    #[error("{0} does not exist")]
    ProgramNotFound(ProgramRef),
    #[error("{entity} does not exist in program {program}")]
    NotFound { program: ProgramId, entity: Entity },
    #[error("no module {path} in program {program}")]
    ModulePathNotFound { program: ProgramId, path: String },
    #[error("a program named {0:?} already exists; choose another name or delete it first")]
    DuplicateProgramName(String),
    #[error("invalid program name {0:?}: it must be non-empty and contain no NUL character")]
    InvalidProgramName(String),
    #[error("the program is invalid ({} violation(s)); first: {}", .violations.len(), .violations.first().map(|v| v.to_string()).unwrap_or_default())]
    Invalid { violations: Vec<Violation> },
    #[error("edit refused in program {program}: {source}")]
    Rejected { program: ProgramId, source: GraphError },
    #[error("corrupt data in table {table}, row {key}: {detail}")]
    Corrupt { table: &'static str, key: String, detail: String },
    #[error(
        "the database has schema version {found}, newer than the {supported} this build knows; upgrade lmlang-storage"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("the database stayed locked by another writer past the busy timeout; retry later")]
    Busy,
    #[error("the database is read-only; open a writable copy to change it")]
    ReadOnly,
    #[error("the database or disk is full; free space (or raise max_page_count) and retry")]
    Full,
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("database error: {source}")]
    Database {
        /// What kind of error it is, for callers that act on it.
        kind: DatabaseErrorKind,
        /// The backend's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("JSON payload error: {0}")]
    Json(#[from] serde_json::Error),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl StorageError {
    /// A `Database` error of this kind.
    pub(crate) fn database(
        kind: DatabaseErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        StorageError::Database { kind, source: source.into() }
    }

    /// The kind of a `Database` error; `None` for every other variant.
    pub fn database_kind(&self) -> Option<DatabaseErrorKind> {
        match self {
            StorageError::Database { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// Converts a refused graph edit, keeping "not found" as its own variant.
    pub fn from_graph(program: ProgramId, e: GraphError) -> Self {
        match e {
            GraphError::NotFound(entity) => StorageError::NotFound { program, entity },
            other => StorageError::Rejected { program, source: other },
        }
    }
}

/// Shorthand for store results.
pub type StorageResult<T> = Result<T, StorageError>;
