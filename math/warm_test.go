package polismath

import (
	"encoding/json"
	"math"
	"runtime"
	"sort"
	"testing"
)

// compareAnalyses asserts that two analyses of the same votes agree on everything that
// does not depend on the clustering history: the PCA, the positions, the statement
// projections, consensus and the vote counts.
func compareAnalyses(t *testing.T, warm, cold *Result) {
	t.Helper()
	compareAnalysesTol(t, warm, cold, tolPosition)
}

// compareAnalysesTol is compareAnalyses with a given absolute tolerance.
func compareAnalysesTol(t *testing.T, warm, cold *Result, tol float64) {
	t.Helper()
	if len(warm.PCA.OpinionIDs) != len(cold.PCA.OpinionIDs) {
		t.Fatalf("columns: warm %d, cold %d", len(warm.PCA.OpinionIDs), len(cold.PCA.OpinionIDs))
	}
	worst := 0.0
	for c := range 2 {
		for j := range cold.PCA.Components[c] {
			worst = math.Max(worst, math.Abs(warm.PCA.Components[c][j]-cold.PCA.Components[c][j]))
		}
	}
	if worst > tol {
		t.Errorf("components: warm and cold differ by %.3g", worst)
	}
	warmPos := map[string][2]float64{}
	for _, p := range warm.Participants {
		warmPos[p.ParticipantID] = [2]float64{p.X, p.Y}
	}
	worst = 0
	for _, p := range cold.Participants {
		w, ok := warmPos[p.ParticipantID]
		if !ok {
			t.Fatalf("participant %s missing from the warm run", p.ParticipantID)
		}
		worst = math.Max(worst, math.Max(math.Abs(w[0]-p.X), math.Abs(w[1]-p.Y)))
	}
	if worst > tol {
		t.Errorf("participant positions: warm and cold differ by %.3g", worst)
	}
	worst = 0
	for j, o := range cold.Opinions {
		w := warm.Opinions[j]
		worst = math.Max(worst, math.Max(math.Abs(w.X-o.X), math.Abs(w.Y-o.Y)))
		worst = math.Max(worst, math.Abs(w.Extremity-o.Extremity))
	}
	if worst > tol {
		t.Errorf("statement projections: warm and cold differ by %.3g", worst)
	}
	if !sameConsensus(warm.Consensus, cold.Consensus) {
		t.Errorf("consensus differs: warm %+v, cold %+v", warm.Consensus, cold.Consensus)
	}
	if warm.VotesIncluded != cold.VotesIncluded || warm.ParticipantsTotal != cold.ParticipantsTotal {
		t.Errorf("counts differ: warm %d votes/%d participants, cold %d/%d", warm.VotesIncluded, warm.ParticipantsTotal, cold.VotesIncluded, cold.ParticipantsTotal)
	}
}

