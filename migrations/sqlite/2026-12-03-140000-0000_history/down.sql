-- Drops history and tags.
DROP TABLE lmlang_history_tags;
DROP TABLE lmlang_history;
DELETE FROM lmlang_schema_versions WHERE version = '202612031400000000';
