package polismath

import (
	"math"
	"slices"
	"sort"
	"testing"
)

// Tolerances from polis-math.md §15: what an exact implementation achieves against the
// Polis worker's output (which is itself a converged power iteration and stores the
// repness test as float32).
const (
	tolCenter   = 1e-12 // column means are exact up to summation order
	tolPosition = 1e-6  // components, projections, centres (absolute)
	tolStat     = 1e-9  // probabilities and z-scores computed from equal counts (relative)
	tolFloat32  = 5e-7  // repness-test, stored by Polis as a 32-bit float (relative)
	tolProduct  = 1e-12 // group-aware consensus: products of equal fractions (relative)
	tolPriority = 1e-6  // priorities inherit the extremity's PCA error (relative)
)

// polisRun is our analysis of a fixture started from Polis' state, with everything the
// comparisons need.
type polisRun struct {
	f     *polisFixture
	res   *Result
	state *State
	sign  [2]float64 // ours_c = sign_c * polis_c for the components
}

func runFromPolisState(t *testing.T, f *polisFixture) *polisRun {
	t.Helper()
	res, st := Run(f.input(t), f.polisState())
	r := &polisRun{f: f, res: res, state: st}
	for c := range 2 {
		dot := 0.0
		for j := range f.polis.PCA.Comps[c] {
			dot += res.PCA.Components[c][j] * f.polis.PCA.Comps[c][j]
		}
		r.sign[c] = 1
		if dot < 0 {
			r.sign[c] = -1
		}
	}
	return r
}

// ourCoord converts a Polis coordinate into ours: Polis negates the votes, and the
// components may differ in sign.
func (r *polisRun) ourCoord(c int, polis float64) float64 { return -r.sign[c] * polis }

func TestPolisFixtures(t *testing.T) {
	for _, name := range polisFixtureNames {
		t.Run(name, func(t *testing.T) {
			f := loadPolisFixture(t, name)
			r := runFromPolisState(t, f)
			t.Run("MatrixMatchesPolis", func(t *testing.T) { checkMatrix(t, r) })
			t.Run("PCA", func(t *testing.T) { checkPCA(t, r) })
			t.Run("ParticipantProjections", func(t *testing.T) { checkParticipantProjections(t, r) })
			t.Run("StatementProjections", func(t *testing.T) { checkStatementProjections(t, r) })
			t.Run("InConv", func(t *testing.T) { checkInConv(t, r) })
			t.Run("BaseClusters", func(t *testing.T) { checkBaseClusters(t, r) })
			t.Run("GroupClusters", func(t *testing.T) { checkGroupClusters(t, r) })
			t.Run("GroupVotes", func(t *testing.T) { checkGroupVotes(t, r) })
			t.Run("Repness", func(t *testing.T) { checkRepness(t, r) })
			t.Run("Consensus", func(t *testing.T) { checkConsensus(t, r) })
			t.Run("GroupAwareConsensus", func(t *testing.T) { checkGAC(t, r) })
			t.Run("Priorities", func(t *testing.T) { checkPriorities(t, r) })
		})
	}
}

func checkMatrix(t *testing.T, r *polisRun) {
	p := r.f.polis
	if got := r.res.ParticipantsTotal; got != p.N {
		t.Errorf("participants: got %d, Polis n = %d", got, p.N)
	}
	wantTids := make([]string, len(p.Tids))
	for i, tid := range p.Tids {
		wantTids[i] = itoa(tid)
	}
	if !slices.Equal(r.res.PCA.OpinionIDs, wantTids) {
		t.Errorf("columns: got %v, Polis tids %v", r.res.PCA.OpinionIDs, wantTids)
	}
	d := newVoteData(r.f.matrix(t), toSet(r.f.modOut), toSet(r.f.meta))
	for i, id := range d.participants {
		if want, ok := p.UserVoteCounts[id]; !ok || want != d.voteCount[i] {
			t.Errorf("participant %s: %d votes, Polis user-vote-counts %d (present %v)", id, d.voteCount[i], want, ok)
		}
	}
	var modOut []int
	for j, out := range d.modOut {
		if out {
			modOut = append(modOut, mustAtoi(t, d.statements[j]))
		}
	}
	// Polis lists every moderated-out statement; only those with votes are columns.
	var want []int
	for _, tid := range p.ModOut {
		if slices.Contains(p.Tids, tid) {
			want = append(want, tid)
		}
	}
	slices.Sort(want)
	if !slices.Equal(modOut, want) {
		t.Errorf("moderated out: got %v, Polis %v", modOut, want)
	}
}

