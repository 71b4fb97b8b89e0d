package postgres

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/persist/internal/storeutil"
)

// Apply commits a batch of events in one transaction, all or nothing. It
// returns EINVALID for a malformed event or a violated constraint (the
// batch can never commit), EFENCED when a conversation of the batch was
// claimed since its events were stamped, and EUNAVAILABLE when the server
// cannot be reached, fails over or the context ends; nothing is committed
// then, or, when the connection broke during COMMIT, the outcome is
// settled on the retry (see doubts).
//
// The final state equals applying the events one by one in order (for
// every order an actor emits: a row is created before it changes), but the
// work is regrouped into one multi-row statement per kind of change, each
// over unnest(...) of parameter arrays:
//   - creations (participants, conversations with their ownership rows,
//     opinions) first, since every other change refers to their rows;
//   - then the changes of existing rows, which set absolute values: for
//     each row the last event wins (role, lock, moderation), or the first
//     for a deletion, which keeps its first time;
//   - the references of the upserted votes checked in bulk (the votes
//     have no foreign keys, see migration 0004), then the current votes
//     reduced to the last event per (conversation, opinion, participant),
//     upserted or deleted in key order;
//   - the vote history, every vote event in order;
//   - the counters, absolute, the last per conversation.
//
// These statements travel in one pipelined batch behind the epoch check,
// then COMMIT: two round trips whatever the batch holds. (The history used
// to follow with COPY, two more round trips; one INSERT over unnest costs
// PostgreSQL the same CPU per row, measured.)
func (db *DB) Apply(ctx context.Context, events []agora.Event) error {
	if len(events) == 0 {
		return nil
	}
	if err := agora.CheckEvents(events); err != nil {
		return err
	}
	if settled, err := db.doubts.settle(ctx, db.pool, events); settled || err != nil {
		return err
	}
	f := newFlush(events)

	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return storeError(err, "connect")
	}
	defer conn.Release()
	xid, err := f.run(ctx, conn.Conn())
	if err == nil {
		return nil
	}
	if errors.Is(err, errCommitUnknown) {
		db.doubts.add(events, xid)
	}
	rollback(conn.Conn())
	return err
}

// errCommitUnknown marks a COMMIT whose answer was lost: the transaction
// may have committed.
var errCommitUnknown = errors.New("the connection broke during COMMIT; the outcome is unknown")

// rollback ends a failed transaction so that the connection goes back to
// the pool clean; a connection it cannot clean is closed, and the pool
// replaces it.
func rollback(conn *pgx.Conn) {
	if conn.IsClosed() || conn.PgConn().TxStatus() == 'I' {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		_ = conn.Close(ctx)
	}
}

