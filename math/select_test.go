package polismath

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// TestInsertTopIsAStableSortsPrefix checks the bounded selection that replaced
// sorting every consensus and representative candidate: fed the candidates in
// order, it must leave exactly the first n of a stable sort, ties in arrival order.
func TestInsertTopIsAStableSortsPrefix(t *testing.T) {
	type cand struct {
		metric float64
		order  int
	}
	better := func(a, b cand) bool { return a.metric > b.metric }
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 2000 {
		n := 1 + rng.IntN(6)
		var all, top []cand
		for i := range rng.IntN(40) {
			c := cand{float64(rng.IntN(8)), i} // few values: many ties
			all = append(all, c)
			top = insertTop(top, n, c, better)
		}
		want := slices.Clone(all)
		sort.SliceStable(want, func(a, b int) bool { return better(want[a], want[b]) })
		want = want[:min(n, len(want))]
		if fmt.Sprint(top) != fmt.Sprint(want) {
			t.Fatalf("trial %d, n = %d: got %v, want %v", trial, n, top, want)
		}
	}
}

// TestUnvoted checks the merge pass against the plain definition: the listed ids
// not among the voted ones, once each, in listed order, whatever the orders and
// repetitions.
func TestUnvoted(t *testing.T) {
	plain := func(voted, listed []string) []string {
		seen := toSet(voted)
		var out []string
		for _, id := range listed {
			if id != "" && !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
		return out
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 5000 {
		ids := make([]string, 12)
		for i := range ids {
			ids[i] = fmt.Sprint("s", i)
		}
		// voted: a subsequence of ids (column order); listed: usually all ids in
		// order, sometimes shuffled, sometimes with repeats or extra ids.
		var voted []string
		for _, id := range ids {
			if rng.IntN(3) > 0 {
				voted = append(voted, id)
			}
		}
		listed := slices.Clone(ids)
		switch trial % 4 {
		case 1:
			rng.Shuffle(len(listed), func(i, j int) { listed[i], listed[j] = listed[j], listed[i] })
		case 2:
			listed = append(listed, listed[rng.IntN(len(listed))], "new")
		case 3:
			listed = listed[:rng.IntN(len(listed)+1)]
		}
		if trial%8 >= 4 {
			// Deleted statements ("") among the listed ones, as an actor lists
			// its opinion column: skipped.
			for range 1 + rng.IntN(3) {
				listed = slices.Insert(listed, rng.IntN(len(listed)+1), "")
			}
		}
		got, want := unvoted(voted, listed), plain(voted, listed)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("voted %v, listed %v: got %v, want %v", voted, listed, got, want)
		}
	}
}

// TestAlignComponents checks the merge-pass alignment of the previous components
// against the map-based one: new statements anywhere start at zero, and a
// statement that disappeared forces the general path.
func TestAlignComponents(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 2000 {
		var prevIDs []string
		for i := range 10 {
			if rng.IntN(4) > 0 {
				prevIDs = append(prevIDs, fmt.Sprint("s", i))
			}
		}
		prev := &State{StatementIDs: prevIDs, Components: [][]float64{make([]float64, len(prevIDs)), make([]float64, len(prevIDs))}}
		for c := range prev.Components {
			for j := range prevIDs {
				prev.Components[c][j] = rng.NormFloat64()
			}
		}
		var cur []string
		for i := range 12 {
			id := fmt.Sprint("s", i)
			if slices.Contains(prevIDs, id) && (trial%3 != 0 || rng.IntN(8) > 0) {
				cur = append(cur, id)
			} else if !slices.Contains(prevIDs, id) && rng.IntN(2) == 0 {
				cur = append(cur, id)
			}
		}
		got := alignComponents(nil, prev, cur)
		for c := range 2 {
			for j, id := range cur {
				want := 0.0
				if p := slices.Index(prevIDs, id); p >= 0 {
					want = prev.Components[c][p]
				}
				if got[c][j] != want {
					t.Fatalf("prev %v, current %v: component %d of %s is %v, want %v", prevIDs, cur, c, id, got[c][j], want)
				}
			}
		}
	}
}

// TestUnvotedOfTheMatrixColumns: when Statements lists exactly the matrix's columns,
// Run takes the columns without a vote from the compressed matrix instead of
// comparing the lists; the opinions it returns are those of the general path.
func TestUnvotedOfTheMatrixColumns(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	for trial := range 300 {
		ids := make([]string, 2+rng.IntN(12))
		for i := range ids {
			ids[i] = fmt.Sprint("s", i)
		}
		participants := []string{"p0", "p1", "p2"}
		rowPtr := []int{0}
		var cells []Cell
		for range participants {
			for j := range ids {
				if rng.IntN(3) == 0 {
					cells = append(cells, Cell{Statement: int32(j), Vote: Vote(rng.IntN(3) - 1)})
				}
			}
			rowPtr = append(rowPtr, len(cells))
		}
		m, err := NewMatrixFromRows(participants, ids, rowPtr, cells)
		if err != nil {
			t.Fatal(err)
		}
		d := newVoteData(m, nil, nil)
		got, columns := unvotedOf(d, m, slices.Clone(ids))
		if want := unvoted(d.statements, ids); fmt.Sprint(got) != fmt.Sprint(want) || !columns {
			t.Fatalf("trial %d: unvoted of the matrix columns %v (the columns: %v), general path %v", trial, got, columns, want)
		}
		// Not the matrix's columns: the general path.
		other := append(slices.Clone(ids), "extra")
		if got, columns := unvotedOf(d, m, other); fmt.Sprint(got) != fmt.Sprint(unvoted(d.statements, other)) || columns {
			t.Fatalf("trial %d: %v (the columns: %v), general path %v", trial, got, columns, unvoted(d.statements, other))
		}

		// The Result maps the listed statements to their opinions.
		res, _ := Run(Input{Votes: m, Statements: slices.Clone(ids)}, nil)
		if len(res.ListedOpinion) != len(ids) {
			t.Fatalf("trial %d: %d listed opinions for %d statements", trial, len(res.ListedOpinion), len(ids))
		}
		for i, o := range res.ListedOpinion {
			if res.Opinions[o].OpinionID != ids[i] {
				t.Fatalf("trial %d: statement %d (%s) maps to opinion %d (%s)", trial, i, ids[i], o, res.Opinions[o].OpinionID)
			}
		}
		if res, _ := Run(Input{Votes: m, Statements: other}, nil); res.ListedOpinion != nil {
			t.Fatalf("trial %d: listed opinions for statements other than the columns", trial)
		}
	}
}

// TestSharedCenteredEqualsCompact: without moderated-out statements, the centered
// matrix the PCA multiplies by is the compressed matrix's own entries; it must be
// what the general construction builds.
func TestSharedCenteredEqualsCompact(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 11))
	for trial := range 200 {
		in := randomInput(rng, 1+rng.IntN(30), 1+rng.IntN(20), 0.05+0.9*rng.Float64(), []Vote{Agree, Disagree, Pass})
		d := newVoteData(in.Votes, nil, nil)
		if d.nModOut != 0 {
			t.Fatal("moderated-out columns without moderation")
		}
		got, want := sharedCentered(d), compactCentered(d)
		if got.rows != want.rows || got.cols != want.cols || !slices.Equal(got.rowPtr, want.rowPtr) || !slices.Equal(got.col, want.col) ||
			!slices.Equal(got.val, want.val) || !slices.Equal(got.rowOf, want.rowOf) || !slices.Equal(got.colOf, want.colOf) {
			t.Fatalf("trial %d: shared %+v, compact %+v", trial, got, want)
		}
	}
}

