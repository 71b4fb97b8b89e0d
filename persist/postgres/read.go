package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agora-dev/agora"
)

const conversationColumns = `id, title, body, author_id, created_at, is_indexed, lock_reason, lock_explanation,
	locked_at, opinion_count, vote_count, participant_count, last_reacted_at`

const participantColumns = `id, token_hash, display_name, role, created_at, external_id`

// listedWhere repeats the predicate of the partial listing indexes, which
// the planner needs to see implied to use them.
const listedWhere = `is_indexed AND lock_reason IS NULL AND deleted_at IS NULL`

// The statements of an activation. The opinions and votes of a deleted
// conversation are not read: the activation fails with ENOTFOUND anyway.
const (
	sqlLoadBegin        = `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`
	sqlLoadConversation = `SELECT ` + conversationColumns + ` FROM conversations WHERE id = $1 AND deleted_at IS NULL`
	sqlLoadOpinions     = `SELECT id, conversation_id, author_id, text, created_at, is_seed, status,
		moderation_reason, moderation_explanation, moderated_at, deleted_at, external_id, seq, is_meta
		FROM opinions WHERE conversation_id = $1
		AND EXISTS (SELECT 1 FROM conversations WHERE id = $1 AND deleted_at IS NULL) ORDER BY seq`
	sqlLoadVotes = `SELECT participant_id, opinion_id, vote, updated_at FROM votes WHERE conversation_id = $1
		AND EXISTS (SELECT 1 FROM conversations WHERE id = $1 AND deleted_at IS NULL)`
	sqlLoadEnd = `COMMIT`
)

// One statement reads one snapshot, so the three counts agree.
const sqlRecount = `SELECT c.last_reacted_at,
	(SELECT count(*) FROM opinions o
	  WHERE o.conversation_id = c.id AND o.deleted_at IS NULL AND o.status = 'visible'),
	(SELECT count(*) FROM votes v JOIN opinions o ON o.id = v.opinion_id
	  WHERE v.conversation_id = c.id AND o.deleted_at IS NULL AND o.status = 'visible'),
	(SELECT count(DISTINCT v.participant_id) FROM votes v JOIN opinions o ON o.id = v.opinion_id
	  WHERE v.conversation_id = c.id AND o.deleted_at IS NULL AND o.status = 'visible')
	FROM conversations c WHERE c.id = $1 AND c.deleted_at IS NULL`

// listSQL holds, per sort, the statement of a first page and of the page
// after a cursor, in keyset order.
var listSQL = func() map[agora.ConversationSort][2]string {
	out := map[agora.ConversationSort][2]string{}
	for sort, key := range map[agora.ConversationSort]string{
		agora.SortConversationsNew:    "created_at",
		agora.SortConversationsActive: "last_reacted_at",
	} {
		base := `SELECT ` + conversationColumns + ` FROM conversations WHERE ` + listedWhere
		order := ` ORDER BY ` + key + ` DESC, id DESC LIMIT `
		out[sort] = [2]string{
			base + order + `$1`,
			base + ` AND (` + key + `, id) < ($1, $2)` + order + `$3`,
		}
	}
	return out
}()

// LoadConversation streams a conversation into sink from one snapshot: the
// conversation with its stored counters and lock, its opinions by Seq
// (deleted ones flagged, moderation included), then its current votes,
// including those on deleted or moderated opinions, which the actor keeps
// in case a moderation is withdrawn. It returns ENOTFOUND for an unknown
// or deleted conversation, and a sink's error unchanged.
//
// The snapshot is a REPEATABLE READ transaction whose BEGIN, three queries
// and COMMIT travel in one pipelined batch: one round trip, after which
// rows go to the sink as pgx reads them from the connection, so that a
// conversation of any size is loaded without an intermediate copy.
func (db *DB) LoadConversation(ctx context.Context, id string, sink agora.ConversationSink) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return storeError(err, "connect")
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue(sqlLoadBegin)
	b.Queue(sqlLoadConversation, id)
	b.Queue(sqlLoadOpinions, id)
	b.Queue(sqlLoadVotes, id)
	b.Queue(sqlLoadEnd)
	br := conn.SendBatch(ctx, b)
	err = streamConversation(br, id, sink)
	// Close reads what the sink did not take and the COMMIT's answer.
	if cerr := br.Close(); err == nil && cerr != nil {
		err = storeError(cerr, "load conversation")
	}
	if err != nil {
		rollback(conn.Conn())
	}
	return err
}

