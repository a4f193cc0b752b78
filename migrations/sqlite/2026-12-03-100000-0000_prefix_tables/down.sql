-- Reverses up.sql: the version list goes. (The tables keep their `lmlang_` names,
-- which the first migration now gives them; its own down.sql drops them.)
DROP TABLE lmlang_schema_versions;