// The statements of a flush. Each names its arrays' types, so that the
// planner knows them before it sees a value.
const (
	sqlBegin = `BEGIN ISOLATION LEVEL READ COMMITTED`
	sqlXID   = `SELECT pg_current_xact_id()::text`
	sqlFence = `SELECT agora_check_epochs($1::text[], $2::bigint[])`

	sqlInsertParticipants = `INSERT INTO participants (id, token_hash, display_name, role, created_at, external_id)
		SELECT * FROM unnest($1::text[], $2::bytea[], $3::text[], $4::text[], $5::timestamptz[], $6::text[])`
	sqlInsertConversations = `INSERT INTO conversations (id, title, body, author_id, created_at, is_indexed,
		lock_reason, lock_explanation, locked_at, opinion_count, vote_count, participant_count, last_reacted_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::boolean[],
		$7::text[], $8::text[], $9::timestamptz[], $10::integer[], $11::integer[], $12::integer[], $13::timestamptz[])`
	sqlInsertOwnership = `INSERT INTO ownership (conversation_id, epoch, claimed_at)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[])`
	sqlInsertOpinions = `INSERT INTO opinions (id, conversation_id, seq, author_id, text, created_at, is_seed, status,
		moderation_reason, moderation_explanation, moderated_at, deleted_at, external_id)
		SELECT * FROM unnest($1::text[], $2::text[], $3::integer[], $4::text[], $5::text[], $6::timestamptz[],
		$7::boolean[], $8::text[], $9::text[], $10::text[], $11::timestamptz[], $12::timestamptz[], $13::text[])`

	sqlSetRoles = `UPDATE participants p SET role = u.role
		FROM unnest($1::text[], $2::text[]) AS u (id, role) WHERE p.id = u.id`
	sqlDeleteConversations = `UPDATE conversations c SET deleted_at = u.at
		FROM unnest($1::text[], $2::timestamptz[]) AS u (id, at) WHERE c.id = u.id AND c.deleted_at IS NULL`
	sqlSetLocks = `UPDATE conversations c SET lock_reason = u.reason, lock_explanation = u.explanation, locked_at = u.at
		FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS u (id, reason, explanation, at)
		WHERE c.id = u.id`
	sqlModerateOpinions = `UPDATE opinions o SET status = u.status, moderation_reason = u.reason,
		moderation_explanation = u.explanation, moderated_at = u.at
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS u (id, status, reason, explanation, at)
		WHERE o.id = u.id`
	sqlDeleteOpinions = `UPDATE opinions o SET deleted_at = u.at
		FROM unnest($1::text[], $2::timestamptz[]) AS u (id, at) WHERE o.id = u.id AND o.deleted_at IS NULL`

	// The votes have no foreign keys (see migration 0004): this checks the
	// references of the votes a flush upserts, once per distinct opinion and
	// participant, before they are written.
	sqlCheckVoteRefs = `SELECT agora_check_vote_refs($1::text[], $2::text[], $3::text[])`
	sqlUpsertVotes   = `INSERT INTO votes (conversation_id, opinion_id, participant_id, vote, updated_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[], $5::timestamptz[])
		ON CONFLICT (conversation_id, opinion_id, participant_id)
		DO UPDATE SET vote = excluded.vote, updated_at = excluded.updated_at`
	sqlDeleteVotes = `DELETE FROM votes v USING unnest($1::text[], $2::text[], $3::text[]) AS u (c, o, p)
		WHERE v.conversation_id = u.c AND v.opinion_id = u.o AND v.participant_id = u.p`
	sqlAppendHistory = `INSERT INTO vote_history (conversation_id, opinion_id, participant_id, vote, at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[], $5::timestamptz[])`
	// A NULL time (an unset LastReactedAt) keeps the stored one: the time
	// is never unknown once the conversation exists.
	sqlSetCounters = `UPDATE conversations c SET opinion_count = u.opinions, vote_count = u.votes,
		participant_count = u.voters, last_reacted_at = coalesce(u.at, c.last_reacted_at)
		FROM unnest($1::text[], $2::integer[], $3::integer[], $4::integer[], $5::timestamptz[])
		AS u (id, opinions, votes, voters, at) WHERE c.id = u.id`
)

// historyColumns are the columns an import's COPY fills; id comes from its
// identity.
var historyColumns = []string{"conversation_id", "opinion_id", "participant_id", "vote", "at"}

// flush is one Apply's events regrouped into parameter arrays, one set per
// statement.
type flush struct {
	fence struct {
		ids    []string
		epochs []int64
	}
	participants struct {
		ids, names, roles []string
		hashes            [][]byte
		created           []time.Time
		external          []*string
	}
	conversations struct {
		ids, titles, bodies, authors []string
		created, lastReacted         []time.Time
		indexed                      []bool
		lockReasons, lockExpls       []*string
		lockedAt                     []*time.Time
		opinions, votes, voters      []int32
		epochs                       []int64
	}
	opinions struct {
		ids, cids, authors, texts, statuses []string
		seqs                                []int32
		created                             []time.Time
		seeds                               []bool
		reasons, explanations, external     []*string
		moderatedAt, deletedAt              []*time.Time
	}
	roles                 ordered[string, string]
	conversationDeletions ordered[string, time.Time]
	locks                 ordered[string, *agora.Lock]
	moderations           ordered[string, *agora.Opinion]
	opinionDeletions      ordered[string, time.Time]
	votes                 ordered[storeutil.VoteKey, finalVote]
	counters              ordered[string, agora.Counters]
	history               struct {
		cids, oids, pids []string
		votes            []*int16
		at               []time.Time
	}
}

