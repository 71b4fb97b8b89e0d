package actors

import (
	"cmp"
	"encoding/json"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/internal/ident"
	polismath "github.com/agora-dev/agora/math"
)

// The math runs beside the write path, never on it: when a conversation's
// votes or moderation change, its actor takes a snapshot of what the math
// needs (shared copy-on-write, see mathSnapshot) and hands it to a bounded
// pool of workers; the result comes back to the actor as a message. At most one
// run per conversation is in flight; changes arriving meanwhile coalesce
// into the next run, which starts no sooner than MathInterval after the
// previous one started. Writes never wait for the math.

// mathSnapshot is an immutable view of what the math reads. The actor does
// not copy the votes and opinion columns into it: it shares them, and
// copies a voter's row or a column before changing it in place while a
// snapshot may still read it (copy-on-write, see conversation.own and
// cow). Taking a snapshot of a 270,000-opinion, 700,000-vote conversation
// then holds the actor for the copy of the row headers, not of every vote.
type mathSnapshot struct {
	cid     string
	version uint64
	votes   int // the conversation's vote count at the snapshot

	opinionIDs []string // by opinion index; "" for deleted opinions (shared)
	counted    []bool   // by opinion index: in the counters (shared)
	metaSeqs   []int32  // the meta statements of an import (shared)
	seqLimit   int      // opinions with a Seq from here on are newer than the snapshot
	voterIDs   []string // by voter index (shared: only ever appended to)
	// rows holds every voter's cells, voters in order of arrival (the order
	// that reproduces Polis' cold clustering); each row is shared with the
	// actor.
	rows [][]voteCell

	// opinionExternalIDs is by opinion index, nil when no opinion has an
	// external id (the conversation was not imported); shared.
	opinionExternalIDs []string

	// wantOrders asks the worker to sort the opinions in every order of
	// analysisSorts: someone read an order of the previous analysis.
	wantOrders bool

	// Derived by prepare, on the worker.
	moderatedOut []string           // out of the math: moderated
	meta         []string           // meta statements of an import: out of the math, as in Polis
	cells        [][]polismath.Cell // rows, read in place as the math's cells
}

// snapshotForMath takes the snapshot the math reads. It runs on the actor:
// it copies the voters' ids and row headers and shares everything else.
func (s *conversation) snapshotForMath() *mathSnapshot {
	s.snapGen++
	s.liveShared, s.countedShared, s.extShared = true, true, true
	n := len(s.liveIDs)
	snap := &mathSnapshot{
		cid:        s.conv.ID,
		version:    s.version,
		votes:      s.conv.VoteCount,
		opinionIDs: s.liveIDs[:n:n],
		counted:    s.countedBySeq[:n:n],
		metaSeqs:   s.metaSeqs[:len(s.metaSeqs):len(s.metaSeqs)],
		seqLimit:   len(s.opinions),
		wantOrders: s.an != nil && s.an.ordersRead.Load(),
		voterIDs:   s.voterIDs[:len(s.voters):len(s.voters)],
		rows:       make([][]voteCell, len(s.voters)),
	}
	if s.extLive > 0 {
		snap.opinionExternalIDs = s.extIDs[:n:n]
	}
	for i := range s.voters {
		r := &s.voters[i]
		snap.rows[i] = r.cells[:len(r.cells):len(r.cells)]
	}
	return snap
}

// prepare derives what the math's input needs from the shared columns and
// rows. It runs on the worker.
func (snap *mathSnapshot) prepare() {
	for _, seq := range snap.metaSeqs {
		if id := snap.opinionIDs[seq]; id != "" {
			snap.meta = append(snap.meta, id)
		}
	}
	for seq, id := range snap.opinionIDs {
		if id != "" && !snap.counted[seq] {
			snap.moderatedOut = append(snap.moderatedOut, id)
		}
	}
	snap.cells = mathRows(snap.rows)
}

// mathRows views the rows' cells as the math's, without copying: voteCell and
// polismath.Cell have the same layout (an int32, then a one-byte vote of the same
// values), which the declarations below check at compile time, and so have
// slices of them.
func mathRows(rows [][]voteCell) [][]polismath.Cell {
	if len(rows) == 0 {
		return nil
	}
	return unsafe.Slice((*[]polismath.Cell)(unsafe.Pointer(unsafe.SliceData(rows))), len(rows))
}

