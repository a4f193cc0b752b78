//! The change journal: which entities changed since a given revision.
//!
//! Every mutation bumps the graph's revision and stamps what it touched. A store that
//! remembers the revision it last saved or loaded asks for `changes_since(rev)` and
//! writes only those rows, which is what makes a save after a one-node edit cost one
//! node, not the program. The lineage tells two graphs apart: a clone gets a fresh
//! lineage, so a store never applies one graph's journal to another's stored state.

use crate::model::{EdgeId, FunctionId, ModuleId, NodeId, TypeId};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_LINEAGE: AtomicU64 = AtomicU64::new(1);

/// Identity of one graph value's edit history within this process.
#[derive(Debug, PartialEq, Eq, Clone, Copy, Hash)]
pub struct Lineage(u64);

impl Lineage {
    pub(crate) fn fresh() -> Self {
        Lineage(NEXT_LINEAGE.fetch_add(1, Ordering::Relaxed))
    }
}

/// Entities whose state differs from the given revision: each is now either present
/// (insert or update it) or absent (delete it).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChangeSet {
    /// Modules that differ, in id order, each once.
    pub modules: Vec<ModuleId>,
    /// User types that differ, in id order, each once. Within one graph's history this
    /// only ever lists new types: a registered type never changes.
    pub types: Vec<TypeId>,
    /// Functions (definitions only, not bodies) that differ, in id order, each once.
    pub functions: Vec<FunctionId>,
    /// Nodes that differ, in id order, each once.
    pub nodes: Vec<NodeId>,
    /// Edges that differ, in id order, each once.
    pub edges: Vec<EdgeId>,
}

impl ChangeSet {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
            && self.types.is_empty()
            && self.functions.is_empty()
            && self.nodes.is_empty()
            && self.edges.is_empty()
    }
}

/// One stamp of the recent log: which entity, by kind and raw id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stamp {
    Module(u32),
    Type(u32),
    Function(u32),
    Node(u32),
    Edge(u32),
}

/// How many recent stamps are kept; older ones fall back to a scan of the tables.
const RECENT_CAP: usize = 1 << 16;

#[derive(Debug)]
pub(crate) struct Journal {
    lineage: Lineage,
    revision: u64,
    /// The latest stamps in revision order. Every stamp after `recent_floor` is here,
    /// so `changes_since` a recent revision costs the size of the edit, not a scan
    /// over every id ever handed out (which made each commit grow with the program).
    recent: Vec<(u64, Stamp)>,
    recent_floor: u64,
    node_rev: Revisions,
    edge_rev: Revisions,
    function_rev: BTreeMap<FunctionId, u64>,
    module_rev: BTreeMap<ModuleId, u64>,
    type_rev: BTreeMap<TypeId, u64>,
}

impl Clone for Journal {
    fn clone(&self) -> Self {
        Journal { lineage: Lineage::fresh(), ..self.shallow_copy() }
    }
}

impl Journal {
    pub(crate) fn new() -> Self {
        Journal {
            lineage: Lineage::fresh(),
            revision: 0,
            recent: Vec::new(),
            recent_floor: 0,
            node_rev: Revisions::default(),
            edge_rev: Revisions::default(),
            function_rev: BTreeMap::new(),
            module_rev: BTreeMap::new(),
            type_rev: BTreeMap::new(),
        }
    }

    fn shallow_copy(&self) -> Self {
        Journal {
            lineage: self.lineage,
            revision: self.revision,
            recent: self.recent.clone(),
            recent_floor: self.recent_floor,
            node_rev: self.node_rev.clone(),
            edge_rev: self.edge_rev.clone(),
            function_rev: self.function_rev.clone(),
            module_rev: self.module_rev.clone(),
            type_rev: self.type_rev.clone(),
        }
    }

    pub(crate) fn lineage(&self) -> Lineage {
        self.lineage
    }

    pub(crate) fn revision(&self) -> u64 {
        self.revision
    }

    /// Starts a new revision; the stamps of one public mutation share it.
    pub(crate) fn bump(&mut self) {
        self.revision += 1;
    }

    fn log(&mut self, s: Stamp) {
        if self.recent.len() >= RECENT_CAP {
            let cut = RECENT_CAP / 2;
            self.recent_floor = self.recent[cut - 1].0;
            self.recent.drain(..cut);
        }
        self.recent.push((self.revision, s));
    }

    pub(crate) fn node(&mut self, id: NodeId) {
        self.node_rev.stamp(id.index(), self.revision);
        self.log(Stamp::Node(id.0));
    }

    pub(crate) fn edge(&mut self, id: EdgeId) {
        self.edge_rev.stamp(id.index(), self.revision);
        self.log(Stamp::Edge(id.0));
    }

    pub(crate) fn function(&mut self, id: FunctionId) {
        self.function_rev.insert(id, self.revision);
        self.log(Stamp::Function(id.0));
    }

    pub(crate) fn module(&mut self, id: ModuleId) {
        self.module_rev.insert(id, self.revision);
        self.log(Stamp::Module(id.0));
    }

