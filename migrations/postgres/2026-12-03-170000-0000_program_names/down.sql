-- Names go back into lmlang_programs.
ALTER TABLE lmlang_programs ADD COLUMN name TEXT CHECK (length(name) > 0);
UPDATE lmlang_programs p SET name = n.name FROM lmlang_program_names n WHERE n.program_id = p.id;
ALTER TABLE lmlang_programs ALTER COLUMN name SET NOT NULL;
ALTER TABLE lmlang_programs ADD CONSTRAINT lmlang_programs_name_key UNIQUE (name);
DROP TABLE lmlang_program_names;

DELETE FROM lmlang_schema_versions WHERE version = '202612031700000000';
