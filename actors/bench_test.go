package actors

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/persist"
)

// nopStore commits instantly: it takes the store out of a measurement.
type nopStore struct{ agora.Store }

func (nopStore) Apply(context.Context, []agora.Event) error { return nil }

// BenchmarkActorInbox measures votes through the whole actor path without
// I/O: the manager's admission, hollywood's inbox, the command, the events
// handed to the batcher (whose store does nothing) and the reply channel,
// answered on apply so the figure is the actor's and not the flush
// interval's.
func BenchmarkActorInbox(b *testing.B) {
	batcher := persist.NewBatcher(nopStore{}, persist.Config{Logger: quiet})
	defer batcher.Close(context.Background())
	m, err := NewManager(nopStore{}, batcher, Config{AckApplied: true, MaxInflight: 1 << 20, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close(context.Background())
	ctx := context.Background()
	seeds := make([]string, 100)
	for i := range seeds {
		seeds[i] = fmt.Sprint("seed ", i)
	}
	c, err := m.CreateConversation(ctx, agora.Caller{ParticipantID: "author"}, agora.NewConversation{Title: "t", SeedOpinions: seeds})
	if err != nil {
		b.Fatal(err)
	}
	page, err := m.Opinions(ctx, agora.Caller{}, c.ID, agora.OpinionQuery{Limit: 100})
	if err != nil {
		b.Fatal(err)
	}
	var worker atomic.Uint64
	b.SetParallelism(64)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(worker.Add(1), 9))
		caller := agora.Caller{ParticipantID: fmt.Sprint("p", rng.Uint64())}
		for pb.Next() {
			o := page.Items[rng.IntN(len(page.Items))].ID
			if _, err := m.Vote(ctx, caller, c.ID, o, agora.Vote(rng.IntN(3)-1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "votes/s")
}

// BenchmarkConversationMemory measures what an activated conversation
// holds per vote beyond the texts and ids (allocated before the
// measurement, as the store's rows would be): 19,000 opinions and 225,000
// votes by 6,000 participants loaded as the store streams them, the heap
// measured after a GC.
func BenchmarkConversationMemory(b *testing.B) {
	const opinions, votes, participants = 19000, 225000, 6000
	rng := rand.New(rand.NewPCG(7, 7))
	oids := make([]string, opinions)
	texts := make([]string, opinions)
	for i := range oids {
		oids[i] = agora.NewID(10)
		texts[i] = fmt.Sprintf("opinion %d: %s", i, strings.Repeat("x", 80))
	}
	pids := make([]string, participants)
	for i := range pids {
		pids[i] = agora.NewID(12)
	}
	type pair struct{ p, o int }
	seen := map[pair]bool{}
	var rows []agora.StoredVote
	for len(rows) < votes {
		pr := pair{rng.IntN(participants), rng.IntN(opinions)}
		if !seen[pr] {
			seen[pr] = true
			rows = append(rows, agora.StoredVote{ParticipantID: pids[pr.p], OpinionID: oids[pr.o], Vote: agora.Vote(rng.IntN(3) - 1)})
		}
	}
	var perVote float64
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := newConversation(agora.Conversation{ID: "c"})
		for i, id := range oids {
			s.LoadOpinion(agora.Opinion{ID: id, ConversationID: "c", Text: texts[i], Status: agora.StatusVisible, Seq: i})
		}
		for _, v := range rows {
			s.LoadVote(v)
		}
		s.finishLoad()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if s.conv.VoteCount != votes {
			b.Fatalf("%d votes loaded", s.conv.VoteCount)
		}
		perVote = (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / votes
		runtime.KeepAlive(s)
	}
	b.ReportMetric(perVote, "B/vote")
}
