//! The write side on SQLite: the shared SQL row sink over a SQLite connection, with
//! fresh nodes and edges inserted in an order that fills SQLite's pages (decision D15).
//!
//! The node and edge tables and their id, source and target indexes are B-trees keyed
//! like WITHOUT ROWID tables, and fresh rows reach them in key order (new ids are the
//! highest). When the right-most leaf of such a tree overflows, SQLite spreads the last
//! three leaves over four and evens them out from the right, so each leaf it leaves
//! behind is about 7/8 full, and an eighth of the file stays unused until a `VACUUM`.
//! Inserting all but every [`HELD_BACK`]th row first, the 7/8-full leaves hold 8/9 of
//! the rows; the held-back rows then fill the eighth left free. (Indexes keyed by a
//! value first, as `flow_edges_by_type`, take each value's rows as a run of their own
//! and gain less.)

use super::mapper::SqliteRows;
use super::tables::{edges, nodes};
use crate::rows::sql::tables::insert_rows;
use crate::schema::{lmlang_compute_nodes as compute_nodes, lmlang_flow_edges as flow_edges};
use diesel::QueryResult;
use diesel::sqlite::SqliteConnection;

crate::rows::sql::sink::sql_row_sink!(SqliteRows, sqlite, nodes = insert_nodes, edges = insert_edges);

/// One row in this many is held back by [`filling_order`]: 7/8-full leaves take one
/// more row for every eight they hold.
pub const HELD_BACK: usize = 9;

/// `rows` with every [`HELD_BACK`]th row (the 9th, 18th, ...) after the rest, each part
/// in its own order; fewer than [`HELD_BACK`] rows keep their order.
pub fn filling_order<R>(rows: &[R]) -> Vec<&R> {
    let mut order = Vec::with_capacity(rows.len());
    order.extend(rows.iter().enumerate().filter(|(i, _)| i % HELD_BACK != HELD_BACK - 1).map(|(_, row)| row));
    order.extend(rows.iter().skip(HELD_BACK - 1).step_by(HELD_BACK));
    order
}

/// Inserts fresh node rows in [`filling_order`]; a single mutation's few rows as they
/// are, without the reordering's allocation. (The two paths are separate statements
/// in the connection's cache, so a batch ending in a chunk of 8 or 1 rows prepares
/// that size once more.)
fn insert_nodes(conn: &mut SqliteConnection, rows: &[nodes::NodeRow]) -> QueryResult<usize> {
    if rows.len() < HELD_BACK {
        return nodes::insert(conn, rows);
    }
    let ordered = filling_order(rows);
    insert_rows!(conn, compute_nodes::table, &ordered[..])
}

/// Inserts fresh edge rows as [`insert_nodes`] inserts nodes.
fn insert_edges(conn: &mut SqliteConnection, rows: &[edges::EdgeRow]) -> QueryResult<usize> {
    if rows.len() < HELD_BACK {
        return edges::insert(conn, rows);
    }
    let ordered = filling_order(rows);
    insert_rows!(conn, flow_edges::table, &ordered[..])
}

#[cfg(test)]
mod tests {
    use super::{HELD_BACK, filling_order};

    #[test]
    fn every_ninth_row_goes_last_and_none_is_lost_or_repeated() {
        let rows: Vec<usize> = (0..40).collect();
        let order: Vec<usize> = filling_order(&rows).into_iter().copied().collect();
        let held = [8, 17, 26, 35];
        let (rest, last) = order.split_at(rows.len() - held.len());
        assert_eq!(last, &held[..]);
        assert!(rest.windows(2).all(|w| w[0] < w[1]), "the rest in key order: {rest:?}");
        let mut all = order.clone();
        all.sort_unstable();
        assert_eq!(all, rows, "each row once");
        let few: Vec<usize> = (0..HELD_BACK - 1).collect();
        assert_eq!(filling_order(&few).into_iter().copied().collect::<Vec<_>>(), few);
    }
}
