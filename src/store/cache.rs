//! What a store remembers of the programs it works on, and how much of it.
//!
//! A store keeps a working copy of each program it edits (a whole `ProgramGraph`),
//! so that the next edit of the same program costs the edit, not a load. A service
//! that edits many programs through one store (one per user, one per agent session)
//! would otherwise keep every program it ever touched: the copies are kept within
//! [`CacheLimits`], the least recently used dropped first. A dropped copy is read
//! again by the next write that needs it, as after another process's commit; the
//! copy of the program last used is never dropped, however big.

use super::history::Heads;
use super::types::ProgramId;
use crate::graph::{Lineage, ProgramGraph};
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};

/// How many programs' entries (revision, history heads, the caller's graph known to
/// be saved; a few dozen bytes each, no copy) a store remembers before it forgets the
/// least recently used quarter.
const MAX_ENTRIES: usize = 4096;

/// Uses of the cache between two checks of its limits when no new program came in:
/// the copies kept grow with their programs' edits, which a check every so often
/// catches, while a commit after commit on one program costs a counter.
const CHECK_EVERY: u32 = 64;

/// How much a store keeps of the programs it worked on besides the one it used last.
/// Within these limits, editing a program again after others costs the edit; past
/// them, its first write reads the program again (a load: about 50 ms at 100k nodes).
/// A service that keeps many programs busy at once raises them, one short of memory
/// lowers them ([`Store::set_cache_limits`](super::Store::set_cache_limits)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// Working copies kept besides the one last used.
    pub programs: usize,
    /// Nodes and edges of those copies together (a copy takes some 150 to 250 bytes a
    /// node with its edges and hash index, and a few dozen kilobytes of its own).
    pub elements: usize,
}

impl Default for CacheLimits {
    /// 64 programs, one million nodes and edges: a few hundred megabytes at most.
    fn default() -> Self {
        CacheLimits { programs: 64, elements: 1_000_000 }
    }
}

/// What a store holds now ([`Store::cache_stats`](super::Store::cache_stats)), for a
/// service's metrics and for checking the limits it set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Working copies held, the one last used included.
    pub programs: usize,
    /// Nodes and edges of those copies.
    pub elements: usize,
    /// Programs remembered, with or without a copy.
    pub entries: usize,
}

#[derive(Default)]
pub(crate) struct CacheEntry {
    /// The stored revision `working`, `synced` and `heads` refer to.
    pub(crate) revision: u64,
    /// The store's own copy of the program, edited by CRUD calls.
    pub(crate) working: Option<Box<ProgramGraph>>,
    /// A caller's graph known to equal the stored program at `revision`.
    pub(crate) synced: Option<(Lineage, u64)>,
    /// The undo and redo heads recorded at `revision`, saving a read per commit.
    pub(crate) heads: Option<Heads>,
    /// `working` is out with a write in progress: it comes back, or a newer entry
    /// replaces this one, when that write ends.
    pub(crate) in_write: bool,
    /// When the entry was last used, on the cache's own clock.
    used: u64,
}

impl CacheEntry {
    /// What a committed write leaves: its graph as the working copy at `revision`.
    pub(crate) fn committed(revision: u64, working: Box<ProgramGraph>, heads: Option<Heads>) -> Self {
        CacheEntry { revision, working: Some(working), synced: None, heads, in_write: false, used: 0 }
    }

    /// Keeps `graph` as the working copy at `revision`, forgetting what was remembered
    /// of an older revision (the synced graph, the heads), which no longer holds.
    pub(crate) fn hold(&mut self, revision: u64, graph: Box<ProgramGraph>) {
        if self.revision != revision {
            self.synced = None;
            self.heads = None;
        }
        self.revision = revision;
        self.working = Some(graph);
    }
}

fn size(graph: &ProgramGraph) -> usize {
    graph.node_count() + graph.edge_count()
}