func checkPCA(t *testing.T, r *polisRun) {
	p := r.f.polis
	worst := 0.0
	for j, c := range p.PCA.Center {
		worst = math.Max(worst, math.Abs(r.res.PCA.Center[j]-(-c)))
	}
	if worst > tolCenter {
		t.Errorf("center differs from -Polis by %.3g (tolerance %g)", worst, tolCenter)
	}
	t.Logf("center max |diff| %.3g", worst)
	for c := range 2 {
		worst := 0.0
		for j, v := range p.PCA.Comps[c] {
			worst = math.Max(worst, math.Abs(r.res.PCA.Components[c][j]-r.sign[c]*v))
		}
		if worst > tolPosition {
			t.Errorf("component %d differs from Polis (sign %+g) by %.3g (tolerance %g)", c, r.sign[c], worst, tolPosition)
		}
		t.Logf("component %d: sign vs Polis %+g, max |diff| %.3g", c, r.sign[c], worst)
	}
}

// checkParticipantProjections compares every participant's position with the centre
// of their Polis base cluster: the published base clusters are an exact Lloyd fixed
// point (centre = mean of the members' projections), so for a singleton this is the
// participant's own projection.
func checkParticipantProjections(t *testing.T, r *polisRun) {
	pos := map[string][2]float64{}
	for _, pt := range r.res.Participants {
		pos[pt.ParticipantID] = [2]float64{pt.X, pt.Y}
	}
	bc := r.f.polis.BaseClusters
	worst := 0.0
	for i := range bc.ID {
		var mean [2]float64
		for _, pid := range bc.Members[i] {
			p, ok := pos[itoa(pid)]
			if !ok {
				t.Fatalf("participant %d of base cluster %d has no position", pid, bc.ID[i])
			}
			mean[0] += p[0] / float64(len(bc.Members[i]))
			mean[1] += p[1] / float64(len(bc.Members[i]))
		}
		worst = math.Max(worst, math.Abs(mean[0]-r.ourCoord(0, bc.X[i])))
		worst = math.Max(worst, math.Abs(mean[1]-r.ourCoord(1, bc.Y[i])))
	}
	if worst > tolPosition {
		t.Errorf("base cluster centres from our projections differ from Polis by %.3g (tolerance %g)", worst, tolPosition)
	}
	t.Logf("projection max |diff| %.3g over %d base clusters", worst, len(bc.ID))
}

func checkStatementProjections(t *testing.T, r *polisRun) {
	p := r.f.polis.PCA
	worstPos, worstExt := 0.0, 0.0
	for j, o := range r.res.Opinions[:len(p.CommentExtremity)] {
		worstPos = math.Max(worstPos, math.Abs(o.X-r.ourCoord(0, p.CommentProjection[0][j])))
		worstPos = math.Max(worstPos, math.Abs(o.Y-r.ourCoord(1, p.CommentProjection[1][j])))
		worstExt = math.Max(worstExt, math.Abs(o.Extremity-p.CommentExtremity[j]))
	}
	if worstPos > tolPosition {
		t.Errorf("comment projections differ from Polis by %.3g (tolerance %g)", worstPos, tolPosition)
	}
	if worstExt > tolPosition {
		t.Errorf("comment extremity differs from Polis by %.3g (tolerance %g)", worstExt, tolPosition)
	}
	t.Logf("comment projection max |diff| %.3g, extremity %.3g", worstPos, worstExt)
}

// checkInConv checks both halves of the in-conv rule: started from Polis' set nobody is
// added (Polis' set already holds everyone above the threshold), and a cold start gives
// exactly the threshold set (plus the greedy fill), which is contained in Polis' set.
func checkInConv(t *testing.T, r *polisRun) {
	want := make([]string, len(r.f.polis.InConv))
	for i, pid := range r.f.polis.InConv {
		want[i] = itoa(pid)
	}
	slices.Sort(want)
	got := slices.Sorted(slices.Values(r.state.InConv))
	if !slices.Equal(got, want) {
		t.Errorf("in-conv from Polis' previous set: got %v, Polis %v", got, want)
	}

	d := newVoteData(r.f.matrix(t), toSet(r.f.modOut), toSet(r.f.meta))
	cold := inConvByID(d, nil)
	threshold := min(inConvMinVotes, d.numCols())
	polisIn := toSet(want)
	n := 0
	for i, in := range cold {
		if !in {
			continue
		}
		n++
		if d.voteCount[i] < threshold && n > inConvMinSize {
			t.Errorf("cold in-conv holds %s with %d votes beyond the greedy fill", d.participants[i], d.voteCount[i])
		}
		if !polisIn[d.participants[i]] {
			t.Errorf("cold in-conv holds %s (%d votes), Polis does not", d.participants[i], d.voteCount[i])
		}
	}
	for i, c := range d.voteCount {
		if c >= threshold && !cold[i] {
			t.Errorf("participant %s has %d >= %d votes but is not in the cold in-conv", d.participants[i], c, threshold)
		}
	}
	t.Logf("in-conv: Polis %d, cold threshold set %d", len(want), n)
}

