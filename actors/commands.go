package actors

import (
	"encoding/base64"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agora-dev/agora"
)

// command is a request to a conversation actor. apply runs on the actor's
// goroutine, alone with the state: it validates, changes the state and
// returns the result for the caller and the events that make the change
// durable. A command that fails must leave the state untouched.
type command interface {
	apply(s *conversation, now time.Time) (result any, events []agora.Event, err error)
	// writes bounds the events apply may return, reserved in the write
	// backlog before apply runs; 0 for reads.
	writes() int
}

// touch advances last_reacted_at to now; it never goes back.
func (s *conversation) touch(now time.Time) {
	if now.After(s.conv.LastReactedAt) {
		s.conv.LastReactedAt = now
	}
}

// countersEvent closes every write with the conversation's absolute
// counters, so the store holds them without ever counting.
func (s *conversation) countersEvent(now time.Time) agora.Event {
	return agora.Event{Kind: agora.EventCounters, ConversationID: s.conv.ID, At: now, Counters: s.conv.Counters}
}

func (s *conversation) live() error {
	if s.deleted {
		return agora.Errorf(agora.ENOTFOUND, "Conversation %s not found.", s.conv.ID)
	}
	return nil
}

// canModerate reports whether the caller may moderate this conversation:
// its author, a moderator, or the admin.
func (s *conversation) canModerate(c agora.Caller) bool {
	return c.IsModerator() || (c.ParticipantID != "" && c.ParticipantID == s.conv.AuthorID)
}

func (s *conversation) requireModerator(c agora.Caller) error {
	if !s.canModerate(c) {
		return agora.Errorf(agora.EFORBIDDEN, "Only the conversation's author or a moderator may do this.")
	}
	return nil
}

func requireParticipant(c agora.Caller) error {
	if c.ParticipantID == "" {
		return agora.Errorf(agora.EFORBIDDEN, "The admin token is not a participant; use a participant token.")
	}
	return nil
}

func (s *conversation) writable() error {
	if s.conv.Locked {
		return agora.Errorf(agora.ELOCKED, "Conversation %s is locked.", s.conv.ID)
	}
	return nil
}

// votable returns the index of an opinion that may be voted on.
func (s *conversation) votable(oid string) (int32, error) {
	o, err := s.opinion(oid)
	if err != nil {
		return 0, err
	}
	if err := s.writable(); err != nil {
		return 0, err
	}
	if st := s.opinions[o].Status; st != agora.StatusVisible {
		return 0, agora.Errorf(agora.EMODERATED, "Opinion %s is %s by moderation.", oid, st)
	}
	return o, nil
}

// announceCreated emits the events of a conversation built in memory by
// the manager: the conversation, its seed opinions and its counters.
type announceCreated struct{ seeds int }

func (c announceCreated) writes() int { return c.seeds + 2 }
func (c announceCreated) apply(s *conversation, now time.Time) (any, []agora.Event, error) {
	events := make([]agora.Event, 0, len(s.opinions)+2)
	events = append(events, agora.Event{Kind: agora.EventConversationCreated, ConversationID: s.conv.ID, At: now, Conversation: s.snapshot()})
	for _, o := range s.opinions {
		op := o.Opinion
		events = append(events, agora.Event{Kind: agora.EventOpinionCreated, ConversationID: s.conv.ID, At: now, Opinion: &op})
	}
	events = append(events, s.countersEvent(now))
	return s.snapshot(), events, nil
}

type getConversation struct{}

func (getConversation) writes() int { return 0 }
func (getConversation) apply(s *conversation, _ time.Time) (any, []agora.Event, error) {
	if err := s.live(); err != nil {
		return nil, nil, err
	}
	return s.snapshot(), nil, nil
}

type deleteConversation struct{ caller agora.Caller }

