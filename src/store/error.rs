//! `StorageError`: every way a store operation can fail, typed so callers can match.
//!
//! Backend errors (Diesel, SQLite) are classified once, at the backend boundary, into
//! the variants a caller acts on (busy, read-only, full, corrupt, too new); what remains
//! is `Database`, with its source kept and a [`DatabaseErrorKind`] a caller can match
//! without depending on the backend's own error types.

use super::ProgramId;
use crate::graph::{Entity, GraphError, Violation};
use crate::model::FunctionId;
use std::fmt;

/// How a caller named a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgramRef {
    /// By id.
    Id(ProgramId),
    /// By its unique name.
    Name(String),
}

impl fmt::Display for ProgramRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProgramRef::Id(id) => write!(f, "program {id}"),
            ProgramRef::Name(n) => write!(f, "program {}", Shown(n)),
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
    /// The database could not be opened, and waiting will not change that: for SQLite a
    /// missing directory, no permission, a path that is no regular file, or a WAL file
    /// whose shared-memory file cannot be made (a read-only open of a file that does
    /// not exist is [`StorageError::Io`] with `NotFound`, so a caller can tell it apart); for PostgreSQL a malformed URL, or a server that refuses its password or
    /// host (`pg_hba.conf`) at once, or its database or role after the pool's wait.
    CannotOpen,
    /// The database refused the statement to this role (PostgreSQL's
    /// `insufficient_privilege`: no grant on a table or sequence, say). Unlike
    /// [`StorageError::ReadOnly`], the database itself takes writes: a grant, not a
    /// writable copy or a retry, is what changes the answer.
    PermissionDenied,
    /// A limit on waiting ran out with no other writer to blame: a PostgreSQL statement
    /// ran past `statement_timeout` and was cancelled, or no pooled connection came
    /// free within the pool's connection timeout (every one in use; reads from inside
    /// edit closures hold one each). Unlike [`StorageError::Busy`], retrying the same
    /// work as it is will not help: a longer limit, a larger pool or a smaller
    /// operation does. The source says which limit it was.
    Timeout,
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
            DatabaseErrorKind::PermissionDenied => "permission denied",
            DatabaseErrorKind::Timeout => "timed out",
            DatabaseErrorKind::Other => "database error",
        })
    }
}

