//! The row sink of the SQL backends: [`RowSink`](crate::rows::RowSink) written once
//! over the shared tables' queries, instantiated per connection type
//! (`sql_row_sink!(SqliteRows, sqlite)`, `sql_row_sink!(PgRows, pg, ...)`).
//!
//! Fresh rows go through cached multi-row `INSERT`s over fixed-size arrays (see
//! [`tables`](super::tables)) unless the backend brings its own bulk insert, rows that
//! may be stored through upserts, deletions through one cached statement per id or
//! `IN` lists.

/// Ids as the tables' BIGINT cells.
pub(crate) fn wide(ids: &[u32]) -> Vec<i64> {
    ids.iter().map(|&id| i64::from(id)).collect()
}

/// Implements [`RowSink`] for a row-writer type `$rows` (a tuple struct over a
/// connection) with the table queries of submodule `$on` (`sqlite` or `pg`, see
/// `tables::per_connection`): the SQL backends share rows, queries and this impl, and
/// differ in the connection type and, optionally, in how fresh nodes and edges (the
/// bulk of a new program) are inserted (`nodes = path, edges = path`). Diesel errors convert through `?`; a backend
/// reclassifies them at its boundary.
macro_rules! sql_row_sink {
    ($rows:ident, $on:ident) => {
        $crate::rows::sql::sink::sql_row_sink!(
            $rows,
            $on,
            nodes = $crate::rows::sql::tables::nodes::$on::insert,
            edges = $crate::rows::sql::tables::edges::$on::insert
        );
    };
    ($rows:ident, $on:ident, nodes = $insert_nodes:path, edges = $insert_edges:path) => {
        const _: () = {
            use $crate::graph::EdgeView;
            use $crate::model::{
                ComputeNode, FunctionDef, FunctionId, LmType, ModuleDef, NodeId, SemanticEdge, SemanticKey,
                SemanticNode, TypeId, TypeName,
            };
            use $crate::rows::RowSink;
            use $crate::rows::sql::codec::{cell_id, corrupt};
            use $crate::rows::sql::sink::wide;
            use $crate::rows::sql::tables::semantic::{SemanticEdgeRow, SemanticNodeRow};
            use $crate::rows::sql::tables::{edges, functions, modules, nodes, semantic, types};
            use $crate::store::{ProgramId, StorageResult};

            impl RowSink for $rows<'_> {
                type Module = modules::ModuleRow;
                type Type = types::TypeRow;
                type Function = functions::FunctionRow;
                type Node = nodes::NodeRow;
                type Edge = edges::EdgeRow;
                type SemanticNode = SemanticNodeRow;
                type SemanticEdge = SemanticEdgeRow;

                fn module_row(program: ProgramId, def: &ModuleDef) -> StorageResult<Self::Module> {
                    Ok(modules::ModuleRow::new(program, def))
                }

                fn type_row(
                    program: ProgramId,
                    id: TypeId,
                    name: Option<&TypeName>,
                    ty: &LmType,
                ) -> StorageResult<Self::Type> {
                    types::TypeRow::new(program, id, name, ty)
                }

                fn function_row(program: ProgramId, def: &FunctionDef) -> StorageResult<Self::Function> {
                    functions::FunctionRow::new(program, def)
                }

                fn node_row(program: ProgramId, id: NodeId, node: &ComputeNode) -> StorageResult<Self::Node> {
                    nodes::NodeRow::new(program, id, node)
                }

                fn edge_row(program: ProgramId, edge: &EdgeView) -> StorageResult<Self::Edge> {
                    Ok(edges::EdgeRow::new(program, edge))
                }

                fn semantic_node_row(program: ProgramId, node: &SemanticNode) -> StorageResult<Self::SemanticNode> {
                    SemanticNodeRow::new(program, node)
                }

                fn semantic_edge_row(
                    program: ProgramId,
                    kind: SemanticEdge,
                    from: SemanticKey,
                    to: SemanticKey,
                ) -> StorageResult<Self::SemanticEdge> {
                    Ok(SemanticEdgeRow::new(program, kind, from, to))
                }

                fn insert_modules(&mut self, _: ProgramId, rows: &[Self::Module]) -> StorageResult<usize> {
                    Ok(modules::$on::insert(self.0, rows)?)
                }

                fn upsert_modules(&mut self, _: ProgramId, rows: &[Self::Module]) -> StorageResult<usize> {
                    Ok(modules::$on::upsert(self.0, rows)?)
                }

                fn delete_modules(&mut self, program: ProgramId, ids: &[u32]) -> StorageResult<usize> {
                    Ok(modules::$on::delete(self.0, program.0, &wide(ids))?)
                }

                fn insert_types(&mut self, _: ProgramId, rows: &[Self::Type]) -> StorageResult<usize> {
                    Ok(types::$on::insert(self.0, rows)?)
                }

                fn upsert_types(&mut self, _: ProgramId, rows: &[Self::Type]) -> StorageResult<usize> {
                    Ok(types::$on::upsert(self.0, rows)?)
                }

                fn delete_types(&mut self, program: ProgramId, ids: &[u32]) -> StorageResult<usize> {
                    Ok(types::$on::delete(self.0, program.0, &wide(ids))?)
                }

                fn insert_functions(&mut self, _: ProgramId, rows: &[Self::Function]) -> StorageResult<usize> {
                    Ok(functions::$on::insert(self.0, rows)?)
                }

                fn upsert_functions(&mut self, _: ProgramId, rows: &[Self::Function]) -> StorageResult<usize> {
                    Ok(functions::$on::upsert(self.0, rows)?)
                }

                fn delete_functions(&mut self, program: ProgramId, ids: &[u32]) -> StorageResult<usize> {
                    Ok(functions::$on::delete(self.0, program.0, &wide(ids))?)
                }

                fn insert_nodes(&mut self, _: ProgramId, rows: &[Self::Node]) -> StorageResult<usize> {
                    Ok($insert_nodes(self.0, rows)?)
                }

                fn upsert_nodes(&mut self, _: ProgramId, rows: &[Self::Node]) -> StorageResult<usize> {
                    Ok(nodes::$on::upsert(self.0, rows)?)
                }

                fn delete_nodes(&mut self, program: ProgramId, ids: &[u32]) -> StorageResult<usize> {
                    Ok(nodes::$on::delete(self.0, program.0, &wide(ids))?)
                }

                fn insert_edges(&mut self, _: ProgramId, rows: &[Self::Edge]) -> StorageResult<usize> {
                    Ok($insert_edges(self.0, rows)?)
                }

                fn upsert_edges(&mut self, _: ProgramId, rows: &[Self::Edge]) -> StorageResult<usize> {
                    Ok(edges::$on::upsert(self.0, rows)?)
                }

                fn delete_edges(&mut self, program: ProgramId, ids: &[u32]) -> StorageResult<usize> {
                    Ok(edges::$on::delete(self.0, program.0, &wide(ids))?)
                }

                fn rewrite_node_keeping_refs(&mut self, _: ProgramId, row: &Self::Node) -> StorageResult<bool> {
                    Ok(nodes::$on::rewrite_keeping_refs(self.0, row)?)
                }

                fn call_owners(&mut self, program: ProgramId, ids: &[NodeId]) -> StorageResult<Vec<FunctionId>> {
                    let ids: Vec<i64> = ids.iter().map(|n| i64::from(n.0)).collect();
                    nodes::$on::call_owners(self.0, program.0, &ids)?
                        .into_iter()
                        .map(|owner| {
                            cell_id(owner).map(FunctionId).map_err(|e| {
                                corrupt("lmlang_compute_nodes", format!("program {program}, an owner_id"), e)
                            })
                        })
                        .collect()
                }

                fn insert_semantic_nodes(&mut self, _: ProgramId, rows: &[Self::SemanticNode]) -> StorageResult<usize> {
                    Ok(semantic::$on::insert_nodes(self.0, rows)?)
                }

                fn upsert_semantic_nodes(&mut self, _: ProgramId, rows: &[Self::SemanticNode]) -> StorageResult<usize> {
                    Ok(semantic::$on::upsert_nodes(self.0, rows)?)
                }

                fn insert_semantic_edges(&mut self, _: ProgramId, rows: &[Self::SemanticEdge]) -> StorageResult<usize> {
                    Ok(semantic::$on::insert_edges(self.0, rows)?)
                }

                fn delete_owned_semantic_edges(
                    &mut self,
                    program: ProgramId,
                    key: SemanticKey,
                ) -> StorageResult<usize> {
                    Ok(semantic::$on::delete_owned_edges(self.0, program, key)?)
                }

                fn delete_semantic_node(&mut self, program: ProgramId, key: SemanticKey) -> StorageResult<usize> {
                    Ok(semantic::$on::delete_node(self.0, program, key)?)
                }
            }
        };
    };
}

pub(crate) use sql_row_sink;
