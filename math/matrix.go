package polismath

import (
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
)

// Vote is one participant's current reaction to one statement. The values are the
// semantic ones (agree = +1) and not Polis' internal ones (agree = -1), so that every
// sign in our API reads the natural way.
type Vote int8

// The three votes. A statement a participant has not voted on is absent from the
// Matrix, which is different from a pass: a pass counts as a vote everywhere.
const (
	Disagree Vote = -1
	Pass     Vote = 0
	Agree    Vote = 1
)

// Valid reports whether v is one of Agree, Disagree or Pass; Matrix.Set refuses any
// other value because the statistics assume exactly three outcomes.
func (v Vote) Valid() bool { return v >= Disagree && v <= Agree }

// cell is one present entry of a sparse row: the exported Cell, so that a Matrix can
// read an actor's rows in place (NewMatrixFromSortedRows).
type cell = Cell

// Matrix is the sparse participants x statements vote matrix. Rows and columns keep the
// order in which participants and statements were first seen, which is also the order
// Polis uses (votes streamed by time), and the order the k-means cold start depends on.
// Only present votes are stored, so its size is proportional to the number of votes,
// never to participants x statements.
//
// A Matrix is not safe for concurrent mutation. The owner (the conversation actor)
// mutates it and passes Clone() to the math, which only reads.
type Matrix struct {
	participants []string
	statements   []string
	pIndex       map[string]int
	sIndex       map[string]int
	rows         [][]cell // per participant, sorted by column
	votes        int
	// borrowed: rows are the caller's (NewMatrixFromSortedRows); an edit copies
	// them first.
	borrowed bool
	// id numbers a Matrix built by NewMatrixFromSortedRowsAfter (0: any other);
	// after is the id of the Matrix it was built after, when that one's checks
	// held, and same[r] whether row r is the very row that Matrix read. A Run
	// then copies those rows from what it kept of the run before (rowsCache).
	// An edit clears all three.
	id    uint64
	after uint64
	same  []bool
	// drop, when not nil, flags the columns whose id is "" (deleted statements) in
	// a Matrix built by NewMatrixFromSortedRowsAfter: their cells stay in the rows
	// but count nowhere (votes leaves them out, and Run skips them). An edit or a
	// Clone leaves them out for good (plain, below).
	drop []bool
}

// matrixIDs numbers the Matrices built on borrowed rows, from 1.
var matrixIDs atomic.Uint64

// NewMatrix returns an empty vote matrix.
func NewMatrix() *Matrix {
	return &Matrix{pIndex: map[string]int{}, sIndex: map[string]int{}}
}

// Cell is one vote of an integer-indexed row handed to NewMatrixFromRows.
type Cell struct {
	// Statement indexes the statements slice given to NewMatrixFromRows.
	Statement int32
	Vote      Vote
}

// NewMatrixFromRows builds a Matrix in one pass from rows that are already indexed by
// integers, the form a conversation actor keeps its votes in: row r holds the votes of
// participants[r], cells[rowPtr[r]:rowPtr[r+1]], each naming a column of statements.
// Unlike a loop of Set calls it hashes no id per vote (the id lookup tables are only
// built if the Matrix is later edited or queried by id), so a snapshot of a large
// conversation costs little more than copying its cells.
//
// Rows and columns keep the given order, which is the order the k-means cold start
// follows: give participants in order of arrival, as Set would have seen them. A
// statement whose id is "" (a deleted one) drops its cells; a row need not be sorted,
// and when it names a statement twice the later cell wins. A participant may have no
// cells (Run ignores it). The error reports an invalid vote, a cell outside
// statements, a malformed rowPtr or a duplicate id.
func NewMatrixFromRows(participants, statements []string, rowPtr []int, cells []Cell) (*Matrix, error) {
	return newMatrixFromRows(participants, statements, rowPtr, cells, true)
}

// NewMatrixFromUniqueRows is NewMatrixFromRows for a caller whose ids are distinct by
// construction (a conversation actor's state): it skips the duplicate-id checks,
// which hash every id (a fifth of a server's analysis of a 270,000-opinion
// conversation). Given duplicate ids anyway, the matrix would hold them as distinct
// rows or columns.
func NewMatrixFromUniqueRows(participants, statements []string, rowPtr []int, cells []Cell) (*Matrix, error) {
	return newMatrixFromRows(participants, statements, rowPtr, cells, false)
}

