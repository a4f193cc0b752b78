-- History: one row per committed write of a program, written in the write's own
-- transaction, holding what the write replaced (so it can be undone) and the program
-- root hash after it. Entries are reverse deltas: a program as it was at revision N is
-- the current program with the entries after N applied newest first.
--
-- * kind: 0 create, 1 edit (CRUD, edit group or save), 2 undo, 3 redo, 4 rename.
-- * target: the revision an undo or redo inverted.
-- * undo_top, redo_top: what undo and redo would invert after this commit (the heads
--   of two stacks linked through stack_below), so undo and redo read two rows, never
--   the whole log.
-- * delta: the previous contents of every entity the write changed (compact JSON, see
--   src/store/history/delta.rs).
CREATE TABLE lmlang_history (
    program_id BIGINT NOT NULL REFERENCES lmlang_programs (id) ON DELETE CASCADE,
    revision BIGINT NOT NULL CHECK (revision >= 1),
    committed_at BIGINT NOT NULL,
    root_hash BLOB NOT NULL CHECK (length(root_hash) = 32),
    kind SMALLINT NOT NULL CHECK (kind BETWEEN 0 AND 4),
    target BIGINT,
    undo_top BIGINT,
    redo_top BIGINT,
    stack_below BIGINT,
    message TEXT,
    delta BLOB NOT NULL,
    PRIMARY KEY (program_id, revision)
) WITHOUT ROWID;

-- Names for revisions; pruning a revision drops its tags.
CREATE TABLE lmlang_history_tags (
    program_id BIGINT NOT NULL,
    name TEXT NOT NULL CHECK (length(name) > 0),
    revision BIGINT NOT NULL,
    PRIMARY KEY (program_id, name),
    FOREIGN KEY (program_id, revision) REFERENCES lmlang_history (program_id, revision) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX lmlang_history_tags_by_revision ON lmlang_history_tags (program_id, revision);

INSERT INTO lmlang_schema_versions (version) VALUES ('202612031400000000');
