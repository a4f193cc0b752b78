-- Reverses up.sql: children before parents, so foreign keys hold at every step.
-- Reverting drops every program, as reverting any CREATE TABLE drops its rows. A
-- function's entry node refers back to lmlang_compute_nodes (a deferred key, which
-- DROP TABLE checks at once): those references go first, or the drop of that table
-- fails with foreign keys on (the diesel CLI's).
UPDATE lmlang_functions SET entry_node_id = NULL WHERE entry_node_id IS NOT NULL;
DELETE FROM sqlite_stat1 WHERE tbl IN (
    'lmlang_programs', 'lmlang_modules', 'lmlang_types', 'lmlang_functions', 'lmlang_compute_nodes', 'lmlang_flow_edges', 'lmlang_semantic_nodes', 'lmlang_semantic_edges'
);
DROP INDEX lmlang_semantic_edges_by_target;
DROP TABLE lmlang_semantic_edges;
DROP TABLE lmlang_semantic_nodes;
DROP INDEX lmlang_flow_edges_by_type;
DROP INDEX lmlang_flow_edges_by_target;
DROP INDEX lmlang_flow_edges_by_source;
DROP TABLE lmlang_flow_edges;
DROP INDEX lmlang_compute_nodes_by_callee;
DROP INDEX lmlang_compute_nodes_by_type;
DROP INDEX lmlang_compute_nodes_by_id;
DROP TABLE lmlang_compute_nodes;
DROP TABLE lmlang_op_kinds;
DROP INDEX lmlang_functions_by_entry_node;
DROP INDEX lmlang_functions_by_parent;
DROP INDEX lmlang_functions_by_module;
DROP TABLE lmlang_functions;
DROP INDEX lmlang_types_by_module;
DROP TABLE lmlang_types;
DROP INDEX lmlang_modules_by_parent;
DROP TABLE lmlang_modules;
DROP TABLE lmlang_programs;
