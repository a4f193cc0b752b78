-- `lmlang_schema_versions` lists this crate's own applied migrations: a service's
-- migrations share `__diesel_schema_migrations` with ours, and only this table tells a
-- database migrated by a newer lmlang-storage (refused) from one that merely holds a
-- service's migrations (accepted). Every later migration adds its version here.
--
-- Until 2026-12-06 this migration also renamed every table and index of the first
-- schema to its `lmlang_` name; the first migration now creates them so, and a
-- database of the first schema alone is renamed by `run_migrations` before this runs
-- (src/sqlite/first_schema_prefix.sql).

-- So a database of the first schema as its first release wrote it (tables without the
-- prefix) is refused here, before anything changes, when the diesel CLI (or Diesel's
-- own harness) runs this step without that rename: the CHECK's name is the message.
CREATE TEMP TABLE lmlang_first_schema_check (
    prefixed INTEGER CONSTRAINT tables_without_the_lmlang_prefix_run_lmstore_migrate_first CHECK (prefixed = 1)
);
INSERT INTO temp.lmlang_first_schema_check
    SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'lmlang_programs';
DROP TABLE temp.lmlang_first_schema_check;

CREATE TABLE lmlang_schema_versions (
    version TEXT PRIMARY KEY NOT NULL
) WITHOUT ROWID;
INSERT INTO lmlang_schema_versions (version) VALUES ('202611250555450000'), ('202612031000000000');
