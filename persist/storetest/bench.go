package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/agora-dev/agora"
)

// BenchmarkApplyVotes is the batcher's hot path as every store's benchmark
// of that name measures it: one Apply of 1000 vote events (about 70% new
// votes, 25% changes, 5% cancels) over 4 conversations of 50 opinions by
// 20,000 participants, each vote followed by its conversation's counters,
// as an actor emits them. One op is one committed batch; it reports votes/s,
// events/s and the p99 of a batch.
func BenchmarkApplyVotes(b *testing.B, s agora.Store) {
	const (
		conversations = 4
		opinions      = 50
		participants  = 20000
		batchVotes    = 1000
	)
	ctx := context.Background()
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tick := func() time.Time { at = at.Add(time.Microsecond); return at }
	MustApplyInBatches(b, s, SetupEvents(participants, conversations, opinions, tick))

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
				batch = append(batch, VoteCancelled(cid, pid, oid, now))
			} else {
				batch = append(batch, VoteCast(cid, pid, oid, agora.Vote(rng.IntN(3)-1), now))
			}
			counts[k.c].VoteCount++
			counts[k.c].LastReactedAt = now
			batch = append(batch, Counters(cid, counts[k.c]))
		}
		b.StartTimer()
		start := time.Now()
		if err := s.Apply(ctx, batch); err != nil {
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

// SetupEvents creates participants p0.., conversations c0.. and their
// opinions cK-o0...
func SetupEvents(participants, conversations, opinions int, tick func() time.Time) []agora.Event {
	var events []agora.Event
	for i := range participants {
		events = append(events, ParticipantCreated(&agora.Participant{ID: fmt.Sprintf("p%d", i),
			Role: agora.RoleParticipant, CreatedAt: tick(), TokenHash: agora.HashToken(fmt.Sprint(i))}))
	}
	for c := range conversations {
		cid := fmt.Sprintf("c%d", c)
		events = append(events, ConversationCreated(&agora.Conversation{ID: cid, Title: cid, AuthorID: "p0",
			CreatedAt: tick(), IsIndexed: true}))
		for o := range opinions {
			events = append(events, OpinionCreated(&agora.Opinion{ID: fmt.Sprintf("%s-o%d", cid, o),
				ConversationID: cid, AuthorID: "p0", Text: "An opinion of some length, as people write them.",
				CreatedAt: tick(), Status: agora.StatusVisible, Seq: o}))
		}
	}
	return events
}

// MustApplyInBatches applies events in batches of 10,000, in order.
func MustApplyInBatches(tb testing.TB, db agora.Store, events []agora.Event) {
	tb.Helper()
	for len(events) > 0 {
		n := min(len(events), 10_000)
		if err := db.Apply(context.Background(), events[:n]); err != nil {
			tb.Fatal(err)
		}
		events = events[n:]
	}
}