func sameConsensus(a, b Consensus) bool {
	eq := func(x, y []ConsensusOpinion) bool {
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	return eq(a.Agree, b.Agree) && eq(a.Disagree, b.Disagree)
}

// partition returns each participant's cluster (-1 if none), in cold's participant order.
func partitions(warm, cold *Result) (w, c []int) {
	byID := map[string]*int{}
	for _, p := range warm.Participants {
		byID[p.ParticipantID] = p.Cluster
	}
	for _, p := range cold.Participants {
		wc := byID[p.ParticipantID]
		if wc == nil || p.Cluster == nil {
			continue
		}
		w = append(w, *wc)
		c = append(c, *p.Cluster)
	}
	return w, c
}

// TestWarmStartMatchesColdOnFixtures replays each fixture's votes in time order in four
// steps, passing the State along, and checks that the final analysis equals a cold run
// on all votes in everything that is not history dependent. The clusterings are history
// dependent by design (as in Polis); their agreement is logged.
func TestWarmStartMatchesColdOnFixtures(t *testing.T) {
	for _, name := range polisFixtureNames {
		t.Run(name, func(t *testing.T) {
			f := loadPolisFixture(t, name)
			byTime := append([]fixtureVoteRow(nil), f.votes...)
			sort.SliceStable(byTime, func(a, b int) bool { return byTime[a].modified < byTime[b].modified })
			var st *State
			var warm *Result
			for _, frac := range []float64{0.25, 0.5, 0.75, 1} {
				part := &polisFixture{name: f.name, votes: byTime[:int(frac*float64(len(byTime)))], modOut: f.modOut, meta: f.meta}
				sort.SliceStable(part.votes, func(a, b int) bool {
					va, vb := part.votes[a], part.votes[b]
					if va.tid != vb.tid {
						return va.tid < vb.tid
					}
					return va.pid < vb.pid
				})
				warm, st = Run(part.input(t), st)
			}
			cold, coldState := Run(f.input(t), nil)
			compareAnalyses(t, warm, cold)
			coldIn := toSet(coldState.InConv)
			warmIn := toSet(st.InConv)
			for id := range coldIn {
				if !warmIn[id] {
					t.Errorf("participant %s is in the cold in-conv but not in the warm one", id)
				}
			}
			w, c := partitions(warm, cold)
			t.Logf("warm k=%d, cold k=%d, ARI %.4f over %d participants", warm.K, cold.K, AdjustedRandIndex(w, c), len(w))
		})
	}
}

// TestWarmStartMatchesColdOnLatentGroups: with clearly separated latent groups there is
// one sensible clustering, so the incremental run must end with the same groups as the
// cold run (up to ids), not only the same PCA.
func TestWarmStartMatchesColdOnLatentGroups(t *testing.T) {
	votes := synthConversation(7, 400, 80, 12000, 3, 0.9)
	var st *State
	var warm *Result
	for _, frac := range []float64{0.2, 0.4, 0.6, 0.8, 1} {
		warm, st = Run(Input{Votes: synthMatrix(votes, int(frac*float64(len(votes))))}, st)
	}
	cold, _ := Run(Input{Votes: synthMatrix(votes, len(votes))}, nil)
	compareAnalyses(t, warm, cold)
	if warm.K != cold.K {
		t.Fatalf("warm k = %d, cold k = %d", warm.K, cold.K)
	}
	w, c := partitions(warm, cold)
	if ari := AdjustedRandIndex(w, c); ari != 1 {
		t.Errorf("warm and cold groups differ: ARI %.4f over %d participants", ari, len(w))
	}
}

// TestWarmStartIsAFixedPoint: running again on unchanged votes from the State of the
// previous run must change nothing, and the PCA must see at once that it has converged.
func TestWarmStartIsAFixedPoint(t *testing.T) {
	for _, name := range polisFixtureNames {
		t.Run(name, func(t *testing.T) {
			f := loadPolisFixture(t, name)
			first, st := Run(f.input(t), nil)
			second, st2 := Run(f.input(t), st)
			compareAnalyses(t, second, first)
			if second.K != first.K || len(second.Clusters) != len(first.Clusters) {
				t.Fatalf("k changed from %d to %d", first.K, second.K)
			}
			for i := range first.Clusters {
				a, b := first.Clusters[i], second.Clusters[i]
				if a.ID != b.ID || a.Size != b.Size || len(a.Representative) != len(b.Representative) {
					t.Errorf("cluster %d changed: %+v -> %+v", i, a, b)
				}
			}
			if len(st.BaseClusters) != len(st2.BaseClusters) {
				t.Errorf("base clusters changed from %d to %d", len(st.BaseClusters), len(st2.BaseClusters))
			}
			d := newVoteData(f.matrix(t), toSet(f.modOut), toSet(f.meta))
			if res := powerPCA(d, 2, alignComponents(nil, st, d.statements)); res.iterations > 2 {
				t.Errorf("warm PCA on unchanged votes took %d products", res.iterations)
			}
		})
	}
}

// TestWarmStartFindsPreviousClustersByPositionOrByID checks the two ways a warm
// start finds the previous in-conversation participants and base clusters: by
// position (the State Run made, rows in the same order) and by id (a State without
// the positions, or rows in another order). Both must give the same analysis, bit
// for bit.
func TestWarmStartFindsPreviousClustersByPositionOrByID(t *testing.T) {
	votes := synthConversation(9, 400, 60, 9000, 3, 0.85)
	_, st := Run(Input{Votes: synthMatrix(votes, 8000)}, nil)
	if !st.indexed() {
		t.Fatal("Run made a State without positions")
	}
	byID := st.Clone()
	byID.baseAt = nil
	full := Input{Votes: synthMatrix(votes, len(votes))}
	a, _ := Run(full, st)
	b, _ := Run(full, byID)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Fatal("warm starts by position and by id differ")
	}
	// Rows in another order: the merge pass fails and ids are used.
	ps := full.Votes.Participants()
	rowPtr, cells := []int{0}, []Cell(nil)
	sAt := map[string]int32{}
	for j, id := range full.Votes.Statements() {
		sAt[id] = int32(j)
	}
	reversed := make([]string, len(ps))
	for i, id := range ps {
		reversed[len(ps)-1-i] = id
	}
	for _, p := range reversed {
		for _, s := range full.Votes.Statements() {
			if v, ok := full.Votes.Get(p, s); ok {
				cells = append(cells, Cell{Statement: sAt[s], Vote: v})
			}
		}
		rowPtr = append(rowPtr, len(cells))
	}
	m, err := NewMatrixFromRows(reversed, full.Votes.Statements(), rowPtr, cells)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rowsInOrder(st.InConv, reversed); ok {
		t.Fatal("the reversed rows matched in order")
	}
	c, _ := Run(Input{Votes: m}, st)
	d, _ := Run(Input{Votes: m}, byID)
	jc, _ := json.Marshal(c)
	jd, _ := json.Marshal(d)
	if string(jc) != string(jd) {
		t.Fatal("warm starts on reordered rows differ")
	}
}

// TestParallelRunAgreesWithOneCore runs a conversation large enough for the
// sparse products to split over two goroutines (pcaParallelVotes) with and
// without Input.Parallel, cold and then warm after more votes: the two agree on
// the PCA and every position within tolPosition (the split products add their
// halves' sums in another order), and on the groups.
func TestParallelRunAgreesWithOneCore(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2)) // the split needs two
	votes := synthRouted(17, 3000, 3000, 60000, 3, 0.85)
	if len(votes) < pcaParallelVotes+1000 {
		t.Fatalf("%d votes: too few to split the products", len(votes))
	}
	var prev [2]*State
	for _, n := range []int{len(votes) - 500, len(votes)} {
		var res [2]*Result
		for i, parallel := range []bool{false, true} {
			res[i], prev[i] = Run(Input{Votes: synthMatrix(votes, n), Parallel: parallel}, prev[i])
		}
		compareAnalyses(t, res[1], res[0])
		if res[0].K != res[1].K {
			t.Fatalf("%d votes: %d groups on one core, %d in parallel", n, res[0].K, res[1].K)
		}
		p, o := partitions(res[1], res[0])
		if ari := AdjustedRandIndex(p, o); ari != 1 {
			t.Fatalf("%d votes: the groups differ (adjusted Rand %.4f)", n, ari)
		}
	}
}
