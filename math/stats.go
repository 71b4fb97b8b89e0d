package polismath

import (
	"math"
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

// tally counts agree, disagree and seen (passes included) votes. The counts are
// 32-bit so that a conversation's tables take half the cache: counting them is a
// scatter over every statement.
type tally struct{ a, d, s int32 }

// tallies counts the raw votes of every statement in one pass over the votes: by
// everyone, by the clustered participants (clusterable[i]) and by each of the groups
// (member[i] is the group index of row i, or -1; a group's members are clustered),
// and by the groups together (grouped). The tables share one allocation, in w.
//
// Each row's votes are counted once, in the table of its group (or of the clustered
// participants outside any group, or of the others: the partition tables, see
// slotOf); the clustered and everyone tables are then sums of those tables, far
// cheaper than two more scatters over every vote.
func tallies(w *workspace, d *voteData, clusterable []bool, member []int, groups int) (everyone, clustered, grouped []tally, per [][]tally) {
	k := d.numCols()
	all := buffer(&w.tallies, k*(5+groups))
	parts := all[3*k:]
	countParts(parts, k, d, clusterable, member, groups)
	return sumParts(all[:3*k], parts, k, k, groups)
}

// countParts counts every row's votes in its partition table (table slotOf(i) of
// parts, table s at parts[s*stride:], stride >= d.numCols()).
func countParts(parts []tally, stride int, d *voteData, clusterable []bool, member []int, groups int) {
	k := d.numCols()
	tables := make([][]tally, groups+2)
	for s := range tables {
		tables[s] = tableView(parts, stride, k, s)
		clear(tables[s])
	}
	for i := range d.numRows() {
		lo, hi := d.rowPtr[i], d.rowPtr[i+1]
		addVotes(tables[slotOf(i, member, clusterable, groups)], d.col[lo:hi], d.vote[lo:hi])
	}
}

// sumParts returns the groups' tables (in parts, see countParts) and their sums in
// sums (three tables of k): everyone, the clustered participants, the groups.
func sumParts(sums, parts []tally, stride, k, groups int) (everyone, clustered, grouped []tally, per [][]tally) {
	everyone, clustered, grouped = tableView(sums, k, k, 0), tableView(sums, k, k, 1), tableView(sums, k, k, 2)
	per = make([][]tally, groups)
	for g := range per {
		per[g] = tableView(parts, stride, k, g)
	}
	restIn, restOut := tableView(parts, stride, k, groups), tableView(parts, stride, k, groups+1)
	clear(grouped)
	for _, t := range per {
		for j := range grouped {
			grouped[j].a += t[j].a
			grouped[j].d += t[j].d
			grouped[j].s += t[j].s
		}
	}
	sum := func(out, a, b []tally) {
		for j := range out {
			out[j] = tally{a[j].a + b[j].a, a[j].d + b[j].d, a[j].s + b[j].s}
		}
	}
	sum(clustered, grouped, restIn)
	sum(everyone, clustered, restOut)
	return everyone, clustered, grouped, per
}

// tableView returns table t of all: k tallies at all[t*stride:].
func tableView(all []tally, stride, k, t int) []tally { return all[t*stride : t*stride+k : t*stride+k] }

// addVotes adds one row's votes to t. It counts without branching on the vote
// (agree adds (v+1)>>1 = 1, disagree (1-v)>>1 = 1, a pass neither): the votes of
// a row are unpredictable, and a mispredicted branch per vote cost more than the
// counting.
func addVotes(t []tally, cols []int32, votes []Vote) {
	votes = votes[:len(cols)]
	for p, j := range cols {
		c := &t[j]
		v := int32(votes[p])
		c.s++
		c.a += (v + 1) >> 1
		c.d += (1 - v) >> 1
	}
}

// prob is the probability of success with one pseudo-success and two pseudo-trials, so
// that a statement with no votes sits at 1/2 rather than being undefined.
func prob(success, trials int) float64 {
	return ratio(success+1, trials+2)
}

// propTest is the one-proportion z-score of success against 1/2 (with pseudo-counts).
func propTest(success, trials int) float64 {
	return 2 * root(trials+1) * (ratio(success+1, trials+1) - 0.5)
}

// twoPropTest is the z-score of the difference between the success rates s1/n1 and
// s2/n2, every count increased by one.
func twoPropTest(s1, s2, n1, n2 int) float64 {
	pooled := ratio(s1+s2+2, n1+n2+2)
	if pooled == 1 {
		return 0
	}
	return (ratio(s1+1, n1+1) - ratio(s2+1, n2+1)) / math.Sqrt(pooled*(1-pooled)*(ratio(1, n1+1)+ratio(1, n2+1)))
}

// smallCounts bounds the counts whose quotients and square roots are looked up
// rather than computed. The statistics of a statement cost about twenty divisions
// and four square roots, for every statement and group; in a large conversation
// most statements have only a handful of votes, so nearly all of them are read
// from these tables, which hold exactly the values the operations give.
const smallCounts = 64

var (
	ratios = func() (t [smallCounts * smallCounts]float64) {
		for y := range smallCounts {
			for x := range smallCounts {
				t[y*smallCounts+x] = float64(x) / float64(y)
			}
		}
		return t
	}()
	roots = func() (t [smallCounts]float64) {
		for x := range t {
			t[x] = math.Sqrt(float64(x))
		}
		return t
	}()
)

// ratio is float64(x) / float64(y) for counts x and y.
func ratio(x, y int) float64 {
	if uint(x) < smallCounts && uint(y) < smallCounts {
		return ratios[y*smallCounts+x]
	}
	return float64(x) / float64(y)
}

// root is the square root of the count x.
func root(x int) float64 {
	if uint(x) < smallCounts {
		return roots[x]
	}
	return math.Sqrt(float64(x))
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

// set computes the statistics of statement col in place (a repStats is too large to
// pass around by value in the loop over every statement).
func (s *repStats) set(col int, in, rest tally) {
	ia, id, is := int(in.a), int(in.d), int(in.s)
	ra, rd, rs := int(rest.a), int(rest.d), int(rest.s)
	s.col, s.na, s.nd, s.ns = col, ia, id, is
	s.pa, s.pd = prob(ia, is), prob(id, is)
	s.pat, s.pdt = propTest(ia, is), propTest(id, is)
	s.ra = s.pa / prob(ra, rs)
	s.rd = s.pd / prob(rd, rs)
	s.rat = twoPropTest(ia, ra, is, rs)
	s.rdt = twoPropTest(id, rd, is, rs)
}

// passes reports whether the statement is significantly representative of the group,
// in the agree or in the disagree direction.
func (s *repStats) passes() bool {
	return (significant(s.rat) && significant(s.pat)) || (significant(s.rdt) && significant(s.pdt))
}

// finalize picks the direction in which the statement is more representative.
func (s *repStats) finalize(ids []string) Representative {
	if s.rat > s.rdt {
		return Representative{OpinionID: ids[s.col], Direction: DirectionAgree, NSuccess: s.na, NTrials: s.ns,
			PSuccess: s.pa, PTest: s.pat, Repness: s.ra, RepnessTest: s.rat}
	}
	return Representative{OpinionID: ids[s.col], Direction: DirectionDisagree, NSuccess: s.nd, NTrials: s.ns,
		PSuccess: s.pd, PTest: s.pdt, Repness: s.rd, RepnessTest: s.rdt}
}

// rankMetric is the rankMetric of s.finalize, without building it.
func (s *repStats) rankMetric() float64 {
	if s.rat > s.rdt {
		return s.ra * float32Round(s.rat) * s.pa * s.pat
	}
	return s.rd * float32Round(s.rdt) * s.pd * s.pdt
}

// float32Round mimics Polis, which stores the repness test as a 32-bit float before
// sorting and comparing; using the rounded value keeps near-ties in Polis' order.
func float32Round(x float64) float64 { return float64(float32(x)) }

// rankMetric is the sort key of representative statements.
func rankMetric(r Representative) float64 {
	return r.Repness * float32Round(r.RepnessTest) * r.PSuccess * r.PTest
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
		// The best maxConsensus in stable order (ties keep column order), selected
		// as they come instead of sorting every candidate.
		cs := make([]cand, 0, maxConsensus+1)
		for j := range d.numCols() {
			if d.modOut[j] {
				continue
			}
			n := int(all[j].a)
			if dir == DirectionDisagree {
				n = int(all[j].d)
			}
			if 2*n <= int(all[j].s) {
				// prob(n, s) = (n+1)/(s+2) > 1/2 exactly when 2n > s; most
				// statements fail it, and their figures are not needed.
				continue
			}
			p, z := prob(n, int(all[j].s)), propTest(n, int(all[j].s))
			// What insertTop would drop is not built.
			if p > 0.5 && significant(z) && (len(cs) < maxConsensus || p*z > cs[len(cs)-1].metric) {
				cs = insertTop(cs, maxConsensus, cand{ConsensusOpinion{OpinionID: d.statements[j], NSuccess: n, NTrials: int(all[j].s), PSuccess: p, PTest: z}, p * z},
					func(a, b cand) bool { return a.metric > b.metric })
			}
		}
		out := make([]ConsensusOpinion, len(cs))
		for i, c := range cs {
			out[i] = c.c
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
		agree *= prob(int(g[j].a), int(g[j].s))
		disagree *= prob(int(g[j].d), int(g[j].s))
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
	newness := 1.0
	if int(t.s) < len(newnessOf) {
		newness = newnessOf[t.s]
	}
	v := importance * newness
	return v * v
}

// newnessOf[s] is 1 + 8·2^(−s/5), the newness factor of a statement seen s times. From
// s = 300 on, 8·2^(−60) is below half an ulp of 1, so the factor is exactly 1.
var newnessOf = func() []float64 {
	t := make([]float64, 300)
	for s := range t {
		t[s] = 1 + 8*math.Pow(2, -float64(s)/5)
	}
	return t
}()

// insertTop inserts x into top, which holds at most n elements in order (better first,
// earlier arrivals first among equals), and drops what falls past n: fed every
// candidate in turn, it leaves the first n of a stable sort, at O(n) per candidate
// instead of sorting them all.
func insertTop[T any](top []T, n int, x T, better func(a, b T) bool) []T {
	i := len(top)
	for i > 0 && better(x, top[i-1]) {
		i--
	}
	if i >= n {
		return top
	}
	top = append(top, x)
	copy(top[i+1:], top[i:])
	top[i] = x
	if len(top) > n {
		top = top[:n]
	}
	return top
}