    pub(crate) fn type_(&mut self, id: TypeId) {
        self.type_rev.insert(id, self.revision);
        self.log(Stamp::Type(id.0));
    }

    pub(crate) fn changes_since(&self, rev: u64) -> ChangeSet {
        if rev >= self.recent_floor {
            return self.recent_changes_since(rev);
        }
        self.scan_changes_since(rev)
    }

    /// From the recent log: every entity stamped after `rev`, each once, in id order.
    fn recent_changes_since(&self, rev: u64) -> ChangeSet {
        let start = self.recent.partition_point(|(r, _)| *r <= rev);
        let mut stamps: Vec<Stamp> = self.recent[start..].iter().map(|(_, s)| *s).collect();
        stamps.sort_unstable();
        stamps.dedup();
        let mut out = ChangeSet::default();
        for s in stamps {
            match s {
                Stamp::Module(i) => out.modules.push(ModuleId(i)),
                Stamp::Type(i) => out.types.push(TypeId(i)),
                Stamp::Function(i) => out.functions.push(FunctionId(i)),
                Stamp::Node(i) => out.nodes.push(NodeId(i)),
                Stamp::Edge(i) => out.edges.push(EdgeId(i)),
            }
        }
        out
    }

    /// From the per-entity stamps: a scan over every id, for revisions older than the log.
    fn scan_changes_since(&self, rev: u64) -> ChangeSet {
        fn sparse<K: Copy>(revs: &BTreeMap<K, u64>, rev: u64) -> Vec<K> {
            revs.iter().filter(|(_, r)| **r > rev).map(|(k, _)| *k).collect()
        }
        ChangeSet {
            modules: sparse(&self.module_rev, rev),
            types: sparse(&self.type_rev, rev),
            functions: sparse(&self.function_rev, rev),
            nodes: self.node_rev.since(rev).map(NodeId).collect(),
            edges: self.edge_rev.since(rev).map(EdgeId).collect(),
        }
    }
}

/// Ids in a chunk of [`Revisions`] (8 KiB of stamps).
const CHUNK: usize = 1024;

/// The revision of each id's last change, by id index, 0 for none. Kept in chunks
/// allocated at their first stamp: a loaded graph has no stamps yet, and its first edit
/// may stamp an id near the end, so a flat vector made that edit write 8 bytes per id
/// (80 MB, tens of milliseconds, at 10M nodes) and copy them all again whenever an
/// addition grew it; a chunk costs the same whatever the graph's size.
#[derive(Debug, Clone, Default)]
struct Revisions {
    chunks: Vec<Option<Box<[u64; CHUNK]>>>,
}

impl Revisions {
    fn stamp(&mut self, index: usize, revision: u64) {
        let (chunk, slot) = (index / CHUNK, index % CHUNK);
        if self.chunks.len() <= chunk {
            self.chunks.resize(chunk + 1, None);
        }
        self.chunks[chunk].get_or_insert_with(|| Box::new([0; CHUNK]))[slot] = revision;
    }

    /// The ids stamped after `rev`, in order.
    fn since(&self, rev: u64) -> impl Iterator<Item = u32> + '_ {
        self.chunks.iter().enumerate().flat_map(move |(c, chunk)| {
            chunk.iter().flat_map(move |revs| {
                revs.iter().enumerate().filter(move |(_, r)| **r > rev).map(move |(i, _)| (c * CHUNK + i) as u32)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A journal whose first stamp is a high id (a loaded graph's first edit) still
    /// reports exactly the ids stamped, from the log and from the scan.
    #[test]
    fn a_first_stamp_far_out_is_reported_exactly() {
        let mut j = Journal::new();
        j.bump();
        j.node(NodeId(1_000_000));
        j.bump();
        j.node(NodeId(3));
        j.edge(EdgeId(70_000));
        let expected = ChangeSet {
            nodes: vec![NodeId(3), NodeId(1_000_000)],
            edges: vec![EdgeId(70_000)],
            ..ChangeSet::default()
        };
        assert_eq!(j.scan_changes_since(0), expected);
        assert_eq!(j.changes_since(0), expected);
        assert_eq!(j.scan_changes_since(1).nodes, vec![NodeId(3)]);
    }

    /// The log and the full scan must always agree, including after the log was cut.
    #[test]
    fn recent_log_agrees_with_the_scan() {
        let mut j = Journal::new();
        for i in 0..(RECENT_CAP as u32 * 2 + 17) {
            j.bump();
            j.node(NodeId(i % 5000));
            if i % 3 == 0 {
                j.edge(EdgeId(i % 777));
            }
            if i % 1000 == 0 {
                j.function(FunctionId(i % 7));
            }
        }
        for rev in [0, 5, j.recent_floor, j.recent_floor + 1, j.revision() - 100, j.revision() - 1, j.revision()] {
            let scan = j.scan_changes_since(rev);
            assert_eq!(j.changes_since(rev), scan, "revision {rev}");
            if rev >= j.recent_floor {
                assert_eq!(j.recent_changes_since(rev), scan, "log at revision {rev}");
            }
        }
    }
}
