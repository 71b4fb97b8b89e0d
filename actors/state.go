package actors

import (
	"cmp"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/agora-dev/agora"
)

// conversation is the in-memory state of one conversation. It is owned by
// its actor's goroutine: nothing else reads or writes it, and what leaves
// the actor is a copy.
type conversation struct {
	conv    agora.Conversation // counters included
	deleted bool

	opinions    []*opinionState // indexed by Seq
	opinionByID map[string]int32
	pins        pins // the orders math-sort cursors page through (pageByAnalysis)
	// Columns of the opinions by Seq, kept beside s.opinions so that the
	// passes over every opinion (the math's snapshot, the rebuild of the
	// routing tree) read contiguous memory, not one heap object per
	// opinion: 6 ms of the snapshot's 12 ms at 270,000 opinions.
	liveIDs      []string // the id, "" once deleted
	countedBySeq []bool   // opinionState.counted
	extIDs       []string // the external id, "" once deleted; nil until an opinion has one
	extLive      int      // live opinions with an external id
	metaSeqs     []int32  // the meta statements
	// The math's snapshot shares the columns above (and the voters' rows)
	// instead of copying them: a column is copied before an in-place
	// change while the latest snapshot may read it (its flag is set), and
	// a row while its gen is older than snapGen, the number of snapshots
	// taken. Appends need no copy: a snapshot only sees the part that
	// existed when it was taken.
	liveShared, countedShared, extShared bool
	snapGen                              uint64

	// voters is the vote set and the compact vote matrix at once: one row
	// per participant who ever voted, its cells sorted by opinion index, so
	// a row is a sparse row of the participants x opinions matrix the math
	// reads, and a lookup is a binary search in a short slice.
	voters []voterRow
	// voterIDs holds each voter's id, by voter index. Ids are only ever
	// appended (the load orders them once, before any snapshot), so a
	// snapshot shares the column as it is (capped at its length) without
	// copying it.
	voterIDs  []string
	voterByID map[string]int32
	// loadFirst holds, while the conversation loads, each voter's earliest
	// current-vote time (Unix µs) by voter index: finishLoad orders the
	// voters by it, then drops it.
	loadFirst []int64

	// version counts the changes that matter to the math (votes and
	// moderation), so the math knows when a new analysis is due.
	version uint64
	// an is the latest analysis (nil before the first).
	an *analysis
	// routing draws the next opinion of a participant (see routing.go).
	routing routing
}

type opinionState struct {
	agora.Opinion
	tally agora.Tally
}

// counted reports whether the opinion and its votes are in the counters:
// neither deleted nor moderated.
func (o *opinionState) counted() bool {
	return !o.Deleted && o.Status == agora.StatusVisible
}

type voterRow struct {
	cells []voteCell
	// counted is the number of the row's votes on counted opinions; the
	// participant is in participant_count while it is positive.
	counted int32
	// gen is the conversation's snapGen when cells was last copied: cells
	// may be shared with a snapshot while gen is older.
	gen uint64
}

// own makes the row's cells the actor's alone before an in-place change:
// a snapshot taken since they were last copied may be reading them.
func (s *conversation) own(row *voterRow) {
	if row.gen == s.snapGen {
		return
	}
	row.gen = s.snapGen
	c := make([]voteCell, len(row.cells), len(row.cells)+4)
	copy(c, row.cells)
	row.cells = c
}

// cow returns col, copied first if a snapshot may be reading it.
func cow[T any](col []T, shared *bool) []T {
	if !*shared {
		return col
	}
	*shared = false
	return slices.Clone(col)
}

type voteCell struct {
	opinion int32
	vote    agora.Vote
}

func newConversation(c agora.Conversation) *conversation {
	return &conversation{
		conv:        c,
		opinionByID: map[string]int32{},
		voterByID:   map[string]int32{},
	}
}

// opinion returns the index of a live (not deleted) opinion, or ENOTFOUND.
func (s *conversation) opinion(oid string) (int32, error) {
	i, ok := s.opinionByID[oid]
	if !ok || s.opinions[i].Deleted {
		return 0, agora.Errorf(agora.ENOTFOUND, "Opinion %s not found.", oid)
	}
	return i, nil
}

// addOpinion appends an opinion and counts it when visible.
func (s *conversation) addOpinion(o agora.Opinion) int32 {
	i := int32(len(s.opinions))
	o.Seq = int(i)
	s.opinions = append(s.opinions, &opinionState{Opinion: o})
	s.opinionByID[o.ID] = i
	counted := s.opinions[i].counted()
	if counted {
		s.conv.OpinionCount++
	}
	id, ext := o.ID, o.ExternalID
	if o.Deleted {
		id, ext = "", ""
	}
	s.liveIDs = append(s.liveIDs, id)
	s.countedBySeq = append(s.countedBySeq, counted)
	if ext != "" && s.extIDs == nil {
		s.extIDs = make([]string, i, i+1)
	}
	if s.extIDs != nil {
		s.extIDs = append(s.extIDs, ext)
	}
	if ext != "" {
		s.extLive++
	}
	if o.IsMeta {
		s.metaSeqs = append(s.metaSeqs, i)
	}
	return i
}

