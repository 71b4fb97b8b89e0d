package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/agora-dev/agora"
)

// readStatements are prepared on the read pool; database/sql prepares each
// again on a connection the first time that connection runs it.
type readStatements struct {
	conversation   *sql.Stmt
	opinions       *sql.Stmt
	votes          *sql.Stmt
	recount        *sql.Stmt
	participant    *sql.Stmt
	participantTok *sql.Stmt
	// list[sort][0] reads a first page, list[sort][1] the page after a cursor.
	list map[agora.ConversationSort][2]*sql.Stmt
}

const conversationColumns = `id, title, body, author_id, created_at, is_indexed, lock_reason, lock_explanation,
	locked_at, opinion_count, vote_count, participant_count, last_reacted_at`

const participantColumns = `id, token_hash, display_name, role, created_at, external_id`

// listedWhere must repeat the WHERE of the partial listing indexes word for
// word for SQLite to use them.
const listedWhere = `is_indexed = 1 AND lock_reason IS NULL AND deleted_at IS NULL`

func prepareReads(ctx context.Context, r *sql.DB) (*readStatements, error) {
	s := &readStatements{list: make(map[agora.ConversationSort][2]*sql.Stmt)}
	p := preparer{ctx: ctx, db: r}
	s.conversation = p.prepare(`SELECT ` + conversationColumns + ` FROM conversations WHERE id = ? AND deleted_at IS NULL`)
	s.opinions = p.prepare(`SELECT id, conversation_id, author_id, text, created_at, is_seed, status,
		moderation_reason, moderation_explanation, moderated_at, deleted_at, external_id, seq, is_meta
		FROM opinions WHERE conversation_id = ? ORDER BY seq`)
	s.votes = p.prepare(`SELECT participant_id, opinion_id, vote, updated_at FROM votes WHERE conversation_id = ?`)
	// One statement reads one snapshot, so the three counts agree.
	s.recount = p.prepare(`SELECT c.last_reacted_at,
		(SELECT count(*) FROM opinions o
		  WHERE o.conversation_id = c.id AND o.deleted_at IS NULL AND o.status = 'visible'),
		(SELECT count(*) FROM votes v JOIN opinions o ON o.id = v.opinion_id
		  WHERE v.conversation_id = c.id AND o.deleted_at IS NULL AND o.status = 'visible'),
		(SELECT count(DISTINCT v.participant_id) FROM votes v JOIN opinions o ON o.id = v.opinion_id
		  WHERE v.conversation_id = c.id AND o.deleted_at IS NULL AND o.status = 'visible')
		FROM conversations c WHERE c.id = ? AND c.deleted_at IS NULL`)
	s.participant = p.prepare(`SELECT ` + participantColumns + ` FROM participants WHERE id = ?`)
	s.participantTok = p.prepare(`SELECT ` + participantColumns + ` FROM participants WHERE token_hash = ?`)
	for sort, key := range map[agora.ConversationSort]string{
		agora.SortConversationsNew:    "created_at",
		agora.SortConversationsActive: "last_reacted_at",
	} {
		base := `SELECT ` + conversationColumns + ` FROM conversations WHERE ` + listedWhere
		order := ` ORDER BY ` + key + ` DESC, id DESC LIMIT ?`
		s.list[sort] = [2]*sql.Stmt{
			p.prepare(base + order),
			p.prepare(base + ` AND (` + key + `, id) < (?, ?)` + order),
		}
	}
	if p.err != nil {
		return nil, p.err
	}
	return s, nil
}

// readTx starts a read transaction: the queries of one call then see one
// committed snapshot (WAL), even while batches commit.
func (db *DB) readTx(ctx context.Context) (*sql.Tx, error) {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, storeError(err, "begin read")
	}
	return tx, nil
}

