package main

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/agora-dev/agora/persist/postgres/pgtest"
)

// TestE2EPostgresOutage takes PostgreSQL away from a running node while
// participants vote: the database refuses connections and every open one
// is terminated, as in a restart of the server. Reads keep being answered
// from memory; writes are answered 503 unavailable, with Retry-After,
// after the commit timeout; once the database is back, the pending writes
// commit without a restart of the node, new writes succeed, and the store
// holds every vote, acknowledged or not.
func TestE2EPostgresOutage(t *testing.T) {
	t.Parallel()
	d := pgtest.NewDatabase(t)
	const commitTimeout = 500 * time.Millisecond
	ts := MustOpenServer(t, func(c *ServeConfig) {
		c.Postgres = d.URL
		c.CommitTimeout = commitTimeout
	})

	_, author := ts.newParticipant(t)
	conv := ts.createConversation(t, author, map[string]any{"title": "outage",
		"seed_opinions": []string{"s0", "s1", "s2"}})
	seeds := ts.opinions(t, "", conv.ID, "new")
	m := newVoteModel()
	for _, o := range seeds {
		m.addOpinion(o.ID, "", false)
	}
	const voters = 6
	ids, tokens := make([]string, voters), make([]string, voters)
	for i := range voters {
		ids[i], tokens[i] = ts.newParticipant(t)
		ts.vote(t, tokens[i], conv.ID, seeds[0].ID, "agree")
		m.vote(ids[i], seeds[0].ID, "agree")
	}
	ts.requireCounters(t, conv.ID, m.counts())

	d.Disconnect(t)
	requireProblem(t, ts.send(t, request{method: "GET", path: "/readyz", allow5xx: true}), http.StatusServiceUnavailable, "unavailable")
	// Every voter casts two more votes at once; none can commit.
	var wg sync.WaitGroup
	answers := make(chan *response, 2*voters)
	for i := range voters {
		for j, v := range []string{"disagree", "pass"} {
			oid := seeds[1+j].ID
			m.vote(ids[i], oid, v)
			wg.Go(func() {
				start := time.Now()
				r := ts.send(t, request{method: "PUT", path: votePath(conv.ID, oid), token: tokens[i],
					body: map[string]string{"vote": v}, allow5xx: true})
				if waited := time.Since(start); r.Status == http.StatusServiceUnavailable && waited < commitTimeout {
					t.Errorf("answered 503 after %v, before the commit timeout of %v", waited, commitTimeout)
				}
				answers <- r
			})
		}
	}
	wg.Wait()
	close(answers)
	for r := range answers {
		requireProblem(t, r, http.StatusServiceUnavailable, "unavailable")
		if r.Header.Get("Retry-After") == "" {
			t.Fatalf("%s: a 503 without Retry-After", r)
		}
	}
	// Reads are answered from memory, which holds the pending votes.
	c := ts.conversation(t, conv.ID)
	if got, want := (counts{c.OpinionCount, c.VoteCount, c.ParticipantCount}), m.counts(); got != want {
		t.Fatalf("counters during the outage %v, want %v", got, want)
	}

	d.Reconnect(t)
	// The backlog flushes by itself: the store's rows catch up with memory.
	deadline := time.Now().Add(30 * time.Second)
	for {
		rc := ts.recount(t, conv.ID)
		if got := (counts{rc.OpinionCount, rc.VoteCount, rc.ParticipantCount}); got == m.counts() {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the store holds %v 30 s after the outage, want %v", got, m.counts())
		}
		time.Sleep(50 * time.Millisecond)
	}
	requireStatus(t, ts.do(t, "GET", "/readyz", "", nil), http.StatusOK)
	ts.vote(t, author, conv.ID, seeds[2].ID, "agree")
	m.vote("author", seeds[2].ID, "agree")
	ts.requireCounters(t, conv.ID, m.counts())

	// A conversation loaded again from the store shows every vote.
	requireStatus(t, ts.do(t, "POST", "/admin/conversations/"+conv.ID+"/passivate", testAdminToken, nil), http.StatusNoContent)
	ts.requireCounters(t, conv.ID, m.counts())
	for i := range voters {
		got := ts.myVotes(t, tokens[i], conv.ID)
		if want := m.myVotes(ids[i]); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("voter %d after the outage: votes %v, want %v", i, got, want)
		}
	}
}
