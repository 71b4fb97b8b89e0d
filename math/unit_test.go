package polismath

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestMatrix(t *testing.T) {
	t.Run("SetKeepsTheLatestVote", func(t *testing.T) {
		m := NewMatrix()
		for _, v := range []Vote{Agree, Disagree, Pass} {
			if err := m.Set("p", "s", v); err != nil {
				t.Fatal(err)
			}
		}
		if v, ok := m.Get("p", "s"); !ok || v != Pass || m.NumVotes() != 1 {
			t.Fatalf("got %v %v with %d votes, want the last vote (pass) once", v, ok, m.NumVotes())
		}
	})
	t.Run("SetRejectsInvalidVotes", func(t *testing.T) {
		if err := NewMatrix().Set("p", "s", 2); err == nil {
			t.Fatal("a vote of 2 was accepted")
		}
	})
	t.Run("DeleteRemovesOnlyThatVote", func(t *testing.T) {
		m := NewMatrix()
		_ = m.Set("p", "a", Agree)
		_ = m.Set("p", "b", Disagree)
		if !m.Delete("p", "a") || m.Delete("p", "a") || m.Delete("q", "a") {
			t.Fatal("Delete reported the wrong outcome")
		}
		if _, ok := m.Get("p", "a"); ok || m.NumVotes() != 1 {
			t.Fatalf("after delete: %d votes", m.NumVotes())
		}
		if v, ok := m.Get("p", "b"); !ok || v != Disagree {
			t.Fatal("the other vote was lost")
		}
	})
	t.Run("CloneIsIndependent", func(t *testing.T) {
		m := NewMatrix()
		_ = m.Set("p", "a", Agree)
		c := m.Clone()
		_ = m.Set("p", "a", Disagree)
		_ = m.Set("q", "b", Agree)
		if v, _ := c.Get("p", "a"); v != Agree || c.NumVotes() != 1 || len(c.Participants()) != 1 {
			t.Fatal("the clone saw later writes")
		}
	})
	t.Run("EmptyRowsAndColumnsAreIgnored", func(t *testing.T) {
		m := NewMatrix()
		_ = m.Set("p", "a", Agree)
		_ = m.Set("q", "b", Agree)
		m.Delete("q", "b")
		_ = m.Set("r", "a", Disagree)
		d := newVoteData(m, nil, nil)
		if d.numRows() != 2 || d.numCols() != 1 {
			t.Fatalf("got %d x %d, want 2 x 1", d.numRows(), d.numCols())
		}
		if !slices.Equal(d.participants, []string{"p", "r"}) || !slices.Equal(d.statements, []string{"a"}) || !slices.Equal(d.unused, []string{"b"}) {
			t.Fatalf("rows %q, columns %q, unvoted %q; want [p r], [a], [b]", d.participants, d.statements, d.unused)
		}
	})
}

// denseEigen returns the eigenvalues (ascending) and eigenvectors (columns) of
// CᵀC for d's centered matrix, by a dense decomposition.
func denseEigen(t *testing.T, d *voteData) ([]float64, *mat.Dense) {
	t.Helper()
	c := mat.NewDense(d.numRows(), d.numCols(), nil)
	for i := range d.numRows() {
		for p := d.cRowPtr[i]; p < d.cRowPtr[i+1]; p++ {
			c.Set(i, int(d.cCol[p]), d.cVal[p])
		}
	}
	var ctc mat.SymDense
	ctc.SymOuterK(1, c.T())
	var eig mat.EigenSym
	if !eig.Factorize(&ctc, true) {
		t.Fatal("eigen-decomposition failed")
	}
	vecs := new(mat.Dense)
	eig.VectorsTo(vecs)
	return eig.Values(nil), vecs
}

// TestPowerPCAMatchesExactEigenvectors checks the sparse block Krylov eigensolver against
// a dense eigen-decomposition of CᵀC on every fixture, independently of Polis.
func TestPowerPCAMatchesExactEigenvectors(t *testing.T) {
	for _, name := range polisFixtureNames {
		t.Run(name, func(t *testing.T) {
			f := loadPolisFixture(t, name)
			d := newVoteData(f.matrix(t), toSet(f.modOut), toSet(f.meta))
			k := d.numCols()
			vals, vecs := denseEigen(t, d)
			got := powerPCA(d, 2, nil)
			if !got.converged {
				t.Fatalf("did not converge in %d products", got.iterations)
			}
			for comp := range 2 {
				want := mat.Col(nil, k-1-comp, vecs) // ascending eigenvalues
				fixSign(want)
				worst := 0.0
				for j := range want {
					worst = math.Max(worst, math.Abs(got.comps[comp][j]-want[j]))
				}
				if worst > 1e-8 {
					t.Errorf("component %d differs from the exact eigenvector by %.3g", comp, worst)
				}
				if rd := math.Abs(got.values[comp]-vals[k-1-comp]) / vals[k-1]; rd > 1e-12 {
					t.Errorf("eigenvalue %d: %g, exact %g", comp, got.values[comp], vals[k-1-comp])
				}
			}
			t.Logf("%d products", got.iterations)
		})
	}
}

