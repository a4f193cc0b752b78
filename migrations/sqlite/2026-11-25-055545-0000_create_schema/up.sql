-- The lmlang program store: one row per program, then one table per stored entity,
-- every one keyed by program id first and deleted with its program. Every table and
-- index is named `lmlang_*`, so the schema can join a database that already holds a
-- service's own `programs` or `functions` (until 2026-12-06 this migration created
-- them unprefixed and the next one renamed them; see that migration).
--
-- Layout choices (see src/sqlite/mod.rs for the reasons at length):
-- * Tables that hold a program's parts are WITHOUT ROWID with a composite primary key,
--   so a row is stored once, in key order, without a hidden rowid and its index.
-- * Ids are BIGINT (they are u32 in the model; PostgreSQL needs the wider type).
-- * Columns the store's queries filter on are typed and indexed; payloads nobody filters
--   on (constants, messages, type definitions, parameters, captures) are compact JSON.
-- * The two hottest tables, compute_nodes and flow_edges, code their kinds as small
--   integers (see op_kinds and the comments below) to keep rows small; small tables use
--   TEXT enums with CHECK constraints.
-- * Foreign keys guard references inside a program. The cycle between a function's
--   entry node and the node's owner is broken by deferring the entry-node check to
--   commit; so are the self-references (a module's parent, a closure's parent), which
--   a valid imported program may list after the row that refers to them.

CREATE TABLE lmlang_programs (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL UNIQUE CHECK (length(name) > 0),
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
    updated_at BIGINT NOT NULL
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
) WITHOUT ROWID;
-- Foreign-key look-ups when a module is deleted.
CREATE INDEX lmlang_modules_by_parent ON lmlang_modules (program_id, parent_id) WHERE parent_id IS NOT NULL;

-- User types (ids from 9; the built-ins 0 to 8 are implied). `definition` is the
-- type's JSON; name, module and visibility are set for named types only.
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
) WITHOUT ROWID;
-- Foreign-key look-ups when a module is deleted.
CREATE INDEX lmlang_types_by_module ON lmlang_types (program_id, module_id) WHERE module_id IS NOT NULL;

-- Functions and closures. `params` and `captures` are JSON arrays in declaration order.
CREATE TABLE lmlang_functions (
    program_id BIGINT NOT NULL REFERENCES lmlang_programs (id) ON DELETE CASCADE,
    function_id BIGINT NOT NULL CHECK (function_id BETWEEN 0 AND 4294967295),
    module_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('Public', 'Private')),
    params TEXT NOT NULL,
    return_type BIGINT NOT NULL,
    entry_node_id BIGINT,
    is_closure BOOLEAN NOT NULL CHECK (is_closure IN (0, 1)),
    parent_function_id BIGINT,
    captures TEXT NOT NULL,
    PRIMARY KEY (program_id, function_id),
    FOREIGN KEY (program_id, module_id) REFERENCES lmlang_modules (program_id, module_id),
    FOREIGN KEY (program_id, parent_function_id) REFERENCES lmlang_functions (program_id, function_id)
        DEFERRABLE INITIALLY DEFERRED,
    FOREIGN KEY (program_id, entry_node_id) REFERENCES lmlang_compute_nodes (program_id, node_id)
        DEFERRABLE INITIALLY DEFERRED
) WITHOUT ROWID;
-- find_functions_in_module (ordered by function id, which the key appends).
CREATE INDEX lmlang_functions_by_module ON lmlang_functions (program_id, module_id);
-- Foreign-key look-ups when a function or a node is deleted.
CREATE INDEX lmlang_functions_by_parent ON lmlang_functions (program_id, parent_function_id) WHERE parent_function_id IS NOT NULL;
CREATE INDEX lmlang_functions_by_entry_node ON lmlang_functions (program_id, entry_node_id) WHERE entry_node_id IS NOT NULL;

-- The operation codes of compute_nodes.op, for people reading the database with SQL
-- (`JOIN op_kinds ON code = op`). The store's codec holds the same table; a test checks
-- that they agree.
CREATE TABLE lmlang_op_kinds (
    code SMALLINT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    tier SMALLINT NOT NULL CHECK (tier IN (1, 2))
) WITHOUT ROWID;
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

