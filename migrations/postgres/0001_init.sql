-- The first schema of agora's PostgreSQL store. It holds what the SQLite
-- store holds, table for table, so that the two behave alike under the one
-- contract suite (persist/storetest); only the types are PostgreSQL's.
--
-- Times are timestamptz (microseconds, as the domain truncates them, so they
-- round-trip exactly); a NULL time means "not happened" (not locked, not
-- moderated, not deleted). Rows are never deleted, except current votes when
-- cancelled: deleted conversations and opinions keep their rows (deleted_at)
-- so that the vote history stays whole. Objects are created unqualified, in
-- the first schema of the connection's search_path.
--
-- Identifiers are text COLLATE "C": they are ASCII, compared byte by byte
-- as in SQLite (so listings break ties in the same order) and as Go sorts
-- them before a bulk write, and the keys of the hot tables never pay for a
-- linguistic collation, whatever the database's default.

-- A participant authenticates by the SHA-256 of its bearer token. Imported
-- participants have no token: their token_hash is NULL, which UNIQUE lets
-- any number of rows share and no lookup can match.
CREATE TABLE participants (
    id           text COLLATE "C" PRIMARY KEY,
    token_hash   bytea UNIQUE CHECK (token_hash IS NULL OR length(token_hash) = 32),
    display_name text NOT NULL DEFAULT '',
    role         text NOT NULL DEFAULT 'participant' CHECK (role IN ('participant', 'moderator')),
    created_at   timestamptz NOT NULL,
    external_id  text
);

-- The counters are the absolute values the conversation's actor maintains;
-- the store only keeps the latest ones, it never computes them. author_id
-- has no foreign key: a conversation imported by the admin token has no
-- participant as its author. The row is updated by every batch that touches
-- the conversation (its counters), so it leaves room for the new version on
-- its page.
CREATE TABLE conversations (
    id                text COLLATE "C" PRIMARY KEY,
    title             text NOT NULL,
    body              text NOT NULL DEFAULT '',
    author_id         text COLLATE "C" NOT NULL,
    created_at        timestamptz NOT NULL,
    is_indexed        boolean NOT NULL,
    lock_reason       text,
    lock_explanation  text,
    locked_at         timestamptz,
    deleted_at        timestamptz,
    opinion_count     integer NOT NULL DEFAULT 0,
    vote_count        integer NOT NULL DEFAULT 0,
    participant_count integer NOT NULL DEFAULT 0,
    last_reacted_at   timestamptz NOT NULL,
    CHECK ((lock_reason IS NULL) = (locked_at IS NULL))
) WITH (fillfactor = 80);

-- The listings read only indexed, unlocked, undeleted conversations, in
-- keyset order: partial indexes hold exactly those rows, sorted as served.
CREATE INDEX conversations_listed_new ON conversations (created_at DESC, id DESC)
    WHERE is_indexed AND lock_reason IS NULL AND deleted_at IS NULL;
CREATE INDEX conversations_listed_active ON conversations (last_reacted_at DESC, id DESC)
    WHERE is_indexed AND lock_reason IS NULL AND deleted_at IS NULL;

-- seq numbers a conversation's opinions from 0 in creation order; the
-- unique key doubles as the index that activation reads them by.
-- Moderation columns are set while the opinion is moved or hidden.
CREATE TABLE opinions (
    id                     text COLLATE "C" PRIMARY KEY,
    conversation_id        text COLLATE "C" NOT NULL REFERENCES conversations (id),
    seq                    integer NOT NULL,
    author_id              text COLLATE "C" NOT NULL,
    text                   text NOT NULL,
    created_at             timestamptz NOT NULL,
    is_seed                boolean NOT NULL,
    status                 text NOT NULL DEFAULT 'visible' CHECK (status IN ('visible', 'moved', 'hidden')),
    moderation_reason      text,
    moderation_explanation text,
    moderated_at           timestamptz,
    deleted_at             timestamptz,
    external_id            text,
    UNIQUE (conversation_id, seq),
    -- The target of the votes' foreign key, which checks that a vote's
    -- conversation is its opinion's.
    UNIQUE (conversation_id, id)
);

-- Current votes only: a cancelled vote is deleted here and recorded in
-- vote_history. An opinion belongs to one conversation, so the key is
-- unique per (opinion, participant) as a vote is; leading with the
-- conversation makes the key the index that activation reads a
-- conversation's votes by, as one range. A changed vote updates no key
-- column, so with room left on its page (fillfactor) it is a HOT update
-- that writes no index entry.
CREATE TABLE votes (
    conversation_id text COLLATE "C" NOT NULL,
    opinion_id      text COLLATE "C" NOT NULL,
    participant_id  text COLLATE "C" NOT NULL REFERENCES participants (id),
    vote            smallint NOT NULL CHECK (vote IN (-1, 0, 1)),
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (conversation_id, opinion_id, participant_id),
    FOREIGN KEY (conversation_id, opinion_id) REFERENCES opinions (conversation_id, id)
) WITH (fillfactor = 90);

-- Every vote event, append-only (written with COPY), in the order of id: a
-- cast or a change has its vote, a cancel has NULL. It is what a Polis
-- votes.csv export and an audit replay read. Appends are on the hot path of
-- every vote, so the table has no foreign key (a cast is checked by those of
-- votes) and no index, as in the SQLite store: the rare admin export scans.
CREATE TABLE vote_history (
    id              bigint GENERATED ALWAYS AS IDENTITY,
    conversation_id text COLLATE "C" NOT NULL,
    opinion_id      text COLLATE "C" NOT NULL,
    participant_id  text COLLATE "C" NOT NULL,
    vote            smallint CHECK (vote IS NULL OR vote IN (-1, 0, 1)),
    at              timestamptz NOT NULL
);
