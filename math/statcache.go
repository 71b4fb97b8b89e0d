package polismath

import (
	"math"
	"slices"
)

// statCache keeps, for every Matrix column, what a run derived from the column's
// per-group tallies alone: each group's figures for selecting representative
// statements, and the group-aware consensus. A column whose tallies are the ones
// the figures were computed from reuses them; only the others are computed again.
// After 100 new votes on a conversation of 19,000 statements, 87 to 112 columns have
// different tallies, so a warm run computes a few hundred statistics instead of
// 76,000 (4 groups).
//
// Being keyed by the tallies themselves, the cache cannot be stale: whatever moved
// (votes, memberships, groups renumbered, columns reordered), a column whose tallies
// differ is computed afresh, and one whose tallies are equal has, by construction,
// the figures those tallies give. Only the number of groups is part of the layout.
// One shortcut trusts the tallies' own bookkeeping instead: when the run counted
// its tallies from the previous run's (tallyCache) and this cache is that run's,
// for as many groups, the columns no counted row touched have that run's tallies,
// and are not checked at all (groupStats' touched).
//
// A warm run reads the whole cache, so it is kept small: 24 bytes per column and
// group, and 16 per column (2 MB at 19,000 statements and 4 groups).
type statCache struct {
	groups int
	// key[c*groups+g] is tallyKey of group g's tally of Matrix column c when
	// figs[c*groups+g] was computed.
	key  []uint64
	figs []figures
	// gac[c] is the group-aware consensus (agree, disagree) of column c.
	gac [][2]float64
}

// noKey marks a column without cached figures; it matches nothing, not even itself.
const noKey = ^uint64(0)

// tallyKey packs a tally in 64 bits, 21 per count. A group of over two million
// voters on one statement gets noKey: its column is computed every run.
func tallyKey(t tally) uint64 {
	if uint32(t.a)|uint32(t.d)|uint32(t.s) >= 1<<21 {
		return noKey
	}
	return uint64(t.a) | uint64(t.d)<<21 | uint64(t.s)<<42
}

// ready returns a cache for groups groups and cols Matrix columns: c itself when it
// has that layout (columns appended since keep theirs), else a new one.
func (c *statCache) ready(groups, cols int) *statCache {
	if c == nil || c.groups != groups {
		c = &statCache{groups: groups}
	}
	if have := len(c.gac); cols > have {
		// Room for the statements to come: a conversation gains them one by one,
		// and each would otherwise copy the whole cache.
		room := cols + cols/8 + 16
		if cols*groups > cap(c.key) {
			c.key = slices.Grow(c.key, (room-have)*groups)
		}
		if cols*groups > cap(c.figs) {
			c.figs = slices.Grow(c.figs, (room-have)*groups)
		}
		if cols > cap(c.gac) {
			c.gac = slices.Grow(c.gac, room-have)
		}
		c.key = c.key[:cols*groups]
		for i := have * groups; i < len(c.key); i++ {
			c.key[i] = noKey
		}
		c.figs = c.figs[:cols*groups]
		c.gac = c.gac[:cols]
	}
	return c
}

// clone returns a deep copy of c (nil for nil).
func (c *statCache) clone() *statCache {
	if c == nil {
		return nil
	}
	return &statCache{
		groups: c.groups,
		key:    append(make([]uint64, 0, cap(c.key)), c.key...),
		figs:   append(make([]figures, 0, cap(c.figs)), c.figs...),
		gac:    append(make([][2]float64, 0, cap(c.gac)), c.gac...),
	}
}

// figures are the statistics of one statement for one group (repStats) reduced to
// what the selection of representative statements compares, rounded to float32 to
// halve the memory a warm run reads. Rounding is monotone, so when the rounded
// values of two statements differ their exact ones compare the same way; when they
// are equal, the selection computes the exact ones (see repScan).
type figures struct {
	rank   float32 // rankMetric, when the statement passes
	strong float32 // repStats.strong, compared when the best agreed so far has ra > 1
	weak   float32 // repStats.weak, compared otherwise
	flags  uint8
}

