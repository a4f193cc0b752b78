//! `semantic_nodes` and `semantic_edges`: the program's skeleton, stored for tools that
//! browse it with SQL. It is derived data (the graph rebuilds it on load), kept current
//! by every write.

use crate::model::{
    FunctionId, FunctionSignature, ModuleId, SemanticEdge, SemanticKey, SemanticNode, TypeId, Visibility,
};
use crate::rows::sql::codec::{Json, Named, SemanticKind, Strict, cell_id, corrupt, show};
use crate::rows::sql::tables::{CHUNK, MAX_PARAMETERS, insert_row, insert_rows, per_connection, upsert_chunked};
use crate::schema::{lmlang_semantic_edges as semantic_edges, lmlang_semantic_nodes as semantic_nodes};
use crate::store::{ProgramId, StorageResult};
use diesel::prelude::*;
use diesel::upsert::excluded;

/// A semantic node row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = semantic_nodes, check_for_backend(diesel::sqlite::Sqlite), treat_none_as_default_value = false)]
pub struct SemanticNodeRow {
    pub program_id: i64,
    pub kind: Named<SemanticKind>,
    pub entity_id: Strict<i64>,
    pub name: Strict<String>,
    pub module_id: Option<Strict<i64>>,
    pub visibility: Named<Visibility>,
    pub signature: Option<Json<FunctionSignature>>,
}

/// A semantic edge row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = semantic_edges, check_for_backend(diesel::sqlite::Sqlite), treat_none_as_default_value = false)]
pub struct SemanticEdgeRow {
    pub program_id: i64,
    pub source_kind: Named<SemanticKind>,
    pub source_id: Strict<i64>,
    pub kind: Named<SemanticEdge>,
    pub target_kind: Named<SemanticKind>,
    pub target_id: Strict<i64>,
}

const _: () = assert!(CHUNK * 7 <= MAX_PARAMETERS);

impl SemanticNodeRow {
    /// The row of a semantic node.
    pub fn new(program: ProgramId, node: &SemanticNode) -> StorageResult<Self> {
        let (kind, entity_id) = SemanticKind::of(node.key());
        let (name, module, visibility, signature) = match node {
            SemanticNode::Module { name, visibility, .. } => (name, None, *visibility, None),
            SemanticNode::Function { name, module, visibility, signature, .. } => {
                (name, Some(*module), *visibility, Some(Json::encode(signature)?))
            }
            SemanticNode::TypeDef { name, module, visibility, .. } => (name, Some(*module), *visibility, None),
        };
        Ok(SemanticNodeRow {
            program_id: program.0,
            kind: kind.into(),
            entity_id: entity_id.into(),
            name: name.clone().into(),
            module_id: module.map(|m| i64::from(m.0).into()),
            visibility: visibility.into(),
            signature,
        })
    }

    /// The semantic node a row holds, or a `Corrupt` error naming it.
    pub fn decode(self) -> StorageResult<SemanticNode> {
        let key = format!("program {} {:?} {}", ProgramId(self.program_id), self.kind, show(self.entity_id));
        let bad = |detail: String| corrupt("lmlang_semantic_nodes", &key, detail);
        let kind = self.kind.get().map_err(bad)?;
        let visibility = self.visibility.get().map_err(bad)?;
        let id = cell_id(self.entity_id).map_err(bad)?;
        let name = self.name.get().map_err(|e| bad(format!("name: {e}")))?;
        let module = || {
            self.module_id
                .ok_or_else(|| bad("module_id is missing".into()))
                .and_then(|m| cell_id(m).map_err(bad))
                .map(ModuleId)
        };
        Ok(match kind {
            SemanticKind::Module => SemanticNode::Module { id: ModuleId(id), name, visibility },
            SemanticKind::Function => {
                let signature = self.signature.as_ref().ok_or_else(|| bad("signature is missing".into()))?;
                SemanticNode::Function {
                    id: FunctionId(id),
                    module: module()?,
                    visibility,
                    signature: signature.decode().map_err(bad)?,
                    name,
                }
            }
            SemanticKind::Type => SemanticNode::TypeDef { id: TypeId(id), module: module()?, visibility, name },
        })
    }
}

impl SemanticEdgeRow {
    /// The row of a semantic edge.
    pub fn new(program: ProgramId, kind: SemanticEdge, from: SemanticKey, to: SemanticKey) -> Self {
        let (source_kind, source_id) = SemanticKind::of(from);
        let (target_kind, target_id) = SemanticKind::of(to);
        SemanticEdgeRow {
            program_id: program.0,
            source_kind: source_kind.into(),
            source_id: source_id.into(),
            kind: kind.into(),
            target_kind: target_kind.into(),
            target_id: target_id.into(),
        }
    }