func (deleteConversation) writes() int { return 1 }
func (c deleteConversation) apply(s *conversation, now time.Time) (any, []agora.Event, error) {
	if err := s.live(); err != nil {
		return nil, nil, err
	}
	if !c.caller.Admin && c.caller.ParticipantID != s.conv.AuthorID {
		return nil, nil, agora.Errorf(agora.EFORBIDDEN, "Only the conversation's author may delete it.")
	}
	s.deleted = true
	return nil, []agora.Event{{Kind: agora.EventConversationDeleted, ConversationID: s.conv.ID, At: now}}, nil
}

type createOpinion struct {
	caller agora.Caller
	text   string
}

func (createOpinion) writes() int { return 3 }
func (c createOpinion) apply(s *conversation, now time.Time) (any, []agora.Event, error) {
	if err := s.live(); err != nil {
		return nil, nil, err
	}
	if err := s.writable(); err != nil {
		return nil, nil, err
	}
	o := agora.Opinion{
		ID:             agora.NewID(10),
		ConversationID: s.conv.ID,
		AuthorID:       c.caller.ParticipantID,
		Text:           c.text,
		CreatedAt:      now,
		Status:         agora.StatusVisible,
	}
	i := s.addOpinion(o)
	s.setVote(c.caller.ParticipantID, i, agora.Agree)
	s.touch(now)
	op := s.opinions[i].Opinion
	return s.view(s.opinions[i]), []agora.Event{
		{Kind: agora.EventOpinionCreated, ConversationID: s.conv.ID, At: now, Opinion: &op},
		{Kind: agora.EventVoteCast, ConversationID: s.conv.ID, At: now, Vote: agora.StoredVote{ParticipantID: c.caller.ParticipantID, OpinionID: o.ID, Vote: agora.Agree, At: now}},
		s.countersEvent(now),
	}, nil
}

type getOpinion struct {
	caller agora.Caller
	oid    string
}

func (getOpinion) writes() int { return 0 }
func (c getOpinion) apply(s *conversation, _ time.Time) (any, []agora.Event, error) {
	if err := s.live(); err != nil {
		return nil, nil, err
	}
	o, err := s.opinion(c.oid)
	if err != nil {
		return nil, nil, err
	}
	if s.opinions[o].Status == agora.StatusHidden && !s.canModerate(c.caller) {
		return nil, nil, agora.Errorf(agora.ENOTFOUND, "Opinion %s not found.", c.oid)
	}
	return s.view(s.opinions[o]), nil, nil
}

type listOpinions struct {
	caller agora.Caller
	q      agora.OpinionQuery
}

func (listOpinions) writes() int { return 0 }
func (c listOpinions) apply(s *conversation, now time.Time) (any, []agora.Event, error) {
	if err := s.live(); err != nil {
		return nil, nil, err
	}
	switch c.q.Sort {
	case agora.SortOpinionsNew, "":
		return s.pageBySeq(c.q, (*opinionState).counted)
	case agora.SortOpinionsModerated:
		return s.pageBySeq(c.q, func(o *opinionState) bool { return !o.Deleted && o.Status == agora.StatusMoved })
	case agora.SortOpinionsHidden:
		if !s.canModerate(c.caller) {
			if c.caller.ParticipantID == "" && !c.caller.Admin {
				return nil, nil, agora.Errorf(agora.EUNAUTHENTICATED, "Listing hidden opinions needs a moderator's token.")
			}
			return nil, nil, agora.Errorf(agora.EFORBIDDEN, "Only moderators may list hidden opinions.")
		}
		return s.pageBySeq(c.q, func(o *opinionState) bool { return !o.Deleted && o.Status == agora.StatusHidden })
	}
	return s.pageByAnalysis(c.q, now)
}