// checkBaseClusters: started from Polis' base clusters, our base k-means must find them
// to be a fixed point: same ids, same members, centres within tolerance.
func checkBaseClusters(t *testing.T, r *polisRun) {
	bc := r.f.polis.BaseClusters
	if len(r.state.BaseClusters) != len(bc.ID) {
		t.Fatalf("got %d base clusters, Polis %d", len(r.state.BaseClusters), len(bc.ID))
	}
	worst := 0.0
	for i, b := range r.state.BaseClusters {
		if b.ID != bc.ID[i] {
			t.Errorf("base cluster %d: id %d, Polis %d", i, b.ID, bc.ID[i])
			continue
		}
		want := make([]string, len(bc.Members[i]))
		for m, pid := range bc.Members[i] {
			want[m] = itoa(pid)
		}
		if !sameSet(b.Members, want) {
			t.Errorf("base cluster %d: members %v, Polis %v", b.ID, b.Members, want)
		}
		worst = math.Max(worst, math.Abs(b.Center[0]-r.ourCoord(0, bc.X[i])))
		worst = math.Max(worst, math.Abs(b.Center[1]-r.ourCoord(1, bc.Y[i])))
	}
	if worst > tolPosition {
		t.Errorf("base cluster centres differ from Polis by %.3g (tolerance %g)", worst, tolPosition)
	}
}

func checkGroupClusters(t *testing.T, r *polisRun) {
	want := r.f.polis.GroupClusters
	if r.res.K != len(want) || r.res.Status != StatusOK {
		t.Fatalf("k = %d (status %s), Polis has %d groups", r.res.K, r.res.Status, len(want))
	}
	worst := 0.0
	for i, g := range want {
		got := r.res.Clusters[i]
		if got.ID != g.ID {
			t.Errorf("group %d: id %d, Polis %d", i, got.ID, g.ID)
		}
		ours := r.state.GroupClusterings[r.res.K][i]
		if !slices.Equal(ours.Members, g.Members) {
			t.Errorf("group %d: base clusters %v, Polis %v", g.ID, ours.Members, g.Members)
		}
		worst = math.Max(worst, math.Abs(got.Center[0]-r.ourCoord(0, g.Center[0])))
		worst = math.Max(worst, math.Abs(got.Center[1]-r.ourCoord(1, g.Center[1])))
	}
	if worst > tolPosition {
		t.Errorf("group centres differ from Polis by %.3g (tolerance %g)", worst, tolPosition)
	}
}

func checkGroupVotes(t *testing.T, r *polisRun) {
	for _, c := range r.res.Clusters {
		want, ok := r.f.polis.GroupVotes[itoa(c.ID)]
		if !ok {
			t.Errorf("group %d is not in Polis' group-votes", c.ID)
			continue
		}
		if c.Size != want.NMembers {
			t.Errorf("group %d: size %d, Polis n-members %d", c.ID, c.Size, want.NMembers)
		}
	}
	for i, o := range r.res.Opinions {
		for gi, g := range r.res.OpinionGroups(i) {
			id := r.res.Clusters[gi].ID
			w := r.f.polis.GroupVotes[itoa(id)].Votes[o.OpinionID]
			if int(g.Agree) != w.A || int(g.Disagree) != w.D || int(g.Agree+g.Disagree+g.Pass) != w.S {
				t.Errorf("statement %s, group %d: A/D/S %d/%d/%d, Polis %d/%d/%d", o.OpinionID, id,
					g.Agree, g.Disagree, g.Agree+g.Disagree+g.Pass, w.A, w.D, w.S)
			}
		}
	}
}

func checkRepness(t *testing.T, r *polisRun) {
	if len(r.f.polis.Repness) != len(r.res.Clusters) {
		t.Errorf("repness for %d groups, Polis %d", len(r.res.Clusters), len(r.f.polis.Repness))
	}
	for _, c := range r.res.Clusters {
		want := r.f.polis.Repness[itoa(c.ID)]
		got := c.Representative
		if len(got) != len(want) {
			t.Errorf("group %d: %d representative statements, Polis %d", c.ID, len(got), len(want))
		}
		for i := range min(len(got), len(want)) {
			g, w := got[i], want[i]
			if g.OpinionID != itoa(w.Tid) || g.Direction != w.RepfulFor || g.NSuccess != w.NSuccess ||
				g.NTrials != w.NTrials || g.BestAgree != w.BestAgree {
				t.Errorf("group %d #%d: got %s %s %d/%d best=%v, Polis %d %s %d/%d best=%v", c.ID, i,
					g.OpinionID, g.Direction, g.NSuccess, g.NTrials, g.BestAgree,
					w.Tid, w.RepfulFor, w.NSuccess, w.NTrials, w.BestAgree)
				continue
			}
			for _, v := range []struct {
				name      string
				got, want float64
				tol       float64
			}{
				{"p-success", g.PSuccess, w.PSuccess, tolStat},
				{"p-test", g.PTest, w.PTest, tolStat},
				{"repness", g.Repness, w.Repness, tolStat},
				{"repness-test", g.RepnessTest, w.RepnessTest, tolFloat32},
			} {
				if d := relDiff(v.got, v.want); d > v.tol {
					t.Errorf("group %d statement %s: %s %.10g, Polis %.10g (rel %.3g > %g)", c.ID, g.OpinionID, v.name, v.got, v.want, d, v.tol)
				}
			}
		}
	}
}

