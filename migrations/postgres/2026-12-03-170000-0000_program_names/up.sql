-- Program names move to their own table, keyed by name. Every other key of the store
-- then starts with the program id (lmlang_programs is keyed by it), which is what a
-- layout distributed or partitioned by program requires: Citus wants the distribution
-- column in every primary key, unique constraint and foreign key, and so does
-- PARTITION BY HASH (see lmlang_storage::postgres::partition_by_program).
CREATE TABLE lmlang_program_names (
    name TEXT PRIMARY KEY CHECK (length(name) > 0),
    program_id BIGINT NOT NULL UNIQUE REFERENCES lmlang_programs (id) ON DELETE CASCADE
);
INSERT INTO lmlang_program_names (name, program_id) SELECT name, id FROM lmlang_programs;
ALTER TABLE lmlang_programs DROP COLUMN name;

INSERT INTO lmlang_schema_versions (version) VALUES ('202612031700000000');
