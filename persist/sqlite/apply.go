package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/persist/internal/storeutil"
)

// writeStatements are prepared once on the write connection and bound to
// each Apply's transaction, so that a batch parses no SQL.
type writeStatements struct {
	insertParticipant  *sql.Stmt
	setRole            *sql.Stmt
	insertConversation *sql.Stmt
	insertOwnership    *sql.Stmt
	epochOf            *sql.Stmt
	deleteConversation *sql.Stmt
	setLock            *sql.Stmt
	insertOpinion      *sql.Stmt
	moderateOpinion    *sql.Stmt
	deleteOpinion      *sql.Stmt
	setCounters        *sql.Stmt

	upsertVotes   *bulkStatement
	deleteVotes   *bulkStatement
	appendHistory *bulkStatement
}

func prepareWrites(ctx context.Context, w *sql.DB) (*writeStatements, error) {
	s := &writeStatements{}
	p := preparer{ctx: ctx, db: w}
	s.insertParticipant = p.prepare(`INSERT INTO participants
		(id, token_hash, display_name, role, created_at, external_id) VALUES (?, ?, ?, ?, ?, ?)`)
	s.setRole = p.prepare(`UPDATE participants SET role = ? WHERE id = ?`)
	s.insertConversation = p.prepare(`INSERT INTO conversations
		(id, title, body, author_id, created_at, is_indexed, lock_reason, lock_explanation, locked_at,
		 opinion_count, vote_count, participant_count, last_reacted_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	s.insertOwnership = p.prepare(`INSERT INTO ownership (conversation_id, epoch, claimed_at) VALUES (?, ?, ?)`)
	s.epochOf = p.prepare(`SELECT epoch FROM ownership WHERE conversation_id = ?`)
	// A second deletion keeps the first time.
	s.deleteConversation = p.prepare(`UPDATE conversations SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL`)
	s.setLock = p.prepare(`UPDATE conversations SET lock_reason = ?, lock_explanation = ?, locked_at = ? WHERE id = ?`)
	s.insertOpinion = p.prepare(`INSERT INTO opinions
		(id, conversation_id, seq, author_id, text, created_at, is_seed, status,
		 moderation_reason, moderation_explanation, moderated_at, deleted_at, external_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	s.moderateOpinion = p.prepare(`UPDATE opinions
		SET status = ?, moderation_reason = ?, moderation_explanation = ?, moderated_at = ? WHERE id = ?`)
	s.deleteOpinion = p.prepare(`UPDATE opinions SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL`)
	// A zero LastReactedAt leaves the stored one: the time is never unknown
	// once the conversation exists.
	s.setCounters = p.prepare(`UPDATE conversations
		SET opinion_count = ?, vote_count = ?, participant_count = ?, last_reacted_at = coalesce(?, last_reacted_at)
		WHERE id = ?`)

	s.upsertVotes = p.bulk(5, func(values string) string {
		return `INSERT INTO votes (conversation_id, opinion_id, participant_id, vote, updated_at) VALUES ` + values +
			` ON CONFLICT (conversation_id, opinion_id, participant_id) DO UPDATE SET vote = excluded.vote, updated_at = excluded.updated_at`
	})
	s.deleteVotes = p.bulk(3, func(values string) string {
		return `DELETE FROM votes WHERE (conversation_id, opinion_id, participant_id) IN (VALUES ` + values + `)`
	})
	s.appendHistory = p.bulk(5, func(values string) string {
		return `INSERT INTO vote_history (conversation_id, opinion_id, participant_id, vote, at) VALUES ` + values
	})
	if p.err != nil {
		return nil, p.err
	}
	return s, nil
}

// Apply commits a batch of events in one transaction, all or nothing. It
// returns EINVALID for a malformed event or a violated constraint (the
// batch can never commit), EUNAVAILABLE when the file is locked by another
// process, full or failing, or the context ends; nothing is committed then.
//
// The final state equals applying the events one by one in order, but the
// work is regrouped for speed: vote events touch only the votes and the
// vote history, which no other event reads or writes, so they are applied
// after the other events (whose rows they reference) as multi-row
// statements, the current votes reduced to the last event per (opinion,
// participant); counters are absolute, so only the last per conversation
// is written, at the end.
func (db *DB) Apply(ctx context.Context, events []agora.Event) error {
	if len(events) == 0 {
		return nil
	}
	if err := agora.CheckEvents(events); err != nil {
		return err
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return storeError(err, "begin")
	}
	defer tx.Rollback()

	a := applier{ctx: ctx, tx: tx, bound: make(map[*sql.Stmt]*sql.Stmt, 8)}
	if err := a.checkEpochs(db.ws, events); err != nil {
		return err
	}
	var votes voteBatch
	lastCounters := make(map[string]int)
	var countersOrder []string

	for i := range events {
		ev := &events[i]
		switch ev.Kind {
		case agora.EventVoteCast, agora.EventVoteCancelled:
			votes.add(ev)
		case agora.EventCounters:
			if _, ok := lastCounters[ev.ConversationID]; !ok {
				countersOrder = append(countersOrder, ev.ConversationID)
			}
			lastCounters[ev.ConversationID] = i
		default:
			if err := a.event(db.ws, ev); err != nil {
				return storeError(err, fmt.Sprintf("event %d (%s)", i, ev.Kind))
			}
		}
	}
	if err := votes.write(&a, db.ws); err != nil {
		return storeError(err, "votes")
	}
	for _, id := range countersOrder {
		c := events[lastCounters[id]].Counters
		if _, err := a.exec(db.ws.setCounters, c.OpinionCount, c.VoteCount, c.ParticipantCount,
			nullMicros(c.LastReactedAt), id); err != nil {
			return storeError(err, "counters of "+id)
		}
	}
	if err := tx.Commit(); err != nil {
		return storeError(err, "commit")
	}
	return nil
}

// applier runs statements in one Apply's transaction.
type applier struct {
	ctx   context.Context
	tx    *sql.Tx
	bound map[*sql.Stmt]*sql.Stmt
}

// stmt binds a prepared statement to the transaction once per Apply; the
// binding reuses the statement already prepared on the write connection.
func (a *applier) stmt(s *sql.Stmt) *sql.Stmt {
	b, ok := a.bound[s]
	if !ok {
		b = a.tx.StmtContext(a.ctx, s)
		a.bound[s] = b
	}
	return b
}

func (a *applier) exec(s *sql.Stmt, args ...any) (sql.Result, error) {
	return a.stmt(s).ExecContext(a.ctx, args...)
}

// event applies one event that is neither a vote nor counters. Updates of
// rows that do not exist change nothing: the actors only emit them for rows
// they loaded or created, and a stray one must not fail a whole batch.
func (a *applier) event(ws *writeStatements, ev *agora.Event) error {
	var err error
	switch ev.Kind {
	case agora.EventParticipantCreated:
		p := ev.Participant
		_, err = a.exec(ws.insertParticipant, p.ID, tokenHashArg(p.TokenHash), p.DisplayName, storeutil.Role(p),
			micros(storeutil.OrAt(p.CreatedAt, ev.At)), nullString(p.ExternalID))
	case agora.EventRoleChanged:
		_, err = a.exec(ws.setRole, string(ev.Participant.Role), ev.Participant.ID)
	case agora.EventConversationCreated:
		c := ev.Conversation
		var reason, explanation, at any
		if c.Lock != nil {
			reason, explanation, at = string(c.Lock.Reason), c.Lock.Explanation, micros(storeutil.OrAt(c.Lock.At, ev.At))
		}
		created := storeutil.OrAt(c.CreatedAt, ev.At)
		_, err = a.exec(ws.insertConversation, c.ID, c.Title, c.Body, c.AuthorID, micros(created),
			boolInt(c.IsIndexed), reason, explanation, at, c.OpinionCount, c.VoteCount, c.ParticipantCount,
			micros(storeutil.OrAt(c.LastReactedAt, created)))
		if err == nil {
			_, err = a.exec(ws.insertOwnership, c.ID, max(ev.Epoch, 1), micros(created))
		}
	case agora.EventConversationDeleted:
		_, err = a.exec(ws.deleteConversation, micros(ev.At), ev.ConversationID)
	case agora.EventLocked:
		_, err = a.exec(ws.setLock, string(ev.Lock.Reason), ev.Lock.Explanation, micros(storeutil.OrAt(ev.Lock.At, ev.At)),
			ev.ConversationID)
	case agora.EventUnlocked:
		_, err = a.exec(ws.setLock, nil, nil, nil, ev.ConversationID)
	case agora.EventOpinionCreated:
		o := ev.Opinion
		cid := o.ConversationID
		if cid == "" {
			cid = ev.ConversationID
		}
		status, reason, explanation, at := moderationArgs(o, ev.At)
		var deleted any
		if o.Deleted {
			deleted = micros(ev.At)
		}
		_, err = a.exec(ws.insertOpinion, o.ID, cid, o.Seq, o.AuthorID, o.Text, micros(storeutil.OrAt(o.CreatedAt, ev.At)),
			boolInt(o.IsSeed), status, reason, explanation, at, deleted, nullString(o.ExternalID))
	case agora.EventOpinionModerated:
		status, reason, explanation, at := moderationArgs(ev.Opinion, ev.At)
		_, err = a.exec(ws.moderateOpinion, status, reason, explanation, at, ev.Opinion.ID)
	case agora.EventOpinionDeleted:
		_, err = a.exec(ws.deleteOpinion, micros(ev.At), ev.Opinion.ID)
	}
	return err
}

// moderationArgs encodes an opinion's status and moderation; a visible
// opinion has no moderation, whatever the event carries.
func moderationArgs(o *agora.Opinion, at time.Time) (status string, reason, explanation, modAt any) {
	status = string(o.Status)
	if status == "" {
		status = string(agora.StatusVisible)
	}
	if o.Status == agora.StatusVisible || o.Moderation == nil {
		return status, nil, nil, nil
	}
	m := o.Moderation
	return status, string(m.Reason), m.Explanation, micros(storeutil.OrAt(m.At, at))
}

// tokenHashArg stores an imported participant's zero hash as NULL, which no
// lookup matches and UNIQUE lets many rows share.
func tokenHashArg(h [32]byte) any {
	if h == ([32]byte{}) {
		return nil
	}
	return h[:]
}

// finalVote is the state a batch leaves a current vote in.
type finalVote struct {
	vote      agora.Vote
	at        int64
	cancelled bool
}

// voteBatch collects a batch's vote events: every one for the history, the
// last per key for the current votes.
type voteBatch struct {
	history []any
	keys    []storeutil.VoteKey
	final   map[storeutil.VoteKey]int // index into keys and states
	states  []finalVote
}

func (b *voteBatch) add(ev *agora.Event) {
	v := &ev.Vote
	at := micros(storeutil.OrAt(v.At, ev.At))
	state := finalVote{vote: v.Vote, at: at, cancelled: ev.Kind == agora.EventVoteCancelled}
	var vote any = int64(v.Vote)
	if state.cancelled {
		vote = nil
	}
	b.history = append(b.history, ev.ConversationID, v.OpinionID, v.ParticipantID, vote, at)

	if b.final == nil {
		b.final = make(map[storeutil.VoteKey]int)
	}
	k := storeutil.VoteKey{Conversation: ev.ConversationID, Opinion: v.OpinionID, Participant: v.ParticipantID}
	if i, ok := b.final[k]; ok {
		b.states[i] = state
		return
	}
	b.final[k] = len(b.keys)
	b.keys = append(b.keys, k)
	b.states = append(b.states, state)
}

// write applies the collected votes: the current votes first, so that a
// vote on an unknown opinion or by an unknown participant fails on their
// foreign keys, then the history.
func (b *voteBatch) write(a *applier, ws *writeStatements) error {
	if len(b.keys) == 0 {
		return nil
	}
	order := make([]int, len(b.keys))
	for i := range order {
		order[i] = i
	}
	// In key order, each row's search starts where the last one ended.
	slices.SortFunc(order, func(x, y int) int { return b.keys[x].Compare(b.keys[y]) })
	var upserts, deletes []any
	for _, i := range order {
		k, s := b.keys[i], &b.states[i]
		if s.cancelled {
			deletes = append(deletes, k.Conversation, k.Opinion, k.Participant)
		} else {
			upserts = append(upserts, k.Conversation, k.Opinion, k.Participant, int64(s.vote), s.at)
		}
	}
	if err := ws.upsertVotes.exec(a, upserts); err != nil {
		return err
	}
	if err := ws.deleteVotes.exec(a, deletes); err != nil {
		return err
	}
	return ws.appendHistory.exec(a, b.history)
}

// bulkSizes are the row counts a multi-row statement is prepared for. Any
// count is covered by a few executions of the largest fitting sizes: 1000
// rows take 7+6+8 executions instead of 1000.
var bulkSizes = [...]int{128, 16, 1}

// bulkStatement is one multi-row statement prepared for each of bulkSizes.
type bulkStatement struct {
	width int // parameters per row
	stmts [len(bulkSizes)]*sql.Stmt
}

// exec runs the statement over args, width parameters per row.
func (b *bulkStatement) exec(a *applier, args []any) error {
	for i, size := range bulkSizes {
		n := size * b.width
		for len(args) >= n {
			if _, err := a.exec(b.stmts[i], args[:n]...); err != nil {
				return err
			}
			args = args[n:]
		}
	}
	return nil
}

// preparer prepares statements until the first error, which it keeps.
type preparer struct {
	ctx context.Context
	db  *sql.DB
	err error
}

func (p *preparer) prepare(query string) *sql.Stmt {
	if p.err != nil {
		return nil
	}
	s, err := p.db.PrepareContext(p.ctx, query)
	if err != nil {
		p.err = storeError(err, "prepare")
	}
	return s
}

// bulk prepares a multi-row statement; build receives the VALUES rows.
func (p *preparer) bulk(width int, build func(values string) string) *bulkStatement {
	b := &bulkStatement{width: width}
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + ")"
	for i, size := range bulkSizes {
		b.stmts[i] = p.prepare(build(strings.TrimSuffix(strings.Repeat(row+", ", size), ", ")))
	}
	return b
}

// checkEpochs refuses the batch (EFENCED) when one of its conversations
// has been claimed since its events were stamped: fencing. Conversations
// created in the batch get their first epoch from it and need no check.
func (a *applier) checkEpochs(ws *writeStatements, events []agora.Event) error {
	checked := map[string]bool{}
	for i := range events {
		ev := &events[i]
		if ev.Epoch == 0 || ev.ConversationID == "" || checked[ev.ConversationID] {
			continue
		}
		checked[ev.ConversationID] = true
		if ev.Kind == agora.EventConversationCreated {
			continue
		}
		var epoch int64
		err := a.stmt(ws.epochOf).QueryRowContext(a.ctx, ev.ConversationID).Scan(&epoch)
		if err != nil && err != sql.ErrNoRows {
			return storeError(err, "epoch of "+ev.ConversationID)
		}
		if epoch != ev.Epoch {
			return agora.Errorf(agora.EFENCED, "Conversation %s is owned at epoch %d; the write was stamped %d.", ev.ConversationID, epoch, ev.Epoch)
		}
	}
	return nil
}

// ClaimConversation implements agora.Store.
func (db *DB) ClaimConversation(ctx context.Context, id, node string) (int64, error) {
	var epoch int64
	err := db.write.QueryRowContext(ctx, `UPDATE ownership SET epoch = epoch + 1, owner = ?, claimed_at = ?
		WHERE conversation_id = ? AND EXISTS (SELECT 1 FROM conversations WHERE id = ? AND deleted_at IS NULL)
		RETURNING epoch`, node, time.Now().UnixMicro(), id, id).Scan(&epoch)
	if err == sql.ErrNoRows {
		return 0, agora.Errorf(agora.ENOTFOUND, "Conversation %s not found.", id)
	} else if err != nil {
		return 0, storeError(err, "claim "+id)
	}
	return epoch, nil
}
