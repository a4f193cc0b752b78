-- Every table and index of lmlang-storage gets the prefix `lmlang_`, so the store can
-- share a database with a service's own `programs`, `modules`, `types` or `functions`.
-- `lmlang_schema_versions` lists this crate's own applied migrations: a service's
-- migrations share `__diesel_schema_migrations` with ours, and only this table tells a
-- database migrated by a newer lmlang-storage (refused) from one that merely holds a
-- service's migrations (accepted). Every later migration adds its version here.
--
-- SQLite (3.26 and later) rewrites the foreign keys of the other tables as each table
-- is renamed. Indexes cannot be renamed, so each is built anew under its new name
-- before the old one is dropped (a unique index that foreign keys refer to is never
-- missing).

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

CREATE TABLE lmlang_schema_versions (
    version TEXT PRIMARY KEY NOT NULL
) WITHOUT ROWID;
INSERT INTO lmlang_schema_versions (version) VALUES ('202611250555450000'), ('202612031000000000');

-- Planner statistics for this crate's tables only (the same shapes as before, under the
-- new names); a service's own statistics are left alone.
DELETE FROM sqlite_stat1 WHERE tbl IN (
    'programs', 'modules', 'types', 'functions', 'compute_nodes', 'flow_edges', 'semantic_nodes', 'semantic_edges',
    'lmlang_programs', 'lmlang_modules', 'lmlang_types', 'lmlang_functions', 'lmlang_compute_nodes',
    'lmlang_flow_edges', 'lmlang_semantic_nodes', 'lmlang_semantic_edges'
);
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('lmlang_programs', 'sqlite_autoindex_lmlang_programs_1', '10 1'),
    ('lmlang_modules', 'lmlang_modules', '50 5 1'),
    ('lmlang_modules', 'lmlang_modules_by_parent', '40 4 2'),
    ('lmlang_types', 'lmlang_types', '200 20 1'),
    ('lmlang_types', 'lmlang_types_by_module', '100 10 3'),
    ('lmlang_functions', 'lmlang_functions', '8000 800 1'),
    ('lmlang_functions', 'lmlang_functions_by_module', '8000 800 200'),
    ('lmlang_functions', 'lmlang_functions_by_parent', '500 50 1'),
    ('lmlang_functions', 'lmlang_functions_by_entry_node', '8000 800 1'),
    ('lmlang_compute_nodes', 'lmlang_compute_nodes', '1000000 100000 125 1'),
    ('lmlang_compute_nodes', 'lmlang_compute_nodes_by_id', '1000000 100000 1'),
    ('lmlang_compute_nodes', 'lmlang_compute_nodes_by_type', '100000 10000 1000 1'),
    ('lmlang_compute_nodes', 'lmlang_compute_nodes_by_callee', '40000 4000 5'),
    ('lmlang_flow_edges', 'lmlang_flow_edges', '1760000 176000 1'),
    ('lmlang_flow_edges', 'lmlang_flow_edges_by_source', '1760000 176000 2'),
    ('lmlang_flow_edges', 'lmlang_flow_edges_by_target', '1760000 176000 2'),
    ('lmlang_flow_edges', 'lmlang_flow_edges_by_type', '1230000 123000 10000'),
    ('lmlang_semantic_nodes', 'lmlang_semantic_nodes', '10000 1000 300 1'),
    ('lmlang_semantic_edges', 'lmlang_semantic_edges', '50000 5000 1500 5 3 3 1'),
    ('lmlang_semantic_edges', 'lmlang_semantic_edges_by_target', '50000 5000 1500 5');
-- Reloads the statistics into the open connection's schema without analysing anything.
ANALYZE sqlite_schema;