func streamConversation(br pgx.BatchResults, id string, sink agora.ConversationSink) error {
	if _, err := br.Exec(); err != nil {
		return storeError(err, "begin load")
	}
	c, err := scanConversation(br.QueryRow())
	if errors.Is(err, pgx.ErrNoRows) {
		return agora.Errorf(agora.ENOTFOUND, "Conversation %s not found.", id)
	} else if err != nil {
		return storeError(err, "load conversation")
	}
	if err := sink.LoadConversation(c); err != nil {
		return err
	}

	rows, err := br.Query()
	if err != nil {
		return storeError(err, "load opinions")
	}
	for rows.Next() {
		o, err := scanOpinion(rows)
		if err != nil {
			rows.Close()
			return storeError(err, "load opinions")
		}
		if err := sink.LoadOpinion(o); err != nil {
			rows.Close()
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return storeError(err, "load opinions")
	}

	rows, err = br.Query()
	if err != nil {
		return storeError(err, "load votes")
	}
	defer rows.Close()
	var v agora.StoredVote
	var vote int16
	var at time.Time
	for rows.Next() {
		if err := rows.Scan(&v.ParticipantID, &v.OpinionID, &vote, &at); err != nil {
			return storeError(err, "load votes")
		}
		v.Vote, v.At = agora.Vote(vote), at.UTC()
		if err := sink.LoadVote(v); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return storeError(err, "load votes")
	}
	return nil
}

// ListConversations returns a page of indexed, unlocked, undeleted
// conversations with their stored counters: sort "new" (the default) by
// creation, "active" by last reaction, newest first, ties by id descending.
// Pages follow the sort key (keyset pagination), so a page costs the same
// at any depth and a conversation created meanwhile shifts no later page.
// Cursors are the SQLite store's, so a client cannot tell the stores
// apart. It returns EINVALID for an unknown sort, a limit outside 1..100
// or a malformed cursor.
func (db *DB) ListConversations(ctx context.Context, q agora.ConversationQuery) (*agora.ConversationPage, error) {
	sort := q.Sort
	if sort == "" {
		sort = agora.SortConversationsNew
	}
	stmts, ok := listSQL[sort]
	if !ok {
		return nil, agora.Errorf(agora.EINVALID, "Unknown sort %q (new or active).", q.Sort)
	}
	if q.Limit < 1 || q.Limit > 100 {
		return nil, agora.Errorf(agora.EINVALID, "limit must be between 1 and 100.")
	}

	var rows pgx.Rows
	var err error
	if q.Cursor == "" {
		rows, err = db.pool.Query(ctx, stmts[0], q.Limit+1)
	} else {
		key, id, cerr := agora.DecodeConversationCursor(sort, q.Cursor)
		if cerr != nil {
			return nil, cerr
		}
		rows, err = db.pool.Query(ctx, stmts[1], time.UnixMicro(key), id, q.Limit+1)
	}
	if err != nil {
		return nil, storeError(err, "list conversations")
	}
	defer rows.Close()

	items := make([]agora.Conversation, 0, q.Limit+1)
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, storeError(err, "list conversations")
		}
		items = append(items, c)
	}
	if err := rows.Err(); err != nil {
		return nil, storeError(err, "list conversations")
	}
	return agora.NewConversationPage(items, sort, q.Limit), nil
}

// RecountConversation counts a conversation's visible, undeleted opinions,
// the current votes on them and their distinct voters from the rows, with
// the stored LastReactedAt, to check the counters the actor maintains. It
// returns ENOTFOUND for an unknown or deleted conversation.
func (db *DB) RecountConversation(ctx context.Context, id string) (agora.Counters, error) {
	var c agora.Counters
	var last time.Time
	var opinions, votes, voters int64
	err := db.pool.QueryRow(ctx, sqlRecount, id).Scan(&last, &opinions, &votes, &voters)
	if errors.Is(err, pgx.ErrNoRows) {
		return agora.Counters{}, agora.Errorf(agora.ENOTFOUND, "Conversation %s not found.", id)
	} else if err != nil {
		return agora.Counters{}, storeError(err, "recount")
	}
	c.OpinionCount, c.VoteCount, c.ParticipantCount, c.LastReactedAt = int(opinions), int(votes), int(voters), last.UTC()
	return c, nil
}

// Participant returns a participant by id, or ENOTFOUND.
func (db *DB) Participant(ctx context.Context, id string) (*agora.Participant, error) {
	return scanParticipant(db.pool.QueryRow(ctx, `SELECT `+participantColumns+` FROM participants WHERE id = $1`, id),
		"Participant "+id+" not found.")
}