// pageBySeq pages the opinions that keep accepts, newest first; the cursor
// is the Seq to continue from, stable under new opinions.
func (s *conversation) pageBySeq(q agora.OpinionQuery, keep func(*opinionState) bool) (any, []agora.Event, error) {
	from := len(s.opinions) - 1
	if q.Cursor != "" {
		seq, err := decodeCursor('s', q.Cursor)
		if err != nil {
			return nil, nil, err
		}
		from = min(seq, from)
	}
	page := &agora.OpinionPage{Items: []agora.OpinionView{}}
	for i := from; i >= 0; i-- {
		o := s.opinions[i]
		if !keep(o) {
			continue
		}
		if len(page.Items) == q.Limit {
			cur := encodeCursor('s', i)
			page.NextCursor = &cur
			break
		}
		page.Items = append(page.Items, *s.view(o))
	}
	return page, nil, nil
}

// pageByAnalysis pages the visible opinions in an order of the latest
// analysis. Opinions newer than the analysis come first in discover (they
// have the priority of an unseen statement, which is high) and last in the
// other orders.
//
// A new analysis lands every MathInterval while people vote, and reorders:
// a cursor that was an offset into whichever order is current would list
// some opinions twice and skip others. So a page that has a next one pins
// its order (pins), and the cursor names the pin and the offset in it: the
// walk reads one order from its first page to its last, as of that page.
// (An opinion moderated or deleted since is left out; one created since is
// not in it.) A cursor whose pin has gone (evicted, expired, or the actor
// restarted) continues at its offset in the current order.
func (s *conversation) pageByAnalysis(q agora.OpinionQuery, now time.Time) (any, []agora.Event, error) {
	offset := 0
	var pinned *pin
	if q.Cursor != "" {
		id, n, err := decodePinCursor(q.Cursor)
		if err != nil {
			return nil, nil, err
		}
		offset, pinned = n, s.pins.find(id, now)
	}
	var ids orderParts
	if pinned != nil {
		ids = pinned.parts
	} else {
		var err error
		if ids, err = s.analysisOrder(q); err != nil {
			return nil, nil, err
		}
	}
	page := &agora.OpinionPage{Items: []agora.OpinionView{}}
	for i := offset; ; i++ {
		id, ok := ids.at(i)
		if !ok {
			break
		}
		o, ok := s.opinionByID[id]
		if !ok || !s.opinions[o].counted() {
			continue
		}
		if len(page.Items) == q.Limit {
			if pinned == nil {
				pinned = s.pins.add(ids, now)
			}
			cur := encodePinCursor(pinned.id, i)
			page.NextCursor = &cur
			break
		}
		page.Items = append(page.Items, *s.view(s.opinions[o]))
	}
	return page, nil, nil
}

// analysisOrder returns the current order of a math sort.
func (s *conversation) analysisOrder(q agora.OpinionQuery) (orderParts, error) {
	var ids orderParts
	an := s.an
	switch q.Sort {
	case agora.SortOpinionsMajority:
		if an != nil {
			ids = orderParts{an.consensus}
		}
	case agora.SortOpinionsCluster:
		reps, ok := []string(nil), false
		if an != nil {
			reps, ok = an.representatives[q.Cluster]
		}
		if !ok {
			// An id the client holds from an older analysis, or made up:
			// not an empty list, which a group without representative
			// opinions would give.
			return nil, agora.Errorf(agora.EINVALID, "The analysis has no group %d; read the analysis for its groups.", q.Cluster)
		}
		ids = orderParts{reps}
	case agora.SortOpinionsDiscover, agora.SortOpinionsConsensus, agora.SortOpinionsDivisive:
		var fresh []string
		limit := 0
		if an != nil {
			limit = an.seqLimit
		}
		for i := len(s.opinions) - 1; i >= limit; i-- {
			if s.opinions[i].counted() {
				fresh = append(fresh, s.opinions[i].ID)
			}
		}
		var analysed []string
		if an != nil {
			analysed, _ = an.order(q.Sort)
		}
		if q.Sort == agora.SortOpinionsDiscover {
			// The newer opinions have the priority of an unseen statement:
			// they go before the analysed ones of a lower priority.
			k := sort.Search(len(analysed), func(i int) bool {
				seq, ok := s.opinionByID[analysed[i]]
				return ok && an.priority(int(seq)) < defaultPriority
			})
			ids = orderParts{analysed[:k], fresh, analysed[k:]}
		} else {
			ids = orderParts{analysed, fresh}
		}
	default:
		return nil, agora.Errorf(agora.EINVALID, "Unknown sort %q.", q.Sort)
	}
	return ids, nil
}