// Compile-time checks of the layout mathRows relies on: each array length
// below is negative, and the build fails, if the layouts differ.
var (
	_ [unsafe.Sizeof(voteCell{}) - unsafe.Sizeof(polismath.Cell{})]byte
	_ [unsafe.Sizeof(polismath.Cell{}) - unsafe.Sizeof(voteCell{})]byte
	_ [unsafe.Offsetof(voteCell{}.vote) - unsafe.Offsetof(polismath.Cell{}.Vote)]byte
	_ [unsafe.Offsetof(polismath.Cell{}.Vote) - unsafe.Offsetof(voteCell{}.vote)]byte
	_ [unsafe.Sizeof(agora.Vote(0)) - unsafe.Sizeof(polismath.Vote(0))]byte
	_ [unsafe.Sizeof(polismath.Vote(0)) - unsafe.Sizeof(agora.Vote(0))]byte
	_ [int(agora.Agree) - int(polismath.Agree)]byte
	_ [int(polismath.Agree) - int(agora.Agree)]byte
	_ [int(agora.Disagree) - int(polismath.Disagree)]byte
	_ [int(polismath.Disagree) - int(agora.Disagree)]byte
	_ [int(agora.Pass) - int(polismath.Pass)]byte
	_ [int(polismath.Pass) - int(agora.Pass)]byte
)

// analysis is one computed analysis, immutable once built. The actor keeps
// the latest and publishes it on its handle for readers.
type analysis struct {
	version    uint64
	votes      int
	computedAt time.Time
	k          int

	// The JSON bodies are rendered by their first reader, not by the math
	// worker: on a large conversation rendering costs as much as the math,
	// and most analyses of a busy conversation are superseded unread. So is
	// their shape with the external ids (output).
	res                        *polismath.Result
	snap                       *mathSnapshot // the external ids of its opinions, if any
	outOnce                    sync.Once
	out                        *analysisOutput
	renderPlain, renderFull    sync.Once
	json, jsonWithParticipants []byte
	plainErr, fullErr          error

	seqLimit int // opinions with a Seq from here on are newer than the analysis
	// bySeq maps an opinion's Seq to its entry in res.Opinions (-1: none):
	// an index, not a map of every opinion rebuilt per run.
	bySeq           []int32
	consensus       []string // the majority sort: agree list, then disagree list
	representatives map[int][]string
	// orders holds the analysed opinions sorted for discover (priority),
	// consensus (group-aware consensus) and divisive (extremity), best
	// first, each sorted once per analysis by its first reader, or by the
	// math worker when the previous analysis' orders were read (see
	// ordersRead). A busy conversation nobody lists in these orders does
	// not pay for sorting every opinion three times per run: at 180,000
	// opinions that was a third of the run.
	orders     [len(analysisSorts)]lazyOrder
	ordersRead atomic.Bool // some order of this analysis was read

	state *polismath.State // warm start of the next run
	// matrix is the Matrix of this analysis' snapshot: the next run checks only
	// the rows that changed since (NewMatrixFromSortedRowsAfter). It keeps the
	// snapshot's rows alive, as the math requires, until the next analysis
	// replaces this one.
	matrix *polismath.Matrix
}

// compute runs the math on a snapshot, warm from the previous analysis (nil:
// none). It runs on a pool worker.
func compute(snap *mathSnapshot, prevAn *analysis) *analysis {
	var prev *polismath.State
	var prevMatrix *polismath.Matrix
	if prevAn != nil {
		prev, prevMatrix = prevAn.state, prevAn.matrix
	}
	snap.prepare()
	m, err := polismath.NewMatrixFromSortedRowsAfter(prevMatrix, snap.voterIDs, snap.opinionIDs, snap.cells)
	if err != nil {
		return nil // the snapshot is built by the actor: an error here is a bug
	}
	// Every opinion, in column order (the math skips the deleted ones' ""):
	// it then finds the unvoted ones in one merge pass.
	res, state := polismath.Run(polismath.Input{Votes: m, ModeratedOut: snap.moderatedOut, Meta: snap.meta, Statements: snap.opinionIDs}, prev)
	a := &analysis{
		version:         snap.version,
		seqLimit:        snap.seqLimit,
		votes:           snap.votes,
		computedAt:      time.Now().UTC().Truncate(time.Microsecond),
		k:               res.K,
		representatives: make(map[int][]string, len(res.Clusters)),
		state:           state,
		matrix:          m,
	}
	res.ConversationID, res.ComputedAt, res.VotesIncluded = snap.cid, a.computedAt, snap.votes
	// The opinions by Seq: the math's map of the column it was given (the
	// Matrix's own), else a search.
	a.bySeq = res.ListedOpinion
	if len(a.bySeq) != len(snap.opinionIDs) {
		a.bySeq = indexBySeq(res.Opinions, snap.opinionIDs)
	}
	for _, c := range res.Consensus.Agree {
		a.consensus = append(a.consensus, c.OpinionID)
	}
	for _, c := range res.Consensus.Disagree {
		a.consensus = append(a.consensus, c.OpinionID)
	}
	for _, c := range res.Clusters {
		for _, r := range c.Representative {
			a.representatives[c.ID] = append(a.representatives[c.ID], r.OpinionID)
		}
	}
	a.res, a.snap = res, &mathSnapshot{}
	if snap.opinionExternalIDs != nil {
		a.snap.opinionIDs, a.snap.opinionExternalIDs = snap.opinionIDs, snap.opinionExternalIDs
	}
	if snap.wantOrders {
		for i := range analysisSorts {
			a.sorted(i)
		}
	}
	return a
}

