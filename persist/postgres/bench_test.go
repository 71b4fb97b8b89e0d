package postgres_test

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

// BenchmarkApplyVotes measures the batcher's hot path with the workload of
// the SQLite store's benchmark of the same name: one Apply of 1000 vote
// events (about 70% new votes, 25% changes, 5% cancels) spread over a few
// conversations, each vote followed by its conversation's counters, as an
// actor emits them. One op is one committed batch. The figure depends on
// the server's durability settings: the throwaway server of `make test`
// runs with fsync off.
//
//	go test -run '^$' -bench ApplyVotes -benchtime 200x ./persist/postgres/
func BenchmarkApplyVotes(b *testing.B) {
	const (
		conversations = 4
		opinions      = 50
		participants  = 20000
		batchVotes    = 1000
	)
	ctx := context.Background()
	db, _ := MustOpenDB(b)
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tick := func() time.Time { at = at.Add(time.Microsecond); return at }
	mustApplyInBatches(b, db, setupEvents(participants, conversations, opinions, tick))

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

// BenchmarkLoadConversation measures the activation of a conversation of
// 100,000 current votes (1000 participants on 100 opinions): one op loads
// the conversation, its opinions and its votes into a sink that only
// counts them, so the figure is the store's share of an activation.
//
//	go test -run '^$' -bench LoadConversation -benchtime 20x ./persist/postgres/
func BenchmarkLoadConversation(b *testing.B) {
	const (
		participants = 1000
		opinions     = 100
	)
	ctx := context.Background()
	db, _ := MustOpenDB(b)
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tick := func() time.Time { at = at.Add(time.Microsecond); return at }
	events := setupEvents(participants, 1, opinions, tick)
	rng := rand.New(rand.NewPCG(2, 2))
	for p := range participants {
		for o := range opinions {
			events = append(events, storetest.VoteCast("c0", fmt.Sprintf("p%d", p), fmt.Sprintf("c0-o%d", o),
				agora.Vote(rng.IntN(3)-1), tick()))
		}
	}
	mustApplyInBatches(b, db, events)
	if _, err := db.Pool().Exec(ctx, `VACUUM ANALYZE`); err != nil {
		b.Fatal(err)
	}

	var sink countingSink
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		sink = countingSink{}
		if err := db.LoadConversation(ctx, "c0", &sink); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if sink.opinions != opinions || sink.votes != participants*opinions {
		b.Fatalf("loaded %d opinions and %d votes, want %d and %d", sink.opinions, sink.votes, opinions, participants*opinions)
	}
	b.ReportMetric(float64(b.N*sink.votes)/b.Elapsed().Seconds(), "votes/s")
}

// setupEvents creates participants p0.., conversations c0.. and their
// opinions cK-o0...
func setupEvents(participants, conversations, opinions int, tick func() time.Time) []agora.Event {
	var events []agora.Event
	for i := range participants {
		events = append(events, storetest.ParticipantCreated(&agora.Participant{ID: fmt.Sprintf("p%d", i),
			Role: agora.RoleParticipant, CreatedAt: tick(), TokenHash: agora.HashToken(fmt.Sprint(i))}))
	}
	for c := range conversations {
		cid := fmt.Sprintf("c%d", c)
		events = append(events, storetest.ConversationCreated(&agora.Conversation{ID: cid, Title: cid, AuthorID: "p0",
			CreatedAt: tick(), IsIndexed: true}))
		for o := range opinions {
			events = append(events, storetest.OpinionCreated(&agora.Opinion{ID: fmt.Sprintf("%s-o%d", cid, o),
				ConversationID: cid, AuthorID: "p0", Text: "An opinion of some length, as people write them.",
				CreatedAt: tick(), Status: agora.StatusVisible, Seq: o}))
		}
	}
	return events
}

// mustApplyInBatches applies events in batches of 10,000, in order.
func mustApplyInBatches(tb testing.TB, db agora.Store, events []agora.Event) {
	tb.Helper()
	for len(events) > 0 {
		n := min(len(events), 10_000)
		if err := db.Apply(context.Background(), events[:n]); err != nil {
			tb.Fatal(err)
		}
		events = events[n:]
	}
}

// countingSink counts what an activation streams.
type countingSink struct{ opinions, votes int }

func (s *countingSink) LoadConversation(agora.Conversation) error { return nil }
func (s *countingSink) LoadOpinion(agora.Opinion) error           { s.opinions++; return nil }
func (s *countingSink) LoadVote(agora.StoredVote) error           { s.votes++; return nil }
