package polismath

import (
	"math"
	"sort"
)

// Statistical constants, as in Polis.
const (
	// z90 is the one-sided 90% critical value Polis hard-codes (Φ⁻¹(0.9) rounded); we
	// use the same rounding so that the same statements pass the tests.
	z90 = 1.2816
	// maxRepresentative and maxConsensus cap the lists shown to people.
	maxRepresentative = 5
	maxConsensus      = 5
	// metaPriority is the priority of meta statements (7²): they are shown early, at a
	// fixed rate, whatever their votes.
	metaPriority = 49
)

// tally counts agree, disagree and seen (passes included) votes.
type tally struct{ a, d, s int }

// groupTallies counts, for each group and each statement, the raw votes of the group's
// members; member[i] is the group index of row i or -1.
func groupTallies(d *voteData, member []int, groups int) [][]tally {
	out := make([][]tally, groups)
	for g := range out {
		out[g] = make([]tally, d.numCols())
	}
	for i, g := range member {
		if g < 0 {
			continue
		}
		addRow(d, i, out[g])
	}
	return out
}

// rowTallies counts the raw votes of the selected rows (all rows when sel is nil).
func rowTallies(d *voteData, sel []bool) []tally {
	out := make([]tally, d.numCols())
	for i := range d.numRows() {
		if sel == nil || sel[i] {
			addRow(d, i, out)
		}
	}
	return out
}

func addRow(d *voteData, i int, t []tally) {
	for p := d.rowPtr[i]; p < d.rowPtr[i+1]; p++ {
		c := &t[d.col[p]]
		c.s++
		switch d.vote[p] {
		case Agree:
			c.a++
		case Disagree:
			c.d++
		}
	}
}

// prob is the probability of success with one pseudo-success and two pseudo-trials, so
// that a statement with no votes sits at 1/2 rather than being undefined.
func prob(success, trials int) float64 {
	return float64(success+1) / float64(trials+2)
}

// propTest is the one-proportion z-score of success against 1/2 (with pseudo-counts).
func propTest(success, trials int) float64 {
	n := float64(trials) + 1
	return 2 * math.Sqrt(n) * ((float64(success)+1)/n - 0.5)
}

// twoPropTest is the z-score of the difference between the success rates s1/n1 and
// s2/n2, every count increased by one.
func twoPropTest(s1, s2, n1, n2 int) float64 {
	a, b := float64(s1)+1, float64(s2)+1
	m, n := float64(n1)+1, float64(n2)+1
	pooled := (a + b) / (m + n)
	if pooled == 1 {
		return 0
	}
	return (a/m - b/n) / math.Sqrt(pooled*(1-pooled)*(1/m+1/n))
}

// significant reports whether z passes the one-sided 90% test.
func significant(z float64) bool { return z > z90 }

// repStats are the statistics of one statement for one group against the other
// clustered participants.
type repStats struct {
	col              int
	na, nd, ns       int
	pa, pd, pat, pdt float64
	ra, rd, rat, rdt float64
}

func newRepStats(col int, in, rest tally) repStats {
	s := repStats{col: col, na: in.a, nd: in.d, ns: in.s}
	s.pa, s.pd = prob(in.a, in.s), prob(in.d, in.s)
	s.pat, s.pdt = propTest(in.a, in.s), propTest(in.d, in.s)
	s.ra = s.pa / prob(rest.a, rest.s)
	s.rd = s.pd / prob(rest.d, rest.s)
	s.rat = twoPropTest(in.a, rest.a, in.s, rest.s)
	s.rdt = twoPropTest(in.d, rest.d, in.s, rest.s)
	return s
}

// passes reports whether the statement is significantly representative of the group,
// in the agree or in the disagree direction.
func (s repStats) passes() bool {
	return (significant(s.rat) && significant(s.pat)) || (significant(s.rdt) && significant(s.pdt))
}

// finalize picks the direction in which the statement is more representative.
func (s repStats) finalize(ids []string) Representative {
	if s.rat > s.rdt {
		return Representative{OpinionID: ids[s.col], Direction: DirectionAgree, NSuccess: s.na, NTrials: s.ns,
			PSuccess: s.pa, PTest: s.pat, Repness: s.ra, RepnessTest: s.rat}
	}
	return Representative{OpinionID: ids[s.col], Direction: DirectionDisagree, NSuccess: s.nd, NTrials: s.ns,
		PSuccess: s.pd, PTest: s.pdt, Repness: s.rd, RepnessTest: s.rdt}
}

// float32Round mimics Polis, which stores the repness test as a 32-bit float before
// sorting and comparing; using the rounded value keeps near-ties in Polis' order.
func float32Round(x float64) float64 { return float64(float32(x)) }

// rankMetric is the sort key of representative statements.
func rankMetric(r Representative) float64 {
	return r.Repness * float32Round(r.RepnessTest) * r.PSuccess * r.PTest
}