func (s *conversation) voter(pid string) int32 {
	if i, ok := s.voterByID[pid]; ok {
		return i
	}
	i := int32(len(s.voters))
	s.voters = append(s.voters, voterRow{gen: s.snapGen})
	s.voterIDs = append(s.voterIDs, pid)
	s.voterByID[pid] = i
	return i
}

// find returns the position of opinion o in the row's cells and whether a
// cell for it exists.
func (r *voterRow) find(o int32) (int, bool) {
	n := len(r.cells)
	// Votes mostly go to recent opinions: check the end before searching.
	if n == 0 || r.cells[n-1].opinion < o {
		return n, false
	}
	i := sort.Search(n, func(k int) bool { return r.cells[k].opinion >= o })
	return i, i < n && r.cells[i].opinion == o
}

// setVote records participant pid's vote v on opinion o and reports
// whether anything changed. The caller has checked that o is votable.
func (s *conversation) setVote(pid string, o int32, v agora.Vote) bool {
	row := &s.voters[s.voter(pid)]
	op := s.opinions[o]
	pos, found := row.find(o)
	if found {
		old := row.cells[pos].vote
		if old == v {
			return false
		}
		s.own(row)
		row.cells[pos].vote = v
		tallyAdd(&op.tally, old, -1)
		tallyAdd(&op.tally, v, 1)
		s.version++
		return true
	}
	s.own(row)
	row.cells = slices.Insert(row.cells, pos, voteCell{opinion: o, vote: v})
	tallyAdd(&op.tally, v, 1)
	if op.counted() {
		s.conv.VoteCount++
		row.counted++
		if row.counted == 1 {
			s.conv.ParticipantCount++
		}
	}
	s.version++
	return true
}

// cancelVote removes participant pid's vote on opinion o and reports
// whether there was one.
func (s *conversation) cancelVote(pid string, o int32) bool {
	vi, ok := s.voterByID[pid]
	if !ok {
		return false
	}
	row := &s.voters[vi]
	pos, found := row.find(o)
	if !found {
		return false
	}
	op := s.opinions[o]
	tallyAdd(&op.tally, row.cells[pos].vote, -1)
	s.own(row)
	row.cells = slices.Delete(row.cells, pos, pos+1)
	if op.counted() {
		s.conv.VoteCount--
		row.counted--
		if row.counted == 0 {
			s.conv.ParticipantCount--
		}
	}
	s.version++
	return true
}

// voteOf returns pid's vote on o.
func (s *conversation) voteOf(pid string, o int32) (agora.Vote, bool) {
	vi, ok := s.voterByID[pid]
	if !ok {
		return 0, false
	}
	row := &s.voters[vi]
	pos, found := row.find(o)
	if !found {
		return 0, false
	}
	return row.cells[pos].vote, true
}

// setCounted moves opinion o into (in=true) or out of the counters with all
// its votes. Moderation and deletion are rare, so finding the opinion's
// voters by a search in every row is cheaper than keeping a column index.
func (s *conversation) setCounted(o int32, in bool) {
	s.routing.stale = true
	s.countedBySeq = cow(s.countedBySeq, &s.countedShared)
	s.countedBySeq[o] = in
	op := s.opinions[o]
	sign := -1
	if in {
		sign = 1
	}
	s.conv.OpinionCount += sign
	s.conv.VoteCount += sign * (op.tally.Agree + op.tally.Disagree + op.tally.Pass)
	for i := range s.voters {
		row := &s.voters[i]
		if _, found := row.find(o); !found {
			continue
		}
		if in {
			row.counted++
			if row.counted == 1 {
				s.conv.ParticipantCount++
			}
		} else {
			row.counted--
			if row.counted == 0 {
				s.conv.ParticipantCount--
			}
		}
	}
	s.version++
}

// setStatus changes an opinion's moderation status, keeping the counters
// exact.
func (s *conversation) setStatus(o int32, status agora.OpinionStatus, m *agora.Moderation) {
	op := s.opinions[o]
	was := op.counted()
	op.Status, op.Moderation = status, m
	if now := op.counted(); now != was {
		s.setCounted(o, now)
	}
}

// deleteOpinion deletes an opinion for good; its votes leave the counters.
func (s *conversation) deleteOpinion(o int32) {
	op := s.opinions[o]
	if op.counted() {
		s.setCounted(o, false)
	}
	op.Deleted = true
	delete(s.opinionByID, op.ID)
	s.liveIDs = cow(s.liveIDs, &s.liveShared)
	s.liveIDs[o] = ""
	if s.extIDs != nil && s.extIDs[o] != "" {
		s.extIDs = cow(s.extIDs, &s.extShared)
		s.extIDs[o] = ""
		s.extLive--
	}
}

func tallyAdd(t *agora.Tally, v agora.Vote, d int) {
	switch v {
	case agora.Agree:
		t.Agree += d
	case agora.Disagree:
		t.Disagree += d
	default:
		t.Pass += d
	}
}

