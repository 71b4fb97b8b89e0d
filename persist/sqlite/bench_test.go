package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/persist/storetest"
)

// BenchmarkApplyVotes measures the batcher's hot path: one Apply of 1000
// vote events (about 70% new votes, 25% changes, 5% cancels) spread over a
// few conversations, each vote followed by its conversation's counters, as
// an actor emits them. One op is one batch, committed durably
// (synchronous=FULL), so the figure includes the fsync of the disk under
// the temporary folder.
//
//	go test -run '^$' -bench ApplyVotes -benchtime 200x ./persist/sqlite/
func BenchmarkApplyVotes(b *testing.B) {
	const (
		conversations = 4
		opinions      = 50
		participants  = 20000
		batchVotes    = 1000
	)
	ctx := context.Background()
	db := MustOpenDB(b)
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tick := func() time.Time { at = at.Add(time.Microsecond); return at }

	var setup []agora.Event
	flush := func() {
		if err := db.Apply(ctx, setup); err != nil {
			b.Fatal(err)
		}
		setup = setup[:0]
	}
	for i := range participants {
		setup = append(setup, storetest.ParticipantCreated(&agora.Participant{ID: fmt.Sprintf("p%d", i),
			Role: agora.RoleParticipant, CreatedAt: tick(), TokenHash: agora.HashToken(fmt.Sprint(i))}))
		if len(setup) == 1000 {
			flush()
		}
	}
	for c := range conversations {
		cid := fmt.Sprintf("c%d", c)
		setup = append(setup, storetest.ConversationCreated(&agora.Conversation{ID: cid, Title: cid, AuthorID: "p0",
			CreatedAt: tick(), IsIndexed: true}))
		for o := range opinions {
			setup = append(setup, storetest.OpinionCreated(&agora.Opinion{ID: fmt.Sprintf("%s-o%d", cid, o),
				ConversationID: cid, AuthorID: "p0", Text: "An opinion of some length, as people write them.",
				CreatedAt: tick(), Status: agora.StatusVisible, Seq: o}))
		}
	}
	flush()

	type key struct{ c, o, p int }
	rng := rand.New(rand.NewPCG(1, 1))
	var seen []key
	counts := make([]agora.Counters, conversations)
	batch := make([]agora.Event, 0, 2*batchVotes)
	latencies := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		batch = batch[:0]
		for range batchVotes {
			var k key
			r := rng.IntN(100)
			if r < 70 || len(seen) == 0 {
				k = key{rng.IntN(conversations), rng.IntN(opinions), rng.IntN(participants)}
				seen = append(seen, k)
			} else {
				k = seen[rng.IntN(len(seen))]
			}
			cid := fmt.Sprintf("c%d", k.c)
			oid, pid := fmt.Sprintf("%s-o%d", cid, k.o), fmt.Sprintf("p%d", k.p)
			now := tick()
			if r >= 95 {
				batch = append(batch, storetest.VoteCancelled(cid, pid, oid, now))
			} else {
				batch = append(batch, storetest.VoteCast(cid, pid, oid, agora.Vote(rng.IntN(3)-1), now))
			}
			counts[k.c].VoteCount++
			counts[k.c].LastReactedAt = now
			batch = append(batch, storetest.Counters(cid, counts[k.c]))
		}
		b.StartTimer()
		start := time.Now()
		if err := db.Apply(ctx, batch); err != nil {
			b.Fatal(err)
		}
		latencies = append(latencies, time.Since(start))
	}
	b.StopTimer()
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N*batchVotes)/secs, "votes/s")
	b.ReportMetric(float64(b.N*len(batch))/secs, "events/s")
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
}
