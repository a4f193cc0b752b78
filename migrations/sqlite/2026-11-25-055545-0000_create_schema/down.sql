-- Reverses up.sql: children before parents, so foreign keys hold at every step.
DELETE FROM sqlite_stat1 WHERE tbl IN (
    'programs', 'modules', 'types', 'functions', 'compute_nodes', 'flow_edges', 'semantic_nodes', 'semantic_edges'
);
DROP INDEX semantic_edges_by_target;
DROP TABLE semantic_edges;
DROP TABLE semantic_nodes;
DROP INDEX flow_edges_by_type;
DROP INDEX flow_edges_by_target;
DROP INDEX flow_edges_by_source;
DROP TABLE flow_edges;
DROP INDEX compute_nodes_by_callee;
DROP INDEX compute_nodes_by_type;
DROP INDEX compute_nodes_by_id;
DROP TABLE compute_nodes;
DROP TABLE op_kinds;
DROP INDEX functions_by_entry_node;
DROP INDEX functions_by_parent;
DROP INDEX functions_by_module;
DROP TABLE functions;
DROP INDEX types_by_module;
DROP TABLE types;
DROP INDEX modules_by_parent;
DROP TABLE modules;
DROP TABLE programs;
