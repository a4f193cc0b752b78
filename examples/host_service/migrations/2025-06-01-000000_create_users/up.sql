-- The service's own table, beside lmlang-storage's lmlang_* tables.
CREATE TABLE users (
    id INTEGER PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    program_id BIGINT REFERENCES lmlang_programs (id)
);