// pin is an order of a math sort held for the cursors that page through
// it. Its parts are the analysis' immutable arrays (and the list of newer
// opinions made for it), so a pin costs a reference, and keeps that array
// alive until it goes: at most maxPins per conversation, for pinTTL.
type pin struct {
	id    uint64
	parts orderParts
	at    time.Time // last used
}

type pins []*pin

const (
	maxPins = 16
	pinTTL  = 10 * time.Minute
)

// find returns the live pin id, nil when there is none.
func (ps *pins) find(id uint64, now time.Time) *pin {
	for _, p := range *ps {
		if p.id == id && now.Sub(p.at) < pinTTL {
			p.at = now
			return p
		}
	}
	return nil
}

// add pins parts, replacing the least recently used pin when maxPins are
// held. Ids are random, so that a cursor of an earlier incarnation of the
// conversation names no pin of this one.
func (ps *pins) add(parts orderParts, now time.Time) *pin {
	p := &pin{id: rand.Uint64(), parts: parts, at: now}
	// Expired pins go first: they would keep their orders alive for nothing.
	*ps = slices.DeleteFunc(*ps, func(q *pin) bool { return now.Sub(q.at) >= pinTTL })
	if len(*ps) < maxPins {
		*ps = append(*ps, p)
		return p
	}
	oldest := 0
	for i, q := range *ps {
		if q.at.Before((*ps)[oldest].at) {
			oldest = i
		}
	}
	(*ps)[oldest] = p
	return p
}

// encodePinCursor is a math sort's cursor: a pin and the offset in it.
func encodePinCursor(id uint64, offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("p" + strconv.FormatUint(id, 36) + "." + strconv.Itoa(offset)))
}

// decodePinCursor reads a math sort's cursor. The offsets of the cursors
// made before the pins ('o') read as offsets into the current order.
func decodePinCursor(c string) (uint64, int, error) {
	if n, err := decodeCursor('o', c); err == nil {
		return 0, n, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil && len(b) > 1 && b[0] == 'p' {
		if id, off, ok := strings.Cut(string(b[1:]), "."); ok {
			pid, err1 := strconv.ParseUint(id, 36, 64)
			n, err2 := strconv.Atoi(off)
			if err1 == nil && err2 == nil && n >= 0 {
				return pid, n, nil
			}
		}
	}
	return 0, 0, agora.Errorf(agora.EINVALID, "Malformed cursor.")
}

// orderParts is an order of opinion ids made of consecutive parts, read by
// position without joining them: a page of a math sort costs its own
// length on the actor, not a copy of every opinion of the conversation.
type orderParts [][]string

// at returns the id at position i of the order.
func (p orderParts) at(i int) (string, bool) {
	for _, part := range p {
		if i < len(part) {
			return part[i], true
		}
		i -= len(part)
	}
	return "", false
}

func encodeCursor(kind byte, n int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(string(kind) + strconv.Itoa(n)))
}

func decodeCursor(kind byte, c string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil && len(b) > 1 && b[0] == kind {
		if n, err := strconv.Atoi(string(b[1:])); err == nil && n >= 0 {
			return n, nil
		}
	}
	return 0, agora.Errorf(agora.EINVALID, "Malformed cursor.")
}

type deleteOpinion struct {
	caller agora.Caller
	oid    string
}

