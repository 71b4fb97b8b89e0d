package polismath

import "slices"

// voteData is the read-only, compressed (CSR) form of one Matrix snapshot that every
// stage of the pipeline works on. It only contains participants and statements with at
// least one vote (Polis' matrix has no empty rows or columns), in Matrix order.
type voteData struct {
	participants []string // active rows
	statements   []string // active columns
	matCol       []int32  // per active column: its column in the Matrix
	unused       []string // the Matrix's other columns: statements without a vote
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
	return newVoteDataIn(new(workspace), m, flags(modOut), flags(meta))
}

// newVoteDataIn is newVoteData with its arrays taken from w (the voteData must not
// be used once w is reused) and the moderated-out and meta statements flagged per
// column of m (nil: none).
func newVoteDataIn(w *workspace, m *Matrix, modOut, meta []bool) *voteData {
	nAll := len(m.statements)
	sum, cnt := buffer(&w.sum, nAll), buffer(&w.cnt, nAll)
	clear(sum)
	clear(cnt)
	d := &voteData{
		w:      w,
		rowPtr: buffer(&w.rowPtr, len(m.rows)+1)[:1],
		col:    buffer(&w.col, m.votes),
		vote:   buffer(&w.vote, m.votes),
	}
	d.rowPtr[0] = 0
	// The participants with a vote: usually every row, and then the Matrix's
	// own list (nothing in a run changes it).
	ids := buffer(&w.ids, len(m.rows)+nAll)
	d.participants = m.participants[:len(m.rows):len(m.rows)]
	if slices.ContainsFunc(m.rows, func(r []cell) bool { return len(r) == 0 }) {
		d.participants = ids[:0:len(m.rows)]
	}
	d.unused = ids[len(m.rows):len(m.rows)]
	copyIDs := len(d.participants) == 0
	at := 0
	for i, row := range m.rows {
		if len(row) == 0 {
			continue
		}
		if copyIDs {
			d.participants = append(d.participants, m.participants[i])
		}
		cols, votes := d.col[at:at+len(row)], d.vote[at:at+len(row)]
		for p, c := range row {
			cols[p], votes[p] = c.Statement, c.Vote
			sum[c.Statement] += float64(c.Vote)
			cnt[c.Statement]++
		}
		at += len(row)
		d.rowPtr = append(d.rowPtr, at)
	}

	// The columns with a vote, in Matrix order.
	d.statements = make([]string, 0, nAll)
	flags := buffer(&w.flags, 2*nAll)
	d.modOut, d.meta = flags[:0:nAll], flags[nAll:nAll]
	d.mean = make([]float64, 0, nAll)
	colMap := buffer(&w.colMap, nAll)
	d.matCol = buffer(&w.matCol, nAll)[:0]
	for j, id := range m.statements {
		if cnt[j] == 0 {
			colMap[j] = -1
			d.unused = append(d.unused, id)
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
	// the cells are renumbered, in the centering pass when there is one.
	renumber := len(d.unused) > 0
	if renumber && d.nModOut > 0 {
		for p, j := range d.col {
			d.col[p] = colMap[j]
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
		cols := d.col
		cVal, vote, mean := buffer(&w.cVal, len(cols)), d.vote[:len(cols)], d.mean
		if renumber {
			for p, j := range cols {
				c := colMap[j]
				cols[p] = c
				cVal[p] = float64(vote[p]) - mean[c]
			}
		} else {
			for p, j := range cols {
				cVal[p] = float64(vote[p]) - mean[j]
			}
		}
		d.cVal = cVal
		copy(d.seen, d.voteCount)
		return d
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
	return d
}

// numRows returns the number of participants with at least one vote.
func (d *voteData) numRows() int { return len(d.participants) }

// numCols returns K, the number of statements with at least one vote, moderated-out
// ones included (they count in the scaling factor as in Polis).
func (d *voteData) numCols() int { return len(d.statements) }
