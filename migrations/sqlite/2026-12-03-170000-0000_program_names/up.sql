-- Program names move to their own table, keyed by name. Every other key of the store
-- then starts with the program id, which is what a layout distributed or partitioned
-- by program (Citus, PostgreSQL's PARTITION BY HASH) requires; SQLite gets the same
-- tables so one set of Diesel tables and queries serves both backends.
--
-- SQLite cannot drop a UNIQUE column, so lmlang_programs is rebuilt. With foreign keys
-- enforced, dropping the old table would cascade into every program's rows, so they
-- are turned off first. That pragma only takes effect outside a transaction, so this
-- step runs outside Diesel's (metadata.toml) in a savepoint of its own, which commits
-- it as one (the diesel CLI) or nests in the caller's transaction
-- (lmlang_storage::sqlite::run_migrations, which has turned foreign keys off already
-- and puts back the connection's own setting). Should foreign keys still be on (a
-- caller's transaction that did not turn them off), the guard below refuses rather than
-- cascade into the programs' rows. Through the diesel CLI, a crash after the savepoint
-- commits and before the CLI records the version would leave the step applied but not
-- recorded: a rerun then fails on the existing lmlang_program_names and changes nothing,
-- until lmlang_storage::sqlite::run_migrations (or lmstore migrate) records it in
-- Diesel's table (lmlang_schema_versions lists it).
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

-- A foreign key of another table to lmlang_programs (name) would point at a column
-- that is no longer UNIQUE (it moves to lmlang_program_names): every later delete of a
-- program, and every write to that table, would fail with "foreign key mismatch". So
-- the step refuses while any exists: drop the key, migrate, and make it again on
-- lmlang_program_names (name).
CREATE TEMP TABLE lmlang_migration_name_keys (
    name_keys INTEGER CONSTRAINT drop_the_foreign_keys_to_lmlang_programs_name_first CHECK (name_keys = 0)
);
INSERT INTO temp.lmlang_migration_name_keys SELECT count(*) FROM sqlite_schema AS t, pragma_foreign_key_list(t.name) AS k
    WHERE t.type = 'table' AND lower(k."table") = 'lmlang_programs' AND lower(k."to") = 'name';
DROP TABLE temp.lmlang_migration_name_keys;

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
-- With legacy_alter_table off (SQLite's default), the rename checks every view and
-- trigger of the schema, and a service's view on lmlang_programs (possible even before
-- this crate's tables existed) names a table that, between these two statements, does
-- not: the rename would fail. Legacy renaming checks none of them; the view then reads
-- the new table by its name. (The pragma is SQLite's default again after.)
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

DELETE FROM sqlite_stat1 WHERE tbl IN ('lmlang_programs', 'lmlang_program_names');
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('lmlang_program_names', 'lmlang_program_names', '10 1'),
    ('lmlang_program_names', 'sqlite_autoindex_lmlang_program_names_2', '10 1');
ANALYZE sqlite_schema;

INSERT INTO lmlang_schema_versions (version) VALUES ('202612031700000000');

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
