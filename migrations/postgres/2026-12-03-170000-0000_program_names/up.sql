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
-- DROP COLUMN without a word drops every index, constraint and statistics object of a
-- service that involves the column, and refuses while a view reads it or another
-- table's foreign key references it, with a message that names neither (Diesel drops
-- its DETAIL line): refuse, naming them all, while any exist besides our own UNIQUE
-- and CHECK on name (named so by the first migration and again by down.sql). The
-- migration's transaction then changes nothing.
DO $$
DECLARE
    found TEXT;
BEGIN
    SELECT string_agg(DISTINCT pg_describe_object(d.classid, d.objid, d.objsubid), ', ')
    INTO found
    FROM pg_depend d
    JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
    WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = 'lmlang_programs'::regclass
        AND a.attname = 'name' AND d.deptype IN ('a', 'n')
        AND NOT (d.classid = 'pg_constraint'::regclass AND d.objid IN (
            SELECT oid FROM pg_constraint WHERE conrelid = 'lmlang_programs'::regclass
                AND (conname, contype) IN (('lmlang_programs_name_key', 'u'), ('lmlang_programs_name_check', 'c'))));
    IF found IS NOT NULL THEN
        RAISE EXCEPTION 'lmlang_programs.name moves to lmlang_program_names, and dropping it would drop %: '
            'drop them, migrate, and make them again on lmlang_program_names', found;
    END IF;
END
$$;
ALTER TABLE lmlang_programs DROP COLUMN name;

INSERT INTO lmlang_schema_versions (version) VALUES ('202612031700000000');