    /// The edge a row holds, or a `Corrupt` error naming it.
    pub fn decode(&self) -> StorageResult<(SemanticEdge, SemanticKey, SemanticKey)> {
        let bad = |detail: String| {
            let key = format!(
                "program {} {:?} {} -> {:?} {}",
                ProgramId(self.program_id),
                self.source_kind,
                show(self.source_id),
                self.target_kind,
                show(self.target_id)
            );
            corrupt("lmlang_semantic_edges", key, detail)
        };
        let from = self.source_kind.get().and_then(|k| k.key(self.source_id.get()?)).map_err(bad)?;
        let to = self.target_kind.get().and_then(|k| k.key(self.target_id.get()?)).map_err(bad)?;
        Ok((self.kind.get().map_err(bad)?, from, to))
    }
}

insert_row!(SemanticNodeRow, semantic_nodes, [program_id, kind, entity_id, name, module_id, visibility, signature]);
insert_row!(SemanticEdgeRow, semantic_edges, [program_id, source_kind, source_id, kind, target_kind, target_id]);

per_connection! {
    /// All semantic nodes of a program, in key order.
    pub fn load_nodes(conn: &mut Conn, program: i64) -> QueryResult<Vec<SemanticNodeRow>> {
        semantic_nodes::table
            .filter(semantic_nodes::program_id.eq(program))
            .order_by((semantic_nodes::kind, semantic_nodes::entity_id))
            .select(SemanticNodeRow::as_select())
            .load(conn)
    }

    /// All semantic edges of a program, in key order.
    pub fn load_edges(conn: &mut Conn, program: i64) -> QueryResult<Vec<SemanticEdgeRow>> {
        semantic_edges::table
            .filter(semantic_edges::program_id.eq(program))
            .order_by((
                semantic_edges::source_kind,
                semantic_edges::source_id,
                semantic_edges::kind,
                semantic_edges::target_kind,
                semantic_edges::target_id,
            ))
            .select(SemanticEdgeRow::as_select())
            .load(conn)
    }

    /// Inserts node rows that do not exist yet.
    pub fn insert_nodes(conn: &mut Conn, rows: &[SemanticNodeRow]) -> QueryResult<usize> {
        insert_rows!(conn, semantic_nodes::table, rows)
    }

    /// Inserts or replaces node rows.
    pub fn upsert_nodes(conn: &mut Conn, rows: &[SemanticNodeRow]) -> QueryResult<usize> {
        upsert_chunked!(
            conn,
            semantic_nodes::table,
            rows,
            (semantic_nodes::program_id, semantic_nodes::kind, semantic_nodes::entity_id),
            (
                semantic_nodes::name.eq(excluded(semantic_nodes::name)),
                semantic_nodes::module_id.eq(excluded(semantic_nodes::module_id)),
                semantic_nodes::visibility.eq(excluded(semantic_nodes::visibility)),
                semantic_nodes::signature.eq(excluded(semantic_nodes::signature)),
            )
        )
    }

    /// Inserts edge rows.
    pub fn insert_edges(conn: &mut Conn, rows: &[SemanticEdgeRow]) -> QueryResult<usize> {
        insert_rows!(conn, semantic_edges::table, rows)
    }

    /// Deletes the edges a node owns: its outgoing `Calls` and `UsesType` edges and the
    /// `Contains` edge into it (each edge has exactly one owner, see the writer).
    pub fn delete_owned_edges(conn: &mut Conn, program: ProgramId, key: SemanticKey) -> QueryResult<usize> {
        let (kind, id) = SemanticKind::of(key);
        let contains = Named::Known(SemanticEdge::Contains);
        let outgoing = diesel::delete(
            semantic_edges::table
                .filter(semantic_edges::program_id.eq(program.0))
                .filter(semantic_edges::source_kind.eq(Named::Known(kind)))
                .filter(semantic_edges::source_id.eq(id))
                .filter(semantic_edges::kind.ne(contains.clone())),
        )
        .execute(conn)?;
        let incoming = diesel::delete(
            semantic_edges::table
                .filter(semantic_edges::program_id.eq(program.0))
                .filter(semantic_edges::target_kind.eq(Named::Known(kind)))
                .filter(semantic_edges::target_id.eq(id))
                .filter(semantic_edges::kind.eq(contains)),
        )
        .execute(conn)?;
        Ok(outgoing + incoming)
    }

    /// Deletes a node and every edge that touches it.
    pub fn delete_node(conn: &mut Conn, program: ProgramId, key: SemanticKey) -> QueryResult<usize> {
        let (kind, id) = SemanticKind::of(key);
        diesel::delete(
            semantic_edges::table
                .filter(semantic_edges::program_id.eq(program.0))
                .filter(semantic_edges::source_kind.eq(Named::Known(kind)))
                .filter(semantic_edges::source_id.eq(id)),
        )
        .execute(conn)?;
        diesel::delete(
            semantic_edges::table
                .filter(semantic_edges::program_id.eq(program.0))
                .filter(semantic_edges::target_kind.eq(Named::Known(kind)))
                .filter(semantic_edges::target_id.eq(id)),
        )
        .execute(conn)?;
        diesel::delete(
            semantic_nodes::table
                .filter(semantic_nodes::program_id.eq(program.0))
                .filter(semantic_nodes::kind.eq(Named::Known(kind)))
                .filter(semantic_nodes::entity_id.eq(id)),
        )
        .execute(conn)
    }
}