// analysisSorts are the opinion sorts that order the opinions by a key of
// the analysis, with the key of each.
var analysisSorts = [...]struct {
	sort agora.OpinionSort
	key  func(*polismath.Opinion) float64
}{
	{agora.SortOpinionsDiscover, func(o *polismath.Opinion) float64 { return o.Priority }},
	{agora.SortOpinionsConsensus, func(o *polismath.Opinion) float64 { return o.GACAgree }},
	{agora.SortOpinionsDivisive, func(o *polismath.Opinion) float64 { return o.Extremity }},
}

// lazyOrder is one order of an analysis, sorted on first use.
type lazyOrder struct {
	once sync.Once
	ids  []string
}

// order returns the analysed opinions in sort's order, best first, sorting
// them on the first call; ok is false for a sort that is not one of
// analysisSorts. Readers call it before asking the actor for a page (see
// Manager.Opinions), so that the actor seldom sorts.
func (a *analysis) order(sort agora.OpinionSort) (ids []string, ok bool) {
	for i := range analysisSorts {
		if analysisSorts[i].sort == sort {
			a.ordersRead.Store(true)
			return a.sorted(i), true
		}
	}
	return nil, false
}

// sorted returns order i of analysisSorts, sorting it on the first call.
func (a *analysis) sorted(i int) []string {
	o := &a.orders[i]
	o.once.Do(func() { o.ids = sortedBy(a.res.Opinions, analysisSorts[i].key) })
	return o.ids
}

// indexBySeq maps each Seq of ids (the opinions by Seq, "" for deleted
// ones) to the position of its entry in ops, -1 for none. ops lists the
// voted opinions, then the others, each in Seq order, so two forward
// walks find them all; an opinion found elsewhere falls back to a map.
func indexBySeq(ops []polismath.Opinion, ids []string) []int32 {
	bySeq := make([]int32, len(ids))
	for i := range bySeq {
		bySeq[i] = -1
	}
	var fallback map[string]int
	next, restarts := 0, 0
	for i := range ops {
		id := ops[i].OpinionID
		seq := next
		if fallback != nil { // out of order once: the map from now on
			seq = len(ids)
		}
		for seq < len(ids) && !ident.Same(ids[seq], id) {
			seq++
		}
		if seq == len(ids) && restarts == 0 { // the second run starts over
			restarts++
			for seq = 0; seq < next && !ident.Same(ids[seq], id); seq++ {
			}
			if seq == next {
				seq = len(ids)
			}
		}
		if seq == len(ids) {
			if fallback == nil {
				fallback = make(map[string]int, len(ids))
				for j, id := range ids {
					if id != "" {
						fallback[id] = j
					}
				}
			}
			j, ok := fallback[id]
			if !ok {
				continue
			}
			seq = j
		}
		bySeq[seq] = int32(i)
		next = seq + 1
	}
	return bySeq
}

// index returns the place in the analysis' opinions of the opinion with this
// Seq, -1 when the analysis does not include it.
func (a *analysis) index(seq int) int {
	if seq < 0 || seq >= len(a.bySeq) {
		return -1
	}
	return int(a.bySeq[seq])
}

// opinion returns the analysis of the opinion with this Seq, nil when the
// analysis does not include it.
func (a *analysis) opinion(seq int) *polismath.Opinion {
	if i := a.index(seq); i >= 0 {
		return &a.res.Opinions[i]
	}
	return nil
}