-- Compute nodes, clustered by owner so a function's body is one contiguous key range
-- (find_nodes_by_owner reads it without an index hop).
--   op        operation code (op_kinds)
--   arg       the op's one small operand: the sub-operation of BinaryArith (Add 0, Sub 1,
--             Mul 2, Div 3, Rem 4), UnaryArith (Neg 0, Abs 1), Compare (Eq 0, Ne 1, Lt 2,
--             Le 3, Gt 4, Ge 5), BinaryLogic (And 0, Or 1, Xor 2), Shift (Shl 0,
--             ShrLogical 1, ShrArith 2); the index of Parameter and CaptureAccess; the field
--             of StructGet and StructSet; the length of ArrayCreate; the variant of
--             EnumCreate and EnumPayload
--   type_ref  the type StructCreate, EnumCreate, Cast and Invariant name
--   callee_id the function Call targets or MakeClosure builds
--   payload   JSON: the constant of Const (floats bit-exact), the message of a contract
CREATE TABLE lmlang_compute_nodes (
    program_id BIGINT NOT NULL REFERENCES lmlang_programs (id) ON DELETE CASCADE,
    owner_id BIGINT NOT NULL,
    node_id BIGINT NOT NULL CHECK (node_id BETWEEN 0 AND 4294967295),
    op SMALLINT NOT NULL CHECK (op BETWEEN 0 AND 41),
    arg BIGINT CHECK (arg BETWEEN 0 AND 4294967295),
    type_ref BIGINT,
    callee_id BIGINT,
    payload TEXT,
    PRIMARY KEY (program_id, owner_id, node_id),
    FOREIGN KEY (program_id, owner_id) REFERENCES lmlang_functions (program_id, function_id),
    FOREIGN KEY (program_id, callee_id) REFERENCES lmlang_functions (program_id, function_id)
) WITHOUT ROWID;
-- get_node, and the parent key of edges and entry nodes.
CREATE UNIQUE INDEX lmlang_compute_nodes_by_id ON lmlang_compute_nodes (program_id, node_id);
-- find_nodes_by_type.
CREATE INDEX lmlang_compute_nodes_by_type ON lmlang_compute_nodes (program_id, type_ref, node_id) WHERE type_ref IS NOT NULL;
-- Callers of a function, and foreign-key look-ups when a function is deleted.
CREATE INDEX lmlang_compute_nodes_by_callee ON lmlang_compute_nodes (program_id, callee_id) WHERE callee_id IS NOT NULL;

-- Flow edges between two nodes of one function.
--   data:     source_port, target_port, value_type set; branch NULL
--   control:  branch (NULL sequential or jump, 0 then, 1 else, n match arm); ports and
--             value_type NULL
--   kind      0 data, 1 control: computed from value_type, never stored (a VIRTUAL
--             generated column costs no space and can be filtered and indexed)
CREATE TABLE lmlang_flow_edges (
    program_id BIGINT NOT NULL REFERENCES lmlang_programs (id) ON DELETE CASCADE,
    edge_id BIGINT NOT NULL CHECK (edge_id BETWEEN 0 AND 4294967295),
    source_id BIGINT NOT NULL,
    target_id BIGINT NOT NULL,
    source_port INTEGER CHECK (source_port BETWEEN 0 AND 65535),
    target_port INTEGER CHECK (target_port BETWEEN 0 AND 65535),
    value_type BIGINT,
    branch INTEGER CHECK (branch BETWEEN 0 AND 65535),
    kind SMALLINT NOT NULL GENERATED ALWAYS AS (CASE WHEN value_type IS NULL THEN 1 ELSE 0 END) VIRTUAL,
    PRIMARY KEY (program_id, edge_id),
    FOREIGN KEY (program_id, source_id) REFERENCES lmlang_compute_nodes (program_id, node_id),
    FOREIGN KEY (program_id, target_id) REFERENCES lmlang_compute_nodes (program_id, node_id),
    CHECK (CASE WHEN value_type IS NOT NULL
        THEN source_port IS NOT NULL AND target_port IS NOT NULL AND branch IS NULL
        ELSE source_port IS NULL AND target_port IS NULL
    END)
) WITHOUT ROWID;
-- find_edges_from, find_edges_to (ordered by edge id, which the key appends), and
-- foreign-key look-ups when a node is deleted.
CREATE INDEX lmlang_flow_edges_by_source ON lmlang_flow_edges (program_id, source_id);
CREATE INDEX lmlang_flow_edges_by_target ON lmlang_flow_edges (program_id, target_id);
-- find_edges_by_type.
CREATE INDEX lmlang_flow_edges_by_type ON lmlang_flow_edges (program_id, value_type) WHERE value_type IS NOT NULL;

-- The semantic graph: derived from the tables above and rewritten with them, for tools
-- that browse a program's skeleton with SQL. Keys: kind 'Module', 'Function' or 'Type'
-- and the entity's id.
CREATE TABLE lmlang_semantic_nodes (
    program_id BIGINT NOT NULL REFERENCES lmlang_programs (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('Module', 'Function', 'Type')),
    entity_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    module_id BIGINT,
    visibility TEXT NOT NULL CHECK (visibility IN ('Public', 'Private')),
    signature TEXT,
    PRIMARY KEY (program_id, kind, entity_id)
) WITHOUT ROWID;

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
) WITHOUT ROWID;
-- Edges into a node: containment by parent, callers; foreign-key look-ups.
CREATE INDEX lmlang_semantic_edges_by_target ON lmlang_semantic_edges (program_id, target_kind, target_id);

-- Planner statistics. SQLite assumes, without statistics, that an equality on the first
-- column of an index matches about ten rows; here the first column is the program id,
-- which matches a whole program. It would then read a program's whole edge range to
-- find one node's edges (and do the same in every foreign-key check). These rows
-- describe the real shape (a database of ten programs of 100,000 nodes; see "Manual
-- Control Of Query Plans Using SQLITE_STAT Tables" in SQLite's optimizer overview), so
-- the planner picks the right index from the first statement. ANALYZE run on real data
-- later replaces them with measured ones of the same shape.
ANALYZE lmlang_programs;
DELETE FROM sqlite_stat1 WHERE tbl IN (
    'lmlang_programs', 'lmlang_modules', 'lmlang_types', 'lmlang_functions', 'lmlang_compute_nodes', 'lmlang_flow_edges', 'lmlang_semantic_nodes', 'lmlang_semantic_edges'
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
-- Makes this connection read the rows above (others read them when they open).
ANALYZE sqlite_schema;