func TestFixSignMakesTheLargestLoadingPositive(t *testing.T) {
	for _, tc := range []struct{ in, want []float64 }{
		{[]float64{0.1, -0.9, 0.3}, []float64{-0.1, 0.9, -0.3}},
		{[]float64{0.1, 0.9, -0.3}, []float64{0.1, 0.9, -0.3}},
		{[]float64{-0.5, 0.5}, []float64{0.5, -0.5}}, // first one wins a tie
	} {
		u := slices.Clone(tc.in)
		fixSign(u)
		if !slices.Equal(u, tc.want) {
			t.Errorf("fixSign(%v) = %v, want %v", tc.in, u, tc.want)
		}
	}
}

func TestStatistics(t *testing.T) {
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-12 }
	t.Run("ProbabilityUsesPseudoCounts", func(t *testing.T) {
		if !near(prob(0, 0), 0.5) || !near(prob(3, 4), 4.0/6) {
			t.Fatal(prob(0, 0), prob(3, 4))
		}
	})
	t.Run("PropTest", func(t *testing.T) {
		// 2·sqrt(N+1)·((n+1)/(N+1) − 1/2) = sqrt(7) for 6 agrees out of 6 (Polis
		// publishes 2.6457513110645907 for such a statement in below-100-ptpts).
		if got, want := propTest(6, 6), math.Sqrt(7); !near(got, want) {
			t.Fatalf("got %g want %g", got, want)
		}
	})
	t.Run("TwoPropTestIsZeroWhenEveryoneSucceeds", func(t *testing.T) {
		if got := twoPropTest(5, 7, 5, 7); got != 0 {
			t.Fatalf("got %g", got)
		}
	})
	t.Run("TwoPropTestIsAntisymmetric", func(t *testing.T) {
		if a, b := twoPropTest(8, 2, 10, 12), twoPropTest(2, 8, 12, 10); !near(a, -b) || a <= 0 {
			t.Fatalf("got %g and %g", a, b)
		}
	})
	t.Run("PriorityExamplesFromTheSpec", func(t *testing.T) {
		// No votes: (9(E+1)/4)²; 5000 agree and 5000 disagree with E = 0: 0.25.
		if got, want := priority(tally{}, 0.5, false), math.Pow(9*1.5/4, 2); !near(got, want) {
			t.Errorf("no votes: got %g want %g", got, want)
		}
		if got := priority(tally{a: 5000, d: 5000, s: 10000}, 0, false); math.Abs(got-0.25) > 1e-3 {
			t.Errorf("split: got %g want 0.25", got)
		}
		if got := priority(tally{a: 3, s: 3}, 2, true); got != 49 {
			t.Errorf("meta: got %g want 49", got)
		}
	})
}

func TestInConv(t *testing.T) {
	build := func(counts []int) *voteData {
		m := NewMatrix()
		for p, c := range counts {
			for s := range c {
				_ = m.Set("p"+strconv.Itoa(p), "s"+strconv.Itoa(s), Agree)
			}
		}
		return newVoteData(m, nil, nil)
	}
	members := func(d *voteData, in []bool) []string {
		var out []string
		for i, ok := range in {
			if ok {
				out = append(out, d.participants[i])
			}
		}
		sort.Strings(out)
		return out
	}
	t.Run("GreedyFillToFifteen", func(t *testing.T) {
		counts := make([]int, 20)
		for i := range counts {
			counts[i] = 1 + i%6 // nobody reaches 7, statements = 6 though
		}
		counts[0] = 9 // 9 statements exist, so the threshold is 7
		d := build(counts)
		in := members(d, inConvByID(d, nil))
		if len(in) != inConvMinSize || !slices.Contains(in, "p0") {
			t.Fatalf("got %d in-conv %v", len(in), in)
		}
		for i, c := range counts {
			if c >= 5 && !slices.Contains(in, "p"+strconv.Itoa(i)) {
				t.Errorf("p%d (%d votes) left out of the greedy fill", i, c)
			}
		}
	})
	t.Run("ThresholdIsCappedByTheNumberOfStatements", func(t *testing.T) {
		counts := make([]int, 30)
		for i := range counts {
			counts[i] = 3
		}
		counts[0] = 2
		d := build(counts)
		if got := len(members(d, inConvByID(d, nil))); got != 29 {
			t.Fatalf("with 3 statements, %d participants in, want the 29 who voted on all 3", got)
		}
	})
	t.Run("PreviousMembersStay", func(t *testing.T) {
		counts := make([]int, 30)
		for i := range counts {
			counts[i] = 8
		}
		counts[5] = 1
		d := build(counts)
		if slices.Contains(members(d, inConvByID(d, nil)), "p5") {
			t.Fatal("p5 with one vote is in without history")
		}
		if !slices.Contains(members(d, inConvByID(d, map[string]bool{"p5": true, "gone": true})), "p5") {
			t.Fatal("p5 was dropped although it was in before")
		}
	})
}