func newMatrixFromRows(participants, statements []string, rowPtr []int, cells []Cell, checkIDs bool) (*Matrix, error) {
	if len(rowPtr) != len(participants)+1 || rowPtr[0] != 0 || rowPtr[len(participants)] != len(cells) {
		return nil, fmt.Errorf("polismath: rowPtr must have %d entries from 0 to %d", len(participants)+1, len(cells))
	}
	m := &Matrix{statements: make([]string, 0, len(statements))}
	colMap := make([]int32, len(statements))
	var seen map[string]bool
	if checkIDs {
		seen = make(map[string]bool, max(len(statements), len(participants)))
	}
	for j, id := range statements {
		if id == "" {
			colMap[j] = -1
			continue
		}
		if checkIDs {
			if seen[id] {
				return nil, fmt.Errorf("polismath: statement %q appears twice", id)
			}
			seen[id] = true
		}
		colMap[j] = int32(len(m.statements))
		m.statements = append(m.statements, id)
	}
	clear(seen)
	m.participants = slices.Clone(participants)
	m.rows = make([][]cell, len(participants))
	backing := make([]cell, 0, len(cells))
	byCol := func(a, b cell) int { return int(a.Statement - b.Statement) }
	for r, id := range participants {
		if checkIDs {
			if seen[id] {
				return nil, fmt.Errorf("polismath: participant %q appears twice", id)
			}
			seen[id] = true
		}
		lo, hi := rowPtr[r], rowPtr[r+1]
		if lo > hi {
			return nil, fmt.Errorf("polismath: rowPtr decreases at row %d", r)
		}
		start := len(backing)
		// Rows usually come sorted without repeats (an actor's are): checked on
		// the way, so that only other rows are sorted and cleaned.
		ordered, last := true, int32(-1)
		for _, c := range cells[lo:hi] {
			if c.Statement < 0 || int(c.Statement) >= len(statements) {
				return nil, fmt.Errorf("polismath: participant %q: statement index %d out of range", id, c.Statement)
			}
			if !c.Vote.Valid() {
				return nil, fmt.Errorf("polismath: participant %q: invalid vote %d (want -1, 0 or 1)", id, c.Vote)
			}
			if j := colMap[c.Statement]; j >= 0 {
				backing = append(backing, cell{Statement: j, Vote: c.Vote})
				ordered = ordered && j > last
				last = j
			}
		}
		row := backing[start:len(backing):len(backing)]
		if !ordered {
			slices.SortStableFunc(row, byCol)
			// Keep the last cell of each column (the stable sort kept their order).
			out := row[:0]
			for i, c := range row {
				if i+1 < len(row) && row[i+1].Statement == c.Statement {
					continue
				}
				out = append(out, c)
			}
			row = out[:len(out):len(out)]
			backing = backing[:start+len(row)]
		}
		m.rows[r] = row
		m.votes += len(row)
	}
	return m, nil
}

// NewMatrixFromSortedRows builds a Matrix on rows without copying them: rows[r] holds
// the votes of participants[r], each cell naming a statement by its index in
// statements, in increasing order without repeats (the order an actor keeps its rows
// in). It is NewMatrixFromUniqueRows for rows kept apart rather than in one array, and
// it spares the copy: a server's analysis of a 19,000-opinion conversation spent a
// tenth of its time copying votes twice before the math began.
//
// The Matrix reads the rows, the slice holding them and the id slices in place, so
// the caller must not change them while the Matrix (or a Run on it) is in use; an
// actor's copy-on-write rows and ids are not changed. Editing the Matrix (Set,
// Delete) copies the rows first, and appends to copies of the id slices. When a
// statement's id is "" (a deleted one), its column stays, found by no id, and its
// cells count nowhere: NumVotes and Run leave them out, without copying the rows
// (an edit or a Clone drops them for good). Ids are not checked for duplicates.
// The error reports a row of the wrong count, a cell outside statements, a row out
// of order or with a repeat, or an invalid vote.
func NewMatrixFromSortedRows(participants, statements []string, rows [][]Cell) (*Matrix, error) {
	return NewMatrixFromSortedRowsAfter(nil, participants, statements, rows)
}