// finalVote is the state a batch leaves a current vote in.
type finalVote struct {
	vote      agora.Vote
	at        time.Time
	cancelled bool
}

// ordered keeps one value per key in the order keys first appeared, for
// the changes where the last (set) or the first (setFirst) event of a row
// decides.
type ordered[K comparable, V any] struct {
	index map[K]int
	keys  []K
	vals  []V
}

func (o *ordered[K, V]) set(k K, v V) {
	if i, ok := o.index[k]; ok {
		o.vals[i] = v
		return
	}
	o.setFirst(k, v)
}

func (o *ordered[K, V]) setFirst(k K, v V) {
	if o.index == nil {
		o.index = make(map[K]int)
	}
	if _, ok := o.index[k]; ok {
		return
	}
	o.index[k] = len(o.keys)
	o.keys = append(o.keys, k)
	o.vals = append(o.vals, v)
}

// newFlush regroups events, which checkEvents has accepted.
func newFlush(events []agora.Event) *flush {
	f := &flush{}
	f.collectFence(events)
	for i := range events {
		ev := &events[i]
		switch ev.Kind {
		case agora.EventParticipantCreated:
			f.addParticipant(ev)
		case agora.EventRoleChanged:
			f.roles.set(ev.Participant.ID, string(ev.Participant.Role))
		case agora.EventConversationCreated:
			f.addConversation(ev)
		case agora.EventConversationDeleted:
			f.conversationDeletions.setFirst(ev.ConversationID, ev.At)
		case agora.EventLocked:
			l := *ev.Lock
			l.At = storeutil.OrAt(l.At, ev.At)
			f.locks.set(ev.ConversationID, &l)
		case agora.EventUnlocked:
			f.locks.set(ev.ConversationID, nil)
		case agora.EventOpinionCreated:
			f.addOpinion(ev)
		case agora.EventOpinionModerated:
			o := *ev.Opinion
			if o.Moderation != nil {
				m := *o.Moderation
				m.At = storeutil.OrAt(m.At, ev.At)
				o.Moderation = &m
			}
			f.moderations.set(o.ID, &o)
		case agora.EventOpinionDeleted:
			f.opinionDeletions.setFirst(ev.Opinion.ID, ev.At)
		case agora.EventVoteCast, agora.EventVoteCancelled:
			f.addVote(ev)
		case agora.EventCounters:
			f.counters.set(ev.ConversationID, ev.Counters)
		}
	}
	return f
}

// collectFence lists the conversations whose epoch the flush must check:
// each conversation by the first event that carries an epoch, except those
// that event creates, which get their first epoch from it. This is the
// rule of the SQLite store's checkEpochs.
func (f *flush) collectFence(events []agora.Event) {
	seen := map[string]bool{}
	for i := range events {
		ev := &events[i]
		if ev.Epoch == 0 || ev.ConversationID == "" || seen[ev.ConversationID] {
			continue
		}
		seen[ev.ConversationID] = true
		if ev.Kind != agora.EventConversationCreated {
			f.fence.ids = append(f.fence.ids, ev.ConversationID)
			f.fence.epochs = append(f.fence.epochs, ev.Epoch)
		}
	}
}

