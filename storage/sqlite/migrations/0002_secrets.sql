-- Installation secrets (the key that signs render tokens and withdrawal
-- links). Kept in the database so a backup restores working links.
CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    created_at TEXT NOT NULL
);