// TestSharedCenteredWithModeratedOutEqualsCompact checks that when newCentered
// shares d's entries although columns are moderated out, the eigensolver returns
// exactly what it returns on the compact form, cold and warm.
func TestSharedCenteredWithModeratedOutEqualsCompact(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 13))
	shared := 0
	for trial := range 300 {
		in := randomInput(rng, 2+rng.IntN(25), 3+rng.IntN(40), 0.05+0.9*rng.Float64(), []Vote{Agree, Disagree, Pass})
		modOut := map[string]bool{}
		for _, id := range in.Votes.Statements() {
			if rng.IntN(5) == 0 {
				modOut[id] = true
			}
		}
		d := newVoteData(in.Votes, modOut, nil)
		if d.nModOut == 0 || !sharesWithModeratedOut(d) {
			continue
		}
		shared++
		cold, want := powerPCAOn(d, sharedCentered(d), 2, nil), powerPCAOn(d, compactCentered(d), 2, nil)
		warm := [][]float64{make([]float64, d.numCols()), make([]float64, d.numCols())}
		for c := range warm {
			for j := range warm[c] {
				warm[c][j] = rng.NormFloat64()
			}
		}
		warmGot, warmWant := powerPCAOn(d, sharedCentered(d), 2, warm), powerPCAOn(d, compactCentered(d), 2, warm)
		for c := range 2 {
			if !slices.Equal(cold.comps[c], want.comps[c]) || !slices.Equal(warmGot.comps[c], warmWant.comps[c]) {
				t.Fatalf("trial %d: component %d differs between the shared and the compact form", trial, c)
			}
		}
		if cold.iterations != want.iterations || warmGot.iterations != warmWant.iterations {
			t.Fatalf("trial %d: %d/%d products, compact %d/%d", trial, cold.iterations, warmGot.iterations, want.iterations, warmWant.iterations)
		}
	}
	if shared < 50 {
		t.Fatalf("only %d of 300 trials shared the entries", shared)
	}
}