func (f *flush) addParticipant(ev *agora.Event) {
	p, a := ev.Participant, &f.participants
	var hash []byte
	if p.TokenHash != ([32]byte{}) {
		// An imported participant's zero hash is stored as NULL, which no
		// lookup matches and UNIQUE lets many rows share.
		hash = p.TokenHash[:]
	}
	a.ids = append(a.ids, p.ID)
	a.hashes = append(a.hashes, hash)
	a.names = append(a.names, encodeText(p.DisplayName))
	a.roles = append(a.roles, storeutil.Role(p))
	a.created = append(a.created, storeutil.OrAt(p.CreatedAt, ev.At))
	a.external = append(a.external, nullText(p.ExternalID))
}

func (f *flush) addConversation(ev *agora.Event) {
	c, a := ev.Conversation, &f.conversations
	created := storeutil.OrAt(c.CreatedAt, ev.At)
	var reason, explanation *string
	var lockedAt *time.Time
	if c.Lock != nil {
		r, e, at := string(c.Lock.Reason), encodeText(c.Lock.Explanation), storeutil.OrAt(c.Lock.At, ev.At)
		reason, explanation, lockedAt = &r, &e, &at
	}
	a.ids = append(a.ids, c.ID)
	a.titles = append(a.titles, encodeText(c.Title))
	a.bodies = append(a.bodies, encodeText(c.Body))
	a.authors = append(a.authors, c.AuthorID)
	a.created = append(a.created, created)
	a.indexed = append(a.indexed, c.IsIndexed)
	a.lockReasons = append(a.lockReasons, reason)
	a.lockExpls = append(a.lockExpls, explanation)
	a.lockedAt = append(a.lockedAt, lockedAt)
	a.opinions = append(a.opinions, int32(c.OpinionCount))
	a.votes = append(a.votes, int32(c.VoteCount))
	a.voters = append(a.voters, int32(c.ParticipantCount))
	a.lastReacted = append(a.lastReacted, storeutil.OrAt(c.LastReactedAt, created))
	a.epochs = append(a.epochs, max(ev.Epoch, 1))
}

func (f *flush) addOpinion(ev *agora.Event) {
	o, a := ev.Opinion, &f.opinions
	cid := o.ConversationID
	if cid == "" {
		cid = ev.ConversationID
	}
	status, reason, explanation, at := moderationArgs(o, ev.At)
	var deleted *time.Time
	if o.Deleted {
		deleted = &ev.At
	}
	a.ids = append(a.ids, o.ID)
	a.cids = append(a.cids, cid)
	a.seqs = append(a.seqs, int32(o.Seq))
	a.authors = append(a.authors, o.AuthorID)
	a.texts = append(a.texts, encodeText(o.Text))
	a.created = append(a.created, storeutil.OrAt(o.CreatedAt, ev.At))
	a.seeds = append(a.seeds, o.IsSeed)
	a.statuses = append(a.statuses, status)
	a.reasons = append(a.reasons, reason)
	a.explanations = append(a.explanations, explanation)
	a.moderatedAt = append(a.moderatedAt, at)
	a.deletedAt = append(a.deletedAt, deleted)
	a.external = append(a.external, nullText(o.ExternalID))
}

// addVote records a vote event in the history and as the latest state of
// its current vote.
func (f *flush) addVote(ev *agora.Event) {
	v := &ev.Vote
	at := storeutil.OrAt(v.At, ev.At)
	state := finalVote{vote: v.Vote, at: at, cancelled: ev.Kind == agora.EventVoteCancelled}
	var vote *int16
	if !state.cancelled {
		n := int16(v.Vote)
		vote = &n
	}
	h := &f.history
	h.cids = append(h.cids, ev.ConversationID)
	h.oids = append(h.oids, v.OpinionID)
	h.pids = append(h.pids, v.ParticipantID)
	h.votes = append(h.votes, vote)
	h.at = append(h.at, at)
	f.votes.set(storeutil.VoteKey{Conversation: ev.ConversationID, Opinion: v.OpinionID, Participant: v.ParticipantID}, state)
}

