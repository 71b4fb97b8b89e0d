package polismath

import (
	"slices"

	"github.com/agora-dev/agora/internal/ident"
)

// Input is one snapshot of a conversation for the math.
type Input struct {
	// Votes is the vote matrix. Run only reads it; the caller must not mutate it during
	// the call (hand over a Clone).
	Votes *Matrix
	// ModeratedOut lists statements that were moved or hidden: their columns stay in
	// the matrix (they count in K, as in Polis) but are zeroed for the PCA and excluded
	// from representative and consensus statements.
	ModeratedOut []string
	// Meta lists meta statements (questions about the participant rather than opinions):
	// treated as moderated out, and given a fixed priority.
	Meta []string
	// Statements optionally lists statements that should appear in Result.Opinions even
	// without a vote yet, so that a new statement gets a routing priority at once. An
	// id "" stands for a deleted statement, as in NewMatrixFromSortedRows, and is
	// skipped: an actor lists its opinion column as it is.
	Statements []string
	// Parallel lets a large run use a second goroutine for its sparse products and its
	// k-means assignments. The result is the same but for rounding (the split products
	// add their halves' sums in another order: about 1e-14 on the components). Whether
	// it is faster depends on the machine: a cold run of a large conversation gains a
	// little on the project's 2-vCPU VMs, a warm one loses (docs/PERFORMANCE.md). A
	// server computing analyses beside its requests leaves it off, so that a run never
	// takes more than one core from them.
	Parallel bool
}

