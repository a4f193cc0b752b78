-- The lmlang program store on PostgreSQL: the same tables, columns and column types as
-- the SQLite schema (migrations/sqlite/), so one set of Diesel tables (src/schema.rs) and
-- row structs serves both; src/schema_postgres.rs is what print-schema makes of this,
-- and tests/postgres_schema.rs checks the two agree.
--
-- Differences from SQLite, and why:
-- * Every key starts with program_id, so the schema can be hash-partitioned (or
--   distributed) by program without changing a key.
-- * Program ids come from an identity column (never reused, like AUTOINCREMENT).
-- * No clustering by owner: a node's key is (program_id, node_id), and
--   find_nodes_by_owner reads the index (program_id, owner_id, node_id).
-- * An edge's kind is a STORED generated column (PostgreSQL 15 has no VIRTUAL ones).
-- * Constants and other payloads are TEXT holding the bit-exact JSON the codec writes
--   (jsonb would normalise -0.0 and long numbers).
-- * The function/entry-node cycle and the self-references are DEFERRABLE INITIALLY
--   DEFERRED foreign keys, checked at commit.

CREATE TABLE lmlang_programs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL CHECK (length(name) > 0),
    format_version INTEGER NOT NULL,
    revision BIGINT NOT NULL CHECK (revision >= 0),
    next_node_id BIGINT NOT NULL CHECK (next_node_id BETWEEN 0 AND 4294967295),
    next_edge_id BIGINT NOT NULL CHECK (next_edge_id BETWEEN 0 AND 4294967295),
    next_function_id BIGINT NOT NULL CHECK (next_function_id BETWEEN 0 AND 4294967295),
    next_module_id BIGINT NOT NULL CHECK (next_module_id BETWEEN 0 AND 4294967295),
    next_type_id BIGINT NOT NULL CHECK (next_type_id BETWEEN 0 AND 4294967295),
    module_count BIGINT NOT NULL,
    function_count BIGINT NOT NULL,
    node_count BIGINT NOT NULL,
    edge_count BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT lmlang_programs_name_key UNIQUE (name)
);