func (deleteOpinion) writes() int { return 2 }
func (c deleteOpinion) apply(s *conversation, now time.Time) (any, []agora.Event, error) {
	if err := s.live(); err != nil {
		return nil, nil, err
	}
	o, err := s.opinion(c.oid)
	if err != nil {
		return nil, nil, err
	}
	if !c.caller.IsModerator() && c.caller.ParticipantID != s.opinions[o].AuthorID {
		return nil, nil, agora.Errorf(agora.EFORBIDDEN, "Only the opinion's author or a moderator may delete it.")
	}
	s.deleteOpinion(o)
	return nil, []agora.Event{
		{Kind: agora.EventOpinionDeleted, ConversationID: s.conv.ID, At: now, Opinion: &agora.Opinion{ID: c.oid, ConversationID: s.conv.ID}},
		s.countersEvent(now),
	}, nil
}

type nextOpinion struct{ caller agora.Caller }

func (nextOpinion) writes() int { return 0 }
func (c nextOpinion) apply(s *conversation, _ time.Time) (any, []agora.Event, error) {
	if err := s.live(); err != nil {
		return nil, nil, err
	}
	// Polis routing: draw among the caller's unvoted visible opinions with
	// probability proportional to their priority. Before the first analysis
	// every opinion has the same priority, so the draw is uniform.
	var row *voterRow
	if vi, ok := s.voterByID[c.caller.ParticipantID]; ok {
		row = &s.voters[vi]
	}
	unvoted := func(seq int) bool {
		if row == nil {
			return true
		}
		_, voted := row.find(int32(seq))
		return !voted
	}
	// From the routing tree, drawing again when the draw is an opinion the
	// caller voted on; after routingTries such draws (they voted on most of
	// the weight), one exact pass over every opinion. Either way the pick
	// is proportional to the priorities of the unvoted opinions.
	r := s.routingTree()
	if total := r.total(); total > 0 {
		for range routingTries {
			seq := r.draw(rand.Float64() * total)
			if seq >= 0 && r.w[seq] > 0 && unvoted(seq) {
				return s.view(s.opinions[seq]), nil, nil
			}
		}
	}
	// Weighted reservoir sampling: one pass, no copy.
	pick, total := -1, 0.0
	for seq, w := range r.w {
		if w == 0 || !unvoted(seq) {
			continue
		}
		total += w
		if rand.Float64()*total < w {
			pick = seq
		}
	}
	if pick < 0 {
		return (*agora.OpinionView)(nil), nil, nil
	}
	return s.view(s.opinions[pick]), nil, nil
}

// routingTries bounds the draws from the routing tree before the exact
// pass over every opinion.
const routingTries = 32

type castVote struct {
	caller agora.Caller
	oid    string
	vote   agora.Vote
}

func (castVote) writes() int { return 2 }
func (c castVote) apply(s *conversation, now time.Time) (any, []agora.Event, error) {
	if err := s.live(); err != nil {
		return nil, nil, err
	}
	o, err := s.votable(c.oid)
	if err != nil {
		return nil, nil, err
	}
	res := &agora.VoteResult{OpinionID: c.oid, Vote: c.vote}
	if !s.setVote(c.caller.ParticipantID, o, c.vote) {
		return res, nil, nil
	}
	res.Changed = true
	s.touch(now)
	return res, []agora.Event{
		{Kind: agora.EventVoteCast, ConversationID: s.conv.ID, At: now, Vote: agora.StoredVote{ParticipantID: c.caller.ParticipantID, OpinionID: c.oid, Vote: c.vote, At: now}},
		s.countersEvent(now),
	}, nil
}

type cancelVote struct {
	caller agora.Caller
	oid    string
}