// moderationArgs encodes an opinion's status and moderation; a visible
// opinion has no moderation, whatever the event carries.
func moderationArgs(o *agora.Opinion, at time.Time) (status string, reason, explanation *string, modAt *time.Time) {
	status = string(o.Status)
	if status == "" {
		status = string(agora.StatusVisible)
	}
	if o.Status == agora.StatusVisible || o.Moderation == nil {
		return status, nil, nil, nil
	}
	m := o.Moderation
	r, e, t := string(m.Reason), encodeText(m.Explanation), storeutil.OrAt(m.At, at)
	return status, &r, &e, &t
}

// statement is one queued statement and what to call it in an error.
type statement struct {
	op   string
	sql  string
	args []any
}

// statements returns the flush's statements in the order they must run;
// a kind of change with no rows has none.
func (f *flush) statements() []statement {
	var out []statement
	add := func(n int, op, sql string, args ...any) {
		if n > 0 {
			out = append(out, statement{op, sql, args})
		}
	}
	add(len(f.fence.ids), "check epochs", sqlFence, f.fence.ids, f.fence.epochs)
	p := &f.participants
	add(len(p.ids), "insert participants", sqlInsertParticipants, p.ids, p.hashes, p.names, p.roles, p.created, p.external)
	c := &f.conversations
	add(len(c.ids), "insert conversations", sqlInsertConversations, c.ids, c.titles, c.bodies, c.authors, c.created,
		c.indexed, c.lockReasons, c.lockExpls, c.lockedAt, c.opinions, c.votes, c.voters, c.lastReacted)
	add(len(c.ids), "insert ownership", sqlInsertOwnership, c.ids, c.epochs, c.created)
	o := &f.opinions
	add(len(o.ids), "insert opinions", sqlInsertOpinions, o.ids, o.cids, o.seqs, o.authors, o.texts, o.created,
		o.seeds, o.statuses, o.reasons, o.explanations, o.moderatedAt, o.deletedAt, o.external)

	add(len(f.roles.keys), "set roles", sqlSetRoles, f.roles.keys, f.roles.vals)
	add(len(f.conversationDeletions.keys), "delete conversations", sqlDeleteConversations,
		f.conversationDeletions.keys, f.conversationDeletions.vals)
	if n := len(f.locks.keys); n > 0 {
		reasons, expls, ats := make([]*string, n), make([]*string, n), make([]*time.Time, n)
		for i, l := range f.locks.vals {
			if l != nil {
				r, e, at := string(l.Reason), encodeText(l.Explanation), l.At
				reasons[i], expls[i], ats[i] = &r, &e, &at
			}
		}
		add(n, "set locks", sqlSetLocks, f.locks.keys, reasons, expls, ats)
	}
	if n := len(f.moderations.keys); n > 0 {
		statuses := make([]string, n)
		reasons, expls, ats := make([]*string, n), make([]*string, n), make([]*time.Time, n)
		for i, o := range f.moderations.vals {
			statuses[i], reasons[i], expls[i], ats[i] = moderationArgs(o, time.Time{})
		}
		add(n, "moderate opinions", sqlModerateOpinions, f.moderations.keys, statuses, reasons, expls, ats)
	}
	add(len(f.opinionDeletions.keys), "delete opinions", sqlDeleteOpinions, f.opinionDeletions.keys, f.opinionDeletions.vals)

	out = append(out, f.voteStatements()...)
	h := &f.history
	add(len(h.cids), "append vote history", sqlAppendHistory, h.cids, h.oids, h.pids, h.votes, h.at)

	if n := len(f.counters.keys); n > 0 {
		opinions, votes, voters := make([]int32, n), make([]int32, n), make([]int32, n)
		ats := make([]*time.Time, n)
		for i, c := range f.counters.vals {
			opinions[i], votes[i], voters[i] = int32(c.OpinionCount), int32(c.VoteCount), int32(c.ParticipantCount)
			if !c.LastReactedAt.IsZero() {
				at := c.LastReactedAt
				ats[i] = &at
			}
		}
		add(n, "set counters", sqlSetCounters, f.counters.keys, opinions, votes, voters, ats)
	}
	return out
}