// view copies an opinion out of the actor, with its per-group tallies
// from the latest analysis.
func (s *conversation) view(o *opinionState) *agora.OpinionView {
	v := &agora.OpinionView{Opinion: o.Opinion, Tally: o.tally, Clusters: []agora.ClusterTally{}}
	if s.an != nil {
		v.Clusters = s.an.clusterTallies(o.Seq)
	}
	if o.Moderation != nil {
		m := *o.Moderation
		v.Moderation = &m
	}
	return v
}

// snapshot copies the conversation out of the actor.
func (s *conversation) snapshot() *agora.Conversation {
	c := s.conv
	if c.Lock != nil {
		l := *c.Lock
		c.Lock = &l
	}
	return &c
}

// The loader side: the store streams rows into the state before the actor
// starts. Counters are recomputed from the rows (they are the truth); the
// stored last_reacted_at is kept.

// LoadConversation implements agora.ConversationSink.
func (s *conversation) LoadConversation(c agora.Conversation) error {
	last := c.LastReactedAt
	c.Counters = agora.Counters{LastReactedAt: last}
	s.conv = c
	return nil
}

// LoadOpinion implements agora.ConversationSink.
func (s *conversation) LoadOpinion(o agora.Opinion) error {
	if o.Seq != len(s.opinions) {
		return agora.Errorf(agora.EINTERNAL, "opinion %s of conversation %s has seq %d, want %d", o.ID, s.conv.ID, o.Seq, len(s.opinions))
	}
	i := s.addOpinion(o)
	if o.Deleted {
		delete(s.opinionByID, o.ID)
		s.opinions[i].Deleted = true
	}
	return nil
}

// LoadVote implements agora.ConversationSink. Rows arrive in any order;
// finishLoad sorts them.
func (s *conversation) LoadVote(v agora.StoredVote) error {
	o, ok := s.opinionByID[v.OpinionID]
	if !ok {
		// A vote on a deleted opinion is kept in the store, not in memory.
		return nil
	}
	vi := s.voter(v.ParticipantID)
	at := v.At.UnixMicro()
	for int(vi) >= len(s.loadFirst) {
		s.loadFirst = append(s.loadFirst, math.MaxInt64)
	}
	s.loadFirst[vi] = min(s.loadFirst[vi], at)
	row := &s.voters[vi]
	row.cells = append(row.cells, voteCell{opinion: o, vote: v.Vote})
	return nil
}

// finishLoad orders the voters by arrival, sorts their rows and computes
// the counters from them.
func (s *conversation) finishLoad() {
	s.orderVotersByArrival()
	for i := range s.voters {
		row := &s.voters[i]
		slices.SortFunc(row.cells, func(a, b voteCell) int { return int(a.opinion - b.opinion) })
		for _, c := range row.cells {
			op := s.opinions[c.opinion]
			tallyAdd(&op.tally, c.vote, 1)
			if op.counted() {
				s.conv.VoteCount++
				row.counted++
			}
		}
		if row.counted > 0 {
			s.conv.ParticipantCount++
		}
	}
	s.compactRows()
	s.version++
}

// compactRows moves every row's cells into one array, in row order, once the
// store's votes are loaded. Rows grown vote by vote hold up to twice their
// cells and lie all over the heap: compacted, an activated conversation holds
// 33.2 instead of 37.4 bytes per vote (BenchmarkConversationMemory), and the
// math's first pass over a 113,000-vote conversation's rows, from cold caches,
// reads them in order (0.18-0.23 ms instead of 0.42-0.44 ms). Each row ends at
// its capacity, so a later insert moves it out instead of writing over the
// next row; the array stays alive while a row of it does, so a conversation
// never holds more than its loaded votes' worth of it.
func (s *conversation) compactRows() {
	total := 0
	for i := range s.voters {
		total += len(s.voters[i].cells)
	}
	slab := make([]voteCell, 0, total)
	for i := range s.voters {
		row := &s.voters[i]
		at := len(slab)
		slab = append(slab, row.cells...)
		row.cells = slab[at:len(slab):len(slab)]
	}
}

// orderVotersByArrival puts the loaded voters in order of arrival, as a
// live actor appends them: the store returns votes in no useful order, and
// the rows' order is the one the math's cold clustering follows. Arrival is
// a voter's earliest current vote (the store keeps no first-vote time: a
// vote changed later counts at its change), ties by id; for a Polis import
// it is the order of agora analyze on the same folder.
func (s *conversation) orderVotersByArrival() {
	first := s.loadFirst
	s.loadFirst = nil
	if len(first) != len(s.voters) {
		return // not loaded by LoadVote
	}
	order := make([]int32, len(s.voters))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		return cmp.Or(cmp.Compare(first[a], first[b]), strings.Compare(s.voterIDs[a], s.voterIDs[b]))
	})
	voters, ids := make([]voterRow, len(s.voters)), make([]string, len(s.voters))
	for i, j := range order {
		voters[i], ids[i] = s.voters[j], s.voterIDs[j]
		s.voterByID[ids[i]] = int32(i)
	}
	s.voters, s.voterIDs = voters, ids
}
