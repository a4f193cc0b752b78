//! `flow_edges`: one row per data or control edge, spread over typed columns by
//! [`ops`](crate::sqlite::ops). The table's `kind` column is generated from
//! `value_type`, so the row structs leave it out.

use crate::graph::{EdgeEntry, EdgeView};
use crate::model::{EdgeId, NodeId};
use crate::schema::flow_edges;
use crate::sqlite::codec::{Strict, cell_id, corrupt, show};
use crate::sqlite::ops::{EdgeColumns, decode_edge, encode_edge};
use crate::sqlite::tables::{CHUNK, MAX_PARAMETERS, delete_ids, insert_chunked, upsert_chunked};
use crate::store::{ProgramId, StorageResult};
use diesel::connection::DefaultLoadingMode;
use diesel::dsl;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use diesel::upsert::excluded;

/// A flow edge row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = flow_edges, check_for_backend(diesel::sqlite::Sqlite), treat_none_as_default_value = false)]
pub struct EdgeRow {
    pub program_id: i64,
    pub edge_id: Strict<i64>,
    pub source_id: Strict<i64>,
    pub target_id: Strict<i64>,
    pub source_port: Option<Strict<i32>>,
    pub target_port: Option<Strict<i32>>,
    pub value_type: Option<Strict<i64>>,
    pub branch: Option<Strict<i32>>,
}

const _: () = assert!(CHUNK * 8 <= MAX_PARAMETERS);

impl EdgeRow {
    /// The row of an edge.
    pub fn new(program: ProgramId, edge: &EdgeView) -> Self {
        let EdgeColumns { source_port, target_port, value_type, branch } = encode_edge(&edge.edge);
        EdgeRow {
            program_id: program.0,
            edge_id: i64::from(edge.id.0).into(),
            source_id: i64::from(edge.source.0).into(),
            target_id: i64::from(edge.target.0).into(),
            source_port: source_port.map(Strict::from),
            target_port: target_port.map(Strict::from),
            value_type: value_type.map(Strict::from),
            branch: branch.map(Strict::from),
        }
    }

    /// The edge a row holds, or a `Corrupt` error naming it.
    pub fn decode(&self) -> StorageResult<EdgeView> {
        let bad = |detail: String| {
            corrupt("flow_edges", format!("program {} edge {}", ProgramId(self.program_id), show(self.edge_id)), detail)
        };
        fn column<T: Copy>(cell: Option<Strict<T>>, name: &str) -> Result<Option<T>, String> {
            cell.map(|c| c.get()).transpose().map_err(|e| format!("{name}: {e}"))
        }
        let cols = EdgeColumns {
            source_port: column(self.source_port, "source_port").map_err(bad)?,
            target_port: column(self.target_port, "target_port").map_err(bad)?,
            value_type: column(self.value_type, "value_type").map_err(bad)?,
            branch: column(self.branch, "branch").map_err(bad)?,
        };
        Ok(EdgeView {
            id: EdgeId(cell_id(self.edge_id).map_err(bad)?),
            source: NodeId(cell_id(self.source_id).map_err(|e| bad(format!("source_id: {e}")))?),
            target: NodeId(cell_id(self.target_id).map_err(|e| bad(format!("target_id: {e}")))?),
            edge: decode_edge(&cols).map_err(bad)?,
        })
    }

    /// The edge as a document entry.
    pub fn decode_entry(&self) -> StorageResult<EdgeEntry> {
        self.decode().map(|v| EdgeEntry { id: v.id, source: v.source, target: v.target, edge: v.edge })
    }
}

/// One edge by key.
#[dsl::auto_type(no_type_alias)]
pub fn by_id(program: i64, edge: i64) -> _ {
    flow_edges::table.filter(flow_edges::program_id.eq(program)).filter(flow_edges::edge_id.eq(edge))
}

