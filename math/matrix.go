package polismath

import (
	"fmt"
	"maps"
	"slices"
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

// cell is one present entry of a sparse row.
type cell struct {
	col  int32
	vote Vote
}

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
}

// NewMatrix returns an empty vote matrix.
func NewMatrix() *Matrix {
	return &Matrix{pIndex: map[string]int{}, sIndex: map[string]int{}}
}

// Set records the current vote of participant on statement, replacing any earlier vote,
// because Polis (and our API) only ever count the latest vote of each pair.
func (m *Matrix) Set(participant, statement string, v Vote) error {
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
	i, found := slices.BinarySearchFunc(row, int32(s), func(c cell, col int32) int { return int(c.col - col) })
	if found {
		row[i].vote = v
		return nil
	}
	m.rows[p] = slices.Insert(row, i, cell{col: int32(s), vote: v})
	m.votes++
	return nil
}

// Delete removes the vote of participant on statement (a cancelled vote) and reports
// whether there was one. The participant and the statement keep their row and column
// positions; a row or column left without votes is ignored by Run, as in Polis.
func (m *Matrix) Delete(participant, statement string) bool {
	p, ok := m.pIndex[participant]
	if !ok {
		return false
	}
	s, ok := m.sIndex[statement]
	if !ok {
		return false
	}
	row := m.rows[p]
	i, found := slices.BinarySearchFunc(row, int32(s), func(c cell, col int32) int { return int(c.col - col) })
	if !found {
		return false
	}
	m.rows[p] = slices.Delete(row, i, i+1)
	m.votes--
	return true
}

// Get returns the vote of participant on statement and whether there is one.
func (m *Matrix) Get(participant, statement string) (Vote, bool) {
	p, ok := m.pIndex[participant]
	if !ok {
		return 0, false
	}
	s, ok := m.sIndex[statement]
	if !ok {
		return 0, false
	}
	row := m.rows[p]
	i, found := slices.BinarySearchFunc(row, int32(s), func(c cell, col int32) int { return int(c.col - col) })
	if !found {
		return 0, false
	}
	return row[i].vote, true
}

// NumVotes returns the number of present votes (passes included), which is what the
// analysis reports as votes_included.
func (m *Matrix) NumVotes() int { return m.votes }

// Participants returns the participant ids in row order. The slice is a copy.
func (m *Matrix) Participants() []string { return slices.Clone(m.participants) }

// Statements returns the statement ids in column order. The slice is a copy.
func (m *Matrix) Statements() []string { return slices.Clone(m.statements) }

// Clone returns a deep copy, so that the owner can keep mutating its matrix while a
// math worker reads the snapshot.
func (m *Matrix) Clone() *Matrix {
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