const (
	figPasses  = 1 << iota // passes the significance tests
	figNoVotes             // no agree and no disagree vote: never the best agreed
	figRaOver1             // ra > 1
	figFirst               // best agreed when there is none before it
	figEmpty               // no vote of the group at all: the other figures are not set
)

func (f *figures) set(s *repStats) {
	f.strong = float32(s.strong())
	f.weak = float32(s.weak())
	f.flags = 0
	if s.passes() {
		f.flags |= figPasses
		f.rank = float32(s.rankMetric())
	}
	if s.na == 0 && s.nd == 0 {
		f.flags |= figNoVotes
	}
	if s.ra > 1 {
		f.flags |= figRaOver1
	}
	if significant(s.pat) || (s.ra > 1 && s.pa > 0.5) {
		f.flags |= figFirst
	}
}

// strong and weak are the metrics by which a statement replaces the best agreed
// one: strong when that one's ra exceeds 1, weak otherwise.
func (s *repStats) strong() float64 { return s.ra * s.rat * s.pa * s.pat }
func (s *repStats) weak() float64   { return s.pa * s.pat }

// groupStats selects the representative statements of every group (per[g] holds
// group g's tallies, grouped those of all groups together) and fills in c the
// group-aware consensus of every column, in one pass over the columns that computes
// the figures of the columns whose tallies changed.
func (c *statCache) groupStats(d *voteData, per [][]tally, grouped []tally, touched []bool) [][]Representative {
	groups := len(per)
	scans := make([]repScan, groups)
	for g := range scans {
		scans[g].best = -1
	}
	var s repStats
	for j := range d.numCols() {
		mc := int(d.matCol[j])
		key, figs := c.key[mc*groups:mc*groups+groups], c.figs[mc*groups:mc*groups+groups]
		// A column the tallies say did not change since the run that left c
		// (touched) keeps its figures; the others are checked by their tallies.
		for g, t := range per {
			if touched != nil && !touched[j] {
				break
			}
			if k := tallyKey(t[j]); k == key[g] && k != noKey {
				continue
			}
			// Changed: compute the column's figures for every group.
			all := grouped[j]
			for g, t := range per {
				in := t[j]
				key[g] = tallyKey(in)
				if in.s > 0 {
					s.set(j, in, rest(all, in))
					figs[g].set(&s)
				} else {
					figs[g] = figures{flags: figEmpty}
				}
			}
			ga, gd := groupAwareConsensus(per, j)
			c.gac[mc] = [2]float64{ga, gd}
			break
		}
		if d.modOut[j] {
			continue
		}
		for g := range per {
			// A statement none of the group voted on can neither pass the tests
			// (its probability test is 1, below z90) nor be the best agreed one.
			// Most statements neither pass nor come near the best agreed one.
			// Both are told by the figures alone, without reading the tallies.
			r, f := &scans[g], &figs[g]
			if f.flags&figEmpty != 0 || f.flags&(figPasses|figNoVotes) == 0 && r.best >= 0 && r.rival(f) < r.bar {
				continue
			}
			r.see(d, j, f, per[g][j], grouped[j], &s)
		}
	}
	out := make([][]Representative, groups)
	for g := range scans {
		out[g] = scans[g].result(d, per[g], grouped)
	}
	return out
}

// rest is the tally of the other grouped participants: all less in.
func rest(all, in tally) tally { return tally{all.a - in.a, all.d - in.d, all.s - in.s} }

// repScan is the selection of one group's representative statements as the columns
// go by: the best agreed statement, and the best maxRepresentative passing ones in
// the order a stable sort would give. (The best agreed statement goes in front and
// takes one of the places, so at most maxRepresentative-1 others are shown, and the
// best maxRepresentative always hold them, whether it is among them or not.)
type repScan struct {
	top      []Representative
	lastRank float64 // rankMetric of the last of top
	passing  int
	best     int     // column of the best agreed statement, -1: none
	strong   bool    // whether the best agreed statement's ra exceeds 1
	bar      float32 // its figure a statement must exceed to replace it (rival)
	bestIn   tally   // the group's and all groups' tallies of column best
	bestAll  tally
}