func (cancelVote) writes() int { return 2 }
func (c cancelVote) apply(s *conversation, now time.Time) (any, []agora.Event, error) {
	if err := s.live(); err != nil {
		return nil, nil, err
	}
	o, err := s.votable(c.oid)
	if err != nil {
		return nil, nil, err
	}
	if !s.cancelVote(c.caller.ParticipantID, o) {
		return nil, nil, nil
	}
	s.touch(now)
	return nil, []agora.Event{
		{Kind: agora.EventVoteCancelled, ConversationID: s.conv.ID, At: now, Vote: agora.StoredVote{ParticipantID: c.caller.ParticipantID, OpinionID: c.oid, At: now}},
		s.countersEvent(now),
	}, nil
}

type myVotes struct{ caller agora.Caller }

func (myVotes) writes() int { return 0 }
func (c myVotes) apply(s *conversation, _ time.Time) (any, []agora.Event, error) {
	if err := s.live(); err != nil {
		return nil, nil, err
	}
	votes := []agora.VoteEntry{}
	if vi, ok := s.voterByID[c.caller.ParticipantID]; ok {
		for _, cell := range s.voters[vi].cells {
			if o := s.opinions[cell.opinion]; !o.Deleted {
				votes = append(votes, agora.VoteEntry{OpinionID: o.ID, Vote: cell.vote})
			}
		}
	}
	return votes, nil, nil
}

type lockConversation struct {
	caller agora.Caller
	in     *agora.LockInput // nil unlocks
}

func (lockConversation) writes() int { return 1 }
func (c lockConversation) apply(s *conversation, now time.Time) (any, []agora.Event, error) {
	if err := s.live(); err != nil {
		return nil, nil, err
	}
	if err := s.requireModerator(c.caller); err != nil {
		return nil, nil, err
	}
	if c.in == nil {
		if !s.conv.Locked {
			return s.snapshot(), nil, nil
		}
		s.conv.Locked, s.conv.Lock = false, nil
		return s.snapshot(), []agora.Event{{Kind: agora.EventUnlocked, ConversationID: s.conv.ID, At: now}}, nil
	}
	l := &agora.Lock{Reason: c.in.Reason, Explanation: c.in.Explanation, At: now}
	if s.conv.Locked && s.conv.Lock.Reason == l.Reason && s.conv.Lock.Explanation == l.Explanation {
		return s.snapshot(), nil, nil // PUT is idempotent
	}
	s.conv.Locked, s.conv.Lock = true, l
	lc := *l
	return s.snapshot(), []agora.Event{{Kind: agora.EventLocked, ConversationID: s.conv.ID, At: now, Lock: &lc}}, nil
}

type moderateOpinion struct {
	caller agora.Caller
	oid    string
	in     *agora.ModerationInput // nil withdraws the moderation
}

func (moderateOpinion) writes() int { return 2 }
func (c moderateOpinion) apply(s *conversation, now time.Time) (any, []agora.Event, error) {
	if err := s.live(); err != nil {
		return nil, nil, err
	}
	o, err := s.opinion(c.oid)
	if err != nil {
		return nil, nil, err
	}
	if err := s.requireModerator(c.caller); err != nil {
		return nil, nil, err
	}
	op := s.opinions[o]
	status, m := agora.StatusVisible, (*agora.Moderation)(nil)
	if c.in != nil {
		status = c.in.Action.Status()
		m = &agora.Moderation{Reason: c.in.Reason, Explanation: c.in.Explanation, At: now}
		if op.Status == status && op.Moderation.Reason == m.Reason && op.Moderation.Explanation == m.Explanation {
			return s.view(op), nil, nil // PUT is idempotent
		}
	} else if op.Status == agora.StatusVisible {
		return s.view(op), nil, nil
	}
	s.setStatus(o, status, m)
	ev := agora.Opinion{ID: op.ID, ConversationID: s.conv.ID, Status: status}
	if m != nil {
		mc := *m
		ev.Moderation = &mc
	}
	return s.view(op), []agora.Event{
		{Kind: agora.EventOpinionModerated, ConversationID: s.conv.ID, At: now, Opinion: &ev},
		s.countersEvent(now),
	}, nil
}