// NewMatrixFromSortedRowsAfter is NewMatrixFromSortedRows for the next snapshot of
// the rows prev was built on (by either function): a row that is the very row prev
// read at the same place (the same first cell and length) is not checked again.
// Checking every cell cost a server's analysis of a 113,000-vote conversation about
// 2% of its instructions, to find again the rows of the run before, of which 100 new
// votes change at most 100.
//
// So prev must still hold what it read: the caller has not changed those rows in
// place since (an actor copies a row before changing it once a snapshot has it), and
// keeps prev, and so its rows, alive until now, so that no other row can have taken
// their place. A prev that was edited, that had more statements, or of whose
// statements one was deleted since (an id "" now, not then), is ignored, as is a nil
// one.
func NewMatrixFromSortedRowsAfter(prev *Matrix, participants, statements []string, rows [][]Cell) (*Matrix, error) {
	if len(rows) != len(participants) {
		return nil, fmt.Errorf("polismath: %d rows for %d participants", len(rows), len(participants))
	}
	m := &Matrix{
		participants: participants[:len(participants):len(participants)],
		statements:   statements[:len(statements):len(statements)],
		rows:         rows[:len(rows):len(rows)],
		borrowed:     true,
		id:           matrixIDs.Add(1),
	}
	if slices.Contains(statements, "") {
		m.drop = make([]bool, len(statements))
		for j, id := range statements {
			m.drop[j] = id == ""
		}
	}
	k := int32(len(statements))
	var seen [][]cell // prev's rows, when its checks still hold
	if prev != nil && prev.borrowed && len(prev.statements) <= len(statements) && sameDrops(prev.drop, m.drop, len(prev.statements)) {
		// The rows prev read count as they did: the same columns are dropped
		// (those after prev's, new, hold no cell of prev's rows).
		seen = prev.rows
		m.after, m.same = prev.id, make([]bool, len(rows))
		m.votes = prev.votes
	}
	for r, row := range rows {
		if r < len(seen) && len(row) > 0 && len(seen[r]) == len(row) && &seen[r][0] == &row[0] {
			m.same[r] = true
			continue
		}
		last := int32(-1)
		for _, c := range row {
			switch {
			case c.Statement < 0 || c.Statement >= k:
				return nil, fmt.Errorf("polismath: participant %q: statement index %d out of range", participants[r], c.Statement)
			case c.Statement <= last:
				return nil, fmt.Errorf("polismath: participant %q: statement index %d after %d (rows must be sorted, without repeats)", participants[r], c.Statement, last)
			case !c.Vote.Valid():
				return nil, fmt.Errorf("polismath: participant %q: invalid vote %d (want -1, 0 or 1)", participants[r], c.Vote)
			}
			last = c.Statement
		}
		if r < len(seen) {
			m.votes -= m.counted(seen[r]) // the row prev counted, replaced
		}
		m.votes += m.counted(row)
	}
	return m, nil
}

// counted returns how many of row's cells count: those not in a dropped column.
func (m *Matrix) counted(row []cell) int {
	if m.drop == nil {
		return len(row)
	}
	n := 0
	for _, c := range row {
		if !m.drop[c.Statement] {
			n++
		}
	}
	return n
}

// sameDrops reports whether the first cols columns, dropped per prev (nil: none),
// are dropped alike per next (nil: none; else at least cols long).
func sameDrops(prev, next []bool, cols int) bool {
	switch {
	case prev == nil && next == nil:
		return true
	case prev == nil:
		return !slices.Contains(next[:cols], true)
	case next == nil:
		return !slices.Contains(prev[:cols], true)
	}
	return slices.Equal(prev[:cols], next[:cols])
}

// plain makes a Matrix with dropped columns an ordinary one, without them: the
// deleted statements' columns and cells leave it, and the others are renumbered.
func (m *Matrix) plain() {
	if m.drop == nil {
		return
	}
	p, err := newMatrixFromRows(m.participants, m.statements, rowOffsets(m.rows), slices.Concat(m.rows...), false)
	if err != nil {
		panic(err) // the rows were checked when m was built
	}
	*m = *p
}

// rowOffsets returns where each row starts, and where the last ends, when the
// rows are laid end to end (NewMatrixFromRows' rowPtr).
func rowOffsets(rows [][]cell) []int {
	out := make([]int, len(rows)+1)
	for r, row := range rows {
		out[r+1] = out[r] + len(row)
	}
	return out
}

// own makes a Matrix built on borrowed rows hold its own copies before an edit
// (without the dropped columns).
func (m *Matrix) own() {
	if !m.borrowed {
		return
	}
	if m.drop != nil {
		m.plain() // copies the rows
		return
	}
	rows := make([][]cell, len(m.rows))
	for i, r := range m.rows {
		rows[i] = slices.Clone(r)
	}
	m.rows, m.borrowed = rows, false
	m.id, m.after, m.same = 0, 0, nil
}