/// Edges leaving a node, in id order (index `flow_edges_by_source`).
#[dsl::auto_type(no_type_alias)]
pub fn from(program: i64, node: i64) -> _ {
    flow_edges::table
        .filter(flow_edges::program_id.eq(program))
        .filter(flow_edges::source_id.eq(node))
        .order_by(flow_edges::edge_id)
}

/// Edges entering a node, in id order (index `flow_edges_by_target`).
#[dsl::auto_type(no_type_alias)]
pub fn to(program: i64, node: i64) -> _ {
    flow_edges::table
        .filter(flow_edges::program_id.eq(program))
        .filter(flow_edges::target_id.eq(node))
        .order_by(flow_edges::edge_id)
}

/// Data edges carrying a type, in id order (index `flow_edges_by_type`).
#[dsl::auto_type(no_type_alias)]
pub fn by_type(program: i64, ty: i64) -> _ {
    flow_edges::table
        .filter(flow_edges::program_id.eq(program))
        .filter(flow_edges::value_type.eq(ty))
        .order_by(flow_edges::edge_id)
}

/// All edges of a program, in id order.
#[dsl::auto_type(no_type_alias)]
pub fn of_program(program: i64) -> _ {
    flow_edges::table.filter(flow_edges::program_id.eq(program)).order_by(flow_edges::edge_id)
}

/// Loads one edge.
pub fn find(conn: &mut SqliteConnection, program: i64, edge: i64) -> QueryResult<Option<EdgeRow>> {
    by_id(program, edge).select(EdgeRow::as_select()).get_result(conn).optional()
}

/// Loads the edges leaving a node.
pub fn load_from(conn: &mut SqliteConnection, program: i64, node: i64) -> QueryResult<Vec<EdgeRow>> {
    from(program, node).select(EdgeRow::as_select()).load(conn)
}

/// Loads the edges entering a node.
pub fn load_to(conn: &mut SqliteConnection, program: i64, node: i64) -> QueryResult<Vec<EdgeRow>> {
    to(program, node).select(EdgeRow::as_select()).load(conn)
}

/// Loads the data edges carrying a type.
pub fn load_by_type(conn: &mut SqliteConnection, program: i64, ty: i64) -> QueryResult<Vec<EdgeRow>> {
    by_type(program, ty).select(EdgeRow::as_select()).load(conn)
}

/// Loads and decodes all edges of a program, row by row so no intermediate rows pile
/// up.
pub fn load_decoded(conn: &mut SqliteConnection, program: i64) -> StorageResult<Vec<EdgeEntry>> {
    let mut out = Vec::new();
    for row in of_program(program).select(EdgeRow::as_select()).load_iter::<_, DefaultLoadingMode>(conn)? {
        out.push(row?.decode_entry()?);
    }
    Ok(out)
}

/// Inserts rows that do not exist yet.
pub fn insert(conn: &mut SqliteConnection, rows: &[EdgeRow]) -> QueryResult<usize> {
    insert_chunked!(conn, flow_edges::table, rows)
}

/// Inserts or replaces rows.
pub fn upsert(conn: &mut SqliteConnection, rows: &[EdgeRow]) -> QueryResult<usize> {
    upsert_chunked!(
        conn,
        flow_edges::table,
        rows,
        (flow_edges::program_id, flow_edges::edge_id),
        (
            flow_edges::source_id.eq(excluded(flow_edges::source_id)),
            flow_edges::target_id.eq(excluded(flow_edges::target_id)),
            flow_edges::source_port.eq(excluded(flow_edges::source_port)),
            flow_edges::target_port.eq(excluded(flow_edges::target_port)),
            flow_edges::value_type.eq(excluded(flow_edges::value_type)),
            flow_edges::branch.eq(excluded(flow_edges::branch)),
        )
    )
}

/// Deletes edges by id.
pub fn delete(conn: &mut SqliteConnection, program: i64, ids: &[i64]) -> QueryResult<usize> {
    delete_ids!(conn, flow_edges, edge_id, program, ids)
}
