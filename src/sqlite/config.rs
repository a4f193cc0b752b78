//! `SqliteConfig`: the knobs of a SQLite store, with defaults for a small machine.

use std::time::Duration;

/// How a [`SqliteStore`](super::SqliteStore) uses its database file.
///
/// The defaults suit a 2-core machine: a few readers (more would only queue on the
/// cores), a busy timeout long enough that `SQLITE_BUSY` never reaches a caller under
/// normal concurrent use, and a WAL that is checkpointed so it stays small.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteConfig {
    /// Most read-only connections in the pool (loads and queries run on these).
    pub max_readers: u32,
    /// Read-only connections kept open while idle.
    pub min_idle_readers: u32,
    /// How long a statement waits for a lock held by another connection or process.
    pub busy_timeout: Duration,
    /// How long a read waits for a free pooled connection.
    pub reader_wait: Duration,
    /// Page cache per connection, in KiB. The writer's cache matters most: a bulk save
    /// updates several indexes at once.
    pub cache_size_kib: u32,
    /// Bytes of the file mapped into memory for reads (0 turns mapping off). The
    /// default is SQLite's own ceiling (just under 2 GiB): a query or an edit reads a
    /// few pages at random places, and a page beyond the map costs a `pread` and a copy
    /// into the page cache, which at 10M nodes (1.6 GB) made `find_edges_from` 2.3x
    /// slower than with the whole file mapped. Mapped pages are the kernel's page cache,
    /// shared and reclaimable. Large loads read without the map: see
    /// `stream_loads_from_edges`.
    pub mmap_size: u64,
    /// A load of a program with at least this many edges reads the file with `pread`
    /// through a 2 MiB cache instead of the map, so the pages it reads once do not
    /// count in the process's memory (a 1M-node load peaked at 331 MiB mapped, 208 MiB
    /// streamed, in the same time; docs/decisions.md D13). Smaller loads keep the map,
    /// which is 10 % faster at 100k nodes (176k edges), where the whole file is 15 MB.
    pub stream_loads_from_edges: u64,
    /// WAL pages after which a commit checkpoints automatically (SQLite's own default
    /// is 1000; 4000 was measured: 5 to 10 % fewer single-mutation commits per second
    /// at 100k and 1M nodes, the larger WAL costing more than the rarer checkpoints).
    pub wal_autocheckpoint: u32,
    /// After a write of at least this many rows the store runs a passive checkpoint,
    /// so a bulk save does not leave a large WAL behind: at once for an edit, and on
    /// the store's checkpoint thread for a new program (`insert_program` then returns
    /// as soon as its commit is durable, without copying its pages a second time).
    pub checkpoint_after_rows: u64,
    /// Size in bytes the WAL file is cut back to after a checkpoint resets it.
    pub journal_size_limit: i64,
    /// Compare the stored semantic tables with the graph rebuilt on every load (the
    /// graph never uses them; this checks that they are current).
    pub verify_semantic_on_load: bool,
    /// Load a large program (20,000 edges or more) over two pooled connections at
    /// once, edges on one and the rest on the other, keeping the result only if both
    /// read the same program revision (so it equals a one-transaction read). Off, every
    /// load is one read transaction on one connection.
    pub split_loads: bool,
    /// Open the file read-only: nothing is created, migrated or written, and every
    /// write fails with `StorageError::ReadOnly`. For inspecting a file another
    /// program owns.
    pub read_only: bool,
    /// The most pages the writer may grow the file to (SQLite's `max_page_count`); a
    /// write past it fails with `StorageError::Full`, as on a full disk. A quota.
    pub max_page_count: Option<u32>,
}

/// SQLite's compile-time ceiling on `mmap_size` (`SQLITE_MAX_MMAP_SIZE` on Linux, which
/// the bundled build keeps): a larger request is cut to it.
const MAX_MMAP_SIZE: u64 = 0x7fff_0000;

impl Default for SqliteConfig {
    fn default() -> Self {
        SqliteConfig {
            max_readers: 4,
            min_idle_readers: 2,
            busy_timeout: Duration::from_secs(5),
            reader_wait: Duration::from_secs(30),
            cache_size_kib: 32 * 1024,
            mmap_size: MAX_MMAP_SIZE,
            stream_loads_from_edges: 500_000,
            wal_autocheckpoint: 1000,
            checkpoint_after_rows: 10_000,
            journal_size_limit: 64 * 1024 * 1024,
            verify_semantic_on_load: false,
            split_loads: true,
            read_only: false,
            max_page_count: None,
        }
    }
}

/// Chained setters, one per field: the struct is `#[non_exhaustive]` (a later version
/// may add knobs without breaking callers), so callers outside the crate start from
/// `SqliteConfig::default()` and change what they need.
macro_rules! setters {
    ($($setter:ident => $field:ident: $ty:ty),* $(,)?) => {
        impl SqliteConfig {
            $(
                #[doc = concat!("This configuration with `", stringify!($field), "` set.")]
                pub fn $setter(mut self, value: $ty) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}

setters! {
    with_max_readers => max_readers: u32,
    with_min_idle_readers => min_idle_readers: u32,
    with_busy_timeout => busy_timeout: Duration,
    with_reader_wait => reader_wait: Duration,
    with_cache_size_kib => cache_size_kib: u32,
    with_mmap_size => mmap_size: u64,
    with_stream_loads_from_edges => stream_loads_from_edges: u64,
    with_wal_autocheckpoint => wal_autocheckpoint: u32,
    with_checkpoint_after_rows => checkpoint_after_rows: u64,
    with_journal_size_limit => journal_size_limit: i64,
    with_verify_semantic_on_load => verify_semantic_on_load: bool,
    with_split_loads => split_loads: bool,
    with_read_only => read_only: bool,
    with_max_page_count => max_page_count: Option<u32>,
}
