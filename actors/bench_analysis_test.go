package actors

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/agora-dev/agora"
)

// BenchmarkAnalysisRun is one analysis of a live conversation as the actor
// and its math worker run it: the snapshot (on the actor), then the math
// warm-started from the previous run and what the worker builds around it.
// Sizes: the production conversation (19,000 opinions, 113,000 votes,
// 6,000 participants) and the one the capacity run grows to (270,000
// opinions, 700,000 votes, 44,000 participants). Votes are spread with a
// preference for early opinions, as routing shows them longer.
//
// "rerun" analyses the same votes again (what the benchmark measured at
// first: after a few runs the clustering has settled and takes one step);
// "after-100-votes" casts 100 votes before each run, untimed, as a live
// conversation does, so that every stage has new input (the steady state
// of issue 4's "warm update after 100 new votes").
func BenchmarkAnalysisRun(b *testing.B) {
	atBenchSizes(b, func(b *testing.B, s *conversation, pids []string) {
		b.Run("rerun", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.an = compute(s.snapshotForMath(), s.an)
			}
		})
		// The generator of new votes lives as long as the conversation: the
		// testing package calls the function below more than once (once with
		// b.N = 1, then once per -count), and a generator created in it would
		// cast the same votes again, changing nothing (the second and third
		// counts then measured a rerun of unchanged votes: 7-8 ms).
		rng := rand.New(rand.NewPCG(5, 5))
		// New votes follow the conversation's own pattern: random ones would
		// erode its structure run after run, and the runs would slow down with
		// b.N (about 10 ms at 5 runs, 23 ms at 200). They leave a deleted
		// opinion, and a participant who cancelled their votes, alone.
		deleted, silent := -1, ""
		vote := func() {
			for range 100 {
				p := rng.IntN(len(pids))
				if o := int(float64(len(s.opinions)) * rng.Float64() * rng.Float64()); o != deleted && pids[p] != silent {
					s.setVote(pids[p], int32(o), agora.Vote((p+o)%3-1))
				}
			}
		}
		// afterVotes times runs after 100 new votes each, once settle runs
		// have settled the clustering.
		afterVotes := func(b *testing.B, settle int) {
			for range settle {
				vote()
				s.an = compute(s.snapshotForMath(), s.an)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				vote()
				b.StartTimer()
				s.an = compute(s.snapshotForMath(), s.an)
			}
		}
		b.Run("after-100-votes", func(b *testing.B) { afterVotes(b, 3) })
		// The same once an opinion is deleted (its id "" in the column, its
		// votes still in the rows) and a participant cancelled every vote (an
		// empty row): 12.0-12.1 ms against 9.2-9.3 at 19,000 opinions with
		// the deletion alone, before the Matrix kept deleted columns in place.
		b.Run("after-100-votes-deletions", func(b *testing.B) {
			deleted, silent = 5, s.voterIDs[len(s.voters)/2]
			s.deleteOpinion(int32(deleted))
			for _, c := range slices.Clone(s.voters[len(s.voters)/2].cells) {
				s.cancelVote(silent, c.opinion)
			}
			afterVotes(b, 3)
		})
	})
}

// BenchmarkSnapshot is the copy the actor makes for each analysis (it
// holds the conversation's writes meanwhile), at the same sizes.
func BenchmarkSnapshot(b *testing.B) {
	atBenchSizes(b, func(b *testing.B, s *conversation, _ []string) {
		b.ReportAllocs()
		for b.Loop() {
			s.snapshotForMath()
		}
	})
}

// BenchmarkNext is the draw of a participant's next opinion (Polis
// routing) on the actor, after an analysis, at the same sizes; the
// participant is one of the conversation's voters.
func BenchmarkNext(b *testing.B) {
	atBenchSizes(b, func(b *testing.B, s *conversation, pids []string) {
		c := nextOpinion{caller: agora.Caller{ParticipantID: pids[0], Role: agora.RoleParticipant}}
		now := time.Now()
		c.apply(s, now) // the routing tree is built once per analysis
		b.Run("draw", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.apply(s, now)
			}
		})
		b.Run("first-after-an-analysis", func(b *testing.B) {
			for b.Loop() {
				s.routing.an = nil // as when a new analysis arrives
				c.apply(s, now)
			}
		})
	})
}

// benchSizes are the production conversation and the one the capacity
// run grows to.
var benchSizes = []struct{ opinions, votes, participants int }{
	{19000, 113000, 6000},
	{270000, 700000, 44000},
}

// benchConversation builds a loaded conversation with one analysis.
func benchConversation(opinions, votes, participants int) (*conversation, []string) {
	rng := rand.New(rand.NewPCG(3, 3))
	s := newConversation(agora.Conversation{ID: "c"})
	oids := make([]string, opinions)
	for i := range oids {
		oids[i] = benchID(rng, 10)
		s.LoadOpinion(agora.Opinion{ID: oids[i], ConversationID: "c", Text: "x", Status: agora.StatusVisible, Seq: i})
	}
	pids := make([]string, participants)
	for i := range pids {
		pids[i] = benchID(rng, 12)
	}
	seen := map[[2]int]bool{}
	for n := 0; n < votes; {
		p, o := rng.IntN(participants), int(float64(opinions)*rng.Float64()*rng.Float64())
		if seen[[2]int{p, o}] {
			continue
		}
		seen[[2]int{p, o}] = true
		s.LoadVote(agora.StoredVote{ParticipantID: pids[p], OpinionID: oids[o], Vote: agora.Vote((p+o)%3 - 1)})
		n++
	}
	s.finishLoad()
	s.an = compute(s.snapshotForMath(), nil)
	return s, pids
}

// benchID is an id like agora.NewID's, drawn from rng: random ids made every
// process analyse a different conversation (the same code counted 150M to 202M
// instructions per run from one process to the next).
func benchID(rng *rand.Rand, n int) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// atBenchSizes runs f as a sub-benchmark on a conversation of each of
// benchSizes.
func atBenchSizes(b *testing.B, f func(b *testing.B, s *conversation, pids []string)) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dx%d", size.opinions, size.votes), func(b *testing.B) {
			s, pids := benchConversation(size.opinions, size.votes, size.participants)
			f(b, s, pids)
		})
	}
}
