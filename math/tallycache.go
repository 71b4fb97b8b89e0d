package polismath

import "slices"

// tallyCache is one run's tallies (tallies' tables), kept in the State for the next
// run with what they were counted from: each row's table, the number of groups and
// the columns. When the next run's Matrix was built after this one's, and its rows
// and number of groups line up with these, it changes the tables by the rows that
// changed (their old votes out, from the kept compressed votes, and their new ones
// in) and by the rows that changed table (a participant who moved to another group
// or joined the clustered ones), instead of counting all the votes again: after 100
// new votes on a 113,000-vote conversation, a few hundred of 6,000 rows.
//
// The tables have room for more columns than they use, so that the statements
// that get their first votes (new ones, mostly at the end) only move the columns
// after them.
//
// It costs the State about 13.5 bytes per statement and table (5 tables and one
// per group), 4 per statement and 4 per participant.
type tallyCache struct {
	matrix uint64  // the id of the Matrix counted
	matCol []int32 // the tables' columns: per column, its Matrix column
	groups int     // the number of groups
	table  []int32 // per row: the table its votes are in (see slotOf)
	all    []tally // table t is all[t*stride:][:len(matCol)]
	stride int
	// counted is the number of rows whose votes the run counted (added or
	// removed), every row when it counted from scratch.
	counted int
}

// slotOf is the table of row i: its group's, else the clustered participants'
// outside any group (groups), else the others' (groups+1). Table s is tableViews'
// table 3+s.
func slotOf(i int, member []int, clusterable []bool, groups int) int32 {
	switch g := member[i]; {
	case g >= 0:
		return int32(g)
	case clusterable[i]:
		return int32(groups)
	default:
		return int32(groups + 1)
	}
}

// talliesAfter is tallies for the run on m, counted from tc, the previous run's
// tallies, when they line up (see tallyCache), else from every vote; kept holds
// the previous run's compressed votes (rowsCache, whose arrays readRows has given
// to w, but which nothing in this run writes). The second result is what the next
// run can count from (nil when m has no id or a row without a vote); its tables
// are the ones returned.
func talliesAfter(w *workspace, d *voteData, m *Matrix, kept *rowsCache, tc *tallyCache, clusterable []bool, member []int, groups int) (everyone, clustered, grouped []tally, per [][]tally, next *tallyCache) {
	k, n := d.numCols(), d.numRows()
	if m.id == 0 || n != len(m.rows) {
		everyone, clustered, grouped, per = tallies(w, d, clusterable, member, groups)
		return everyone, clustered, grouped, per, nil
	}
	next = tc
	if next == nil {
		next = &tallyCache{}
	}
	if tc == nil || kept == nil || m.after == 0 || tc.matrix != m.after || kept.matrix != m.after ||
		len(m.same) != n || len(tc.table) > n || tc.groups != groups || !tc.remap(d.matCol, 5+groups) {
		if next.stride < k {
			next.stride = roomFor(k)
			next.all = make([]tally, next.stride*(5+groups))
		}
		if len(next.all) < next.stride*(5+groups) {
			next.all = make([]tally, next.stride*(5+groups))
		}
		everyone, clustered, grouped, per = talliesIn(next.all, next.stride, d, clusterable, member, groups)
		next.table, next.counted = next.table[:0], n
		for i := range n {
			next.table = append(next.table, slotOf(i, member, clusterable, groups))
		}
	} else {
		everyone, clustered, grouped, per = tableViews(next.all, next.stride, k, groups)
		tables := make([][]tally, groups+2)
		copy(tables, per)
		tables[groups] = tableView(next.all, next.stride, k, 3+groups)
		tables[groups+1] = tableView(next.all, next.stride, k, 4+groups)
		// count adds (sign 1) or removes (-1) one row's votes in table s and in
		// the sums that include it; colOf, when not nil, renumbers the columns.
		count := func(s int32, cols []int32, votes []Vote, colOf []int32, sign int32) {
			sums := [4][]tally{tables[s], everyone}
			ns := 2
			if int(s) <= groups {
				sums[ns] = clustered
				ns++
			}
			if int(s) < groups {
				sums[ns] = grouped
				ns++
			}
			for p, j := range cols {
				if colOf != nil {
					j = colOf[j]
				}
				v := int32(votes[p])
				a, dis := sign*((v+1)>>1), sign*((1-v)>>1)
				for _, t := range sums[:ns] {
					c := &t[j]
					c.a += a
					c.d += dis
					c.s += sign
				}
			}
		}
		old := len(tc.table)
		next.counted = 0
		for i := range n {
			s := slotOf(i, member, clusterable, groups)
			lo, hi := d.rowPtr[i], d.rowPtr[i+1]
			switch {
			case i >= old:
				count(s, d.col[lo:hi], d.vote[lo:hi], nil, 1)
				next.table = append(next.table, s)
			case !m.same[i]:
				// The row as the previous run counted it, in the Matrix's columns.
				plo, phi := kept.rowPtr[i], kept.rowPtr[i+1]
				count(tc.table[i], kept.col[plo:phi], kept.vote[plo:phi], d.colOf, -1)
				count(s, d.col[lo:hi], d.vote[lo:hi], nil, 1)
				next.table[i] = s
			case s != tc.table[i]:
				count(tc.table[i], d.col[lo:hi], d.vote[lo:hi], nil, -1)
				count(s, d.col[lo:hi], d.vote[lo:hi], nil, 1)
				next.table[i] = s
			default:
				continue
			}
			next.counted++
		}
	}
	next.matrix = m.id
	next.matCol = append(next.matCol[:0], d.matCol...)
	next.groups = groups
	return everyone, clustered, grouped, per, next
}

// remap moves the columns of tc's tables (of the given number) to the columns
// matCol, of which tc's are a part, in the same order: the statements that got
// their first votes since (a column each) start at zero. It reports false,
// changing nothing, when a column of tc's is not in matCol (a statement lost its
// last vote).
func (tc *tallyCache) remap(matCol []int32, tables int) bool {
	kOld, kNew := len(tc.matCol), len(matCol)
	if len(tc.all) < tc.stride*tables || kNew < kOld {
		return false
	}
	if slices.Equal(tc.matCol, matCol) {
		return true
	}
	// The old columns' stretches, and where each begins in the new tables.
	type stretch struct{ to, from, n int }
	stretches := []stretch{}
	p := 0
	for j, mc := range matCol {
		if p < kOld && tc.matCol[p] == mc {
			if last := len(stretches) - 1; last >= 0 && stretches[last].to+stretches[last].n == j && stretches[last].from+stretches[last].n == p {
				stretches[last].n++
			} else {
				stretches = append(stretches, stretch{j, p, 1})
			}
			p++
		}
	}
	if p != kOld {
		return false
	}
	src, stride := tc.all, tc.stride
	if kNew > tc.stride {
		tc.stride = roomFor(kNew)
		tc.all = make([]tally, tc.stride*tables)
	}
	for t := range tables {
		in, out := src[t*stride:t*stride+kOld], tc.all[t*tc.stride:t*tc.stride+kNew]
		// From the last stretch: each moves to or after its place, so none is
		// overwritten before it moves. The new columns are zeroed after.
		for i := len(stretches) - 1; i >= 0; i-- {
			s := stretches[i]
			if &out[s.to] != &in[s.from] {
				copy(out[s.to:s.to+s.n], in[s.from:s.from+s.n])
			}
		}
		at := 0
		for _, s := range stretches {
			clear(out[at:s.to])
			at = s.to + s.n
		}
		clear(out[at:])
	}
	return true
}
