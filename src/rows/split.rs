//! A load split over two connections: edges (the largest table) read on one, everything
//! else on the other, at the same time, while the graph is built from what has arrived.
//!
//! The backend decides how two connections see one state (SQLite: two read
//! transactions that must report the same revision; PostgreSQL: a snapshot exported by
//! one and imported by the other) and hands the two reads here; the thread, the
//! channel and the assembly are the same for both.

use super::assemble::finish;
use crate::graph::{EdgeEntry, PartialGraph, ProgramDocument, ProgramGraph};
use crate::store::{DatabaseErrorKind, ProgramId, StorageError, StorageResult};

/// Runs `read_main` (everything but edges, with its revision) here and `read_edges`
/// (edges in batches, with its revision) on a second thread, adding edges to the graph
/// as they arrive, so only the last batch and the checks of the edges wait for the
/// whole read. `None` when the two reads saw different revisions (a write came in
/// between) or no thread could be started: the caller then loads in one transaction.
pub(crate) fn read_graph_split<M, E>(
    program: ProgramId,
    read_main: M,
    read_edges: E,
) -> StorageResult<Option<(ProgramGraph, u64)>>
where
    M: FnOnce() -> StorageResult<(ProgramDocument, u64)>,
    E: FnOnce(&mut dyn FnMut(Vec<EdgeEntry>)) -> StorageResult<u64> + Send,
{
    let (batches, arriving) = std::sync::mpsc::channel();
    let both = std::thread::scope(|scope| {
        let edges = std::thread::Builder::new()
            .name("lmlang-load-edges".into())
            .spawn_scoped(scope, move || {
                // A send fails only once the other side has given up on the load.
                read_edges(&mut |batch| drop(batches.send(batch)))
            })
            .inspect_err(
                |e| tracing::warn!(%program, error = %e, "no thread for a split load; loading in one transaction"),
            )
            .ok()?;
        let main = read_main().map(|(doc, revision)| {
            let mut partial = PartialGraph::stored(doc);
            // Until the reader is done and drops its end of the channel.
            for batch in &arriving {
                partial.add_edges(batch);
            }
            (partial, revision)
        });
        drop(arriving);
        Some((main, edges.join()))
    });
    let Some((main, edges)) = both else { return Ok(None) };
    let (partial, revision) = main?;
    let edge_revision =
        edges.map_err(|_| StorageError::database(DatabaseErrorKind::Other, "the edge reader thread panicked"))??;
    if edge_revision != revision {
        tracing::warn!(%program, "a write came between the two halves of a split load; loading again in one");
        return Ok(None);
    }
    Ok(Some((finish(program, partial)?, revision)))
}
