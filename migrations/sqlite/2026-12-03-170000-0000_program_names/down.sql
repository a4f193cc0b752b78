-- Names go back into lmlang_programs (a rebuild again, so foreign keys must be off:
-- see up.sql).
PRAGMA foreign_keys = OFF;
SAVEPOINT lmlang_program_names;
CREATE TEMP TABLE lmlang_migration_guard (
    foreign_keys INTEGER CONSTRAINT run_with_foreign_keys_off CHECK (foreign_keys = 0)
);
INSERT INTO temp.lmlang_migration_guard SELECT foreign_keys FROM pragma_foreign_keys
    WHERE EXISTS (SELECT 1 FROM lmlang_programs);
DROP TABLE temp.lmlang_migration_guard;

-- DROP TABLE lmlang_programs below takes every trigger and index on it along. A
-- service's own would be lost without a word, so the step refuses while there are any:
-- lmlang_storage::sqlite::run_migrations sets them aside and makes them again on the
-- new table; through the diesel CLI, drop them first and create them again after.
CREATE TEMP TABLE lmlang_migration_objects (
    objects INTEGER CONSTRAINT drop_the_triggers_and_indexes_on_lmlang_programs_first CHECK (objects = 0)
);
INSERT INTO temp.lmlang_migration_objects SELECT count(*) FROM sqlite_schema
    WHERE lower(tbl_name) = 'lmlang_programs' AND type IN ('index', 'trigger') AND sql IS NOT NULL;
DROP TABLE temp.lmlang_migration_objects;

-- DROP TABLE lmlang_program_names below would leave another table's foreign key to it
-- pointing at no table: every later write to that table would fail ("no such table").
-- So the step refuses while any exists: drop the key, revert, and make it again on
-- lmlang_programs (name).
CREATE TEMP TABLE lmlang_migration_name_keys (
    name_keys INTEGER CONSTRAINT drop_the_foreign_keys_to_lmlang_program_names_first CHECK (name_keys = 0)
);
INSERT INTO temp.lmlang_migration_name_keys SELECT count(*) FROM sqlite_schema AS t, pragma_foreign_key_list(t.name) AS k
    WHERE t.type = 'table' AND lower(t.name) <> 'lmlang_program_names' AND lower(k."table") = 'lmlang_program_names';
DROP TABLE temp.lmlang_migration_name_keys;

CREATE TABLE lmlang_programs_rebuilt (
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
INSERT INTO lmlang_programs_rebuilt
SELECT p.id, n.name, p.format_version, p.revision, p.next_node_id, p.next_edge_id, p.next_function_id,
    p.next_module_id, p.next_type_id, p.module_count, p.function_count, p.node_count, p.edge_count,
    p.created_at, p.updated_at
FROM lmlang_programs p JOIN lmlang_program_names n ON n.program_id = p.id;

CREATE TEMP TABLE lmlang_program_sequence AS
    SELECT seq FROM sqlite_sequence WHERE name = 'lmlang_programs';
DROP TABLE lmlang_program_names;
-- See up.sql: a service's view on lmlang_programs would fail the rename.
PRAGMA legacy_alter_table = ON;
DROP TABLE lmlang_programs;
ALTER TABLE lmlang_programs_rebuilt RENAME TO lmlang_programs;
PRAGMA legacy_alter_table = OFF;
-- Every view and trigger must still read the new table (one of a service's on the
-- column that moved would fail only when used, and stop every later rename in the
-- file): a rename with legacy renaming off checks them all, and fails the step, which
-- then changes nothing, naming the one that does not.
CREATE TABLE lmlang_migration_schema_check (x);
ALTER TABLE lmlang_migration_schema_check RENAME TO lmlang_migration_schema_checked;
DROP TABLE lmlang_migration_schema_checked;
DELETE FROM sqlite_sequence WHERE name = 'lmlang_programs';
INSERT INTO sqlite_sequence (name, seq) SELECT 'lmlang_programs', seq FROM temp.lmlang_program_sequence;
DROP TABLE temp.lmlang_program_sequence;

DELETE FROM sqlite_stat1 WHERE tbl = 'lmlang_program_names';
ANALYZE sqlite_schema;

DELETE FROM lmlang_schema_versions WHERE version = '202612031700000000';

-- No row of ours may point at a missing one after the rebuild; then the step commits (through
-- the diesel CLI) or joins the caller's transaction (run_migrations).
CREATE TEMP TABLE lmlang_migration_check (
    broken INTEGER CONSTRAINT no_foreign_key_broken CHECK (broken = 0)
);
INSERT INTO temp.lmlang_migration_check SELECT count(*) FROM sqlite_schema AS t, pragma_foreign_key_check(t.name)
    WHERE t.type = 'table' AND substr(t.name, 1, 7) = 'lmlang_';
DROP TABLE temp.lmlang_migration_check;
RELEASE lmlang_program_names;
PRAGMA foreign_keys = ON;
