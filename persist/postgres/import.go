package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/persist/internal/storeutil"
)

// ImportConversation implements agora.Store: one transaction that inserts
// the conversation and its ownership row (epoch 1), then COPYs the
// participants, opinions, current votes (in key order) and vote history.
// Validate has checked that every vote refers to a participant and an
// opinion of the import itself, which this transaction inserts: the votes
// have no foreign keys (migration 0004).
func (db *DB) ImportConversation(ctx context.Context, im *agora.Import) error {
	if err := im.Validate(); err != nil {
		return err
	}
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return storeError(err, "begin import")
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // a no-op after Commit

	c := &im.Conversation
	var reason, explanation *string
	var lockedAt *time.Time
	if c.Lock != nil {
		r, e, at := string(c.Lock.Reason), encodeText(c.Lock.Explanation), storeutil.OrAt(c.Lock.At, c.CreatedAt)
		reason, explanation, lockedAt = &r, &e, &at
	}
	if _, err := tx.Exec(ctx, sqlInsertConversations, []string{c.ID}, []string{encodeText(c.Title)},
		[]string{encodeText(c.Body)}, []string{c.AuthorID}, []time.Time{c.CreatedAt}, []bool{c.IsIndexed},
		[]*string{reason}, []*string{explanation}, []*time.Time{lockedAt}, []int32{int32(c.OpinionCount)},
		[]int32{int32(c.VoteCount)}, []int32{int32(c.ParticipantCount)},
		[]time.Time{storeutil.OrAt(c.LastReactedAt, c.CreatedAt)}); err != nil {
		return storeError(err, "import conversation")
	}
	if _, err := tx.Exec(ctx, sqlInsertOwnership, []string{c.ID}, []int64{1}, []time.Time{c.CreatedAt}); err != nil {
		return storeError(err, "import ownership")
	}

	ps := im.Participants
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"participants"},
		[]string{"id", "token_hash", "display_name", "role", "created_at", "external_id"},
		pgx.CopyFromSlice(len(ps), func(i int) ([]any, error) {
			p := &ps[i]
			var hash []byte
			if p.TokenHash != ([32]byte{}) {
				hash = p.TokenHash[:]
			}
			return []any{p.ID, hash, encodeText(p.DisplayName), storeutil.Role(p), storeutil.OrAt(p.CreatedAt, c.CreatedAt),
				nullText(p.ExternalID)}, nil
		}))
	if err != nil {
		return storeError(err, "import participants")
	}

	ops := im.Opinions
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"opinions"},
		[]string{"id", "conversation_id", "seq", "author_id", "text", "created_at", "is_seed", "status",
			"moderation_reason", "moderation_explanation", "moderated_at", "deleted_at", "external_id", "is_meta"},
		pgx.CopyFromSlice(len(ops), func(i int) ([]any, error) {
			o := &ops[i]
			status, reason, explanation, at := moderationArgs(o, c.CreatedAt)
			var deleted *time.Time
			if o.Deleted {
				deleted = &c.CreatedAt
			}
			return []any{o.ID, c.ID, int32(o.Seq), o.AuthorID, encodeText(o.Text), storeutil.OrAt(o.CreatedAt, c.CreatedAt),
				o.IsSeed, status, reason, explanation, at, deleted, nullText(o.ExternalID), o.IsMeta}, nil
		}))
	if err != nil {
		return storeError(err, "import opinions")
	}

	// In key order, so that the primary key's index is built by appends.
	votes := slices.Clone(im.Votes)
	slices.SortFunc(votes, func(x, y agora.StoredVote) int {
		if c := strings.Compare(x.OpinionID, y.OpinionID); c != 0 {
			return c
		}
		return strings.Compare(x.ParticipantID, y.ParticipantID)
	})
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"votes"},
		[]string{"conversation_id", "opinion_id", "participant_id", "vote", "updated_at"},
		pgx.CopyFromSlice(len(votes), func(i int) ([]any, error) {
			v := &votes[i]
			return []any{c.ID, v.OpinionID, v.ParticipantID, int16(v.Vote), storeutil.OrAt(v.At, c.CreatedAt)}, nil
		}))
	if err != nil {
		return storeError(err, "import votes")
	}

	hs := im.History
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"vote_history"}, historyColumns,
		pgx.CopyFromSlice(len(hs), func(i int) ([]any, error) {
			v := &hs[i]
			n := int16(v.Vote)
			return []any{c.ID, v.OpinionID, v.ParticipantID, &n, storeutil.OrAt(v.At, c.CreatedAt)}, nil
		}))
	if err != nil {
		return storeError(err, "import vote history")
	}
	if err := tx.Commit(ctx); err != nil {
		return storeError(err, "commit import")
	}
	return nil
}

// The statements of the export reads. The history has no index: the rare
// export scans it, in id (commit) order.
const (
	sqlConversationExists = `SELECT 1 FROM conversations WHERE id = $1 AND deleted_at IS NULL`
	sqlVoteHistory        = `SELECT participant_id, opinion_id, vote, at FROM vote_history
		WHERE conversation_id = $1 ORDER BY id`
	sqlConversationParticipants = `SELECT id, display_name, role, created_at, external_id FROM participants
		WHERE id IN (SELECT participant_id FROM vote_history WHERE conversation_id = $1
		             UNION SELECT participant_id FROM votes WHERE conversation_id = $1
		             UNION SELECT author_id FROM opinions WHERE conversation_id = $1)`
)

// VoteHistory implements agora.Store, from one REPEATABLE READ snapshot.
func (db *DB) VoteHistory(ctx context.Context, cid string, fn func(agora.HistoryVote) error) error {
	return db.readConversation(ctx, cid, "vote history", sqlVoteHistory, func(rows pgx.Rows) error {
		var h agora.HistoryVote
		var vote *int16
		if err := rows.Scan(&h.ParticipantID, &h.OpinionID, &vote, &h.At); err != nil {
			return storeError(err, "vote history")
		}
		h.At, h.Cancelled = h.At.UTC(), vote == nil
		if vote != nil {
			h.Vote = agora.Vote(*vote)
		}
		return fn(h)
	})
}

// ConversationParticipants implements agora.Store.
func (db *DB) ConversationParticipants(ctx context.Context, cid string, fn func(agora.Participant) error) error {
	return db.readConversation(ctx, cid, "conversation participants", sqlConversationParticipants, func(rows pgx.Rows) error {
		var p agora.Participant
		var role string
		var external *string
		if err := rows.Scan(&p.ID, &p.DisplayName, &role, &p.CreatedAt, &external); err != nil {
			return storeError(err, "conversation participants")
		}
		p.DisplayName, p.Role, p.CreatedAt = decodeText(p.DisplayName), agora.Role(role), p.CreatedAt.UTC()
		p.ExternalID = decodeText(deref(external))
		return fn(p)
	})
}

// readConversation checks that a conversation exists and streams the rows
// of query (whose one parameter is its id) to each, in one read-only
// snapshot. each's error ends the stream and is returned unchanged.
func (db *DB) readConversation(ctx context.Context, cid, op, query string, each func(pgx.Rows) error) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return storeError(err, "begin "+op)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // read-only
	var one int
	if err := tx.QueryRow(ctx, sqlConversationExists, cid).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
		return agora.Errorf(agora.ENOTFOUND, "Conversation %s not found.", cid)
	} else if err != nil {
		return storeError(err, op)
	}
	rows, err := tx.Query(ctx, query, cid)
	if err != nil {
		return storeError(err, op)
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	return storeError(rows.Err(), op)
}