// ParticipantByTokenHash returns the participant holding a token, or
// ENOTFOUND. The zero hash, which imported participants have, matches
// nobody: they are stored with a NULL hash and cannot authenticate.
func (db *DB) ParticipantByTokenHash(ctx context.Context, hash [32]byte) (*agora.Participant, error) {
	if hash == ([32]byte{}) {
		return nil, agora.Errorf(agora.ENOTFOUND, "Unknown token.")
	}
	return scanParticipant(db.pool.QueryRow(ctx, `SELECT `+participantColumns+` FROM participants WHERE token_hash = $1`, hash[:]),
		"Unknown token.")
}

// ClaimConversation implements agora.Store: it increments the epoch of an
// undeleted conversation and records node as its owner. The UPDATE waits
// for a flush that holds the ownership row (see agora_check_epochs), so
// that flush either commits before the claim or is fenced after it.
func (db *DB) ClaimConversation(ctx context.Context, id, node string) (int64, error) {
	var epoch int64
	err := db.pool.QueryRow(ctx, `UPDATE ownership SET epoch = epoch + 1, owner = $2, claimed_at = now()
		WHERE conversation_id = $1 AND EXISTS (SELECT 1 FROM conversations WHERE id = $1 AND deleted_at IS NULL)
		RETURNING epoch`, id, node).Scan(&epoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, agora.Errorf(agora.ENOTFOUND, "Conversation %s not found.", id)
	} else if err != nil {
		return 0, storeError(err, "claim "+id)
	}
	return epoch, nil
}

func scanConversation(row pgx.Row) (agora.Conversation, error) {
	var c agora.Conversation
	var opinions, votes, voters int32
	var reason, explanation *string
	var lockedAt *time.Time
	if err := row.Scan(&c.ID, &c.Title, &c.Body, &c.AuthorID, &c.CreatedAt, &c.IsIndexed, &reason, &explanation,
		&lockedAt, &opinions, &votes, &voters, &c.LastReactedAt); err != nil {
		return c, err
	}
	c.Title, c.Body = decodeText(c.Title), decodeText(c.Body)
	c.CreatedAt, c.LastReactedAt = c.CreatedAt.UTC(), c.LastReactedAt.UTC()
	c.OpinionCount, c.VoteCount, c.ParticipantCount = int(opinions), int(votes), int(voters)
	if lockedAt != nil {
		c.Locked = true
		c.Lock = &agora.Lock{Reason: agora.Reason(deref(reason)), Explanation: decodeText(deref(explanation)), At: lockedAt.UTC()}
	}
	return c, nil
}

func scanOpinion(row pgx.Row) (agora.Opinion, error) {
	var o agora.Opinion
	var status string
	var reason, explanation, external *string
	var moderatedAt, deletedAt *time.Time
	var seq int32
	if err := row.Scan(&o.ID, &o.ConversationID, &o.AuthorID, &o.Text, &o.CreatedAt, &o.IsSeed, &status,
		&reason, &explanation, &moderatedAt, &deletedAt, &external, &seq, &o.IsMeta); err != nil {
		return o, err
	}
	o.Text, o.CreatedAt, o.Status, o.Seq = decodeText(o.Text), o.CreatedAt.UTC(), agora.OpinionStatus(status), int(seq)
	o.Deleted, o.ExternalID = deletedAt != nil, decodeText(deref(external))
	if moderatedAt != nil {
		o.Moderation = &agora.Moderation{Reason: agora.Reason(deref(reason)), Explanation: decodeText(deref(explanation)),
			At: moderatedAt.UTC()}
	}
	return o, nil
}

func scanParticipant(row pgx.Row, notFound string) (*agora.Participant, error) {
	var p agora.Participant
	var hash []byte
	var role string
	var external *string
	err := row.Scan(&p.ID, &hash, &p.DisplayName, &role, &p.CreatedAt, &external)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, agora.Errorf(agora.ENOTFOUND, "%s", notFound)
	} else if err != nil {
		return nil, storeError(err, "read participant")
	}
	copy(p.TokenHash[:], hash)
	p.DisplayName, p.Role, p.CreatedAt = decodeText(p.DisplayName), agora.Role(role), p.CreatedAt.UTC()
	p.ExternalID = decodeText(deref(external))
	return &p, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// ConversationExists implements agora.Store.
func (db *DB) ConversationExists(ctx context.Context, id string) (bool, error) {
	var one int
	err := db.pool.QueryRow(ctx, `SELECT 1 FROM conversations WHERE id = $1 AND deleted_at IS NULL`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, storeError(err, "look up "+id)
}
