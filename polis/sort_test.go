package polis

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortByTimeIsStable checks sortByTime against a stable sort, on votes with
// many equal timestamps.
func TestSortByTimeIsStable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 50 {
		votes := make([]Vote, rng.IntN(2000))
		for i := range votes {
			votes[i] = Vote{Timestamp: int64(rng.IntN(1 + trial*10)), CommentID: rng.IntN(50), VoterID: i, Value: rng.IntN(3) - 1}
		}
		want := slices.Clone(votes)
		slices.SortStableFunc(want, func(a, b Vote) int { return cmp.Compare(a.Timestamp, b.Timestamp) })
		sortByTime(votes)
		if !slices.Equal(votes, want) {
			t.Fatalf("trial %d: not the stable order", trial)
		}
	}
}
