package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/persist/storetest"
)

// BenchmarkApplyVotes measures the batcher's hot path with the workload of
// storetest.BenchmarkApplyVotes, shared with the SQLite store. The figure depends on
// the server's durability settings: the throwaway server of `make test`
// runs with fsync off.
//
//	go test -run '^$' -bench ApplyVotes -benchtime 200x ./persist/postgres/
func BenchmarkApplyVotes(b *testing.B) {
	db, _ := MustOpenDB(b)
	storetest.BenchmarkApplyVotes(b, db)
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
	events := storetest.SetupEvents(participants, 1, opinions, tick)
	rng := rand.New(rand.NewPCG(2, 2))
	for p := range participants {
		for o := range opinions {
			events = append(events, storetest.VoteCast("c0", fmt.Sprintf("p%d", p), fmt.Sprintf("c0-o%d", o),
				agora.Vote(rng.IntN(3)-1), tick()))
		}
	}
	storetest.MustApplyInBatches(b, db, events)
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

// countingSink counts what an activation streams.
type countingSink struct{ opinions, votes int }

func (s *countingSink) LoadConversation(agora.Conversation) error { return nil }
func (s *countingSink) LoadOpinion(agora.Opinion) error           { s.opinions++; return nil }
func (s *countingSink) LoadVote(agora.StoredVote) error           { s.votes++; return nil }
