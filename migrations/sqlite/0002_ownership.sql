-- Ownership of each conversation, for fencing: the node whose actor holds a
-- conversation claims it by incrementing its epoch, and every write of the
-- conversation commits only while the epoch is still the one it was
-- stamped with. On one node this guards against a reloaded actor and a
-- stale one both writing; in a cluster, against two owners.
CREATE TABLE ownership (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations (id),
    epoch           INTEGER NOT NULL,
    owner           TEXT NOT NULL DEFAULT '',
    claimed_at      INTEGER
) STRICT, WITHOUT ROWID;

INSERT INTO ownership (conversation_id, epoch) SELECT id, 1 FROM conversations;
