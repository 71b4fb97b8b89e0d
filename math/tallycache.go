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
// It keeps the partition tables only (one per group, and the two of the
// participants outside any group; each row is counted in one), whose sums a run
// takes again: about 13.5 bytes per statement and table (6 tables with four
// groups: 1.5 MB at 19,000 statements), 4 per statement and 4 per participant.
type tallyCache struct {
	matrix uint64  // the id of the Matrix counted
	matCol []int32 // the tables' columns: per column, its Matrix column
	groups int     // the number of groups
	table  []int32 // per row of the Matrix: the table its votes are in (see slotOf), -1 for none
	all    []tally // table s is all[s*stride:][:len(matCol)]
	stride int
	// counted is the number of rows whose votes the run counted (added or
	// removed), every row when it counted from scratch.
	counted int
}

// slotOf is the partition table of row i: its group's, else the clustered
// participants' outside any group (groups), else the others' (groups+1).
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
// tallies, when they line up (see tallyCache), else from every vote. now is this
// run's compressed votes (rowsCache) and kept the previous run's (whose arrays
// readRows has given to w, but which nothing in this run writes). The last result
// is what the next run can count from (nil when m has no id); per are its tables,
// the sums are in w. touched, when the tallies were counted from tc, flags the
// columns (of d) whose tallies the count changed, or may have: every other column
// has the tallies of the run before in every table (nil otherwise).
func talliesAfter(w *workspace, d *voteData, m *Matrix, now, kept *rowsCache, tc *tallyCache, clusterable []bool, member []int, groups int) (everyone, clustered, grouped []tally, per [][]tally, touched []bool, next *tallyCache) {
	k, n, rows := d.numCols(), d.numRows(), len(m.rows)
	if m.id == 0 || now == nil || len(now.rowPtr) != rows+1 {
		everyone, clustered, grouped, per = tallies(w, d, clusterable, member, groups)
		return everyone, clustered, grouped, per, nil, nil
	}
	next = tc
	if next == nil {
		next = &tallyCache{}
	}
	parts := groups + 2
	// The table of each row of m, by its row of d (a row without votes has none:
	// -1, and no row of d).
	table := func(r int, i *int) int32 {
		if now.rowPtr[r] == now.rowPtr[r+1] {
			return -1
		}
		*i++
		return slotOf(*i-1, member, clusterable, groups)
	}
	if tc == nil || kept == nil || m.after == 0 || tc.matrix != m.after || kept.matrix != m.after ||
		len(m.same) != rows || len(tc.table) > rows || len(kept.rowPtr) != len(tc.table)+1 ||
		tc.groups != groups || !tc.remap(d.matCol, parts) {
		if next.stride < k || len(next.all) < next.stride*parts {
			next.stride = max(next.stride, roomFor(k))
			next.all = make([]tally, next.stride*parts)
		}
		countParts(next.all, next.stride, d, clusterable, member, groups)
		next.table, next.counted = next.table[:0], n
		i := 0
		for r := range rows {
			next.table = append(next.table, table(r, &i))
		}
	} else {
		tables := make([][]tally, parts)
		for s := range tables {
			tables[s] = tableView(next.all, next.stride, k, s)
		}
		old := len(tc.table)
		next.counted = 0
		touched = buffer(&w.touched, k)
		clear(touched)
		touch := func(cols, colOf []int32) {
			for _, j := range cols {
				if colOf != nil {
					j = colOf[j]
				}
				touched[j] = true
			}
		}
		i := 0
		for r := range rows {
			at := i // the row's place in d, if it has one
			s := table(r, &i)
			var cols []int32
			var votes []Vote
			if s >= 0 {
				lo, hi := d.rowPtr[at], d.rowPtr[at+1]
				cols, votes = d.col[lo:hi], d.vote[lo:hi]
			}
			was := int32(-1)
			if r < old {
				was = tc.table[r]
			}
			switch {
			case r < old && m.same[r]:
				if s == was {
					continue
				}
				// The same votes, in another table.
				if was >= 0 {
					removeVotes(tables[was], cols, votes, nil)
				}
			case was >= 0:
				// The row as the previous run counted it, in the Matrix's columns.
				plo, phi := kept.rowPtr[r], kept.rowPtr[r+1]
				removeVotes(tables[was], kept.col[plo:phi], kept.vote[plo:phi], d.colOf)
				touch(kept.col[plo:phi], d.colOf)
			}
			if s >= 0 {
				addVotes(tables[s], cols, votes)
			}
			touch(cols, nil)
			if r < old {
				next.table[r] = s
			} else {
				next.table = append(next.table, s)
			}
			next.counted++
		}
	}
	everyone, clustered, grouped, per = sumParts(buffer(&w.tallies, 3*k), next.all, next.stride, k, groups)
	next.matrix = m.id
	next.matCol = append(next.matCol[:0], d.matCol...)
	next.groups = groups
	return everyone, clustered, grouped, per, touched, next
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

// removeVotes takes one row's votes out of t, its columns renumbered by colOf
// when not nil (addVotes' inverse).
func removeVotes(t []tally, cols []int32, votes []Vote, colOf []int32) {
	votes = votes[:len(cols)]
	for p, j := range cols {
		if colOf != nil {
			j = colOf[j]
		}
		c := &t[j]
		v := int32(votes[p])
		c.s--
		c.a -= (v + 1) >> 1
		c.d -= (1 - v) >> 1
	}
}
