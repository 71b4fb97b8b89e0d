-- The first answers to creating requests made with an Idempotency-Key, so
-- that a retry after a restart, or on another node, gets the same answer
-- instead of creating anew. Rows live 10 minutes; expired ones are deleted
-- as new ones are written.
CREATE TABLE idempotent_answers (
    participant_id text NOT NULL,
    target text NOT NULL,
    key text NOT NULL,
    status integer NOT NULL,
    content_type text NOT NULL,
    body bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (participant_id, target, key)
);
CREATE INDEX idempotent_answers_expiry ON idempotent_answers (expires_at);
