package polismath

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// TestStatCacheEqualsFresh follows conversations through a series of warm runs in
// which votes arrive, statements are moderated out and back in, groups form and
// change, and the statements are once listed in another order. Every run that updates
// the statistics its State cached must give the analysis, bit for bit, of the same
// run computing every statistic afresh.
func TestStatCacheEqualsFresh(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			votes := synthConversation(seed, 300, 80, 6000, 2+int(seed%3), 0.8)
			var st *State
			cached := 0
			for step, n := range []int{1500, 2500, 2600, 2610, 3500, 3501, 4200, 4200, 4200, 5000, 6000, 6000} {
				in := Input{Votes: synthMatrix(votes, n), Statements: nil}
				ids := in.Votes.Statements()
				switch step {
				case 6: // moderate out every seventh statement
					for j := 0; j < len(ids); j += 7 {
						in.ModeratedOut = append(in.ModeratedOut, ids[j])
					}
				case 7: // and some of them back in, others out, one as meta
					for j := 3; j < len(ids); j += 7 {
						in.ModeratedOut = append(in.ModeratedOut, ids[j])
					}
					in.Meta = ids[:1]
				case 10: // the same votes, the statements in reverse order
					in.Votes = reversedColumns(t, in.Votes, false)
				case 11: // a statement deleted: the columns after it move left
					in.Votes = reversedColumns(t, reversedColumns(t, in.Votes, true), false)
				}
				bare := (*State)(nil)
				if st != nil {
					if st.stats.Load() != nil {
						cached++
					}
					bare = st.Clone()
					bare.stats.Store(nil)
				}
				got, next := Run(in, st)
				want, _ := Run(in, bare)
				jg, _ := json.Marshal(got)
				jw, _ := json.Marshal(want)
				if string(jg) != string(jw) {
					t.Fatalf("step %d (%d votes): the run with cached statistics differs from the fresh one", step, n)
				}
				if !slices.Equal(got.GroupVotes, want.GroupVotes) {
					t.Fatalf("step %d: the group votes differ", step)
				}
				if st != nil && st.stats.Load() != nil {
					t.Fatalf("step %d: the run did not take over its State's statistics", step)
				}
				st = next
			}
			if cached < 8 {
				t.Fatalf("only %d of 11 warm runs had cached statistics to update", cached)
			}
		})
	}
}

