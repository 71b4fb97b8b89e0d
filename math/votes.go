package polismath

// voteData is the read-only, compressed (CSR) form of one Matrix snapshot that every
// stage of the pipeline works on. It only contains participants and statements with at
// least one vote (Polis' matrix has no empty rows or columns), in Matrix order.
type voteData struct {
	participants []string // active rows
	statements   []string // active columns
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
	cRowPtr []int
	cCol    []int32
	cVal    []float64

	parallel bool // products may run in two goroutines (Input.Parallel)

	mean      []float64 // per column; 0 for moderated-out columns
	voteCount []int     // per row: present raw votes, passes and moderated-out columns included
	seen      []int     // per row: present cells after zeroing, i.e. n_i of the scaling factor
}

// newVoteData compresses m, dropping empty rows and columns and marking the given
// moderated-out and meta statements.
func newVoteData(m *Matrix, modOut, meta map[string]bool) *voteData {
	colUsed := make([]bool, len(m.statements))
	for _, row := range m.rows {
		for _, c := range row {
			colUsed[c.col] = true
		}
	}
	d := &voteData{
		statements: make([]string, 0, len(m.statements)),
		modOut:     make([]bool, 0, len(m.statements)),
		meta:       make([]bool, 0, len(m.statements)),
		rowPtr:     make([]int, 0, len(m.rows)+1),
		col:        make([]int32, 0, m.votes),
		vote:       make([]Vote, 0, m.votes),
		cCol:       make([]int32, 0, m.votes),
		cVal:       make([]float64, 0, m.votes),
	}
	colMap := make([]int32, len(m.statements))
	for j, id := range m.statements {
		if !colUsed[j] {
			colMap[j] = -1
			d.unused = append(d.unused, id)
			continue
		}
		colMap[j] = int32(len(d.statements))
		d.statements = append(d.statements, id)
		// Most conversations have few moderated or meta statements: skip hashing
		// every id when there are none.
		isMeta := len(meta) > 0 && meta[id]
		out := isMeta || (len(modOut) > 0 && modOut[id])
		d.modOut = append(d.modOut, out)
		d.meta = append(d.meta, isMeta)
		if out {
			d.nModOut++
		}
	}
	k := len(d.statements)
	sum := make([]float64, k)
	cnt := make([]int, k)
	d.rowPtr = append(d.rowPtr, 0)
	d.participants = make([]string, 0, len(m.rows))
	for i, row := range m.rows {
		if len(row) == 0 {
			continue
		}
		d.participants = append(d.participants, m.participants[i])
		for _, c := range row {
			j := colMap[c.col]
			d.col = append(d.col, j)
			d.vote = append(d.vote, c.vote)
			sum[j] += float64(c.vote)
			cnt[j]++
		}
		d.rowPtr = append(d.rowPtr, len(d.col))
	}
	d.mean = make([]float64, k)
	for j := range k {
		if !d.modOut[j] && cnt[j] > 0 {
			d.mean[j] = sum[j] / float64(cnt[j])
		}
	}
	n := len(d.participants)
	d.voteCount = make([]int, n)
	d.seen = make([]int, n)
	d.cRowPtr = make([]int, 1, n+1)
	for i := range n {
		lo, hi := d.rowPtr[i], d.rowPtr[i+1]
		d.voteCount[i] = hi - lo
		active := 0
		for p := lo; p < hi; p++ {
			j := d.col[p]
			if d.modOut[j] {
				continue
			}
			active++
			d.cCol = append(d.cCol, j)
			d.cVal = append(d.cVal, float64(d.vote[p])-d.mean[j])
		}
		// A moderated-out column is zeroed in every cell, missing ones included, so it
		// counts as seen for everybody.
		d.seen[i] = active + d.nModOut
		d.cRowPtr = append(d.cRowPtr, len(d.cCol))
	}
	return d
}

// numRows returns the number of participants with at least one vote.
func (d *voteData) numRows() int { return len(d.participants) }

// numCols returns K, the number of statements with at least one vote, moderated-out
// ones included (they count in the scaling factor as in Polis).
func (d *voteData) numCols() int { return len(d.statements) }