// TestPositionsFromTheEigensolver: when the eigensolver works on the rows' side,
// the participants' positions come from its images of the eigenvectors instead
// of a pass over the votes; they must be the projections of the rows on the
// components (projectParticipants), with and without moderated-out statements
// (shared and compact centered forms), cold and warm.
func TestPositionsFromTheEigensolver(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	fromImages := 0
	for trial := range 300 {
		in := randomInput(rng, 2+rng.IntN(40), 2+rng.IntN(40), 0.05+0.9*rng.Float64(), []Vote{Agree, Disagree, Pass})
		modOut := map[string]bool{}
		if trial%2 == 0 {
			for _, id := range in.Votes.Statements() {
				if rng.IntN(4) == 0 {
					modOut[id] = true
				}
			}
		}
		d := newVoteData(in.Votes, modOut, nil)
		if d.numRows() < 2 {
			continue
		}
		var warm [][]float64
		if trial%3 == 0 {
			warm = [][]float64{make([]float64, d.numCols()), make([]float64, d.numCols())}
			for c := range warm {
				for j := range warm[c] {
					warm[c][j] = rng.NormFloat64()
				}
			}
		}
		res := powerPCA(d, min(2, d.numCols()), warm)
		if res.proj == nil {
			continue
		}
		fromImages++
		comps := res.comps
		for len(comps) < 2 {
			comps = append(comps, make([]float64, d.numCols()))
		}
		got := scaledPositions(d, slices.Clone(res.proj))
		want := projectParticipants(d, comps)
		scale := 1.0
		for _, p := range want {
			scale = max(scale, math.Abs(p[0]), math.Abs(p[1]))
		}
		for i := range want {
			for c := range 2 {
				if math.Abs(got[i][c]-want[i][c]) > 1e-9*scale {
					t.Fatalf("trial %d: participant %d, component %d: %v from the eigensolver, %v projected", trial, i, c, got[i][c], want[i][c])
				}
			}
		}
	}
	if fromImages < 100 {
		t.Fatalf("only %d of 300 trials had the positions from the eigensolver", fromImages)
	}
}