/// Why a store operation failed. A failed operation has changed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// No program has this id or name (it was never created, or was deleted).
    #[error("{0} does not exist")]
    ProgramNotFound(ProgramRef),
    /// The program exists but the node, edge, function, type or module does not.
    #[error("{entity} does not exist in program {program}")]
    NotFound {
        /// The program searched.
        program: ProgramId,
        /// What was missing.
        entity: Entity,
    },
    /// `find_module_by_path` found no module at that path.
    #[error("no module {} in program {program}", Shown(path))]
    ModulePathNotFound {
        /// The program searched.
        program: ProgramId,
        /// The path asked for, joined with `::`.
        path: String,
    },
    /// Program names are unique per store; nothing was written.
    #[error("a program named {} already exists; choose another name or delete it first", Shown(.0))]
    DuplicateProgramName(String),
    /// A program name must be non-empty, free of NUL (no backend keeps NUL) and at most
    /// [`MAX_NAME_BYTES`](crate::store::MAX_NAME_BYTES) long.
    #[error("invalid program name {}: it must be non-empty, at most 1024 bytes, and contain no NUL character", Shown(.0))]
    InvalidProgramName(String),
    /// A graph assembled from outside breaks the model's rules; every violation is
    /// listed and nothing was written.
    #[error("the program is invalid ({} violation(s)); first: {}", .violations.len(), .violations.first().map(|v| v.to_string()).unwrap_or_default())]
    Invalid {
        /// Every rule the graph breaks.
        violations: Vec<Violation>,
    },
    /// `ProgramGraph` refused an edit (a cycle of data edges, a cross-function edge, a
    /// taken name...); the stored program is unchanged.
    #[error("edit refused in program {program}: {source}")]
    Rejected {
        /// The program edited.
        program: ProgramId,
        /// Why the graph refused it.
        source: GraphError,
    },
    /// A stored row could not be decoded (hand-edited, truncated or from a broken
    /// writer); nothing was guessed or defaulted.
    #[error("{}", describe_corrupt(table, key, detail))]
    Corrupt {
        /// The table holding the row; `(database file)` when SQLite found the file
        /// itself damaged, `(a row read)` when the row decoder refused a value (a NULL
        /// where the schema declares NOT NULL) without knowing the table.
        table: &'static str,
        /// The row's key, for finding it (empty when not known).
        key: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The database was migrated by a newer lmlang-storage; it was left untouched.
    #[error(
        "the database has schema version {found}, newer than the {supported} this build knows; upgrade lmlang-storage"
    )]
    SchemaTooNew {
        /// The newest migration of this crate the database records.
        found: i64,
        /// The newest migration this build knows.
        supported: i64,
    },
    /// A store opened without migrating (a read-only role, a standby) found a schema
    /// older than this build's: nothing was read or changed. Whoever may change the
    /// schema runs this crate's migrations first.
    #[error(
        "the database has schema version {found}, older than the {required} this build needs; run the lmlang \
         migrations (run_migrations, or `lmstore migrate`) as a role that may change the schema"
    )]
    SchemaTooOld {
        /// The newest migration of this crate the database records.
        found: i64,
        /// The newest migration this build knows.
        required: i64,
    },
    /// Another writer held the lock past the busy (or lock) timeout, or kept winning
    /// the store's own retries; retrying later is safe, as nothing was written. Inside
    /// a transaction of the caller's (a store on a lent connection) it can also mean
    /// that another writer committed after that transaction began (SQLite's stale
    /// snapshot of a deferred transaction, PostgreSQL's serialization failure): then
    /// only the caller's whole transaction, begun again, can succeed. A transaction the
    /// caller holds open on another connection is another writer too: a pooled store
    /// used inside it waits out the timeout every time, and no retry helps; inside a
    /// transaction of its own a service writes through that transaction's connection
    /// (`ConnectionStore`, `PgConnectionStore`).
    #[error(
        "the database stayed locked by another writer past the busy timeout, or another writer committed \
         after the surrounding transaction began; retry later (the whole transaction, if it is yours; a \
         transaction of yours open on another connection is another writer: write inside it through its \
         connection)"
    )]
    Busy,
    /// The store or the database is read-only (a read-only store, file or session; for
    /// SQLite also a store opened to write on a read-only mount); the write was refused
    /// whole.
    #[error("the database is read-only; open a writable copy to change it")]
    ReadOnly,
    /// The disk, or the store's page quota, is full; the write was rolled back. For
    /// SQLite also an open that could not make its shared-memory (`-shm`) file on a
    /// full file system, which SQLite itself calls a "disk I/O error".
    #[error("the database or disk is full; free space (or raise max_page_count) and retry")]
    Full,
    /// A migration failed and was rolled back; the text says which and why.
    #[error("migration failed: {0}")]
    Migration(String),
    /// Any other database error, with the backend's own error kept as the source.
    #[error("database error: {source}")]
    Database {
        /// What kind of error it is, for callers that act on it.
        kind: DatabaseErrorKind,
        /// The backend's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The program's history has no entry for this revision: it was pruned, written
    /// while history was off, or not made yet. Nothing was written.
    #[error("program {program} has no revision {revision} in its history (pruned, not recorded, or not made yet)")]
    RevisionNotFound {
        /// The program asked about.
        program: ProgramId,
        /// The revision asked for.
        revision: u64,
    },
    /// A save made only while the program was at `expected`
    /// ([`save_program_if_at`](crate::store::GraphStore::save_program_if_at)) found it
    /// moved on: another writer committed since the caller read it. Nothing was written;
    /// read the program again and redo the edit.
    #[error("program {program} is at revision {found}, not the {expected} the save was based on; nothing was written")]
    RevisionMoved {
        /// The program saved.
        program: ProgramId,
        /// The revision the caller read.
        expected: u64,
        /// The revision the write found.
        found: u64,
    },
    /// Undo found no commit left to undo (or redo none to redo); nothing was written.
    #[error("nothing to {action} in program {program}")]
    NothingTo {
        /// The program asked about.
        program: ProgramId,
        /// `"undo"` or `"redo"`.
        action: &'static str,
    },
    /// No tag of this name in the program.
    #[error("program {program} has no tag {}", Shown(name))]
    TagNotFound {
        /// The program asked about.
        program: ProgramId,
        /// The tag asked for.
        name: String,
    },
    /// [`add_tag`](crate::store::ProgramHistory::add_tag) found the tag on another
    /// revision and left it there; nothing was written. Move it with
    /// [`move_tag`](crate::store::ProgramHistory::move_tag) if that is meant.
    #[error(
        "tag {} of program {program} already names revision {revision}; nothing was written (move it explicitly to repoint it)",
        Shown(name)
    )]
    TagElsewhere {
        /// The program asked about.
        program: ProgramId,
        /// The tag asked for.
        name: String,
        /// The revision it names.
        revision: u64,
    },
    /// A tag name must be non-empty, at most [`MAX_NAME_BYTES`](crate::store::MAX_NAME_BYTES)
    /// long, free of NUL and `@` (which `lmstore` uses to name a revision,
    /// `PROGRAM@TAG`), and not a number (which names the revision itself; digits too
    /// many for a revision are refused too, since `lmstore` reads any digits as one).
    #[error(
        "invalid tag name {}: it must be non-empty, at most 1024 bytes, not a number, and contain no NUL or '@'",
        Shown(.0)
    )]
    InvalidTagName(String),
    /// `save_function` of a function whose new nodes or edges carry ids another
    /// writer has since given to other functions (both started from the same
    /// revision); nothing was written. Reload the program, make the function's edit
    /// again and save it.
    #[error(
        "function {function} of program {program} holds node or edge ids that another writer gave to other \
         functions since it was loaded; nothing was written: reload, redo the edit and save again"
    )]
    IdsTaken {
        /// The program saved to.
        program: ProgramId,
        /// The function whose save was refused.
        function: FunctionId,
    },
    /// A commit message must contain no NUL character: PostgreSQL's text cannot hold
    /// one, and every backend refuses it alike. Nothing was written.
    #[error("invalid commit message {}: it must contain no NUL character", Shown(.0))]
    InvalidMessage(String),
    /// A write, or on a store that cannot read beside its own write (one lent
    /// connection, the in-memory store) a read, called from inside an `edit` closure
    /// of the same store. It would wait for the edit that waits for it; it is refused
    /// instead. Work on the graph the closure is given, or read before the edit.
    #[error(
        "a call into the store from inside one of its own edit closures would wait for that edit; \
             use the graph the closure is given, or read what you need before the edit"
    )]
    Reentrant,
    /// A JSON payload could not be encoded or decoded.
    #[error("JSON payload error: {0}")]
    Json(#[from] serde_json::Error),
    /// A file operation failed (a missing file for a read-only open, a temporary
    /// directory that could not be made).
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

/// A caller's text (a name, a path, a message) quoted in an error message, cut short
/// past [`SHOWN_BYTES`]: the text is often refused for its length, and a client that
/// sends megabytes must not get them back in every message and log line. The
/// variant's field keeps the whole text.
struct Shown<'a>(&'a str);