/// The entries by program, with the limits they are kept within.
pub(crate) struct Cache {
    entries: HashMap<ProgramId, CacheEntry>,
    limits: CacheLimits,
    clock: u64,
    /// Programs whose entries held a copy when last used, least recently used first:
    /// what a check walks instead of every entry (some may have lost their copy since).
    order: Vec<ProgramId>,
    last: Option<ProgramId>,
    /// Whether `last` is in `order`: a copy it gets later must go in.
    last_in_order: bool,
    since_check: u32,
}

impl Deref for Cache {
    type Target = HashMap<ProgramId, CacheEntry>;
    fn deref(&self) -> &Self::Target {
        &self.entries
    }
}

impl DerefMut for Cache {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.entries
    }
}

impl Cache {
    pub(crate) fn new() -> Self {
        Cache {
            entries: HashMap::new(),
            limits: CacheLimits::default(),
            clock: 0,
            order: Vec::new(),
            last: None,
            last_in_order: false,
            since_check: 0,
        }
    }

    pub(crate) fn set_limits(&mut self, limits: CacheLimits) -> Vec<ProgramGraph> {
        self.limits = limits;
        self.check()
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let copies = self.entries.values().filter_map(|e| e.working.as_deref());
        let (programs, elements) = copies.fold((0, 0), |(n, sum), g| (n + 1, sum + size(g)));
        CacheStats { programs, elements, entries: self.entries.len() }
    }

    /// Marks `program` as the one last used and, when it is another than the last, has
    /// gained a copy since, or every [`CHECK_EVERY`] uses, keeps the others within the limits (commit after
    /// commit on one program costs a counter). Returns the copies it dropped, for the
    /// caller to free after it lets go of the lock.
    #[must_use]
    pub(crate) fn used(&mut self, program: ProgramId) -> Vec<ProgramGraph> {
        self.clock += 1;
        let Some(entry) = self.entries.get_mut(&program) else { return Vec::new() };
        entry.used = self.clock;
        let holds = entry.working.is_some() || entry.in_write;
        self.since_check += 1;
        if self.last == Some(program) && (!holds || self.last_in_order) && self.since_check < CHECK_EVERY {
            return Vec::new();
        }
        self.last = Some(program);
        self.order.retain(|p| *p != program);
        if holds {
            self.order.push(program);
        }
        self.check()
    }

    /// Drops the least recently used copies past the limits (never the last used
    /// program's, nor one out with a write), then forgets the least recently used
    /// entries without a copy past [`MAX_ENTRIES`].
    fn check(&mut self) -> Vec<ProgramGraph> {
        self.since_check = 0;
        let entries = &self.entries;
        self.order.retain(|p| entries.get(p).is_some_and(|e| e.working.is_some() || e.in_write));
        let last = self.last;
        let counted = |p: &ProgramId| Some(*p) != last;
        let weight = |p: &ProgramId| entries.get(p).and_then(|e| e.working.as_deref()).map_or(0, size);
        let mut copies = self.order.iter().filter(|p| counted(p)).count();
        let mut elements: usize = self.order.iter().filter(|p| counted(p)).map(weight).sum();
        let mut dropped = Vec::new();
        let mut kept = Vec::with_capacity(self.order.len());
        for p in std::mem::take(&mut self.order) {
            let over = copies > self.limits.programs || elements > self.limits.elements;
            let entry = self.entries.get_mut(&p);
            match entry {
                Some(e) if over && Some(p) != last && !e.in_write => {
                    if let Some(g) = e.working.take() {
                        copies -= 1;
                        elements -= size(&g);
                        dropped.push(*g);
                    }
                }
                _ => kept.push(p),
            }
        }
        self.order = kept;
        self.last_in_order = last.is_some_and(|l| self.order.contains(&l));
        if self.entries.len() > MAX_ENTRIES {
            let mut idle: Vec<(u64, ProgramId)> = self
                .entries
                .iter()
                .filter(|(id, e)| Some(**id) != last && !e.in_write && e.working.is_none())
                .map(|(id, e)| (e.used, *id))
                .collect();
            idle.sort_unstable();
            let excess = self.entries.len() - MAX_ENTRIES * 3 / 4;
            for (_, id) in idle.into_iter().take(excess) {
                self.entries.remove(&id);
            }
        }
        dropped
    }
}