// reversedColumns returns m with its statements listed in reverse order, the
// last one (first in the result) deleted when drop is set.
func reversedColumns(t *testing.T, m *Matrix, drop bool) *Matrix {
	t.Helper()
	ids := m.Statements()
	slices.Reverse(ids)
	if drop {
		ids[0] = "" // NewMatrixFromRows drops a deleted statement's cells
	}
	col := make(map[string]int32, len(ids))
	for j, id := range ids {
		col[id] = int32(j)
	}
	if drop {
		col[m.Statements()[len(ids)-1]] = 0 // its cells go to the deleted column
	}
	participants := m.Participants()
	rowPtr := []int{0}
	var cells []Cell
	for _, p := range participants {
		for _, s := range m.Statements() {
			if v, ok := m.Get(p, s); ok {
				cells = append(cells, Cell{Statement: col[s], Vote: v})
			}
		}
		rowPtr = append(rowPtr, len(cells))
	}
	out, err := NewMatrixFromRows(participants, ids, rowPtr, cells)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStatCacheClaimedOnce checks that a State's statistics go to the first run
// given it, and that a second run from the same State, without them, gives the same
// analysis.
func TestStatCacheClaimedOnce(t *testing.T) {
	votes := synthConversation(3, 300, 80, 6000, 3, 0.8)
	_, st := Run(Input{Votes: synthMatrix(votes, 5000)}, nil)
	if st.stats.Load() == nil {
		t.Fatal("a run with groups left no statistics in its State")
	}
	in := Input{Votes: synthMatrix(votes, 5100)}
	clone := st.Clone()
	a, _ := Run(in, st)
	if st.stats.Load() != nil {
		t.Fatal("the first run left the statistics in the State it started from")
	}
	if clone.stats.Load() == nil {
		t.Fatal("Clone did not copy the statistics")
	}
	b, _ := Run(in, st)
	c, _ := Run(in, clone)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	jc, _ := json.Marshal(c)
	if string(ja) != string(jb) || string(ja) != string(jc) {
		t.Fatal("runs from one State, with and without its statistics, differ")
	}
}

// TestRepresentativesEqualPlainSelection checks the one-pass selection against the
// plain reading of polis-math.md §11: every statement's statistics, the best agreed
// one found by a scan in column order, the passing ones sorted (stably) by their rank
// metric. Groups are the ones Run finds (many statements pass) or drawn at random
// (few or none do, so the fallbacks are taken), and some statements are moderated
// out.
func TestRepresentativesEqualPlainSelection(t *testing.T) {
	fallbacks, found := 0, 0
	for seed := range uint64(400) {
		rng := rand.New(rand.NewPCG(seed, 7))
		groups := 2 + int(seed%4)
		participants, statements := 10+rng.IntN(150), 3+rng.IntN(40)
		if seed%2 == 0 { // groups found by Run: larger, so that many statements pass
			participants, statements = 60+rng.IntN(300), 20+rng.IntN(80)
		}
		votes := synthConversation(seed, participants, statements, participants*statements/2, groups, 0.6+0.4*rng.Float64())
		m := synthMatrix(votes, 1+rng.IntN(len(votes)))
		modOut := map[string]bool{}
		for _, id := range m.Statements() {
			if rng.IntN(10) == 0 {
				modOut[id] = true
			}
		}
		d := newVoteData(m, modOut, nil)
		member := make([]int, d.numRows())
		clusterable := make([]bool, d.numRows())
		for i := range member {
			clusterable[i] = rng.IntN(8) != 0
			member[i] = -1
			if clusterable[i] {
				member[i] = rng.IntN(groups)
			}
		}
		if res, _ := Run(Input{Votes: m, ModeratedOut: slices.Collect(maps.Keys(modOut))}, nil); seed%2 == 0 && res.K >= 2 {
			// The groups Run finds (its participants are d's rows).
			groups = res.K
			index := map[int]int{}
			for g, c := range res.Clusters {
				index[c.ID] = g
			}
			for i, p := range res.Participants {
				member[i], clusterable[i] = -1, p.Cluster != nil
				if p.Cluster != nil {
					member[i] = index[*p.Cluster]
				}
			}
			found++
		}
		_, _, grouped, per := tallies(d.w, d, clusterable, member, groups)
		got := (*statCache)(nil).ready(groups, len(m.Statements())).groupStats(d, per, grouped, nil)
		for g := range per {
			want := plainRepresentatives(d, per[g], grouped)
			if len(want) == 1 && !want[0].BestAgree && want[0].RepnessTest <= z90 {
				fallbacks++
			}
			jg, _ := json.Marshal(got[g])
			jw, _ := json.Marshal(want)
			if string(jg) != string(jw) {
				t.Fatalf("seed %d, group %d:\n got %s\nwant %s", seed, g, jg, jw)
			}
		}
	}
	if fallbacks == 0 || found < 10 {
		t.Fatalf("%d groups fell back to the statement with the largest test, %d conversations had groups found by Run", fallbacks, found)
	}
}

// plainRepresentatives is the selection of a group's representative statements as
// polis-math.md §11 states it.
func plainRepresentatives(d *voteData, in, all []tally) []Representative {
	var passing []Representative
	var bestAgree *repStats
	var largest *Representative
	for j := range d.numCols() {
		if d.modOut[j] {
			continue
		}
		var s repStats
		s.set(j, in[j], rest(all[j], in[j]))
		if s.passes() {
			passing = append(passing, s.finalize(d.statements))
		}
		beats := false
		switch b := bestAgree; {
		case s.na == 0 && s.nd == 0:
		case b != nil && b.ra > 1:
			beats = s.ra*s.rat*s.pa*s.pat > b.ra*b.rat*b.pa*b.pat
		case b != nil:
			beats = s.pa*s.pat > b.pa*b.pat
		default:
			beats = significant(s.pat) || (s.ra > 1 && s.pa > 0.5)
		}
		if beats {
			c := s
			bestAgree = &c
		}
		if largest == nil || math.Max(s.rat, s.rdt) > float32Round(largest.RepnessTest) {
			f := s.finalize(d.statements)
			largest = &f
		}
	}
	var head *Representative
	if bestAgree != nil {
		f := bestAgree.finalize(d.statements)
		f.BestAgree = true
		head = &f
	}
	if len(passing) == 0 {
		switch {
		case head != nil:
			return []Representative{*head}
		case largest != nil:
			return []Representative{*largest}
		}
		return []Representative{}
	}
	sort.SliceStable(passing, func(a, b int) bool { return rankMetric(passing[a]) > rankMetric(passing[b]) })
	var ranked []Representative
	if head != nil {
		ranked = append(ranked, *head)
	}
	for _, r := range passing {
		if head == nil || r.OpinionID != head.OpinionID {
			ranked = append(ranked, r)
		}
	}
	ranked = ranked[:min(len(ranked), maxRepresentative)]
	out := []Representative{}
	for _, dir := range []string{DirectionAgree, DirectionDisagree} {
		for _, r := range ranked {
			if r.Direction == dir {
				out = append(out, r)
			}
		}
	}
	return out
}

// TestLargestTestFallbackKeepsTheFirstOfEqualStatements: a group that only passed
// has neither a significant statement nor a best agreed one, so it shows the
// statement with the largest test value; of two with equal tallies, the first.
func TestLargestTestFallbackKeepsTheFirstOfEqualStatements(t *testing.T) {
	m := NewMatrix()
	for p := range 8 {
		for s, v := range []Vote{Agree, Agree, Disagree} {
			if p < 4 {
				v = Pass // group 0
			}
			if err := m.Set(fmt.Sprint("p", p), fmt.Sprint("s", s), v); err != nil {
				t.Fatal(err)
			}
		}
	}
	d := newVoteData(m, nil, nil)
	member := []int{0, 0, 0, 0, 1, 1, 1, 1}
	clusterable := slices.Repeat([]bool{true}, 8)
	_, _, grouped, per := tallies(d.w, d, clusterable, member, 2)
	got := (*statCache)(nil).ready(2, 3).groupStats(d, per, grouped, nil)[0]
	if len(got) != 1 || got[0].OpinionID != "s0" || got[0].BestAgree {
		t.Fatalf("group 0 shows %+v, want s0 as the largest test", got)
	}
	if want := plainRepresentatives(d, per[0], grouped); !slices.Equal(got, want) {
		t.Fatalf("got %+v, the plain selection %+v", got, want)
	}
}

// TestStatCacheGrowsByColumns: as statements come one by one, the cache keeps every
// column's key and figures and marks the new columns as not computed.
func TestStatCacheGrowsByColumns(t *testing.T) {
	for groups := 1; groups <= 5; groups++ {
		var c *statCache
		for cols := 1; cols <= 400; cols++ {
			c = c.ready(groups, cols)
			if len(c.key) != cols*groups || len(c.figs) != cols*groups || len(c.gac) != cols {
				t.Fatalf("groups %d, cols %d: lengths %d %d %d", groups, cols, len(c.key), len(c.figs), len(c.gac))
			}
			for c0 := range cols - 1 {
				for g := range groups {
					if want := tallyKey(tally{int32(c0), int32(g), 1}); c.key[c0*groups+g] != want {
						t.Fatalf("groups %d, cols %d: column %d lost its key", groups, cols, c0)
					}
				}
			}
			for g := range groups {
				if c.key[(cols-1)*groups+g] != noKey {
					t.Fatalf("groups %d: new column %d has a key", groups, cols-1)
				}
				c.key[(cols-1)*groups+g] = tallyKey(tally{int32(cols - 1), int32(g), 1})
			}
			if cols%37 == 0 {
				c = c.clone()
			}
		}
		if c.ready(groups+1, 10).groups != groups+1 {
			t.Fatal("a new number of groups kept the layout")
		}
	}
}

// TestSelectionBreaksRoundedTiesExactly: the selection compares float32 roundings
// of the figures, and the exact values when those are equal. Here the statements'
// rank metrics (and, below, their best-agreed metrics) differ only past float32
// precision, the greater one coming last: it must win, as it does in the plain
// selection.
func TestSelectionBreaksRoundedTiesExactly(t *testing.T) {
	run := func(ins, alls []tally) []Representative {
		t.Helper()
		n := len(ins)
		d := &voteData{modOut: make([]bool, n)}
		other := make([]tally, n)
		for j := range n {
			d.statements = append(d.statements, fmt.Sprint("s", j))
			d.matCol = append(d.matCol, int32(j))
			other[j] = rest(alls[j], ins[j])
		}
		per := [][]tally{ins, other}
		got := (*statCache)(nil).ready(2, n).groupStats(d, per, alls, nil)[0]
		if want := plainRepresentatives(d, ins, alls); !slices.Equal(got, want) {
			t.Fatalf("got %+v\nthe plain selection %+v", got, want)
		}
		return got
	}
	// Four statements ranked far above, then x and y: rankMetric 8.334633104179108
	// and 8.334633187138435, one float32.
	high := tally{20, 0, 20}
	got := run(
		[]tally{high, high, high, high, {0, 2, 2}, {0, 2, 2}},
		[]tally{{20, 20, 40}, {20, 21, 41}, {20, 22, 42}, {20, 23, 43}, {10, 5, 15}, {17, 8, 25}})
	if got[len(got)-1].OpinionID != "s5" {
		t.Fatalf("the last statement shown is %s, want s5", got[len(got)-1].OpinionID)
	}
	// The best agreed metric (ra·rat·pa·pat) of s0 is 8.33463282411522, that of s1
	// 8.334632824115223: s1 replaces s0.
	got = run([]tally{{2, 0, 2}, {2, 0, 2}}, []tally{{8, 17, 25}, {5, 10, 15}})
	if !got[0].BestAgree || got[0].OpinionID != "s1" {
		t.Fatalf("the best agreed statement is %+v, want s1", got[0])
	}
	// The same for statements that do not pass (the selection skips most of
	// those without calling for their statistics): 0.8619968380178861 and
	// 0.8619968380178865.
	got = run([]tally{{7, 0, 13}, {1, 0, 1}}, []tally{{7, 0, 16}, {5, 0, 7}})
	if len(got) != 1 || !got[0].BestAgree || got[0].OpinionID != "s1" {
		t.Fatalf("the selection is %+v, want s1 as the best agreed statement", got)
	}
}

// TestStatCacheRecomputesHugeTallies: counts too large to pack in a key (over two
// million voters of a group on one statement) are never taken as unchanged.
func TestStatCacheRecomputesHugeTallies(t *testing.T) {
	const big = 3 << 21
	d := &voteData{statements: []string{"s0", "s1"}, matCol: []int32{0, 1}, modOut: make([]bool, 2)}
	c := (*statCache)(nil).ready(2, 2)
	for _, in := range [][]tally{
		{{big, 0, big}, {0, big, big}},
		{{0, big, big}, {big, 0, big}}, // the same keys (none), other tallies
	} {
		other := []tally{{big, big, 2 * big}, {big, big, 2 * big}}
		all := make([]tally, 2)
		for j := range all {
			all[j] = tally{in[j].a + other[j].a, in[j].d + other[j].d, in[j].s + other[j].s}
		}
		got := c.groupStats(d, [][]tally{in, other}, all, nil)[0]
		if want := plainRepresentatives(d, in, all); !slices.Equal(got, want) {
			t.Fatalf("got %+v\nthe plain selection %+v", got, want)
		}
	}
}

// TestStatCacheAGroupThatStopsVoting: a column whose group tally becomes empty
// (its voters moved to another group) is neither shown nor chosen as the best
// agreed statement for that group on the next run from the same cache, as in
// the plain selection: the cached figures of its former tally do not count.
func TestStatCacheAGroupThatStopsVoting(t *testing.T) {
	d := &voteData{statements: []string{"s0", "s1", "s2"}, matCol: []int32{0, 1, 2}, modOut: make([]bool, 3)}
	c := (*statCache)(nil).ready(2, 3)
	for round, in := range [][]tally{
		{{30, 0, 30}, {3, 4, 9}, {2, 2, 5}}, // s0: the group agrees, the others do not
		{{0, 0, 0}, {3, 4, 9}, {2, 2, 5}},   // its voters have left the group
	} {
		other := []tally{{1, 29, 30}, {5, 5, 12}, {3, 3, 8}}
		if round == 1 {
			other[0] = tally{31, 29, 60}
		}
		all := make([]tally, 3)
		for j := range all {
			all[j] = tally{in[j].a + other[j].a, in[j].d + other[j].d, in[j].s + other[j].s}
		}
		got := c.groupStats(d, [][]tally{in, other}, all, nil)[0]
		if want := plainRepresentatives(d, in, all); !slices.Equal(got, want) {
			t.Fatalf("round %d: got %+v\nthe plain selection %+v", round, got, want)
		}
		if round == 0 && (len(got) == 0 || got[0].OpinionID != "s0") {
			t.Fatalf("round 0: %+v, want s0 first", got)
		}
	}
}
