package polismath

import "slices"

// voteData is the read-only, compressed (CSR) form of one Matrix snapshot that every
// stage of the pipeline works on. It only contains participants and statements with at
// least one vote (Polis' matrix has no empty rows or columns), in Matrix order.
type voteData struct {
	participants []string // active rows
	statements   []string // active columns
	matCol       []int32  // per active column: its column in the Matrix
	colOf        []int32  // per Matrix column: its active column, -1 if it has no vote
	unused       []string // the Matrix's other columns: statements without a vote (not the deleted, "")
	modOut       []bool   // per column: moderated out or meta, so zeroed for the PCA
	meta         []bool   // per column: meta statement (priority 49)
	nModOut      int

	// Raw votes of row i are vote[rowPtr[i]:rowPtr[i+1]] in columns col[...], sorted.
	rowPtr []int
	col    []int32
	vote   []Vote

	// Centered PCA entries: the present cells of columns that are not moderated out,
	// holding vote - mean. Every other cell of the centered matrix is exactly zero.
	// Without moderated-out columns cRowPtr and cCol are rowPtr and col.
	cRowPtr []int
	cCol    []int32
	cVal    []float64

	parallel bool       // products may run in two goroutines (Input.Parallel)
	w        *workspace // the arrays' owner; the eigensolver takes its vectors from it

	mean      []float64 // per column; 0 for moderated-out columns
	voteCount []int     // per row: present raw votes, passes and moderated-out columns included
	seen      []int     // per row: present cells after zeroing, i.e. n_i of the scaling factor
}

// newVoteData compresses m, dropping empty rows and columns and marking the given
// moderated-out and meta statements.
//
// It reads the Matrix's rows, which may lie anywhere in memory, only once: the cells
// are copied with the Matrix's column numbers while the columns' counts and sums are
// taken, and the columns are renumbered afterwards in the compact copy. Without
// moderated-out statements the centered entries are the raw cells', so they share
// the raw column and row tables.
func newVoteData(m *Matrix, modOut, meta map[string]bool) *voteData {
	flags := func(set map[string]bool) []bool {
		if len(set) == 0 {
			return nil
		}
		out := make([]bool, len(m.statements))
		for j, id := range m.statements {
			out[j] = set[id]
		}
		return out
	}
	d, _ := newVoteDataIn(new(workspace), m, flags(modOut), flags(meta), nil)
	return d
}

