package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/persist/internal/storeutil"
)

// ImportConversation implements agora.Store: the whole conversation in one
// IMMEDIATE transaction on the write connection, rows written by multi-row
// statements (128 rows per execution), the current votes in key order. The
// statements are prepared per import, which is rare, and closed after it.
// While it runs, the batcher's flushes wait for the one write connection.
func (db *DB) ImportConversation(ctx context.Context, im *agora.Import) error {
	if err := im.Validate(); err != nil {
		return err
	}
	p := preparer{ctx: ctx, db: db.write}
	insertParticipants := p.bulk(6, func(values string) string {
		return `INSERT INTO participants (id, token_hash, display_name, role, created_at, external_id) VALUES ` + values
	})
	insertOpinions := p.bulk(14, func(values string) string {
		return `INSERT INTO opinions (id, conversation_id, seq, author_id, text, created_at, is_seed, status,
			moderation_reason, moderation_explanation, moderated_at, deleted_at, external_id, is_meta) VALUES ` + values
	})
	insertVotes := p.bulk(5, func(values string) string {
		return `INSERT INTO votes (conversation_id, opinion_id, participant_id, vote, updated_at) VALUES ` + values
	})
	defer closeBulk(insertParticipants, insertOpinions, insertVotes)
	if p.err != nil {
		return p.err
	}

	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return storeError(err, "begin import")
	}
	defer tx.Rollback()
	a := applier{ctx: ctx, tx: tx, bound: make(map[*sql.Stmt]*sql.Stmt, 16)}

	c := &im.Conversation
	var reason, explanation, lockedAt any
	if c.Lock != nil {
		reason, explanation, lockedAt = string(c.Lock.Reason), c.Lock.Explanation, micros(storeutil.OrAt(c.Lock.At, c.CreatedAt))
	}
	if _, err := a.exec(db.ws.insertConversation, c.ID, c.Title, c.Body, c.AuthorID, micros(c.CreatedAt),
		boolInt(c.IsIndexed), reason, explanation, lockedAt, c.OpinionCount, c.VoteCount, c.ParticipantCount,
		micros(storeutil.OrAt(c.LastReactedAt, c.CreatedAt))); err != nil {
		return storeError(err, "import conversation")
	}
	if _, err := a.exec(db.ws.insertOwnership, c.ID, 1, micros(c.CreatedAt)); err != nil {
		return storeError(err, "import ownership")
	}

	args := make([]any, 0, 6*len(im.Participants))
	for i := range im.Participants {
		pt := &im.Participants[i]
		args = append(args, pt.ID, tokenHashArg(pt.TokenHash), pt.DisplayName, storeutil.Role(pt),
			micros(storeutil.OrAt(pt.CreatedAt, c.CreatedAt)), nullString(pt.ExternalID))
	}
	if err := insertParticipants.exec(&a, args); err != nil {
		return storeError(err, "import participants")
	}

	args = make([]any, 0, 14*len(im.Opinions))
	for i := range im.Opinions {
		o := &im.Opinions[i]
		status, reason, explanation, at := moderationArgs(o, c.CreatedAt)
		var deleted any
		if o.Deleted {
			deleted = micros(c.CreatedAt)
		}
		args = append(args, o.ID, c.ID, o.Seq, o.AuthorID, o.Text, micros(storeutil.OrAt(o.CreatedAt, c.CreatedAt)),
			boolInt(o.IsSeed), status, reason, explanation, at, deleted, nullString(o.ExternalID), boolInt(o.IsMeta))
	}
	if err := insertOpinions.exec(&a, args); err != nil {
		return storeError(err, "import opinions")
	}

	// In key order, each row's search starts where the last one ended.
	order := make([]int, len(im.Votes))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int {
		vx, vy := &im.Votes[x], &im.Votes[y]
		if c := strings.Compare(vx.OpinionID, vy.OpinionID); c != 0 {
			return c
		}
		return strings.Compare(vx.ParticipantID, vy.ParticipantID)
	})
	args = make([]any, 0, 5*len(im.Votes))
	for _, i := range order {
		v := &im.Votes[i]
		args = append(args, c.ID, v.OpinionID, v.ParticipantID, int64(v.Vote), micros(storeutil.OrAt(v.At, c.CreatedAt)))
	}
	if err := insertVotes.exec(&a, args); err != nil {
		return storeError(err, "import votes")
	}

	args = make([]any, 0, 5*len(im.History))
	for i := range im.History {
		v := &im.History[i]
		args = append(args, c.ID, v.OpinionID, v.ParticipantID, int64(v.Vote), micros(storeutil.OrAt(v.At, c.CreatedAt)))
	}
	if err := db.ws.appendHistory.exec(&a, args); err != nil {
		return storeError(err, "import vote history")
	}
	if err := tx.Commit(); err != nil {
		return storeError(err, "commit import")
	}
	return nil
}

// closeBulk closes the statements of multi-row statements prepared for one
// use; nil ones (a failed prepare) are skipped.
func closeBulk(bs ...*bulkStatement) {
	for _, b := range bs {
		for _, s := range b.stmts {
			if s != nil {
				s.Close()
			}
		}
	}
}

// VoteHistory implements agora.Store. It scans vote_history, which has no
// index (appends are on every vote's path), in rowid order, which is
// commit order, from one read snapshot.
func (db *DB) VoteHistory(ctx context.Context, cid string, fn func(agora.HistoryVote) error) error {
	tx, err := db.readTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := conversationExists(ctx, tx, cid); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT participant_id, opinion_id, vote, at FROM vote_history
		WHERE conversation_id = ? ORDER BY rowid`, cid)
	if err != nil {
		return storeError(err, "vote history")
	}
	defer rows.Close()
	for rows.Next() {
		var h agora.HistoryVote
		var vote sql.NullInt64
		var at int64
		if err := rows.Scan(&h.ParticipantID, &h.OpinionID, &vote, &at); err != nil {
			return storeError(err, "vote history")
		}
		h.Vote, h.Cancelled, h.At = agora.Vote(vote.Int64), !vote.Valid, fromMicros(at)
		if err := fn(h); err != nil {
			return err
		}
	}
	return storeError(rows.Err(), "vote history")
}

// ConversationParticipants implements agora.Store.
func (db *DB) ConversationParticipants(ctx context.Context, cid string, fn func(agora.Participant) error) error {
	tx, err := db.readTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := conversationExists(ctx, tx, cid); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, display_name, role, created_at, external_id FROM participants
		WHERE id IN (SELECT participant_id FROM vote_history WHERE conversation_id = ?1
		             UNION SELECT participant_id FROM votes WHERE conversation_id = ?1
		             UNION SELECT author_id FROM opinions WHERE conversation_id = ?1)`, cid)
	if err != nil {
		return storeError(err, "conversation participants")
	}
	defer rows.Close()
	for rows.Next() {
		var p agora.Participant
		var role string
		var created int64
		var external sql.NullString
		if err := rows.Scan(&p.ID, &p.DisplayName, &role, &created, &external); err != nil {
			return storeError(err, "conversation participants")
		}
		p.Role, p.CreatedAt, p.ExternalID = agora.Role(role), fromMicros(created), external.String
		if err := fn(p); err != nil {
			return err
		}
	}
	return storeError(rows.Err(), "conversation participants")
}

// conversationExists returns ENOTFOUND unless the conversation exists and
// is not deleted.
func conversationExists(ctx context.Context, tx *sql.Tx, cid string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM conversations WHERE id = ? AND deleted_at IS NULL`, cid).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return agora.Errorf(agora.ENOTFOUND, "Conversation %s not found.", cid)
	}
	return storeError(err, "find conversation")
}