CREATE TABLE lmlang_modules (
    program_id BIGINT NOT NULL REFERENCES lmlang_programs (id) ON DELETE CASCADE,
    module_id BIGINT NOT NULL CHECK (module_id BETWEEN 0 AND 4294967295),
    name TEXT NOT NULL,
    parent_id BIGINT,
    visibility TEXT NOT NULL CHECK (visibility IN ('Public', 'Private')),
    PRIMARY KEY (program_id, module_id),
    FOREIGN KEY (program_id, parent_id) REFERENCES lmlang_modules (program_id, module_id)
        DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX lmlang_modules_by_parent ON lmlang_modules (program_id, parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE lmlang_types (
    program_id BIGINT NOT NULL REFERENCES lmlang_programs (id) ON DELETE CASCADE,
    type_id BIGINT NOT NULL CHECK (type_id BETWEEN 9 AND 4294967295),
    kind TEXT NOT NULL CHECK (kind IN ('Scalar', 'Array', 'Struct', 'Enum', 'Pointer', 'Function', 'Unit', 'Never')),
    name TEXT,
    module_id BIGINT,
    visibility TEXT CHECK (visibility IN ('Public', 'Private')),
    definition TEXT NOT NULL,
    PRIMARY KEY (program_id, type_id),
    FOREIGN KEY (program_id, module_id) REFERENCES lmlang_modules (program_id, module_id),
    CHECK ((name IS NULL) = (module_id IS NULL) AND (name IS NULL) = (visibility IS NULL))
);
CREATE INDEX lmlang_types_by_module ON lmlang_types (program_id, module_id) WHERE module_id IS NOT NULL;

CREATE TABLE lmlang_functions (
    program_id BIGINT NOT NULL REFERENCES lmlang_programs (id) ON DELETE CASCADE,
    function_id BIGINT NOT NULL CHECK (function_id BETWEEN 0 AND 4294967295),
    module_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('Public', 'Private')),
    params TEXT NOT NULL,
    return_type BIGINT NOT NULL,
    entry_node_id BIGINT,
    is_closure BOOLEAN NOT NULL,
    parent_function_id BIGINT,
    captures TEXT NOT NULL,
    PRIMARY KEY (program_id, function_id),
    FOREIGN KEY (program_id, module_id) REFERENCES lmlang_modules (program_id, module_id),
    FOREIGN KEY (program_id, parent_function_id) REFERENCES lmlang_functions (program_id, function_id)
        DEFERRABLE INITIALLY DEFERRED
);
-- find_functions_in_module, in function id order.
CREATE INDEX lmlang_functions_by_module ON lmlang_functions (program_id, module_id, function_id);
CREATE INDEX lmlang_functions_by_parent ON lmlang_functions (program_id, parent_function_id)
    WHERE parent_function_id IS NOT NULL;
CREATE INDEX lmlang_functions_by_entry_node ON lmlang_functions (program_id, entry_node_id)
    WHERE entry_node_id IS NOT NULL;

CREATE TABLE lmlang_op_kinds (
    code SMALLINT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    tier SMALLINT NOT NULL CHECK (tier IN (1, 2))
);
INSERT INTO lmlang_op_kinds (code, name, tier) VALUES
    (0, 'Const', 1), (1, 'Parameter', 1), (2, 'BinaryArith', 1), (3, 'UnaryArith', 1),
    (4, 'Compare', 1), (5, 'BinaryLogic', 1), (6, 'Not', 1), (7, 'Shift', 1),
    (8, 'IfElse', 1), (9, 'Loop', 1), (10, 'Match', 1), (11, 'Branch', 1),
    (12, 'Jump', 1), (13, 'Phi', 1), (14, 'Alloc', 1), (15, 'Load', 1),
    (16, 'Store', 1), (17, 'GetElementPtr', 1), (18, 'Call', 1), (19, 'IndirectCall', 1),
    (20, 'Return', 1), (21, 'Print', 1), (22, 'ReadLine', 1), (23, 'FileOpen', 1),
    (24, 'FileRead', 1), (25, 'FileWrite', 1), (26, 'FileClose', 1), (27, 'MakeClosure', 1),
    (28, 'CaptureAccess', 1), (29, 'Precondition', 1), (30, 'Postcondition', 1), (31, 'Invariant', 1),
    (32, 'StructCreate', 2), (33, 'StructGet', 2), (34, 'StructSet', 2), (35, 'ArrayCreate', 2),
    (36, 'ArrayGet', 2), (37, 'ArraySet', 2), (38, 'Cast', 2), (39, 'EnumCreate', 2),
    (40, 'EnumDiscriminant', 2), (41, 'EnumPayload', 2);

-- Compute nodes; op, arg, type_ref, callee_id and payload as in the SQLite schema.
CREATE TABLE lmlang_compute_nodes (
    program_id BIGINT NOT NULL REFERENCES lmlang_programs (id) ON DELETE CASCADE,
    owner_id BIGINT NOT NULL,
    node_id BIGINT NOT NULL CHECK (node_id BETWEEN 0 AND 4294967295),
    op SMALLINT NOT NULL CHECK (op BETWEEN 0 AND 41),
    arg BIGINT CHECK (arg BETWEEN 0 AND 4294967295),
    type_ref BIGINT,
    callee_id BIGINT,
    payload TEXT,
    PRIMARY KEY (program_id, node_id),
    FOREIGN KEY (program_id, owner_id) REFERENCES lmlang_functions (program_id, function_id),
    FOREIGN KEY (program_id, callee_id) REFERENCES lmlang_functions (program_id, function_id)
);
-- find_nodes_by_owner, in node id order.
CREATE INDEX lmlang_compute_nodes_by_owner ON lmlang_compute_nodes (program_id, owner_id, node_id);
-- find_nodes_by_type.
CREATE INDEX lmlang_compute_nodes_by_type ON lmlang_compute_nodes (program_id, type_ref, node_id)
    WHERE type_ref IS NOT NULL;
-- Callers of a function, and foreign-key look-ups when a function is deleted.
CREATE INDEX lmlang_compute_nodes_by_callee ON lmlang_compute_nodes (program_id, callee_id)
    WHERE callee_id IS NOT NULL;

-- The entry node closes the one cycle (function -> node -> owner function).
ALTER TABLE lmlang_functions ADD FOREIGN KEY (program_id, entry_node_id)
    REFERENCES lmlang_compute_nodes (program_id, node_id) DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE lmlang_flow_edges (
    program_id BIGINT NOT NULL REFERENCES lmlang_programs (id) ON DELETE CASCADE,
    edge_id BIGINT NOT NULL CHECK (edge_id BETWEEN 0 AND 4294967295),
    source_id BIGINT NOT NULL,
    target_id BIGINT NOT NULL,
    source_port INTEGER CHECK (source_port BETWEEN 0 AND 65535),
    target_port INTEGER CHECK (target_port BETWEEN 0 AND 65535),
    value_type BIGINT,
    branch INTEGER CHECK (branch BETWEEN 0 AND 65535),
    kind SMALLINT NOT NULL GENERATED ALWAYS AS (CASE WHEN value_type IS NULL THEN 1 ELSE 0 END) STORED,
    PRIMARY KEY (program_id, edge_id),
    FOREIGN KEY (program_id, source_id) REFERENCES lmlang_compute_nodes (program_id, node_id),
    FOREIGN KEY (program_id, target_id) REFERENCES lmlang_compute_nodes (program_id, node_id),
    CHECK (CASE WHEN value_type IS NOT NULL
        THEN source_port IS NOT NULL AND target_port IS NOT NULL AND branch IS NULL
        ELSE source_port IS NULL AND target_port IS NULL
    END)
);
-- find_edges_from, find_edges_to, in edge id order; foreign-key look-ups.
CREATE INDEX lmlang_flow_edges_by_source ON lmlang_flow_edges (program_id, source_id, edge_id);
CREATE INDEX lmlang_flow_edges_by_target ON lmlang_flow_edges (program_id, target_id, edge_id);
-- find_edges_by_type.
CREATE INDEX lmlang_flow_edges_by_type ON lmlang_flow_edges (program_id, value_type, edge_id)
    WHERE value_type IS NOT NULL;

CREATE TABLE lmlang_semantic_nodes (
    program_id BIGINT NOT NULL REFERENCES lmlang_programs (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('Module', 'Function', 'Type')),
    entity_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    module_id BIGINT,
    visibility TEXT NOT NULL CHECK (visibility IN ('Public', 'Private')),
    signature TEXT,
    PRIMARY KEY (program_id, kind, entity_id)
);

CREATE TABLE lmlang_semantic_edges (
    program_id BIGINT NOT NULL REFERENCES lmlang_programs (id) ON DELETE CASCADE,
    source_kind TEXT NOT NULL,
    source_id BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('Contains', 'Calls', 'UsesType')),
    target_kind TEXT NOT NULL,
    target_id BIGINT NOT NULL,
    PRIMARY KEY (program_id, source_kind, source_id, kind, target_kind, target_id),
    FOREIGN KEY (program_id, source_kind, source_id) REFERENCES lmlang_semantic_nodes (program_id, kind, entity_id),
    FOREIGN KEY (program_id, target_kind, target_id) REFERENCES lmlang_semantic_nodes (program_id, kind, entity_id)
);
CREATE INDEX lmlang_semantic_edges_by_target ON lmlang_semantic_edges (program_id, target_kind, target_id);

-- This crate's own applied migrations (a service's share __diesel_schema_migrations).
CREATE TABLE lmlang_schema_versions (
    version TEXT PRIMARY KEY
);
INSERT INTO lmlang_schema_versions (version) VALUES ('202612031200000000');
