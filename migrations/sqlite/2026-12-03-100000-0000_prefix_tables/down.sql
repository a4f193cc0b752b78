-- Reverses the prefix: the tables and indexes get their earlier names back and the
-- version list is dropped.

DROP TABLE lmlang_schema_versions;

ALTER TABLE lmlang_programs RENAME TO programs;
ALTER TABLE lmlang_modules RENAME TO modules;
ALTER TABLE lmlang_types RENAME TO types;
ALTER TABLE lmlang_functions RENAME TO functions;
ALTER TABLE lmlang_op_kinds RENAME TO op_kinds;
ALTER TABLE lmlang_compute_nodes RENAME TO compute_nodes;
ALTER TABLE lmlang_flow_edges RENAME TO flow_edges;
ALTER TABLE lmlang_semantic_nodes RENAME TO semantic_nodes;
ALTER TABLE lmlang_semantic_edges RENAME TO semantic_edges;

CREATE INDEX modules_by_parent ON modules (program_id, parent_id) WHERE parent_id IS NOT NULL;
DROP INDEX lmlang_modules_by_parent;
CREATE INDEX types_by_module ON types (program_id, module_id) WHERE module_id IS NOT NULL;
DROP INDEX lmlang_types_by_module;
CREATE INDEX functions_by_module ON functions (program_id, module_id);
DROP INDEX lmlang_functions_by_module;
CREATE INDEX functions_by_parent ON functions (program_id, parent_function_id) WHERE parent_function_id IS NOT NULL;
DROP INDEX lmlang_functions_by_parent;
CREATE INDEX functions_by_entry_node ON functions (program_id, entry_node_id) WHERE entry_node_id IS NOT NULL;
DROP INDEX lmlang_functions_by_entry_node;
CREATE UNIQUE INDEX compute_nodes_by_id ON compute_nodes (program_id, node_id);
DROP INDEX lmlang_compute_nodes_by_id;
CREATE INDEX compute_nodes_by_type ON compute_nodes (program_id, type_ref, node_id) WHERE type_ref IS NOT NULL;
DROP INDEX lmlang_compute_nodes_by_type;
CREATE INDEX compute_nodes_by_callee ON compute_nodes (program_id, callee_id) WHERE callee_id IS NOT NULL;
DROP INDEX lmlang_compute_nodes_by_callee;
CREATE INDEX flow_edges_by_source ON flow_edges (program_id, source_id);
DROP INDEX lmlang_flow_edges_by_source;
CREATE INDEX flow_edges_by_target ON flow_edges (program_id, target_id);
DROP INDEX lmlang_flow_edges_by_target;
CREATE INDEX flow_edges_by_type ON flow_edges (program_id, value_type) WHERE value_type IS NOT NULL;
DROP INDEX lmlang_flow_edges_by_type;
CREATE INDEX semantic_edges_by_target ON semantic_edges (program_id, target_kind, target_id);
DROP INDEX lmlang_semantic_edges_by_target;

DELETE FROM sqlite_stat1 WHERE tbl LIKE 'lmlang\_%' ESCAPE '\';
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('programs', 'sqlite_autoindex_programs_1', '10 1'),
    ('modules', 'modules', '50 5 1'),
    ('modules', 'modules_by_parent', '40 4 2'),
    ('types', 'types', '200 20 1'),
    ('types', 'types_by_module', '100 10 3'),
    ('functions', 'functions', '8000 800 1'),
    ('functions', 'functions_by_module', '8000 800 200'),
    ('functions', 'functions_by_parent', '500 50 1'),
    ('functions', 'functions_by_entry_node', '8000 800 1'),
    ('compute_nodes', 'compute_nodes', '1000000 100000 125 1'),
    ('compute_nodes', 'compute_nodes_by_id', '1000000 100000 1'),
    ('compute_nodes', 'compute_nodes_by_type', '100000 10000 1000 1'),
    ('compute_nodes', 'compute_nodes_by_callee', '40000 4000 5'),
    ('flow_edges', 'flow_edges', '1760000 176000 1'),
    ('flow_edges', 'flow_edges_by_source', '1760000 176000 2'),
    ('flow_edges', 'flow_edges_by_target', '1760000 176000 2'),
    ('flow_edges', 'flow_edges_by_type', '1230000 123000 10000'),
    ('semantic_nodes', 'semantic_nodes', '10000 1000 300 1'),
    ('semantic_edges', 'semantic_edges', '50000 5000 1500 5 3 3 1'),
    ('semantic_edges', 'semantic_edges_by_target', '50000 5000 1500 5');
ANALYZE sqlite_schema;
