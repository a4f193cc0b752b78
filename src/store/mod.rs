//! The storage contract and its shared engine.
//!
//! [`GraphStore`] is what callers use; [`Store`] implements it once for any
//! [`Backend`]; [`InMemoryStore`] is the in-memory backend, first-class and with the
//! same behaviour as SQLite. Backends differ in where rows live, never in semantics.

mod api;
mod backend;
mod engine;
mod error;
pub(crate) use error::WHOLE_FILE;
mod history;
mod memory;
mod reentry;
pub(crate) mod trace;
mod types;

pub use api::{EditFn, GraphStore};
pub use backend::{Backend, WriteTx};
pub use engine::{DEFAULT_ROOT_MODULE, MAX_NAME_BYTES, Store};
pub use error::{DatabaseErrorKind, ProgramRef, StorageError, StorageResult};
pub use history::{CommitKind, EntityRows, HistoryEntry, HistoryRecord, LogPage, ProgramHistory, Retention, Tag};
pub use memory::MemoryBackend;
pub use types::{FunctionUpdate, NewFunction, ProgramId, ProgramSummary, SaveReport};

/// The in-memory store.
pub type InMemoryStore = Store<MemoryBackend>;

impl InMemoryStore {
    /// An empty in-memory store.
    pub fn new() -> Self {
        Store::with_backend(MemoryBackend::default())
    }
}

impl Default for InMemoryStore {
    fn default() -> Self {
        Self::new()
    }
}
