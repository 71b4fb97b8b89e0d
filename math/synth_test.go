package polismath

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// synthVote is one generated vote with its arrival order.
type synthVote struct {
	participant, statement string
	vote                   Vote
}

// synthConversation generates a deterministic conversation with latent opinion groups:
// every group has a stance per statement (agree, disagree or split), every participant
// belongs to one group and votes on about votesPerParticipant statements, chosen with a
// skew towards early statements (as routing does), agreeing with the group's stance with
// probability fidelity and passing sometimes. Votes come out in arrival order.
func synthConversation(seed uint64, participants, statements, votes, groups int, fidelity float64) []synthVote {
	return synthVotes(seed, participants, statements, votes, groups, fidelity, func(rng *rand.Rand) float64 { return rng.Float64() * rng.Float64() })
}

// synthRouted is synthConversation with the statement of a vote drawn as
// statements·u⁶ (u uniform): 46% of the votes fall on the first 1% of the
// statements, as when routing shows every participant the same few first,
// instead of 5.6%. The spectrum of CᵀC then separates (top eigenvalues about
// 4,400 and 1,800 at production size instead of 62.7 and 62.7).
func synthRouted(seed uint64, participants, statements, votes, groups int, fidelity float64) []synthVote {
	return synthVotes(seed, participants, statements, votes, groups, fidelity, func(rng *rand.Rand) float64 { return math.Pow(rng.Float64(), 6) })
}

// synthVotes generates the votes; at draws a statement's position in [0, 1).
func synthVotes(seed uint64, participants, statements, votes, groups int, fidelity float64, at func(*rand.Rand) float64) []synthVote {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	stance := make([][]Vote, groups)
	for g := range stance {
		stance[g] = make([]Vote, statements)
		for s := range stance[g] {
			stance[g][s] = Vote(rng.IntN(3) - 1)
		}
	}
	group := make([]int, participants)
	for p := range group {
		group[p] = rng.IntN(groups)
	}
	out := make([]synthVote, 0, votes)
	seen := make(map[[2]int]bool, votes)
	for len(out) < votes {
		p := rng.IntN(participants)
		// Skewed statement choice: popular (early) statements get most votes.
		s := int(float64(statements) * at(rng))
		if seen[[2]int{p, s}] {
			continue
		}
		seen[[2]int{p, s}] = true
		v := stance[group[p]][s]
		switch r := rng.Float64(); {
		case r < 0.1:
			v = Pass
		case r > fidelity:
			v = Vote(rng.IntN(3) - 1)
		case v == Pass:
			v = Vote(2*rng.IntN(2) - 1)
		}
		out = append(out, synthVote{participant: "p" + strconv.Itoa(p), statement: "s" + strconv.Itoa(s), vote: v})
	}
	return out
}

// synthMatrix builds the matrix of the first n generated votes the way the server
// and `agora analyze` build theirs, with NewMatrixFromRows: one backing array for all
// rows. Participants and statements are numbered as they first vote or are voted on,
// the order Matrix.Set would give them.
func synthMatrix(votes []synthVote, n int) *Matrix {
	var participants, statements []string
	pIdx, sIdx := map[string]int{}, map[string]int32{}
	var rows [][]Cell
	for _, v := range votes[:n] {
		p, ok := pIdx[v.participant]
		if !ok {
			p = len(participants)
			pIdx[v.participant] = p
			participants = append(participants, v.participant)
			rows = append(rows, nil)
		}
		s, ok := sIdx[v.statement]
		if !ok {
			s = int32(len(statements))
			sIdx[v.statement] = s
			statements = append(statements, v.statement)
		}
		rows[p] = append(rows[p], Cell{Statement: s, Vote: v.vote})
	}
	rowPtr := make([]int, 1, len(rows)+1)
	cells := make([]Cell, 0, n)
	for _, r := range rows {
		cells = append(cells, r...)
		rowPtr = append(rowPtr, len(cells))
	}
	m, err := NewMatrixFromRows(participants, statements, rowPtr, cells)
	if err != nil {
		panic(err)
	}
	return m
}