// Run computes the analysis of one snapshot. prev is the State returned by the previous
// Run of the same conversation (nil for the first one, or after a restart); the returned
// State is to be passed to the next Run. prev is not modified.
//
// The result is deterministic for a given (input, prev). A warm-started run and a cold
// run on the same votes agree on the PCA within its tolerance; their clusterings may
// differ in ids and, where k-means has several fixed points, in membership, exactly as
// Polis' history-dependent clusterings do.
func Run(in Input, prev *State) (*Result, *State) {
	if prev == nil {
		prev = &State{}
	}
	votes := in.Votes
	if votes == nil {
		votes = NewMatrix()
	}
	w := getWorkspace()
	defer putWorkspace(w)
	kept := prev.rows.Swap(nil)
	d, rows := newVoteDataIn(w, votes, columnFlags(votes.statements, in.ModeratedOut), columnFlags(votes.statements, in.Meta), kept)
	d.parallel = in.Parallel
	n, k := d.numRows(), d.numCols()

	// PCA on all participants, warm-started from the previous components.
	var pca pcaResult
	if n >= 2 && k >= 1 {
		pca = powerPCA(d, min(2, k), alignComponents(w, prev, d.statements))
	}
	comps := pca.comps
	for len(comps) < 2 {
		comps = append(comps, make([]float64, k))
	}
	var pos [][2]float64
	if pca.proj != nil {
		pos = scaledPositions(d, pca.proj)
	} else {
		pos = projectParticipants(d, comps)
	}

	// Clustering of the in-conversation participants. The previous ones are
	// found in the rows by one merge pass when they kept their order (they do:
	// rows only grow); by their ids otherwise.
	var rowOf map[string]int
	byID := func() map[string]int {
		if rowOf == nil {
			rowOf = make(map[string]int, n)
			for i, id := range d.participants {
				rowOf[id] = i
			}
		}
		return rowOf
	}
	prevRows, inOrder := rowsInOrder(prev.InConv, d.participants)
	if !inOrder {
		prevRows = make([]int, len(prev.InConv))
		for k, id := range prev.InConv {
			if row, ok := byID()[id]; ok {
				prevRows[k] = row
			} else {
				prevRows[k] = -1
			}
		}
	}
	wasIn := make([]bool, n)
	for _, row := range prevRows {
		if row >= 0 {
			wasIn[row] = true
		}
	}
	clusterable := inConv(d, wasIn)
	var start []kcluster
	if prev.indexed() {
		start = baseFromPositions(prev.BaseClusters, prev.baseAt, prevRows)
	} else {
		start = baseFromState(prev.BaseClusters, byID())
	}
	cl := clusterParticipants(w, pos, clusterable, start, groupsFromState(prev.GroupClusterings), prev.Smoother, in.Parallel)

	baseByID := make(map[int]kcluster, len(cl.base))
	for _, b := range cl.base {
		baseByID[b.id] = b
	}
	member := buffer(&w.member, n)
	for i := range member {
		member[i] = -1
	}
	for g, grp := range cl.groups {
		for _, bid := range grp.members {
			for _, row := range baseByID[bid].members {
				member[row] = g
			}
		}
	}
	groupOK := len(cl.groups) >= 2
	if !groupOK {
		for i := range member {
			member[i] = -1
		}
	}
	nGroups := 0
	if groupOK {
		nGroups = len(cl.groups)
	}
	everyone, clustered, inGroups, per, touched, counted := talliesAfter(w, d, votes, rows, kept, prev.tallies.Swap(nil), clusterable, member, nGroups)
	cache := prev.stats.Swap(nil)
	var reps [][]Representative
	if groupOK {
		// The statistics of the columns the tallies did not touch are still
		// right if the cache is the previous run's, for as many groups.
		if cache == nil || cache.groups != nGroups {
			touched = nil
		}
		cache = cache.ready(nGroups, len(votes.statements))
		reps = cache.groupStats(d, per, inGroups, touched)
	}

	r := &Result{
		VotesIncluded:     votes.NumVotes(),
		ParticipantsTotal: n,
		Status:            StatusInsufficientData,
		Clusters:          []Cluster{},
		Consensus:         consensus(d, everyone),
		// The Result and the State are read-only: they share d's fresh arrays
		// and the components instead of copying them.
		PCA: PCA{
			OpinionIDs: d.statements,
			Center:     d.mean,
			Components: comps,
		},
	}
	if groupOK {
		r.Status = StatusOK
		r.K = nGroups
		// Repness compares each group with the other participants in groups.
		for g, grp := range cl.groups {
			size := 0
			for _, bid := range grp.members {
				size += len(baseByID[bid].members)
			}
			r.ParticipantsClustered += size
			r.Clusters = append(r.Clusters, Cluster{
				ID:             grp.id,
				Size:           size,
				Center:         grp.center,
				Representative: reps[g],
			})
		}
	}

	unvotedIDs, columns := unvotedOf(d, votes, in.Statements)
	r.Opinions = make([]Opinion, k+len(unvotedIDs))
	if columns {
		r.ListedOpinion = make([]int32, len(in.Statements))
		u := int32(k)
		for j, c := range d.colOf[:len(in.Statements)] {
			switch {
			case in.Statements[j] == "":
				c = -1 // deleted
			case c < 0:
				c, u = u, u+1
			}
			r.ListedOpinion[j] = c
		}
	}
	// Every opinion's per-group votes, in one array: opinion i's are
	// GroupVotes[i*nc:(i+1)*nc], filled group by group (the unvoted statements'
	// counts are zero).
	nc := len(r.Clusters)
	r.GroupVotes = make([]GroupVotes, len(r.Opinions)*nc)
	for g := range r.Clusters {
		for j, t := range per[g] {
			r.GroupVotes[j*nc+g] = GroupVotes{Agree: t.a, Disagree: t.d, Pass: t.s - t.a - t.d}
		}
	}
	for j, id := range d.statements {
		ga, gd := 1.0, 1.0 // without groups, the empty product
		if groupOK {
			gac := cache.gac[d.matCol[j]]
			ga, gd = gac[0], gac[1]
		}
		spos, extremity := statementPosition(d, comps, j)
		// Field by field into the new (zeroed) array: a whole struct, which
		// holds a pointer, would be copied with a write barrier over all of it.
		o := &r.Opinions[j]
		o.OpinionID = id
		o.X, o.Y, o.Extremity = spos[0], spos[1], extremity
		o.Priority = priority(clustered[j], extremity, d.meta[j])
		o.GACAgree, o.GACDisagree = ga, gd
	}
	meta := toSet(in.Meta)
	unseen := 1.0 // the group-aware consensus of a statement no group voted on
	for range r.Clusters {
		unseen *= prob(0, 0)
	}
	for u, id := range unvotedIDs {
		r.Opinions[k+u] = Opinion{OpinionID: id, Priority: priority(tally{}, 0, meta[id]), GACAgree: unseen, GACDisagree: unseen}
	}

	r.Participants = make([]Participant, n)
	// The members of a group point to one copy of its id (the Result is read-only).
	gids := make([]int, len(cl.groups))
	for g, grp := range cl.groups {
		gids[g] = grp.id
	}
	for i, id := range d.participants {
		p := &r.Participants[i] // field by field, as the opinions
		p.ParticipantID, p.X, p.Y = id, pos[i][0], pos[i][1]
		if g := member[i]; g >= 0 {
			p.Cluster = &gids[g]
		}
	}

	next := &State{
		StatementIDs:     d.statements,
		Components:       comps,
		Smoother:         cl.smooth,
		GroupClusterings: map[int][]GroupCluster{},
	}
	next.stats.Store(cache)
	next.rows.Store(rows)
	next.tallies.Store(counted)
	posOf := make([]int32, n) // row -> position in next.InConv
	inConv := 0
	for _, ok := range clusterable {
		if ok {
			inConv++
		}
	}
	next.InConv = make([]string, 0, inConv)
	for i, id := range d.participants {
		if clusterable[i] {
			posOf[i] = int32(len(next.InConv))
			next.InConv = append(next.InConv, id)
		}
	}
	next.baseAt = make([][]int32, len(cl.base))
	at := make([]int32, 0, len(next.InConv))
	for c, b := range cl.base {
		ids := make([]string, len(b.members))
		start := len(at)
		for m, row := range b.members {
			ids[m] = d.participants[row]
			at = append(at, posOf[row])
		}
		next.baseAt[c] = at[start:len(at):len(at)]
		next.BaseClusters = append(next.BaseClusters, BaseCluster{ID: b.id, Members: ids, Center: b.center})
	}
	for kk, cs := range cl.byK {
		for _, c := range cs {
			next.GroupClusterings[kk] = append(next.GroupClusterings[kk], GroupCluster{ID: c.id, Members: slices.Clone(c.members), Center: c.center})
		}
	}
	return r, next
}

