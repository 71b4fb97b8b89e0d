-- The first answers to creating requests made with an Idempotency-Key, so
-- that a retry after a restart, or on another node, gets the same answer
-- instead of creating anew. Rows live 10 minutes (expires_at, Unix
-- microseconds); expired ones are deleted as new ones are written.
CREATE TABLE idempotent_answers (
    participant_id TEXT NOT NULL,
    target TEXT NOT NULL,
    key TEXT NOT NULL,
    status INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (participant_id, target, key)
) WITHOUT ROWID;
CREATE INDEX idempotent_answers_expiry ON idempotent_answers (expires_at);
