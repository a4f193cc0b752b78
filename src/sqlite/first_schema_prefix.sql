-- The first schema (migration 2026-11-25-055545-0000 as released until 2026-12-06)
-- created its tables and indexes without the `lmlang_` prefix; the prefix migration
-- then renamed them. The first migration now creates them prefixed, so that a
-- database holding a service's own `programs` or `functions` can take the schema, and
-- the prefix migration only adds the version list. A database migrated by the first
-- schema alone is renamed by `run_migrations` with this script before the pending
-- migrations run (src/sqlite/migrate.rs).
--
-- SQLite (3.26 and later) rewrites the foreign keys of the other tables as each table
-- is renamed. Indexes cannot be renamed, so each is built anew under its new name
-- before the old one is dropped (a unique index that foreign keys refer to is never
-- missing).

-- Planner statistics follow the tables and indexes to their new names, first: a
-- `DROP INDEX` below deletes the rows that still carry the index's old name. Only this
-- crate's own indexes are renamed (each is the table itself, `TABLE_by_...` or an
-- automatic index, named below); a service's own index on one of these tables keeps
-- its rows and its name, even one named like ours (`functions_by_name`).
UPDATE sqlite_stat1 SET
    tbl = 'lmlang_' || tbl,
    idx = CASE WHEN idx LIKE 'sqlite\_autoindex\_%' ESCAPE '\' THEN 'sqlite_autoindex_lmlang_' || substr(idx, 18)
        WHEN idx = tbl OR idx IN (
            'modules_by_parent', 'types_by_module', 'functions_by_module', 'functions_by_parent',
            'functions_by_entry_node', 'compute_nodes_by_id', 'compute_nodes_by_type', 'compute_nodes_by_callee',
            'flow_edges_by_source', 'flow_edges_by_target', 'flow_edges_by_type', 'semantic_edges_by_target'
        ) THEN 'lmlang_' || idx
        ELSE idx END
    WHERE tbl IN (
        'programs', 'modules', 'types', 'functions', 'op_kinds', 'compute_nodes', 'flow_edges', 'semantic_nodes',
        'semantic_edges'
    );

ALTER TABLE programs RENAME TO lmlang_programs;
ALTER TABLE modules RENAME TO lmlang_modules;
ALTER TABLE types RENAME TO lmlang_types;
ALTER TABLE functions RENAME TO lmlang_functions;
ALTER TABLE op_kinds RENAME TO lmlang_op_kinds;
ALTER TABLE compute_nodes RENAME TO lmlang_compute_nodes;
ALTER TABLE flow_edges RENAME TO lmlang_flow_edges;
ALTER TABLE semantic_nodes RENAME TO lmlang_semantic_nodes;
ALTER TABLE semantic_edges RENAME TO lmlang_semantic_edges;

CREATE INDEX lmlang_modules_by_parent ON lmlang_modules (program_id, parent_id) WHERE parent_id IS NOT NULL;
DROP INDEX modules_by_parent;
CREATE INDEX lmlang_types_by_module ON lmlang_types (program_id, module_id) WHERE module_id IS NOT NULL;
DROP INDEX types_by_module;
CREATE INDEX lmlang_functions_by_module ON lmlang_functions (program_id, module_id);
DROP INDEX functions_by_module;
CREATE INDEX lmlang_functions_by_parent ON lmlang_functions (program_id, parent_function_id)
    WHERE parent_function_id IS NOT NULL;
DROP INDEX functions_by_parent;
CREATE INDEX lmlang_functions_by_entry_node ON lmlang_functions (program_id, entry_node_id)
    WHERE entry_node_id IS NOT NULL;
DROP INDEX functions_by_entry_node;
CREATE UNIQUE INDEX lmlang_compute_nodes_by_id ON lmlang_compute_nodes (program_id, node_id);
DROP INDEX compute_nodes_by_id;
CREATE INDEX lmlang_compute_nodes_by_type ON lmlang_compute_nodes (program_id, type_ref, node_id)
    WHERE type_ref IS NOT NULL;
DROP INDEX compute_nodes_by_type;
CREATE INDEX lmlang_compute_nodes_by_callee ON lmlang_compute_nodes (program_id, callee_id)
    WHERE callee_id IS NOT NULL;
DROP INDEX compute_nodes_by_callee;
CREATE INDEX lmlang_flow_edges_by_source ON lmlang_flow_edges (program_id, source_id);
DROP INDEX flow_edges_by_source;
CREATE INDEX lmlang_flow_edges_by_target ON lmlang_flow_edges (program_id, target_id);
DROP INDEX flow_edges_by_target;
CREATE INDEX lmlang_flow_edges_by_type ON lmlang_flow_edges (program_id, value_type) WHERE value_type IS NOT NULL;
DROP INDEX flow_edges_by_type;
CREATE INDEX lmlang_semantic_edges_by_target ON lmlang_semantic_edges (program_id, target_kind, target_id);
DROP INDEX semantic_edges_by_target;

-- Reloads the statistics into the open connection's schema without analysing anything.
ANALYZE sqlite_schema;
