package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/persist/postgres"
	"github.com/agora-dev/agora/persist/postgres/pgtest"
	"github.com/agora-dev/agora/persist/sqlite"
	"github.com/agora-dev/agora/persist/storetest"
)

// BenchmarkActivation measures the activation of a conversation of 100,000
// current votes (1000 participants on 100 opinions) through the real
// server, on each store: one op is the first request after a passivation,
// GET /admin/conversations/{cid}/state, which claims the conversation,
// loads it from the store and builds its actor's state. The PostgreSQL
// case needs AGORA_TEST_POSTGRES_URL.
//
//	go test -run '^$' -bench Activation -benchtime 20x ./cmd/agora/
func BenchmarkActivation(b *testing.B) {
	const participants, opinions = 1000, 100
	events := activationEvents(participants, opinions)
	for _, store := range []string{"sqlite", "postgres"} {
		b.Run(store, func(b *testing.B) {
			var s agora.Store
			var configure func(*ServeConfig)
			if store == "postgres" {
				d := pgtest.NewDatabase(b)
				db, err := postgres.Open(context.Background(), d.URL)
				if err != nil {
					b.Fatal(err)
				}
				s, configure = db, func(c *ServeConfig) { c.Postgres = d.URL }
			} else {
				dir := b.TempDir()
				db, err := sqlite.Open(context.Background(), filepath.Join(dir, sqlite.FileName))
				if err != nil {
					b.Fatal(err)
				}
				s, configure = db, func(c *ServeConfig) { c.DataDir = dir }
			}
			for rest := events; len(rest) > 0; {
				n := min(len(rest), 10_000)
				if err := s.Apply(context.Background(), rest[:n]); err != nil {
					b.Fatal(err)
				}
				rest = rest[n:]
			}
			s.Close()

			srv := newBenchServer(b, 1, configure)
			state := "/admin/conversations/c0/state"
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				if status, body := srv.do("POST", "/admin/conversations/c0/passivate", "bench-admin", nil); status != http.StatusNoContent {
					b.Fatalf("passivate: %d %s", status, body)
				}
				b.StartTimer()
				if status, body := srv.do("GET", state, "bench-admin", nil); status != http.StatusOK {
					b.Fatalf("state: %d %s", status, body)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/activation")
		})
	}
}

// activationEvents creates participants p0.., conversation c0 with its
// opinions c0-o0.., and every participant's vote on every opinion.
func activationEvents(participants, opinions int) []agora.Event {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tick := func() time.Time { at = at.Add(time.Microsecond); return at }
	var events []agora.Event
	for i := range participants {
		events = append(events, storetest.ParticipantCreated(&agora.Participant{ID: fmt.Sprintf("p%d", i),
			Role: agora.RoleParticipant, CreatedAt: tick(), TokenHash: agora.HashToken(fmt.Sprint(i))}))
	}
	events = append(events, storetest.ConversationCreated(&agora.Conversation{ID: "c0", Title: "c0", AuthorID: "p0",
		CreatedAt: tick(), IsIndexed: true}))
	for o := range opinions {
		events = append(events, storetest.OpinionCreated(&agora.Opinion{ID: fmt.Sprintf("c0-o%d", o),
			ConversationID: "c0", AuthorID: "p0", Text: "An opinion of some length, as people write them.",
			CreatedAt: tick(), Status: agora.StatusVisible, Seq: o}))
	}
	rng := rand.New(rand.NewPCG(3, 3))
	for p := range participants {
		for o := range opinions {
			events = append(events, storetest.VoteCast("c0", fmt.Sprintf("p%d", p), fmt.Sprintf("c0-o%d", o),
				agora.Vote(rng.IntN(3)-1), tick()))
		}
	}
	return events
}
