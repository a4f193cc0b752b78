//! The storage contract and its shared engine.
//!
//! [`GraphStore`] is what callers use; [`Store`] implements it once for any
//! [`Backend`]; [`InMemoryStore`] is the in-memory backend, first-class and with the
//! same behaviour as SQLite. Backends differ in where rows live, never in semantics.

mod api;
mod backend;
mod cache;
mod engine;
mod error;
pub(crate) use error::{WHOLE_FILE, undecodable_row};
mod history;
mod memory;
mod reentry;
pub(crate) mod trace;
mod types;

pub use api::{EditFn, GraphStore};
pub use backend::{Backend, WriteTx};
pub use cache::{CacheLimits, CacheStats};
pub use engine::{DEFAULT_ROOT_MODULE, MAX_NAME_BYTES, Store};
pub use error::{DatabaseErrorKind, ProgramRef, StorageError, StorageResult};
pub use history::{CommitKind, EntityRows, HistoryEntry, HistoryRecord, LogPage, ProgramHistory, Retention, Tag};
pub use memory::MemoryBackend;
pub(crate) use types::found_summary;
pub use types::{FunctionUpdate, ListedProgram, NewFunction, ProgramId, ProgramSummary, SaveReport};

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

#[cfg(test)]
mod tests {
    use super::{GraphStore, InMemoryStore, StorageError};
    use crate::graph::ProgramGraph;
    use crate::model::{ModuleId, TypeId, Visibility};

    /// A graph that has handed out more node ids than a load accepts for its live
    /// nodes (only millions of ids made and removed get there through the API, so
    /// the table is grown here directly) is refused as `Invalid`: stored, it could
    /// never be loaded again.
    #[test]
    fn a_write_of_ids_a_load_would_refuse_is_refused_and_nothing_is_stored() {
        let store = InMemoryStore::new();
        let graph = || {
            let mut g = ProgramGraph::new("app");
            g.add_function(ModuleId::ROOT, "f", Visibility::Public, vec![], TypeId::UNIT).expect("function");
            g
        };
        let p = store.insert_program("kept", &graph()).expect("insert");
        let mut g = graph();
        g.node_index.resize((1 << 24) + 1, None);
        for refused in [store.insert_program("sparse", &g).map(drop), store.save_program(p, &g).map(drop)] {
            match refused {
                Err(StorageError::Invalid { violations }) => {
                    assert!(violations[0].to_string().contains("implausibly sparse"), "{violations:?}");
                }
                other => panic!("expected Invalid, got {other:?}"),
            }
        }
        assert!(store.find_program("sparse").is_err());
        assert_eq!(store.load_program(p).expect("load").next_ids().node, 0);
    }
}
