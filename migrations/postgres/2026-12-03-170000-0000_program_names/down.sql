-- Names go back into lmlang_programs.
-- DROP TABLE below refuses while a view or another table's foreign key needs
-- lmlang_program_names, but without a word drops a service's own indexes, triggers,
-- constraints, rules, policies and statistics objects on it: refuse while any exist
-- besides the table's own keys and CHECK (named so by up.sql). The migration's
-- transaction then changes nothing.
DO $$
DECLARE
    found TEXT;
BEGIN
    SELECT string_agg(DISTINCT pg_describe_object(d.classid, d.objid, d.objsubid), ', ')
    INTO found
    FROM pg_depend d
    WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = 'lmlang_program_names'::regclass
        AND d.deptype IN ('a', 'n')
        AND NOT (d.classid = 'pg_constraint'::regclass AND d.objid IN (
            SELECT oid FROM pg_constraint WHERE conrelid = 'lmlang_program_names'::regclass
                AND conname IN ('lmlang_program_names_pkey', 'lmlang_program_names_name_check',
                    'lmlang_program_names_program_id_key', 'lmlang_program_names_program_id_fkey')));
    IF found IS NOT NULL THEN
        RAISE EXCEPTION 'reverting moves names back into lmlang_programs and drops lmlang_program_names, '
            'which would drop %: drop them first', found;
    END IF;
END
$$;
ALTER TABLE lmlang_programs ADD COLUMN name TEXT CHECK (length(name) > 0);
UPDATE lmlang_programs p SET name = n.name FROM lmlang_program_names n WHERE n.program_id = p.id;
ALTER TABLE lmlang_programs ALTER COLUMN name SET NOT NULL;
ALTER TABLE lmlang_programs ADD CONSTRAINT lmlang_programs_name_key UNIQUE (name);
DROP TABLE lmlang_program_names;

DELETE FROM lmlang_schema_versions WHERE version = '202612031700000000';