// newVoteDataIn is newVoteData with its arrays taken from w (the voteData must not
// be used once w is reused) and the moderated-out and meta statements flagged per
// column of m (nil: none). rc, when not nil, is what the run before kept of its
// Matrix's rows (the caller hands it over: its sums become the result's, its other
// arrays w's, unchanged until w serves another run); the second result is what
// this run keeps for the next one (nil unless m was built by
// NewMatrixFromSortedRowsAfter).
func newVoteDataIn(w *workspace, m *Matrix, modOut, meta []bool, rc *rowsCache) (*voteData, *rowsCache) {
	nAll := len(m.statements)
	rows := readRows(w, m, rc)
	sum, cnt := rows.sum, rows.cnt
	d := &voteData{
		w:      w,
		rowPtr: rows.rowPtr,
		col:    rows.col,
		vote:   rows.vote,
	}
	var next *rowsCache
	if m.id != 0 {
		next = rows
		// The arrays are the next run's now; the workspace takes the old ones
		// in their place, for whichever run it serves next.
		if rc != nil {
			w.rowPtr, w.col, w.vote = rc.rowPtr, rc.col, rc.vote
		} else {
			w.rowPtr, w.col, w.vote = nil, nil, nil
		}
	}
	// The participants with a vote: usually every row, and then the Matrix's
	// own list (nothing in a run changes it) and the rows' offsets as they are.
	ids := buffer(&w.ids, len(m.rows)+nAll)
	d.participants = m.participants[:len(m.rows):len(m.rows)]
	d.unused = ids[len(m.rows):len(m.rows)]
	for i := range m.rows {
		if rows.rowPtr[i] == rows.rowPtr[i+1] {
			d.dropEmptyRows(m, ids, rows.rowPtr)
			break
		}
	}

	// The columns with a vote, in Matrix order.
	d.statements = make([]string, 0, nAll)
	flags := buffer(&w.flags, 2*nAll)
	d.modOut, d.meta = flags[:0:nAll], flags[nAll:nAll]
	d.mean = make([]float64, 0, nAll)
	colMap := buffer(&w.colMap, nAll)
	d.colOf = colMap
	d.matCol = buffer(&w.matCol, nAll)[:0]
	for j, id := range m.statements {
		if cnt[j] == 0 {
			colMap[j] = -1
			if id != "" { // a deleted statement is no unvoted one
				d.unused = append(d.unused, id)
			}
			continue
		}
		colMap[j] = int32(len(d.statements))
		d.statements = append(d.statements, id)
		d.matCol = append(d.matCol, int32(j))
		// Most conversations have few moderated or meta statements: skip hashing
		// every id when there are none.
		isMeta := meta != nil && meta[j]
		out := isMeta || (modOut != nil && modOut[j])
		d.modOut = append(d.modOut, out)
		d.meta = append(d.meta, isMeta)
		mean := 0.0
		if out {
			d.nModOut++
		} else {
			mean = sum[j] / float64(cnt[j])
		}
		d.mean = append(d.mean, mean)
	}
	// Without unvoted columns the Matrix's column numbers are d's; otherwise
	// the cells are renumbered, in the centering pass when there is one, into
	// an array of their own (the Matrix's numbers are kept for the next run).
	renumber := len(d.statements) < nAll
	raw := d.col
	if renumber {
		d.col = buffer(&w.dcol, len(raw))
		if d.nModOut > 0 {
			for p, j := range raw {
				d.col[p] = colMap[j]
			}
		}
	}

	n := len(d.participants)
	counts := buffer(&w.counts, 2*n)
	d.voteCount, d.seen = counts[:n:n], counts[n:]
	for i := range n {
		d.voteCount[i] = d.rowPtr[i+1] - d.rowPtr[i]
	}
	if d.nModOut == 0 {
		d.cRowPtr, d.cCol = d.rowPtr, d.col
		// Local slices, resliced to one length: the loop then reloads nothing
		// through d and checks bounds only on the mean.
		cols := raw
		cVal, vote, mean := buffer(&w.cVal, len(cols)), d.vote[:len(cols)], d.mean
		if renumber {
			out := d.col[:len(cols)]
			for p, j := range cols {
				c := colMap[j]
				out[p] = c
				cVal[p] = float64(vote[p]) - mean[c]
			}
		} else {
			for p, j := range cols {
				cVal[p] = float64(vote[p]) - mean[j]
			}
		}
		d.cVal = cVal
		copy(d.seen, d.voteCount)
		return d, next
	}
	// Every cell is written at the next free place, which only moves on when the
	// cell's column is kept: no branch on the column, which the votes make
	// unpredictable. A moderated-out column's mean is 0.
	keep := buffer(&w.keep, len(d.modOut))
	for j, out := range d.modOut {
		keep[j] = 1
		if out {
			keep[j] = 0
		}
	}
	cRowPtr, cCol, cVal := buffer(&w.cRowPtr, n+1), buffer(&w.cCol, len(d.col)), buffer(&w.cVal, len(d.col))
	cRowPtr[0] = 0
	q := 0
	for i := range n {
		lo, hi := d.rowPtr[i], d.rowPtr[i+1]
		start := q
		for p := lo; p < hi; p++ {
			j := d.col[p]
			cCol[q] = j
			cVal[q] = float64(d.vote[p]) - d.mean[j]
			q += int(keep[j])
		}
		// A moderated-out column is zeroed in every cell, missing ones included, so it
		// counts as seen for everybody.
		d.seen[i] = q - start + d.nModOut
		cRowPtr[i+1] = q
	}
	d.cRowPtr, d.cCol, d.cVal = cRowPtr, cCol[:q:q], cVal[:q:q]
	return d, next
}

// dropEmptyRows leaves the rows without a vote out of d's participants and row
// offsets (rowPtr, by Matrix row, is kept as it is).
func (d *voteData) dropEmptyRows(m *Matrix, ids []string, rowPtr []int) {
	d.participants = ids[:0:len(m.rows)]
	d.rowPtr = buffer(&d.w.dRowPtr, len(m.rows)+1)[:1]
	d.rowPtr[0] = 0
	for i, id := range m.participants {
		if rowPtr[i+1] > rowPtr[i] {
			d.participants = append(d.participants, id)
			d.rowPtr = append(d.rowPtr, rowPtr[i+1])
		}
	}
}

// rowsCache is one run's raw votes by Matrix row, in the Matrix's column numbers,
// with each column's sum and count of votes. A State keeps it for the next run,
// whose Matrix, built after this one's by NewMatrixFromSortedRowsAfter, knows which
// of its rows are the very rows this one read: those are copied from here, in long
// contiguous runs, instead of being read where they lie (an actor's rows end up
// scattered over memory as votes change them), and the sums only change by the
// rows that did. On a 113,000-vote conversation, a 100-vote update changes at most
// 100 of 6,000 rows.
//
// It costs the State 5 bytes per vote, 8 per participant and 12 per statement.
type rowsCache struct {
	matrix uint64 // the id of the Matrix read
	rowPtr []int  // row r is col[rowPtr[r]:rowPtr[r+1]], for every row of the Matrix
	col    []int32
	vote   []Vote
	sum    []float64 // per Matrix column
	cnt    []int32
}

