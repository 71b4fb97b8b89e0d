package actors

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/agora-dev/agora"
)

// BenchmarkAnalysisRun is one analysis of a live conversation as the actor
// and its math worker run it: the snapshot (on the actor), then the math
// warm-started from the previous run and what the worker builds around it.
// Sizes: the production conversation (19,000 opinions, 113,000 votes,
// 6,000 participants) and the one the capacity run grows to (270,000
// opinions, 700,000 votes, 44,000 participants). Votes are spread with a
// preference for early opinions, as routing shows them longer.
func BenchmarkAnalysisRun(b *testing.B) {
	for _, size := range []struct{ opinions, votes, participants int }{
		{19000, 113000, 6000},
		{270000, 700000, 44000},
	} {
		b.Run(fmt.Sprintf("%dx%d", size.opinions, size.votes), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(3, 3))
			s := newConversation(agora.Conversation{ID: "c"})
			oids := make([]string, size.opinions)
			for i := range oids {
				oids[i] = agora.NewID(10)
				s.LoadOpinion(agora.Opinion{ID: oids[i], ConversationID: "c", Text: "x", Status: agora.StatusVisible, Seq: i})
			}
			pids := make([]string, size.participants)
			for i := range pids {
				pids[i] = agora.NewID(12)
			}
			seen := map[[2]int]bool{}
			for n := 0; n < size.votes; {
				p, o := rng.IntN(size.participants), int(float64(size.opinions)*rng.Float64()*rng.Float64())
				if seen[[2]int{p, o}] {
					continue
				}
				seen[[2]int{p, o}] = true
				s.LoadVote(agora.StoredVote{ParticipantID: pids[p], OpinionID: oids[o], Vote: agora.Vote((p+o)%3 - 1)})
				n++
			}
			s.finishLoad()
			s.an = compute(s.snapshotForMath(), nil)
			b.ReportAllocs()
			for b.Loop() {
				s.an = compute(s.snapshotForMath(), s.an.state)
			}
		})
	}
}