// rival is the figure of f compared with the best agreed statement's: strong when
// that one's ra exceeds 1, weak otherwise.
func (r *repScan) rival(f *figures) float32 {
	if r.strong {
		return f.strong
	}
	return f.weak
}

// see offers column j, with figures f and tallies in (the group's) and all (all
// groups'), to the selection. s is scratch space.
func (r *repScan) see(d *voteData, j int, f *figures, in, all tally, s *repStats) {
	const keep = maxRepresentative
	if f.flags&figPasses != 0 {
		r.passing++
		// What insertTop would drop is not built: a statement whose rounded rank is
		// below the last one's rounded is below it (insertTop compares exactly).
		if len(r.top) < keep || f.rank >= float32(r.lastRank) {
			s.set(j, in, rest(all, in))
			r.top = insertTop(r.top, keep, s.finalize(d.statements), ranksBefore)
			r.lastRank = rankMetric(r.top[len(r.top)-1])
		}
	}
	if r.beats(j, f, in, all, s) {
		r.best, r.bestIn, r.bestAll = j, in, all
		r.strong = f.flags&figRaOver1 != 0
		r.bar = r.rival(f)
	}
}

// beats decides whether column j replaces the best agreed statement: a group should
// always show at least one statement its members agree with.
func (r *repScan) beats(j int, f *figures, in, all tally, s *repStats) bool {
	switch {
	case f.flags&figNoVotes != 0:
		return false
	case r.best < 0:
		return f.flags&figFirst != 0
	}
	// Rounding is monotone: different roundings order the exact values the
	// same way; equal ones (or NaN) need the exact values.
	switch x := r.rival(f); {
	case x > r.bar:
		return true
	case x < r.bar:
		return false
	case in == r.bestIn && all == r.bestAll:
		return false // the same tallies: equal
	}
	var b repStats
	s.set(j, in, rest(all, in))
	b.set(r.best, r.bestIn, rest(r.bestAll, r.bestIn))
	if r.strong {
		return s.strong() > b.strong()
	}
	return s.weak() > b.weak()
}

// result returns up to five statements that characterise the group: the significant
// ones ranked by repness·test·probability·test, with the best agreed statement in
// front, agree statements before disagree ones. When nothing is significant it falls
// back to the best agreed statement, or else to the statement with the largest test
// value.
func (r *repScan) result(d *voteData, in, all []tally) []Representative {
	var head *Representative
	if r.best >= 0 {
		var s repStats
		s.set(r.best, in[r.best], rest(all[r.best], in[r.best]))
		f := s.finalize(d.statements)
		f.BestAgree = true
		head = &f
	}
	if r.passing == 0 {
		if head != nil {
			return []Representative{*head}
		}
		return largestTest(d, in, all)
	}
	ranked := make([]Representative, 0, len(r.top)+1)
	if head != nil {
		ranked = append(ranked, *head)
	}
	for _, x := range r.top {
		if head == nil || x.OpinionID != head.OpinionID {
			ranked = append(ranked, x)
		}
	}
	if len(ranked) > maxRepresentative {
		ranked = ranked[:maxRepresentative]
	}
	out := make([]Representative, 0, len(ranked))
	for _, dir := range []string{DirectionAgree, DirectionDisagree} {
		for _, x := range ranked {
			if x.Direction == dir {
				out = append(out, x)
			}
		}
	}
	return out
}

// largestTest is the last fallback of a group's representatives: the statement (not
// moderated out) with the largest test value, voted on by the group or not; none in a
// conversation without such statements.
func largestTest(d *voteData, in, all []tally) []Representative {
	var best *Representative
	var s repStats
	for j := range d.numCols() {
		if d.modOut[j] {
			continue
		}
		s.set(j, in[j], rest(all[j], in[j]))
		if best == nil || math.Max(s.rat, s.rdt) > float32Round(best.RepnessTest) {
			f := s.finalize(d.statements)
			best = &f
		}
	}
	if best == nil {
		return []Representative{}
	}
	return []Representative{*best}
}

// ranksBefore orders representative statements by rankMetric, larger first.
func ranksBefore(a, b Representative) bool { return rankMetric(a) > rankMetric(b) }