/// How much of a caller's text an error message quotes.
const SHOWN_BYTES: usize = 256;

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0;
        if text.len() <= SHOWN_BYTES {
            return write!(f, "{text:?}");
        }
        let cut = (0..=SHOWN_BYTES).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        write!(f, "{:?}... ({} bytes in all)", &text[..cut], text.len())
    }
}

/// Shorthand for store results.
pub type StorageResult<T> = Result<T, StorageError>;

/// The `table` of a [`StorageError::Corrupt`] that is about the whole file (SQLite
/// found its header or its pages malformed), not a row.
pub(crate) const WHOLE_FILE: &str = "(database file)";

/// The `table` of a [`StorageError::Corrupt`] for a value the row decoder itself
/// refused (a NULL in a column the schema declares NOT NULL, after a service dropped
/// the constraint): the decoder does not know the table.
pub(crate) const UNREADABLE_ROW: &str = "(a row read)";

/// A row Diesel could not decode is corrupt data, not a failure of the database: it is
/// typed so, and a listing or a check of other programs goes on.
pub(crate) fn undecodable_row(e: &(dyn std::error::Error + Send + Sync)) -> StorageError {
    StorageError::Corrupt { table: UNREADABLE_ROW, key: String::new(), detail: e.to_string() }
}

fn describe_corrupt(table: &str, key: &str, detail: &str) -> String {
    if table == WHOLE_FILE {
        format!("the database file is damaged or is not an SQLite database ({detail})")
    } else if table == UNREADABLE_ROW {
        format!("corrupt data: a stored row cannot be read ({detail})")
    } else if table == "lmlang_history" {
        // A recorded edit reads the newest entry, so it stops there; nothing else must.
        format!(
            "corrupt data in table {table}, row {key}: {detail} (the program's own rows are not affected: it \
             loads and exports, and a store with history recording off edits it)"
        )
    } else {
        format!("corrupt data in table {table}, row {key}: {detail}")
    }
}