// readRows copies m's rows into the compressed arrays and takes the columns' sums
// and counts: from rc for the rows m says are unchanged since the Matrix rc was
// read from, when it is m's predecessor, else from m. The result's rows are in w's
// arrays (when m has an id, the caller hands them to the State and gives w rc's in
// their place); its sums are w's when m has no id (no next run can use them), else
// rc's, grown, or new ones.
func readRows(w *workspace, m *Matrix, rc *rowsCache) *rowsCache {
	nAll, nRows := len(m.statements), len(m.rows)
	out := &rowsCache{
		matrix: m.id,
		rowPtr: buffer(&w.rowPtr, nRows+1),
		col:    buffer(&w.col, m.votes),
		vote:   buffer(&w.vote, m.votes),
	}
	out.rowPtr[0] = 0
	prevRows := 0
	if rc != nil {
		prevRows = len(rc.rowPtr) - 1
	}
	if m.id == 0 || rc == nil || m.after == 0 || rc.matrix != m.after || len(m.same) != nRows || prevRows > nRows || len(rc.sum) > nAll {
		// Every row, from m.
		if m.id == 0 {
			out.sum, out.cnt = buffer(&w.sum, nAll), buffer(&w.cnt, nAll)
			clear(out.sum)
			clear(out.cnt)
		} else {
			out.sum, out.cnt = make([]float64, nAll, roomFor(nAll)), make([]int32, nAll, roomFor(nAll))
		}
		at := 0
		for r, row := range m.rows {
			at += out.add(at, row, m.drop)
			out.rowPtr[r+1] = at
		}
		return out
	}
	out.sum, out.cnt = growZeroed(rc.sum, nAll), growZeroed(rc.cnt, nAll)
	at := 0
	for r := 0; r < nRows; {
		if r < prevRows && m.same[r] {
			// A run of unchanged rows, in one copy.
			e := r + 1
			for e < prevRows && m.same[e] {
				e++
			}
			lo, hi := rc.rowPtr[r], rc.rowPtr[e]
			copy(out.col[at:], rc.col[lo:hi])
			copy(out.vote[at:], rc.vote[lo:hi])
			for q := r + 1; q <= e; q++ {
				out.rowPtr[q] = rc.rowPtr[q] - lo + at
			}
			at += hi - lo
			r = e
			continue
		}
		if r < prevRows {
			// The row as the previous run counted it, out of the sums.
			lo, hi := rc.rowPtr[r], rc.rowPtr[r+1]
			for p, j := range rc.col[lo:hi] {
				out.sum[j] -= float64(rc.vote[lo+p])
				out.cnt[j]--
			}
		}
		at += out.add(at, m.rows[r], m.drop)
		out.rowPtr[r+1] = at
		r++
	}
	return out
}

// add copies row into c's arrays from at and counts its votes in the sums, but
// for the cells of the columns drop flags (nil: none); it returns how many it
// copied.
func (c *rowsCache) add(at int, row []cell, drop []bool) int {
	sum, cnt := c.sum, c.cnt
	if drop != nil {
		n := 0
		for _, x := range row {
			if !drop[x.Statement] {
				c.col[at+n], c.vote[at+n] = x.Statement, x.Vote
				sum[x.Statement] += float64(x.Vote)
				cnt[x.Statement]++
				n++
			}
		}
		return n
	}
	cols, votes := c.col[at:at+len(row)], c.vote[at:at+len(row)]
	for p, x := range row {
		cols[p], votes[p] = x.Statement, x.Vote
		sum[x.Statement] += float64(x.Vote)
		cnt[x.Statement]++
	}
	return len(row)
}

// growZeroed returns s extended to n elements, the new ones zero, in place when
// its capacity allows.
func growZeroed[T any](s []T, n int) []T {
	have := len(s)
	if n <= have {
		return s
	}
	if n > cap(s) {
		s = slices.Grow(s, roomFor(n)-have)
	}
	s = s[:n]
	clear(s[have:])
	return s
}

// numRows returns the number of participants with at least one vote.
func (d *voteData) numRows() int { return len(d.participants) }

// numCols returns K, the number of statements with at least one vote, moderated-out
// ones included (they count in the scaling factor as in Polis).
func (d *voteData) numCols() int { return len(d.statements) }