// clusterTallies returns the tallies of the opinion with this Seq within
// each group of the analysis (empty when the analysis does not include it).
func (a *analysis) clusterTallies(seq int) []agora.ClusterTally {
	i := a.index(seq)
	if i < 0 {
		return []agora.ClusterTally{}
	}
	groups := a.res.OpinionGroups(i)
	out := make([]agora.ClusterTally, len(groups))
	for i, g := range groups {
		out[i] = agora.ClusterTally{Cluster: a.res.Clusters[i].ID, Tally: agora.Tally{Agree: int(g.Agree), Disagree: int(g.Disagree), Pass: int(g.Pass)}}
	}
	return out
}

// imported reports whether the conversation has opinions imported with
// external ids: its participants may have some too.
func (a *analysis) imported() bool { return a.snap.opinionExternalIDs != nil }

// output returns the analysis in its output shape, with the external ids,
// building it on the first call.
func (a *analysis) output() *analysisOutput {
	a.outOnce.Do(func() { a.out = withExternalIDs(a.res, a.snap) })
	return a.out
}

// plainBody returns the analysis as JSON without the participants,
// rendering it on the first call.
func (a *analysis) plainBody() ([]byte, error) {
	a.renderPlain.Do(func() {
		out := *a.output()
		out.Participants = nil
		a.json, a.plainErr = renderAnalysis(&out)
	})
	return a.json, a.plainErr
}

// fullBody returns the analysis as JSON with the participants, rendering
// it on the first call; voterExternalIDs maps the participants imported
// from Polis to their Polis ids (nil for a native conversation).
func (a *analysis) fullBody(voterExternalIDs map[string]string) ([]byte, error) {
	a.renderFull.Do(func() {
		out := *a.output()
		if voterExternalIDs != nil {
			out.Participants = slices.Clone(out.Participants)
			for i := range out.Participants {
				out.Participants[i].ExternalID = voterExternalIDs[out.Participants[i].ParticipantID]
			}
		}
		a.jsonWithParticipants, a.fullErr = renderAnalysis(&out)
	})
	return a.jsonWithParticipants, a.fullErr
}

func renderAnalysis(out *analysisOutput) ([]byte, error) {
	b, err := json.Marshal(out)
	if err != nil {
		// The math guarantees finite numbers: a failure here is a bug.
		return nil, agora.Errorf(agora.EINTERNAL, "The analysis could not be rendered: %v.", err)
	}
	return b, nil
}

// analysisOutput is a polismath.Result as served: api.md puts an opinion's
// or participant's external_id beside every opinion_id and participant_id.
// The math knows no external ids, so the actor's mapping is applied here,
// once per analysis.
type analysisOutput struct {
	*polismath.Result
	Clusters     []clusterOutput     `json:"clusters"`
	Consensus    consensusOutput     `json:"consensus"`
	Opinions     []opinionOutput     `json:"opinions"`
	Participants []participantOutput `json:"participants,omitempty"`
}

type clusterOutput struct {
	*polismath.Cluster
	Representative []representativeOutput `json:"representative"`
}

type representativeOutput struct {
	*polismath.Representative
	ExternalID string `json:"external_id,omitempty"`
}

type consensusOutput struct {
	Agree    []consensusOpinionOutput `json:"agree"`
	Disagree []consensusOpinionOutput `json:"disagree"`
}

type consensusOpinionOutput struct {
	*polismath.ConsensusOpinion
	ExternalID string `json:"external_id,omitempty"`
}

type opinionOutput struct {
	*polismath.Opinion
	ExternalID string `json:"external_id,omitempty"`
}

type participantOutput struct {
	*polismath.Participant
	ExternalID string `json:"external_id,omitempty"`
}