// LoadConversation streams a conversation into sink from one snapshot: the
// conversation with its stored counters and lock, its opinions by Seq
// (deleted ones flagged, moderation included), then its current votes,
// including those on deleted or moderated opinions, which the actor keeps
// in case a moderation is withdrawn. Rows go to the sink as they are read.
// It returns ENOTFOUND for an unknown or deleted conversation, and a sink's
// error unchanged.
func (db *DB) LoadConversation(ctx context.Context, id string, sink agora.ConversationSink) error {
	tx, err := db.readTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	c, err := scanConversation(tx.StmtContext(ctx, db.rs.conversation).QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return agora.Errorf(agora.ENOTFOUND, "Conversation %s not found.", id)
	} else if err != nil {
		return storeError(err, "load conversation")
	}
	if err := sink.LoadConversation(c); err != nil {
		return err
	}

	rows, err := tx.StmtContext(ctx, db.rs.opinions).QueryContext(ctx, id)
	if err != nil {
		return storeError(err, "load opinions")
	}
	defer rows.Close()
	for rows.Next() {
		o, err := scanOpinion(rows)
		if err != nil {
			return storeError(err, "load opinions")
		}
		if err := sink.LoadOpinion(o); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return storeError(err, "load opinions")
	}
	rows.Close()

	rows, err = tx.StmtContext(ctx, db.rs.votes).QueryContext(ctx, id)
	if err != nil {
		return storeError(err, "load votes")
	}
	defer rows.Close()
	for rows.Next() {
		var v agora.StoredVote
		var vote, at int64
		if err := rows.Scan(&v.ParticipantID, &v.OpinionID, &vote, &at); err != nil {
			return storeError(err, "load votes")
		}
		v.Vote, v.At = agora.Vote(vote), fromMicros(at)
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
// It returns EINVALID for an unknown sort, a limit outside 1..100 or a
// malformed cursor.
func (db *DB) ListConversations(ctx context.Context, q agora.ConversationQuery) (*agora.ConversationPage, error) {
	sort := q.Sort
	if sort == "" {
		sort = agora.SortConversationsNew
	}
	stmts, ok := db.rs.list[sort]
	if !ok {
		return nil, agora.Errorf(agora.EINVALID, "Unknown sort %q (new or active).", q.Sort)
	}
	if q.Limit < 1 || q.Limit > 100 {
		return nil, agora.Errorf(agora.EINVALID, "limit must be between 1 and 100.")
	}

	var rows *sql.Rows
	var err error
	if q.Cursor == "" {
		rows, err = stmts[0].QueryContext(ctx, q.Limit+1)
	} else {
		key, id, cerr := agora.DecodeConversationCursor(sort, q.Cursor)
		if cerr != nil {
			return nil, cerr
		}
		rows, err = stmts[1].QueryContext(ctx, key, id, q.Limit+1)
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
	var last int64
	err := db.rs.recount.QueryRowContext(ctx, id).Scan(&last, &c.OpinionCount, &c.VoteCount, &c.ParticipantCount)
	if errors.Is(err, sql.ErrNoRows) {
		return agora.Counters{}, agora.Errorf(agora.ENOTFOUND, "Conversation %s not found.", id)
	} else if err != nil {
		return agora.Counters{}, storeError(err, "recount")
	}
	c.LastReactedAt = fromMicros(last)
	return c, nil
}

// Participant returns a participant by id, or ENOTFOUND.
func (db *DB) Participant(ctx context.Context, id string) (*agora.Participant, error) {
	return scanParticipant(db.rs.participant.QueryRowContext(ctx, id), "Participant "+id+" not found.")
}

// ParticipantByTokenHash returns the participant holding a token, or
// ENOTFOUND. The zero hash, which imported participants have, matches
// nobody: they are stored with a NULL hash and cannot authenticate.
func (db *DB) ParticipantByTokenHash(ctx context.Context, hash [32]byte) (*agora.Participant, error) {
	if hash == ([32]byte{}) {
		return nil, agora.Errorf(agora.ENOTFOUND, "Unknown token.")
	}
	return scanParticipant(db.rs.participantTok.QueryRowContext(ctx, hash[:]), "Unknown token.")
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanConversation(s scanner) (agora.Conversation, error) {
	var c agora.Conversation
	var created, last int64
	var indexed int64
	var reason, explanation sql.NullString
	var lockedAt sql.NullInt64
	if err := s.Scan(&c.ID, &c.Title, &c.Body, &c.AuthorID, &created, &indexed, &reason, &explanation,
		&lockedAt, &c.OpinionCount, &c.VoteCount, &c.ParticipantCount, &last); err != nil {
		return c, err
	}
	c.CreatedAt, c.LastReactedAt, c.IsIndexed = fromMicros(created), fromMicros(last), indexed != 0
	if lockedAt.Valid {
		c.Locked = true
		c.Lock = &agora.Lock{Reason: agora.Reason(reason.String), Explanation: explanation.String, At: fromMicros(lockedAt.Int64)}
	}
	return c, nil
}

func scanOpinion(s scanner) (agora.Opinion, error) {
	var o agora.Opinion
	var created, seed, meta int64
	var status string
	var reason, explanation, external sql.NullString
	var moderatedAt, deletedAt sql.NullInt64
	if err := s.Scan(&o.ID, &o.ConversationID, &o.AuthorID, &o.Text, &created, &seed, &status,
		&reason, &explanation, &moderatedAt, &deletedAt, &external, &o.Seq, &meta); err != nil {
		return o, err
	}
	o.CreatedAt, o.IsSeed, o.Status, o.IsMeta = fromMicros(created), seed != 0, agora.OpinionStatus(status), meta != 0
	o.Deleted, o.ExternalID = deletedAt.Valid, external.String
	if moderatedAt.Valid {
		o.Moderation = &agora.Moderation{Reason: agora.Reason(reason.String), Explanation: explanation.String,
			At: fromMicros(moderatedAt.Int64)}
	}
	return o, nil
}

func scanParticipant(row *sql.Row, notFound string) (*agora.Participant, error) {
	var p agora.Participant
	var hash []byte
	var role string
	var created int64
	var external sql.NullString
	err := row.Scan(&p.ID, &hash, &p.DisplayName, &role, &created, &external)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, agora.Errorf(agora.ENOTFOUND, "%s", notFound)
	} else if err != nil {
		return nil, storeError(err, "read participant")
	}
	copy(p.TokenHash[:], hash)
	p.Role, p.CreatedAt, p.ExternalID = agora.Role(role), fromMicros(created), external.String
	return &p, nil
}

// ConversationExists implements agora.Store.
func (db *DB) ConversationExists(ctx context.Context, id string) (bool, error) {
	var one int
	err := db.read.QueryRowContext(ctx, `SELECT 1 FROM conversations WHERE id = ? AND deleted_at IS NULL`, id).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return err == nil, storeError(err, "look up "+id)
}