// unvotedOf returns the ids of listed without a vote in d, the compressed form of m,
// and whether listed is exactly the matrix's columns. The usual caller lists those
// (a conversation's every statement, voted or not): the ones without a vote are
// then the columns d left out, and nothing needs hashing.
func unvotedOf(d *voteData, m *Matrix, listed []string) ([]string, bool) {
	if len(listed) > 0 && ident.SameList(listed, m.statements) {
		return d.unused, true
	}
	return unvoted(d.statements, listed), false
}

// unvoted returns the ids of listed that are not in voted, once each, in the order of
// listed. The usual caller lists every statement in column order, so it first tries a
// merge pass: when voted is a subsequence of listed, the other entries of listed are
// the candidates, and only they are hashed.
func unvoted(voted, listed []string) []string {
	if len(listed) == 0 {
		return nil
	}
	var rest []string
	j := 0
	for _, id := range listed {
		if id == "" {
			continue // a deleted statement
		}
		if j < len(voted) && voted[j] == id {
			j++
			continue
		}
		rest = append(rest, id)
	}
	if j < len(voted) {
		// Not in the same order: hash them all.
		seen := toSet(voted)
		seen[""] = true // deleted statements
		rest = rest[:0]
		for _, id := range listed {
			if !seen[id] {
				seen[id] = true
				rest = append(rest, id)
			}
		}
		return rest
	}
	if len(rest) == 0 {
		return nil
	}
	// listed may repeat an id, a voted one included.
	cand := toSet(rest)
	for _, id := range voted {
		delete(cand, id)
	}
	out := rest[:0]
	for _, id := range rest {
		if cand[id] {
			delete(cand, id)
			out = append(out, id)
		}
	}
	return out
}

// columnFlags reports, for each of statements, whether ids lists it (nil when ids
// is empty). When ids come in the statements' order, as a conversation actor lists
// its moderated-out opinions, one merge pass (rowsInOrder) finds them; otherwise
// every statement is looked up in a set of ids. (At 19,000 statements
// the lookups took about a fifth of compressing the matrix.)
func columnFlags(statements, ids []string) []bool {
	if len(ids) == 0 {
		return nil
	}
	flags := make([]bool, len(statements))
	if cols, ok := rowsInOrder(ids, statements); ok {
		for _, j := range cols {
			flags[j] = true
		}
		return flags
	}
	set := toSet(ids)
	for j, id := range statements {
		flags[j] = set[id]
	}
	return flags
}

func toSet(ids []string) map[string]bool {
	s := make(map[string]bool, len(ids))
	for _, id := range ids {
		s[id] = true
	}
	return s
}