// withExternalIDs wraps res for output with the snapshot's external ids.
// The wrappers point into res, which must outlive them.
func withExternalIDs(res *polismath.Result, snap *mathSnapshot) *analysisOutput {
	var opinionExt map[string]string
	if snap.opinionExternalIDs != nil {
		opinionExt = make(map[string]string, len(snap.opinionExternalIDs))
		for i, ext := range snap.opinionExternalIDs {
			if ext != "" && snap.opinionIDs[i] != "" {
				opinionExt[snap.opinionIDs[i]] = ext
			}
		}
	}
	out := &analysisOutput{
		Result:    res,
		Clusters:  make([]clusterOutput, len(res.Clusters)),
		Consensus: consensusOutput{Agree: consensusOutputs(res.Consensus.Agree, opinionExt), Disagree: consensusOutputs(res.Consensus.Disagree, opinionExt)},
		Opinions:  make([]opinionOutput, len(res.Opinions)),
	}
	for i := range res.Clusters {
		c := &res.Clusters[i]
		reps := make([]representativeOutput, len(c.Representative))
		for j := range c.Representative {
			r := &c.Representative[j]
			reps[j] = representativeOutput{r, opinionExt[r.OpinionID]}
		}
		out.Clusters[i] = clusterOutput{c, reps}
	}
	for i := range res.Opinions {
		o := &res.Opinions[i]
		out.Opinions[i] = opinionOutput{o, opinionExt[o.OpinionID]}
	}
	if len(res.Participants) > 0 {
		out.Participants = make([]participantOutput, len(res.Participants))
		for i := range res.Participants {
			p := &res.Participants[i]
			out.Participants[i] = participantOutput{Participant: p}
		}
	}
	return out
}

func consensusOutputs(ops []polismath.ConsensusOpinion, ext map[string]string) []consensusOpinionOutput {
	out := make([]consensusOpinionOutput, len(ops))
	for i := range ops {
		out[i] = consensusOpinionOutput{&ops[i], ext[ops[i].OpinionID]}
	}
	return out
}

// emptyAnalysis answers before the first analysis of a conversation: the
// shape of every later answer (two empty components, participants when
// asked for), computed_at null.
func emptyAnalysis(cid string, withParticipants bool) []byte {
	out := map[string]any{
		"conversation_id": cid, "computed_at": nil, "votes_included": 0, "participants_total": 0,
		"participants_clustered": 0, "k": 0, "status": polismath.StatusInsufficientData,
		"clusters": []any{}, "consensus": map[string]any{"agree": []any{}, "disagree": []any{}},
		"opinions": []any{}, "pca": map[string]any{"opinion_ids": []any{}, "center": []any{}, "components": [][]any{{}, {}}},
	}
	if withParticipants {
		out["participants"] = []any{}
	}
	b, _ := json.Marshal(out)
	return b
}

// mathPool is the node's bounded set of math workers.
type mathPool struct {
	jobs chan func()
	wg   sync.WaitGroup
}

func newMathPool(workers, queue int) *mathPool {
	if workers <= 0 {
		// One core stays with the requests: a run of a large conversation
		// that took every core showed in the p99 of the votes (11.6 ms
		// against 3.5 ms without the math, on two cores).
		workers = max(1, runtime.GOMAXPROCS(0)-1)
	}
	p := &mathPool{jobs: make(chan func(), queue)}
	for range workers {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for job := range p.jobs {
				job()
			}
		}()
	}
	return p
}

// trySubmit queues a job unless the queue is full.
func (p *mathPool) trySubmit(job func()) bool {
	select {
	case p.jobs <- job:
		return true
	default:
		return false
	}
}

func (p *mathPool) close() {
	close(p.jobs)
	p.wg.Wait()
}

// Messages from the math to an actor.
type (
	// analysisDone carries a finished analysis (nil if it failed).
	analysisDone struct{ a *analysis }
	// analysisDue asks the actor to start a run it had to postpone.
	analysisDue struct{}
)

// sortedBy returns the opinion ids by key descending, ties in the order of
// ops (the analysis' order: the voted opinions, then the others, each in
// creation order), so that pages are stable.
func sortedBy(ops []polismath.Opinion, key func(*polismath.Opinion) float64) []string {
	// The keys are read once, not twice per comparison, and ties compare
	// positions, not ids: a conversation of 180,000 opinions has tens of
	// thousands of equal keys (every opinion nobody voted on).
	type keyed struct {
		key float64
		at  int32
	}
	ks := make([]keyed, len(ops))
	for i := range ops {
		ks[i] = keyed{key(&ops[i]), int32(i)}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if c := cmp.Compare(b.key, a.key); c != 0 {
			return c
		}
		return cmp.Compare(a.at, b.at)
	})
	ids := make([]string, len(ks))
	for i, k := range ks {
		ids[i] = ops[k.at].OpinionID
	}
	return ids
}

// defaultPriority is Polis' priority of a statement nobody has seen yet:
// (importance · newness)² with no votes and no extremity, (9/4)².
const defaultPriority = 81.0 / 16

// priority returns the routing weight of the opinion with this Seq under
// the latest analysis.
func (a *analysis) priority(seq int) float64 {
	if a != nil {
		if o := a.opinion(seq); o != nil {
			return o.Priority
		}
	}
	return defaultPriority
}
