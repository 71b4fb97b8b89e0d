package actors

import (
	"context"
	"fmt"
	"math/rand/v2"
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