func TestKMeans(t *testing.T) {
	pts := []point{
		{id: 0, pos: [2]float64{0, 0}, weight: 1},
		{id: 1, pos: [2]float64{0, 0}, weight: 1}, // duplicate: skipped by the cold init
		{id: 2, pos: [2]float64{0.1, 0}, weight: 1},
		{id: 3, pos: [2]float64{5, 5}, weight: 1},
		{id: 4, pos: [2]float64{5.1, 5}, weight: 3},
	}
	t.Run("ColdStartSeparatesTwoBlobs", func(t *testing.T) {
		got := kmeans(pts, 2, nil, 20)
		if len(got) != 2 || !slices.Equal(got[0].members, []int{0, 1, 2}) || !slices.Equal(got[1].members, []int{3, 4}) {
			t.Fatalf("got %+v", got)
		}
		if want := (5 + 3*5.1) / 4; math.Abs(got[1].center[0]-want) > 1e-12 {
			t.Errorf("weighted centre x = %g, want %g", got[1].center[0], want)
		}
	})
	t.Run("WarmStartKeepsIDsAndSplitsTheFarthestPoint", func(t *testing.T) {
		last := []kcluster{{id: 7, members: []int{0, 1, 2, 3, 4, 99}}}
		got := kmeans(pts, 2, last, 20)
		if len(got) != 2 || got[0].id != 7 || got[1].id != 8 {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("SilhouetteOfWellSeparatedClustersIsNearOne", func(t *testing.T) {
		got := kmeans(pts, 2, nil, 20)
		if s := silhouette(pts, got, pairDistances(nil, pts)); s < 0.9 {
			t.Fatalf("silhouette %g", s)
		}
	})
}

func TestRunEdgeCases(t *testing.T) {
	t.Run("EmptyInput", func(t *testing.T) {
		res, st := Run(Input{}, nil)
		if res.Status != StatusInsufficientData || res.K != 0 || st == nil {
			t.Fatalf("got %+v", res)
		}
	})
	t.Run("OneParticipant", func(t *testing.T) {
		m := NewMatrix()
		_ = m.Set("p", "a", Agree)
		_ = m.Set("p", "b", Disagree)
		res, _ := Run(Input{Votes: m}, nil)
		if res.Status != StatusInsufficientData || len(res.Participants) != 1 || res.Participants[0].Cluster != nil {
			t.Fatalf("got %+v", res)
		}
	})
	t.Run("UnvotedStatementsGetTheNewStatementPriority", func(t *testing.T) {
		m := NewMatrix()
		_ = m.Set("p", "a", Agree)
		res, _ := Run(Input{Votes: m, Statements: []string{"a", "new", "meta"}, Meta: []string{"meta"}}, nil)
		if len(res.Opinions) != 3 {
			t.Fatalf("got %d opinions", len(res.Opinions))
		}
		if o := res.Opinions[1]; o.OpinionID != "new" || math.Abs(o.Priority-math.Pow(9.0/4, 2)) > 1e-12 {
			t.Errorf("new statement: %+v", o)
		}
		if o := res.Opinions[2]; o.OpinionID != "meta" || o.Priority != metaPriority {
			t.Errorf("meta statement: %+v", o)
		}
	})
	t.Run("ModeratedOutColumnsAreZeroedButCounted", func(t *testing.T) {
		votes := synthConversation(3, 60, 12, 500, 2, 0.9)
		m := synthMatrix(votes, len(votes))
		res, _ := Run(Input{Votes: m, ModeratedOut: []string{"s0"}}, nil)
		j := slices.Index(res.PCA.OpinionIDs, "s0")
		if j < 0 {
			t.Fatal("the moderated-out statement lost its column")
		}
		if res.PCA.Center[j] != 0 || res.PCA.Components[0][j] != 0 || res.PCA.Components[1][j] != 0 || res.Opinions[j].Extremity != 0 {
			t.Errorf("moderated-out column not zeroed: center %g comps %g %g", res.PCA.Center[j], res.PCA.Components[0][j], res.PCA.Components[1][j])
		}
		for _, c := range res.Clusters {
			for _, r := range c.Representative {
				if r.OpinionID == "s0" {
					t.Errorf("moderated-out statement is representative of group %d", c.ID)
				}
			}
		}
	})
	t.Run("Deterministic", func(t *testing.T) {
		votes := synthConversation(5, 200, 40, 4000, 3, 0.9)
		a, _ := Run(Input{Votes: synthMatrix(votes, len(votes))}, nil)
		b, _ := Run(Input{Votes: synthMatrix(votes, len(votes))}, nil)
		if !slices.Equal(a.PCA.Components[0], b.PCA.Components[0]) || a.K != b.K {
			t.Fatal("two cold runs on the same votes differ")
		}
	})
	t.Run("RecoversLatentGroups", func(t *testing.T) {
		votes := synthConversation(11, 400, 80, 12000, 3, 0.9)
		res, _ := Run(Input{Votes: synthMatrix(votes, len(votes))}, nil)
		if res.Status != StatusOK || res.K != 3 {
			t.Fatalf("status %s, k = %d, want 3 groups", res.Status, res.K)
		}
	})
}

// indexedSynth is a small synthetic conversation, its Matrix built by Set, and the
// row and column of every participant and statement in it.
func indexedSynth(seed uint64) ([]synthVote, *Matrix, map[string]int, map[string]int32) {
	votes := synthConversation(seed, 200, 40, 4000, 3, 0.9)
	set := synthMatrix(votes, len(votes))
	pAt, sAt := map[string]int{}, map[string]int32{}
	for i, id := range set.Participants() {
		pAt[id] = i
	}
	for j, id := range set.Statements() {
		sAt[id] = int32(j)
	}
	return votes, set, pAt, sAt
}

func TestNewMatrixFromRows(t *testing.T) {
	t.Run("EqualsSetInArrivalOrder", func(t *testing.T) {
		votes, set, pAt, sAt := indexedSynth(5)
		participants, statements := set.Participants(), set.Statements()
		rows := make([][]Cell, len(participants))
		for _, v := range votes {
			rows[pAt[v.participant]] = append(rows[pAt[v.participant]], Cell{Statement: sAt[v.statement], Vote: v.vote})
		}
		rowPtr, cells := []int{0}, []Cell(nil)
		for _, r := range rows {
			cells = append(cells, r...)
			rowPtr = append(rowPtr, len(cells))
		}
		m, err := NewMatrixFromRows(participants, statements, rowPtr, cells)
		if err != nil {
			t.Fatal(err)
		}
		if m.NumVotes() != set.NumVotes() {
			t.Fatalf("%d votes, Set built %d", m.NumVotes(), set.NumVotes())
		}
		u, err := NewMatrixFromUniqueRows(participants, statements, rowPtr, cells)
		if err != nil {
			t.Fatal(err)
		}
		if !sameAnalysis(t, m, set) || !sameAnalysis(t, u, set) {
			t.Fatal("the analyses of the matrices differ")
		}
		// The lazily built index serves later edits.
		if err := m.Set(participants[0], "new", Agree); err != nil || m.NumVotes() != set.NumVotes()+1 {
			t.Fatalf("Set after NewMatrixFromRows: %v, %d votes", err, m.NumVotes())
		}
	})
	t.Run("DeletedStatementsAndRepeatedCells", func(t *testing.T) {
		m, err := NewMatrixFromRows([]string{"p", "q"}, []string{"a", "", "b"}, []int{0, 3, 4},
			[]Cell{{2, Agree}, {0, Agree}, {2, Disagree}, {1, Agree}})
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := m.Get("p", "b"); !ok || v != Disagree || m.NumVotes() != 2 || len(m.Statements()) != 2 {
			t.Fatalf("got %v %v, %d votes, statements %v", v, ok, m.NumVotes(), m.Statements())
		}
		// A row cleaned of a repeat, then sorted and unsorted rows after it.
		m, err = NewMatrixFromRows([]string{"p", "q", "r"}, []string{"a", "b", "c"}, []int{0, 3, 5, 7},
			[]Cell{{1, Agree}, {1, Pass}, {0, Disagree}, {0, Agree}, {2, Disagree}, {2, Pass}, {1, Agree}})
		if err != nil {
			t.Fatal(err)
		}
		want := map[[2]string]Vote{{"p", "a"}: Disagree, {"p", "b"}: Pass, {"q", "a"}: Agree, {"q", "c"}: Disagree, {"r", "b"}: Agree, {"r", "c"}: Pass}
		for k, w := range want {
			if v, ok := m.Get(k[0], k[1]); !ok || v != w {
				t.Errorf("%s on %s: got %v %v, want %v", k[0], k[1], v, ok, w)
			}
		}
		if m.NumVotes() != len(want) {
			t.Errorf("%d votes, want %d", m.NumVotes(), len(want))
		}
	})
	for name, tc := range map[string]struct {
		participants, statements []string
		rowPtr                   []int
		cells                    []Cell
	}{
		"ErrRowPtr":               {[]string{"p"}, []string{"a"}, []int{0}, nil},
		"ErrStatementOutOfRange":  {[]string{"p"}, []string{"a"}, []int{0, 1}, []Cell{{3, Agree}}},
		"ErrInvalidVote":          {[]string{"p"}, []string{"a"}, []int{0, 1}, []Cell{{0, 2}}},
		"ErrDuplicateParticipant": {[]string{"p", "p"}, []string{"a"}, []int{0, 0, 0}, nil},
		"ErrDuplicateStatement":   {[]string{"p"}, []string{"a", "a"}, []int{0, 0}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewMatrixFromRows(tc.participants, tc.statements, tc.rowPtr, tc.cells); err == nil {
				t.Fatal("no error")
			}
			_, err := NewMatrixFromUniqueRows(tc.participants, tc.statements, tc.rowPtr, tc.cells)
			if dup := strings.HasPrefix(name, "ErrDuplicate"); (err == nil) != dup {
				t.Fatalf("NewMatrixFromUniqueRows: %v (it checks all but duplicates)", err)
			}
		})
	}
}

// TestColumnFlags checks both ways columnFlags finds the listed statements: the
// merge pass when they come in column order, the set otherwise.
func TestColumnFlags(t *testing.T) {
	statements := []string{"a", "b", "c", "d", "e"}
	for _, tc := range []struct {
		name string
		ids  []string
		want []bool
	}{
		{"none", nil, nil},
		{"in order", []string{"b", "d", "e"}, []bool{false, true, false, true, true}},
		{"out of order", []string{"d", "b"}, []bool{false, true, false, true, false}},
		{"unknown ids", []string{"b", "x"}, []bool{false, true, false, false, false}},
		{"repeated", []string{"c", "c"}, []bool{false, false, true, false, false}},
		{"all", []string{"a", "b", "c", "d", "e"}, []bool{true, true, true, true, true}},
	} {
		if got := columnFlags(statements, tc.ids); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// inConvByID is inConv with the previous set given by participant id.
func inConvByID(d *voteData, prev map[string]bool) []bool {
	wasIn := make([]bool, d.numRows())
	for i, id := range d.participants {
		wasIn[i] = prev[id]
	}
	return inConv(d, wasIn)
}

func TestNewMatrixFromSortedRows(t *testing.T) {
	votes, set, pAt, sAt := indexedSynth(6)
	participants, statements := set.Participants(), set.Statements()
	// Every participant's latest vote per statement, by statement: an actor's rows.
	latest := make([]map[int32]Vote, len(participants))
	for _, v := range votes {
		p := pAt[v.participant]
		if latest[p] == nil {
			latest[p] = map[int32]Vote{}
		}
		latest[p][sAt[v.statement]] = v.vote
	}
	rows := make([][]Cell, len(participants))
	for p, byStatement := range latest {
		for s, v := range byStatement {
			rows[p] = append(rows[p], Cell{Statement: s, Vote: v})
		}
		slices.SortFunc(rows[p], func(a, b Cell) int { return int(a.Statement - b.Statement) })
	}
	copyRows := func() [][]Cell {
		out := make([][]Cell, len(rows))
		for i, r := range rows {
			out[i] = slices.Clone(r)
		}
		return out
	}
	before := copyRows()

	m, err := NewMatrixFromSortedRows(participants, statements, rows)
	if err != nil {
		t.Fatal(err)
	}
	if m.NumVotes() != set.NumVotes() || !sameAnalysis(t, m, set) {
		t.Fatalf("%d votes and an analysis that differs from the one of the Matrix Set built (%d votes)", m.NumVotes(), set.NumVotes())
	}

	// Edits copy the borrowed rows first: the caller's stay as they were.
	p0, first, other := participants[0], statements[rows[0][0].Statement], Agree
	if rows[0][0].Vote == Agree {
		other = Disagree
	}
	if err := m.Set(p0, first, other); err != nil {
		t.Fatal(err)
	}
	if !m.Delete(participants[1], statements[rows[1][0].Statement]) {
		t.Fatal("Delete found no vote")
	}
	if v, ok := m.Get(p0, first); !ok || v != other {
		t.Fatalf("after Set: %v %v, want %v", v, ok, other)
	}
	for i := range rows {
		if !slices.Equal(rows[i], before[i]) {
			t.Fatalf("editing the Matrix changed the caller's row %d", i)
		}
	}
	// A new participant and statement go to copies of the id slices.
	ids, cols := slices.Clone(participants), slices.Clone(statements)
	if err := m.Set("newcomer", "new statement", Agree); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, participants) || !slices.Equal(cols, statements) {
		t.Fatal("editing the Matrix changed the caller's ids")
	}

	// A deleted statement's cells are dropped, as NewMatrixFromUniqueRows drops them.
	deleted := slices.Clone(statements)
	deleted[3] = ""
	rowPtr, cells := []int{0}, []Cell(nil)
	for _, r := range rows {
		cells = append(cells, r...)
		rowPtr = append(rowPtr, len(cells))
	}
	want, err := NewMatrixFromUniqueRows(participants, deleted, rowPtr, cells)
	if err != nil {
		t.Fatal(err)
	}
	got, err := NewMatrixFromSortedRows(participants, deleted, rows)
	if err != nil {
		t.Fatal(err)
	}
	if got.NumVotes() != want.NumVotes() || len(got.Statements()) != len(statements)-1 || !sameAnalysis(t, got, want) {
		t.Fatalf("with a deleted statement: %d votes, %d statements, want %d and %d, or the analyses differ",
			got.NumVotes(), len(got.Statements()), want.NumVotes(), len(statements)-1)
	}

	for name, bad := range map[string][][]Cell{
		"rows for fewer participants": {{{0, Agree}}},
		"statement index -1":          {{{-1, Agree}}, nil},
		"statement index = count":     {{{0, Agree}, {2, Agree}}, nil},
		"out of order":                {{{1, Agree}, {0, Agree}}, nil},
		"repeat":                      {{{0, Agree}, {0, Pass}}, nil},
		"invalid vote":                {nil, {{1, 2}}},
	} {
		if _, err := NewMatrixFromSortedRows([]string{"p", "q"}, []string{"a", "b"}, bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestRitzConverged holds the eigensolver's stopping rule to its two bounds.
func TestRitzConverged(t *testing.T) {
	for _, tc := range []struct {
		name  string
		theta []float64
		res   []float64
		want  bool
	}{
		// A close leading pair far from the rest: alone, each residual is too
		// large for the 1.35 between them (7.4e-8), as a cluster the pair is
		// within 4e-9 of its eigenvectors.
		{"close pair, far from the rest", []float64{93.6, 92.25, 57.18, 56.24}, []float64{1e-7, 1e-7}, true},
		// The same residuals when the second eigenvalue is close to the third:
		// neither bound holds.
		{"second close to the third", []float64{93.6, 92.25, 92.2, 56.24}, []float64{1e-7, 1e-7}, false},
		// Separated eigenvalues: the bound alone decides, as it did before.
		{"separated, small residuals", []float64{4400, 1800, 900}, []float64{1e-6, 5e-6}, true},
		{"separated, large residuals", []float64{4400, 1800, 900}, []float64{1e-6, 1e-4}, false},
		// The cluster bound's second-order term: the pair's subspace is within
		// 5e-9, but a pair 1e-7 apart can rotate inside it by 5e-8.
		{"nearly equal pair", []float64{100, 100 - 1e-7, 10}, []float64{3.18e-7, 3.18e-7}, false},
		{"nearly equal pair, smaller residuals", []float64{100, 100 - 1e-7, 10}, []float64{3.18e-8, 3.18e-8}, true},
		{"one wanted", []float64{10, 5}, []float64{4e-8}, true},
		{"one wanted, too large", []float64{10, 5}, []float64{6e-8}, false},
		{"residuals at the floor", []float64{100, 100, 100}, []float64{1e-12, 0}, true},
		{"a NaN residual", []float64{100, 50, 10}, []float64{math.NaN(), 0}, false},
	} {
		if got := ritzConverged(tc.theta, tc.res); got != tc.want {
			t.Errorf("%s: converged %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestPowerPCAOnACloseLeadingPair checks the eigensolver against a dense
// eigen-decomposition where the two leading eigenvalues are close to each other
// and far from the third (votes (participant + statement) mod 3 put three groups
// on a circle, as in the server's benchmark conversation), cold and warm-started
// from the components of the matrix without its last 200 votes: the case where
// ritzConverged stops on the cluster bound.
func TestPowerPCAOnACloseLeadingPair(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	type vote struct {
		p, s string
		v    Vote
	}
	var votes []vote
	for range 8000 {
		p, o := rng.IntN(600), int(400*rng.Float64()*rng.Float64())
		votes = append(votes, vote{fmt.Sprint("p", p), fmt.Sprint("s", o), Vote((p+o)%3 - 1)})
	}
	build := func(n int) *voteData {
		m := NewMatrix()
		for _, v := range votes[:n] {
			if err := m.Set(v.p, v.s, v.v); err != nil {
				t.Fatal(err)
			}
		}
		return newVoteData(m, nil, nil)
	}
	prev := build(len(votes) - 200)
	d := build(len(votes))
	k := d.numCols()
	vals, vecs := denseEigen(t, d)
	l1, l2, l3 := vals[k-1], vals[k-2], vals[k-3]
	if 5*(l1-l2) > l2-l3 {
		t.Fatalf("eigenvalues %.4g, %.4g, %.4g: the leading pair is not close, the test checks nothing new", l1, l2, l3)
	}
	// The previous matrix's components, on this one's columns.
	warmPCA := powerPCA(prev, 2, nil)
	at := map[string]int{}
	for j, id := range prev.statements {
		at[id] = j
	}
	warm := make([][]float64, 2)
	for comp := range warm {
		warm[comp] = make([]float64, k)
		for j, id := range d.statements {
			if p, ok := at[id]; ok {
				warm[comp][j] = warmPCA.comps[comp][p]
			}
		}
	}
	for _, start := range []struct {
		name string
		warm [][]float64
	}{{"cold", nil}, {"warm", warm}} {
		got := powerPCA(d, 2, start.warm)
		if !got.converged {
			t.Fatalf("%s: did not converge in %d products", start.name, got.iterations)
		}
		for comp := range 2 {
			want := mat.Col(nil, k-1-comp, vecs)
			fixSign(want)
			worst := 0.0
			for j := range want {
				worst = math.Max(worst, math.Abs(got.comps[comp][j]-want[j]))
			}
			if worst > 1e-8 {
				t.Errorf("%s: component %d differs from the exact eigenvector by %.3g (%d products)", start.name, comp, worst, got.iterations)
			}
		}
		t.Logf("%s: %d products; eigenvalues %.5g, %.5g, %.5g", start.name, got.iterations, l1, l2, l3)
	}
}

// consensus picks, per direction, the five statements (not moderated out) with
// the largest p·z among those with p > 1/2 and a significant z, ties in column
// order: checked against that definition, computed for every column and
// sorted, on small counts, where p is close to 1/2 and the significance test
// decides.
func TestConsensusIsItsDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 21))
	for trial := range 300 {
		k := 1 + rng.IntN(40)
		d := &voteData{statements: make([]string, k), modOut: make([]bool, k)}
		all := make([]tally, k)
		for j := range k {
			d.statements[j] = fmt.Sprint("s", j)
			d.modOut[j] = rng.IntN(10) == 0
			s := rng.IntN(8)
			if rng.IntN(4) == 0 {
				s = rng.IntN(300)
			}
			a := rng.IntN(s + 1)
			all[j] = tally{a: int32(a), d: int32(rng.IntN(s - a + 1)), s: int32(s)}
		}
		got := consensus(d, all)
		for _, dir := range []string{DirectionAgree, DirectionDisagree} {
			type cand struct {
				j      int
				metric float64
			}
			var want []cand
			for j := range k {
				n := int(all[j].a)
				if dir == DirectionDisagree {
					n = int(all[j].d)
				}
				p, z := prob(n, int(all[j].s)), propTest(n, int(all[j].s))
				if !d.modOut[j] && p > 0.5 && significant(z) {
					want = append(want, cand{j, p * z})
				}
			}
			sort.SliceStable(want, func(x, y int) bool { return want[x].metric > want[y].metric })
			want = want[:min(len(want), maxConsensus)]
			list := got.Agree
			if dir == DirectionDisagree {
				list = got.Disagree
			}
			if len(list) != len(want) {
				t.Fatalf("trial %d, %s: %d statements, want %d", trial, dir, len(list), len(want))
			}
			for i, c := range want {
				if list[i].OpinionID != d.statements[c.j] {
					t.Fatalf("trial %d, %s: #%d is %s, want %s", trial, dir, i, list[i].OpinionID, d.statements[c.j])
				}
			}
		}
	}
}

// NewMatrixFromSortedRowsAfter checks the rows that are not prev's own at the
// same place, and all of them when prev's checks no longer hold (prev edited,
// or fewer statements now); the Matrix it builds analyses like one fully
// checked.
func TestNewMatrixFromSortedRowsAfter(t *testing.T) {
	participants := []string{"p0", "p1", "p2", "p3"}
	statements := []string{"a", "b", "c", "d"}
	rows := [][]Cell{
		{{0, Agree}, {2, Disagree}},
		{{1, Agree}, {3, Pass}},
		{{0, Disagree}, {1, Disagree}, {3, Agree}},
		{{2, Agree}},
	}
	prev, err := NewMatrixFromSortedRows(participants, statements, rows)
	if err != nil {
		t.Fatal(err)
	}

	// The next snapshot: one more statement, row 1 replaced (by a new array),
	// the others the same.
	statements2 := append(slices.Clone(statements), "e")
	rows2 := slices.Clone(rows)
	rows2[1] = []Cell{{1, Agree}, {3, Pass}, {4, Agree}}
	next, err := NewMatrixFromSortedRowsAfter(prev, participants, statements2, rows2)
	if err != nil {
		t.Fatal(err)
	}
	full, err := NewMatrixFromSortedRows(participants, statements2, rows2)
	if err != nil {
		t.Fatal(err)
	}
	if next.NumVotes() != full.NumVotes() || !sameAnalysis(t, next, full) {
		t.Fatalf("%d votes and an analysis that differ from the fully checked Matrix's (%d votes)", next.NumVotes(), full.NumVotes())
	}

	// A replaced row is checked, even of the same length.
	bad := slices.Clone(rows2)
	bad[2] = []Cell{{3, Agree}, {1, Agree}, {0, Agree}}
	if _, err := NewMatrixFromSortedRowsAfter(prev, participants, statements2, bad); err == nil || !strings.Contains(err.Error(), `"p2"`) {
		t.Fatalf("a replaced row out of order: error %v", err)
	}

	// A row changed in place breaks the contract: prev's checks then vouch
	// for it, unless they no longer hold.
	rows[3][0].Statement = 7 // out of range
	if _, err := NewMatrixFromSortedRowsAfter(prev, participants, statements2, rows); err != nil {
		t.Fatalf("an unchanged row (by address) was checked again: %v", err)
	}
	if _, err := NewMatrixFromSortedRowsAfter(nil, participants, statements2, rows); err == nil {
		t.Fatal("no prev: the bad row passed")
	}
	if _, err := NewMatrixFromSortedRowsAfter(prev, participants, statements[:3], rows); err == nil {
		t.Fatal("fewer statements than prev had: the bad row passed")
	}
	edited, err := NewMatrixFromSortedRows(participants, statements, [][]Cell{rows[0], rows[1], rows[2], {{2, Agree}}})
	if err != nil {
		t.Fatal(err)
	}
	edited.Set("p0", "d", Agree) // copies its rows: its checks are its own now
	edited.rows[3] = rows[3]     // (as if the same array: only an edit could put it there)
	if _, err := NewMatrixFromSortedRowsAfter(edited, participants, statements2, rows); err == nil {
		t.Fatal("prev edited: the bad row passed")
	}
}

// sameAnalysis reports whether cold runs on x and y give the same analysis.
func sameAnalysis(t *testing.T, x, y *Matrix) bool {
	t.Helper()
	a, _ := Run(Input{Votes: x}, nil)
	b, _ := Run(Input{Votes: y}, nil)
	return mustJSON(t, a) == mustJSON(t, b)
}

// TestMatrixWithDeletedStatements: a Matrix on an actor's rows, whose deleted
// statements keep their columns (id "") and cells, reads as the Matrix that
// copies the rows without them: votes, statements, lookups, analysis; and after
// an edit or a Clone, which drop them for good.
func TestMatrixWithDeletedStatements(t *testing.T) {
	participants := []string{"p0", "p1", "p2", "p3"}
	statements := []string{"a", "", "c", "d", ""}
	rows := [][]Cell{
		{{0, Agree}, {1, Disagree}, {2, Agree}},
		{{1, Agree}},
		{{0, Disagree}, {2, Pass}, {3, Agree}, {4, Agree}},
		{{2, Agree}, {3, Disagree}},
	}
	m, err := NewMatrixFromSortedRows(participants, statements, rows)
	if err != nil {
		t.Fatal(err)
	}
	flat, err := NewMatrixFromUniqueRows(participants, statements, rowOffsets(rows), slices.Concat(rows...))
	if err != nil {
		t.Fatal(err)
	}
	same := func(step string, x, y *Matrix) {
		t.Helper()
		if x.NumVotes() != y.NumVotes() || !slices.Equal(x.Statements(), y.Statements()) || !slices.Equal(x.Participants(), y.Participants()) {
			t.Fatalf("%s: %d votes, %v, %v; want %d, %v, %v", step, x.NumVotes(), x.Statements(), x.Participants(), y.NumVotes(), y.Statements(), y.Participants())
		}
		for _, p := range participants {
			for _, s := range append(slices.Clone(statements), "b") {
				xv, xok := x.Get(p, s)
				yv, yok := y.Get(p, s)
				if xv != yv || xok != yok {
					t.Fatalf("%s: Get(%s, %q) = %v, %v; want %v, %v", step, p, s, xv, xok, yv, yok)
				}
			}
		}
		if !sameAnalysis(t, x, y) {
			t.Fatalf("%s: the analyses differ", step)
		}
	}
	same("as built", m, flat)
	if m.NumVotes() != 7 || len(m.Statements()) != 3 {
		t.Fatalf("%d votes and statements %v; want 7 and [a c d]", m.NumVotes(), m.Statements())
	}
	same("a clone", m.Clone(), flat)
	mc, fc := m.Clone(), flat.Clone()
	for _, x := range []*Matrix{mc, fc} {
		if err := x.Set("p1", "d", Agree); err != nil {
			t.Fatal(err)
		}
		x.Delete("p0", "a")
	}
	same("edited", mc, fc)
	if err := m.Set("p1", "e", Disagree); err != nil {
		t.Fatal(err)
	}
	if err := flat.Set("p1", "e", Disagree); err != nil {
		t.Fatal(err)
	}
	same("edited in place", m, flat)

	// The next snapshot after a deletion reads every row again; without one,
	// only the rows that changed.
	prev, _ := NewMatrixFromSortedRows(participants, statements, rows)
	deleted := slices.Clone(statements)
	deleted[2] = ""
	next, err := NewMatrixFromSortedRowsAfter(prev, participants, deleted, slices.Clone(rows))
	if err != nil {
		t.Fatal(err)
	}
	if next.after != 0 || next.NumVotes() != 4 {
		t.Fatalf("after a deletion: built after %d, %d votes; want 0 and 4", next.after, next.NumVotes())
	}
	again, err := NewMatrixFromSortedRowsAfter(next, participants, append(slices.Clone(deleted), "f"), slices.Clone(rows))
	if err != nil {
		t.Fatal(err)
	}
	if again.after != next.id || again.NumVotes() != 4 || slices.Contains(again.same, false) {
		t.Fatalf("no deletion since: built after %d (want %d), %d votes, rows unchanged %v", again.after, next.id, again.NumVotes(), again.same)
	}
}