func checkConsensus(t *testing.T, r *polisRun) {
	for _, dir := range []struct {
		name      string
		got       []ConsensusOpinion
		want      []polisConsensus
		direction string
	}{
		{"agree", r.res.Consensus.Agree, r.f.polis.Consensus.Agree, DirectionAgree},
		{"disagree", r.res.Consensus.Disagree, r.f.polis.Consensus.Disagree, DirectionDisagree},
	} {
		if len(dir.got) != len(dir.want) {
			t.Errorf("%s: %d statements, Polis %d", dir.name, len(dir.got), len(dir.want))
		}
		for i := range min(len(dir.got), len(dir.want)) {
			g, w := dir.got[i], dir.want[i]
			if g.OpinionID != itoa(w.Tid) || g.NSuccess != w.NSuccess || g.NTrials != w.NTrials {
				t.Errorf("%s #%d: %s %d/%d, Polis %d %d/%d", dir.name, i, g.OpinionID, g.NSuccess, g.NTrials, w.Tid, w.NSuccess, w.NTrials)
				continue
			}
			if d := math.Max(relDiff(g.PSuccess, w.PSuccess), relDiff(g.PTest, w.PTest)); d > tolStat {
				t.Errorf("%s %s: p %.10g/%.10g, Polis %.10g/%.10g", dir.name, g.OpinionID, g.PSuccess, g.PTest, w.PSuccess, w.PTest)
			}
		}
	}
}

func checkGAC(t *testing.T, r *polisRun) {
	if len(r.f.polis.GAC) != len(r.res.Opinions) {
		t.Errorf("%d statements, Polis has group-aware consensus for %d", len(r.res.Opinions), len(r.f.polis.GAC))
	}
	worst := 0.0
	for _, o := range r.res.Opinions {
		want, ok := r.f.polis.GAC[o.OpinionID]
		if !ok {
			t.Errorf("statement %s has no Polis group-aware consensus", o.OpinionID)
			continue
		}
		worst = math.Max(worst, math.Abs(o.GACAgree-want)/want)
	}
	if worst > tolProduct {
		t.Errorf("group-aware consensus differs from Polis by %.3g relative (tolerance %g)", worst, tolProduct)
	}
	t.Logf("group-aware consensus max rel diff %.3g", worst)
}

func checkPriorities(t *testing.T, r *polisRun) {
	want := r.f.polis.Priorities
	if r.f.name == "50ptpt-3gp-strict-no-meta" {
		// This Polis version put every statement on the meta branch (polis-math.md §13,
		// ledger Q8): all priorities are 49 and cannot be compared. Check that this is
		// still the case, then compare against the formula applied to Polis' own
		// group-votes and comment-extremity instead.
		for tid, v := range want {
			if v != metaPriority {
				t.Fatalf("expected the all-49 Polis bug, statement %s has %g", tid, v)
			}
		}
		want = map[string]float64{}
		for j, tid := range r.f.polis.Tids {
			var tl tally
			for _, g := range r.f.polis.GroupVotes {
				v := g.Votes[itoa(tid)]
				tl.a, tl.d, tl.s = tl.a+int32(v.A), tl.d+int32(v.D), tl.s+int32(v.S)
			}
			want[itoa(tid)] = priority(tl, r.f.polis.PCA.CommentExtremity[j], false)
		}
	}
	worst := 0.0
	for _, o := range r.res.Opinions {
		w, ok := want[o.OpinionID]
		if !ok {
			t.Errorf("statement %s has no Polis priority", o.OpinionID)
			continue
		}
		worst = math.Max(worst, math.Abs(o.Priority-w)/w)
	}
	if worst > tolPriority {
		t.Errorf("priorities differ from Polis by %.3g relative (tolerance %g)", worst, tolPriority)
	}
	t.Logf("priority max rel diff %.3g", worst)
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	sort.Strings(x)
	sort.Strings(y)
	return slices.Equal(x, y)
}