// index builds the id lookup tables of a Matrix made by NewMatrixFromRows the first
// time it is edited or queried by id.
func (m *Matrix) index() {
	if m.pIndex != nil {
		return
	}
	m.pIndex = make(map[string]int, len(m.participants))
	for i, id := range m.participants {
		m.pIndex[id] = i
	}
	m.sIndex = make(map[string]int, len(m.statements))
	for j, id := range m.statements {
		if id != "" { // a dropped column: found by no id
			m.sIndex[id] = j
		}
	}
}

// Set records the current vote of participant on statement, replacing any earlier vote,
// because Polis (and our API) only ever count the latest vote of each pair.
func (m *Matrix) Set(participant, statement string, v Vote) error {
	m.own()
	m.index()
	if !v.Valid() {
		return fmt.Errorf("polismath: invalid vote %d (want -1, 0 or 1)", v)
	}
	p, ok := m.pIndex[participant]
	if !ok {
		p = len(m.participants)
		m.pIndex[participant] = p
		m.participants = append(m.participants, participant)
		m.rows = append(m.rows, nil)
	}
	s, ok := m.sIndex[statement]
	if !ok {
		s = len(m.statements)
		m.sIndex[statement] = s
		m.statements = append(m.statements, statement)
	}
	row := m.rows[p]
	i, found := slices.BinarySearchFunc(row, int32(s), func(c cell, col int32) int { return int(c.Statement - col) })
	if found {
		row[i].Vote = v
		return nil
	}
	m.rows[p] = slices.Insert(row, i, cell{Statement: int32(s), Vote: v})
	m.votes++
	return nil
}

// Delete removes the vote of participant on statement (a cancelled vote) and reports
// whether there was one. The participant and the statement keep their row and column
// positions; a row or column left without votes is ignored by Run, as in Polis.
func (m *Matrix) Delete(participant, statement string) bool {
	m.own()
	m.index()
	p, ok := m.pIndex[participant]
	if !ok {
		return false
	}
	s, ok := m.sIndex[statement]
	if !ok {
		return false
	}
	row := m.rows[p]
	i, found := slices.BinarySearchFunc(row, int32(s), func(c cell, col int32) int { return int(c.Statement - col) })
	if !found {
		return false
	}
	m.rows[p] = slices.Delete(row, i, i+1)
	m.votes--
	return true
}

// Get returns the vote of participant on statement and whether there is one.
func (m *Matrix) Get(participant, statement string) (Vote, bool) {
	m.index()
	p, ok := m.pIndex[participant]
	if !ok {
		return 0, false
	}
	s, ok := m.sIndex[statement]
	if !ok {
		return 0, false
	}
	row := m.rows[p]
	i, found := slices.BinarySearchFunc(row, int32(s), func(c cell, col int32) int { return int(c.Statement - col) })
	if !found {
		return 0, false
	}
	return row[i].Vote, true
}

// NumVotes returns the number of present votes (passes included), which is what the
// analysis reports as votes_included.
func (m *Matrix) NumVotes() int { return m.votes }

// Participants returns the participant ids in row order. The slice is a copy.
func (m *Matrix) Participants() []string { return slices.Clone(m.participants) }

// Statements returns the statement ids in column order (deleted ones, "", left
// out). The slice is a copy.
func (m *Matrix) Statements() []string {
	if m.drop != nil {
		return slices.DeleteFunc(slices.Clone(m.statements), func(id string) bool { return id == "" })
	}
	return slices.Clone(m.statements)
}

// Clone returns a deep copy, so that the owner can keep mutating its matrix while a
// math worker reads the snapshot.
func (m *Matrix) Clone() *Matrix {
	if m.drop != nil {
		c := *m
		c.plain()
		c.index()
		return &c
	}
	m.index()
	c := &Matrix{
		participants: slices.Clone(m.participants),
		statements:   slices.Clone(m.statements),
		pIndex:       maps.Clone(m.pIndex),
		sIndex:       maps.Clone(m.sIndex),
		rows:         make([][]cell, len(m.rows)),
		votes:        m.votes,
	}
	for i, r := range m.rows {
		c.rows[i] = slices.Clone(r)
	}
	return c
}