// alignComponents maps the previous components onto the current columns; statements
// that are new since then start at zero. The vectors come from w (they only start
// the PCA).
func alignComponents(w *workspace, prev *State, statements []string) [][]float64 {
	if len(prev.Components) == 0 || len(prev.StatementIDs) == 0 {
		return nil
	}
	for _, c := range prev.Components {
		if len(c) != len(prev.StatementIDs) {
			return nil
		}
	}
	if out := alignInOrder(w, prev, statements); out != nil {
		return out
	}
	at := make(map[string]int, len(prev.StatementIDs))
	for j, id := range prev.StatementIDs {
		at[id] = j
	}
	out := make([][]float64, 0, len(prev.Components))
	for _, c := range prev.Components {
		if len(c) != len(prev.StatementIDs) {
			return nil
		}
		v := w.zeros(len(statements))
		for j, id := range statements {
			if p, ok := at[id]; ok {
				v[j] = c[p]
			}
		}
		out = append(out, v)
	}
	return out
}

// alignInOrder is alignComponents for the usual case, in one merge pass without
// hashing: the previous statements are still there, in the same order, with new ones
// anywhere among them (a statement's first vote inserts its column). It returns nil
// when that is not the case. Ids are unique in both lists, so when every previous
// statement is matched in order, the unmatched current ones are exactly the new ones.
func alignInOrder(w *workspace, prev *State, statements []string) [][]float64 {
	out := make([][]float64, len(prev.Components))
	for c := range out {
		out[c] = w.zeros(len(statements))
	}
	p := 0
	for j, id := range statements {
		if p < len(prev.StatementIDs) && ident.Same(prev.StatementIDs[p], id) {
			for c, comp := range prev.Components {
				out[c][j] = comp[p]
			}
			p++
		}
	}
	if p < len(prev.StatementIDs) {
		return nil
	}
	return out
}

// indexed reports whether baseAt describes the base clusters (the State was made by
// Run, and its lists have the lengths Run gave them).
func (s *State) indexed() bool {
	if len(s.BaseClusters) == 0 || len(s.baseAt) != len(s.BaseClusters) {
		return false
	}
	for c, b := range s.BaseClusters {
		if len(s.baseAt[c]) != len(b.Members) {
			return false
		}
	}
	return true
}

// rowsInOrder returns the row of each of ids among participants when they appear
// there in the same order, as a run's in-conversation participants do among the
// next run's rows; false when one is missing.
func rowsInOrder(ids, participants []string) ([]int, bool) {
	rows := make([]int, len(ids))
	i := 0
	for k, id := range ids {
		for i < len(participants) && !ident.Same(participants[i], id) {
			i++
		}
		if i == len(participants) {
			return nil, false
		}
		rows[k] = i
		i++
	}
	return rows, true
}

// baseFromPositions is baseFromState for base clusters whose members are given as
// positions in the previous State's InConv (State.baseAt), rows[k] being the current
// row of InConv[k] (-1: gone).
func baseFromPositions(bs []BaseCluster, at [][]int32, rows []int) []kcluster {
	out := make([]kcluster, 0, len(bs))
	for c, b := range bs {
		kc := kcluster{id: b.ID, center: b.Center, members: make([]int, 0, len(at[c]))}
		for _, k := range at[c] {
			if int(k) < len(rows) && rows[k] >= 0 {
				kc.members = append(kc.members, rows[k])
			}
		}
		out = append(out, kc)
	}
	return out
}

// baseFromState converts stored base clusters (participant ids) into k-means clusters
// over current row indices, forgetting participants that are gone.
func baseFromState(bs []BaseCluster, rowOf map[string]int) []kcluster {
	var out []kcluster
	for _, b := range bs {
		c := kcluster{id: b.ID, center: b.Center}
		for _, id := range b.Members {
			if row, ok := rowOf[id]; ok {
				c.members = append(c.members, row)
			}
		}
		out = append(out, c)
	}
	return out
}

func groupsFromState(gs map[int][]GroupCluster) map[int][]kcluster {
	out := make(map[int][]kcluster, len(gs))
	for k, cs := range gs {
		for _, c := range cs {
			out[k] = append(out[k], kcluster{id: c.ID, members: slices.Clone(c.Members), center: c.Center})
		}
	}
	return out
}
