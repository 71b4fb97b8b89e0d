-- The first schema of agora's embedded store.
--
-- Times are INTEGER unix microseconds UTC (the domain truncates times to
-- microseconds, so they round-trip exactly); booleans are 0/1; a NULL time
-- means "not happened" (not locked, not moderated, not deleted). Tables are
-- STRICT so that a value of the wrong type is an error, not a silent
-- conversion. Rows are never deleted, except current votes when cancelled:
-- deleted conversations and opinions keep their rows (deleted_at) so that
-- the vote history stays whole.

-- A participant authenticates by the SHA-256 of its bearer token. Imported
-- participants have no token: their token_hash is NULL, which UNIQUE lets
-- any number of rows share and no lookup can match.
CREATE TABLE participants (
    id           TEXT PRIMARY KEY,
    token_hash   BLOB UNIQUE CHECK (token_hash IS NULL OR length(token_hash) = 32),
    display_name TEXT NOT NULL DEFAULT '',
    role         TEXT NOT NULL DEFAULT 'participant' CHECK (role IN ('participant', 'moderator')),
    created_at   INTEGER NOT NULL,
    external_id  TEXT
) STRICT, WITHOUT ROWID;

-- The counters are the absolute values the conversation's actor maintains;
-- the store only keeps the latest ones, it never computes them. author_id
-- has no foreign key: a conversation imported by the admin token has no
-- participant as its author.
CREATE TABLE conversations (
    id                TEXT PRIMARY KEY,
    title             TEXT NOT NULL,
    body              TEXT NOT NULL DEFAULT '',
    author_id         TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    is_indexed        INTEGER NOT NULL CHECK (is_indexed IN (0, 1)),
    lock_reason       TEXT,
    lock_explanation  TEXT,
    locked_at         INTEGER,
    deleted_at        INTEGER,
    opinion_count     INTEGER NOT NULL DEFAULT 0,
    vote_count        INTEGER NOT NULL DEFAULT 0,
    participant_count INTEGER NOT NULL DEFAULT 0,
    last_reacted_at   INTEGER NOT NULL,
    CHECK ((lock_reason IS NULL) = (locked_at IS NULL))
) STRICT;

-- The listings read only indexed, unlocked, undeleted conversations, in
-- keyset order: partial indexes hold exactly those rows, sorted as served.
CREATE INDEX conversations_listed_new ON conversations (created_at DESC, id DESC)
    WHERE is_indexed = 1 AND lock_reason IS NULL AND deleted_at IS NULL;
CREATE INDEX conversations_listed_active ON conversations (last_reacted_at DESC, id DESC)
    WHERE is_indexed = 1 AND lock_reason IS NULL AND deleted_at IS NULL;

-- seq numbers a conversation's opinions from 0 in creation order; the
-- unique key doubles as the index that activation reads them by.
-- Moderation columns are set while the opinion is moved or hidden.
CREATE TABLE opinions (
    id                     TEXT PRIMARY KEY,
    conversation_id        TEXT NOT NULL REFERENCES conversations (id),
    seq                    INTEGER NOT NULL,
    author_id              TEXT NOT NULL,
    text                   TEXT NOT NULL,
    created_at             INTEGER NOT NULL,
    is_seed                INTEGER NOT NULL CHECK (is_seed IN (0, 1)),
    status                 TEXT NOT NULL DEFAULT 'visible' CHECK (status IN ('visible', 'moved', 'hidden')),
    moderation_reason      TEXT,
    moderation_explanation TEXT,
    moderated_at           INTEGER,
    deleted_at             INTEGER,
    external_id            TEXT,
    UNIQUE (conversation_id, seq),
    -- The target of the votes' foreign key, which checks that a vote's
    -- conversation is its opinion's.
    UNIQUE (conversation_id, id)
) STRICT;

-- Current votes only: a cancelled vote is deleted here and recorded in
-- vote_history. An opinion belongs to one conversation, so the key is
-- unique per (opinion, participant) as a vote is; leading with the
-- conversation clusters a conversation's votes, so that activation reads
-- them as one range and a batch writes one B-tree instead of a table and a
-- secondary index (about 20% faster per batch, measured).
CREATE TABLE votes (
    conversation_id TEXT NOT NULL,
    opinion_id      TEXT NOT NULL,
    participant_id  TEXT NOT NULL REFERENCES participants (id),
    vote            INTEGER NOT NULL CHECK (vote IN (-1, 0, 1)),
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, opinion_id, participant_id),
    FOREIGN KEY (conversation_id, opinion_id) REFERENCES opinions (conversation_id, id)
) STRICT, WITHOUT ROWID;

-- Every vote event, append-only, in commit order (rowid): a cast or a change
-- has its vote, a cancel has NULL. It is what a Polis votes.csv export and
-- an audit replay read. Appends are on the hot path of every vote, so the
-- table has no foreign key (a cast is checked by those of votes) and no
-- index: an index on conversation_id cost about 15% of a 1000-vote batch,
-- measured, to speed up only the rare admin export, which scans instead.
CREATE TABLE vote_history (
    conversation_id TEXT NOT NULL,
    opinion_id      TEXT NOT NULL,
    participant_id  TEXT NOT NULL,
    vote            INTEGER CHECK (vote IS NULL OR vote IN (-1, 0, 1)),
    at              INTEGER NOT NULL
) STRICT;