// beatsBestAgree decides whether s replaces the current best agreed statement b: a
// group should always show at least one statement its members agree with.
func beatsBestAgree(s repStats, b *repStats) bool {
	switch {
	case s.na == 0 && s.nd == 0:
		return false
	case b != nil && b.ra > 1:
		return s.ra*s.rat*s.pa*s.pat > b.ra*b.rat*b.pa*b.pat
	case b != nil:
		return s.pa*s.pat > b.pa*b.pat
	default:
		return significant(s.pat) || (s.ra > 1 && s.pa > 0.5)
	}
}

// representatives selects up to five statements that characterise group g: the
// significant ones ranked by repness·test·probability·test, with the best agreed
// statement in front, agree statements before disagree ones. When nothing is
// significant it falls back to the best agreed statement, or else to the statement with
// the largest test value.
func representatives(d *voteData, in, all []tally) []Representative {
	var passing []Representative
	var best *Representative
	var bestAgree *repStats
	for j := range d.numCols() {
		if d.modOut[j] {
			continue
		}
		rest := tally{all[j].a - in[j].a, all[j].d - in[j].d, all[j].s - in[j].s}
		s := newRepStats(j, in[j], rest)
		if s.passes() {
			passing = append(passing, s.finalize(d.statements))
		}
		if len(passing) == 0 {
			if best == nil || math.Max(s.rat, s.rdt) > float32Round(best.RepnessTest) {
				f := s.finalize(d.statements)
				best = &f
			}
		}
		if beatsBestAgree(s, bestAgree) {
			c := s
			bestAgree = &c
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
		case best != nil:
			return []Representative{*best}
		default:
			return []Representative{}
		}
	}
	ranked := make([]Representative, 0, len(passing)+1)
	if head != nil {
		ranked = append(ranked, *head)
	}
	rest := make([]Representative, 0, len(passing))
	for _, r := range passing {
		if head == nil || r.OpinionID != head.OpinionID {
			rest = append(rest, r)
		}
	}
	sort.SliceStable(rest, func(a, b int) bool { return rankMetric(rest[a]) > rankMetric(rest[b]) })
	ranked = append(ranked, rest...)
	if len(ranked) > maxRepresentative {
		ranked = ranked[:maxRepresentative]
	}
	out := make([]Representative, 0, len(ranked))
	for _, dir := range []string{DirectionAgree, DirectionDisagree} {
		for _, r := range ranked {
			if r.Direction == dir {
				out = append(out, r)
			}
		}
	}
	return out
}

// consensus lists the statements (not moderated out) that a clear majority of all
// participants agree with, and those they disagree with, five at most each, ranked by
// probability times test value.
func consensus(d *voteData, all []tally) Consensus {
	pick := func(dir string) []ConsensusOpinion {
		type cand struct {
			c      ConsensusOpinion
			metric float64
		}
		var cs []cand
		for j := range d.numCols() {
			if d.modOut[j] {
				continue
			}
			n := all[j].a
			if dir == DirectionDisagree {
				n = all[j].d
			}
			p, z := prob(n, all[j].s), propTest(n, all[j].s)
			if p > 0.5 && significant(z) {
				cs = append(cs, cand{ConsensusOpinion{OpinionID: d.statements[j], NSuccess: n, NTrials: all[j].s, PSuccess: p, PTest: z}, p * z})
			}
		}
		sort.SliceStable(cs, func(a, b int) bool { return cs[a].metric > cs[b].metric })
		out := make([]ConsensusOpinion, 0, maxConsensus)
		for i := 0; i < len(cs) && i < maxConsensus; i++ {
			out = append(out, cs[i].c)
		}
		return out
	}
	return Consensus{Agree: pick(DirectionAgree), Disagree: pick(DirectionDisagree)}
}

// groupAwareConsensus returns, for one statement, the product over groups of the
// probability that a member agrees (and disagrees): a statement scores high only if
// every group, not just the largest, agrees with it.
func groupAwareConsensus(per [][]tally, j int) (agree, disagree float64) {
	agree, disagree = 1, 1
	for _, g := range per {
		agree *= prob(g[j].a, g[j].s)
		disagree *= prob(g[j].d, g[j].s)
	}
	return agree, disagree
}

// priority is the routing weight of a statement from the votes of the clustered
// participants and its extremity: statements that are not mostly passed, that divide
// the map and that few have seen yet come first.
func priority(t tally, extremity float64, meta bool) float64 {
	if meta {
		return metaPriority
	}
	a, s := float64(t.a), float64(t.s)
	pass := float64(t.s - t.a - t.d)
	importance := (1 - (pass+1)/(s+2)) * (extremity + 1) * (a + 1) / (s + 2)
	newness := 1 + 8*math.Pow(2, -s/5)
	v := importance * newness
	return v * v
}