// voteStatements upserts and deletes the current votes, in key order so
// that each row's search starts where the previous one ended and two
// writers lock rows in one order.
func (f *flush) voteStatements() []statement {
	n := len(f.votes.keys)
	if n == 0 {
		return nil
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int { return f.votes.keys[x].Compare(f.votes.keys[y]) })
	var up struct {
		cids, oids, pids []string
		votes            []int16
		at               []time.Time
	}
	var del struct{ cids, oids, pids []string }
	for _, i := range order {
		k := f.votes.keys[i]
		cid, oid, pid := k.Conversation, k.Opinion, k.Participant
		if s := f.votes.vals[i]; s.cancelled {
			del.cids, del.oids, del.pids = append(del.cids, cid), append(del.oids, oid), append(del.pids, pid)
		} else {
			up.cids, up.oids, up.pids = append(up.cids, cid), append(up.oids, oid), append(up.pids, pid)
			up.votes, up.at = append(up.votes, int16(s.vote)), append(up.at, s.at)
		}
	}
	var out []statement
	if len(up.cids) > 0 {
		refs := voteRefs(up.cids, up.oids, up.pids)
		out = append(out, statement{"check vote references", sqlCheckVoteRefs, refs})
		out = append(out, statement{"upsert votes", sqlUpsertVotes, []any{up.cids, up.oids, up.pids, up.votes, up.at}})
	}
	if len(del.cids) > 0 {
		out = append(out, statement{"delete votes", sqlDeleteVotes, []any{del.cids, del.oids, del.pids}})
	}
	return out
}

// voteRefs returns the arguments of sqlCheckVoteRefs for votes in key
// order: the distinct (conversation, opinion) pairs, adjacent in that
// order, and the distinct participants.
func voteRefs(cids, oids, pids []string) []any {
	var rc, ro []string
	for i := range cids {
		if n := len(rc); n == 0 || rc[n-1] != cids[i] || ro[n-1] != oids[i] {
			rc, ro = append(rc, cids[i]), append(ro, oids[i])
		}
	}
	seen := make(map[string]struct{}, len(pids))
	rp := make([]string, 0, len(pids))
	for _, p := range pids {
		if _, ok := seen[p]; !ok {
			seen[p] = struct{}{}
			rp = append(rp, p)
		}
	}
	return []any{rc, ro, rp}
}

// run executes the flush on conn: BEGIN, the transaction id and every
// statement in one pipelined batch, then COMMIT. It returns the
// transaction id, which settles a COMMIT whose answer was lost
// (errCommitUnknown). On any other error the transaction is still open or
// aborted, and the caller rolls it back.
func (f *flush) run(ctx context.Context, conn *pgx.Conn) (xid string, err error) {
	stmts := f.statements()
	b := &pgx.Batch{}
	b.Queue(sqlBegin)
	b.Queue(sqlXID)
	for _, s := range stmts {
		b.Queue(s.sql, s.args...)
	}
	br := conn.SendBatch(ctx, b)
	err = func() error {
		if _, err := br.Exec(); err != nil {
			return storeError(err, "begin")
		}
		if err := br.QueryRow().Scan(&xid); err != nil {
			return storeError(err, "transaction id")
		}
		for _, s := range stmts {
			if _, err := br.Exec(); err != nil {
				return storeError(err, s.op)
			}
		}
		return nil
	}()
	if cerr := br.Close(); err == nil && cerr != nil {
		err = storeError(cerr, "flush")
	}
	if err != nil {
		return xid, err
	}

	if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			// The server may have committed before the answer was lost.
			return xid, storeError(errors.Join(errCommitUnknown, err), "commit")
		}
		return xid, storeError(err, "commit")
	}
	return xid, nil
}

// nullText encodes an optional free text: the empty string is NULL.
func nullText(s string) *string {
	if s == "" {
		return nil
	}
	s = encodeText(s)
	return &s
}
