-- Program names move to their own table, keyed by name. Every other key of the store
-- then starts with the program id, which is what a layout distributed or partitioned
-- by program (Citus, PostgreSQL's PARTITION BY HASH) requires; SQLite gets the same
-- tables so one set of Diesel tables and queries serves both backends.
--
-- SQLite cannot drop a UNIQUE column, so lmlang_programs is rebuilt. With foreign keys
-- enforced, dropping the old table would cascade into every program's rows, so on a
-- database that holds programs this migration refuses to run unless
-- `PRAGMA foreign_keys` is off (as in lmlang_storage::sqlite::run_migrations, which
-- checks the result with `PRAGMA foreign_key_check`). Diesel's SqliteConnection, and so
-- the diesel CLI, turns foreign keys on: through it, this step runs on an empty store
-- only. On an empty store it runs either way.
CREATE TEMP TABLE lmlang_migration_guard (
    foreign_keys INTEGER CONSTRAINT run_with_foreign_keys_off CHECK (foreign_keys = 0)
);
INSERT INTO temp.lmlang_migration_guard SELECT foreign_keys FROM pragma_foreign_keys
    WHERE EXISTS (SELECT 1 FROM lmlang_programs);
DROP TABLE temp.lmlang_migration_guard;

CREATE TABLE lmlang_program_names (
    name TEXT PRIMARY KEY NOT NULL CHECK (length(name) > 0),
    program_id BIGINT NOT NULL UNIQUE REFERENCES lmlang_programs (id) ON DELETE CASCADE
) WITHOUT ROWID;
INSERT INTO lmlang_program_names (name, program_id) SELECT name, id FROM lmlang_programs;

CREATE TABLE lmlang_programs_rebuilt (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
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
INSERT INTO lmlang_programs_rebuilt (
    id, format_version, revision, next_node_id, next_edge_id, next_function_id, next_module_id,
    next_type_id, module_count, function_count, node_count, edge_count, created_at, updated_at
)
SELECT id, format_version, revision, next_node_id, next_edge_id, next_function_id, next_module_id,
    next_type_id, module_count, function_count, node_count, edge_count, created_at, updated_at
FROM lmlang_programs;

-- Program ids are never reused: the new table continues the old one's sequence, which
-- may be past the highest id left (deleted programs).
CREATE TEMP TABLE lmlang_program_sequence AS
    SELECT seq FROM sqlite_sequence WHERE name = 'lmlang_programs';
DROP TABLE lmlang_programs;
ALTER TABLE lmlang_programs_rebuilt RENAME TO lmlang_programs;
DELETE FROM sqlite_sequence WHERE name = 'lmlang_programs';
INSERT INTO sqlite_sequence (name, seq) SELECT 'lmlang_programs', seq FROM temp.lmlang_program_sequence;
DROP TABLE temp.lmlang_program_sequence;

DELETE FROM sqlite_stat1 WHERE tbl IN ('lmlang_programs', 'lmlang_program_names');
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('lmlang_program_names', 'lmlang_program_names', '10 1'),
    ('lmlang_program_names', 'sqlite_autoindex_lmlang_program_names_2', '10 1');
ANALYZE sqlite_schema;

INSERT INTO lmlang_schema_versions (version) VALUES ('202612031700000000');
