package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/persist/postgres"
	"github.com/agora-dev/agora/persist/postgres/pgtest"
)

// TestPostgresOutageUnderLoad is issue 3's long outage: while clients
// vote, PostgreSQL is unreachable for 20 s and comes back. The server stays
// up; reads keep answering from memory; every write is answered 2xx or 503
// with Retry-After, never a 2xx that is later missing; once PostgreSQL is
// back, writes succeed again without a restart of the node, and the
// database holds every acknowledged write, with counters equal to its
// recount.
//
// The test does not own the PostgreSQL server (it may be a shared one,
// see pgtest), so it cannot stop it. It does what a stopped server does to
// its clients instead: pgtest's Disconnect makes the test's database
// refuse new connections and terminates every open one, and Reconnect lets
// clients in again. For agora that is the same outage: every query and
// every connection attempt fails until the database returns.
//
// It is not a TestE2E test (it takes about 30 s and needs PostgreSQL
// itself), so it is not part of the suite that runs on both stores. It
// skips without AGORA_TEST_POSTGRES_URL, and fails under CI (see pgtest).
func TestPostgresOutageUnderLoad(t *testing.T) {
	t.Parallel()
	const (
		voters        = 30
		commitTimeout = time.Second
		before        = 2 * time.Second  // voting before the outage
		outage        = 20 * time.Second // PostgreSQL unreachable
		after         = 3 * time.Second  // voting after it returned
		recoveryLimit = 20 * time.Second // bound on the first acknowledged write after it returned
	)
	d := pgtest.NewDatabase(t)
	ts := MustOpenServer(t, func(c *ServeConfig) {
		c.Postgres = d.URL
		c.CommitTimeout = commitTimeout // MaxPending stays at its default
	})

	// One conversation with 10 opinions that everyone votes on, and a
	// second, smaller one, so that the batches of the outage hold the
	// events of two actors.
	_, author := ts.newParticipant(t)
	var seeds []string
	for i := range 10 {
		seeds = append(seeds, fmt.Sprintf("opinion %d", i))
	}
	first := ts.createConversation(t, author, map[string]any{"title": "long outage", "seed_opinions": seeds})
	other := ts.createConversation(t, author, map[string]any{"title": "long outage, second conversation",
		"seed_opinions": []string{"o0", "o1", "o2", "o3"}})
	opinions := map[string][]string{}
	for _, c := range []conversationJSON{first, other} {
		for _, o := range ts.opinions(t, "", c.ID, "new") {
			opinions[c.ID] = append(opinions[c.ID], o.ID)
		}
	}
	if len(opinions[first.ID]) != 10 || len(opinions[other.ID]) != 4 {
		t.Fatalf("opinions %v, want 10 and 4", opinions)
	}

	// After the outage nobody votes on the first conversation's first
	// opinions any more, so that the database must show what the outage
	// left there, writes answered 503 included, rather than later votes.
	const frozen = 5

	var st outageStats
	vs := make([]*outageVoter, voters)
	for i := range vs {
		vs[i] = newOutageVoter(t, ts, uint64(i), &st)
	}
	// The probe checks, from the test's goroutine, when writes succeed
	// again; its writes are verified like everyone's.
	var probeStats outageStats
	probe := newOutageVoter(t, ts, voters, &probeStats)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	// stopLoad ends the voters and the reader; deferred too, so that a
	// failure of the test's goroutine leaves none behind it.
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopLoad()
	for _, v := range vs {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				cid := first.ID
				if v.rng.IntN(5) == 0 {
					cid = other.ID
				}
				ops := opinions[cid]
				if cid == first.ID && st.phase.Load() == phaseAfter {
					ops = ops[frozen:]
				}
				k := voteKey{cid, ops[v.rng.IntN(len(ops))]}
				v.write(k, []string{"agree", "disagree", "pass", ""}[v.rng.IntN(4)])
			}
		})
	}
	// A reader asks for both conversations and the opinions of the first
	// all along: every answer must be 200, from memory during the outage.
	var reads [3]atomic.Int64
	var slowestOutageRead atomic.Int64 // nanoseconds
	wg.Go(func() {
		paths := []string{convPath(first.ID), convPath(other.ID), opinionsPath(first.ID) + "?limit=100&sort=new"}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			phase := st.phase.Load()
			start := time.Now()
			r := ts.send(t, request{method: "GET", path: paths[i%len(paths)], allow5xx: true})
			took := time.Since(start)
			if r.Status != http.StatusOK {
				t.Errorf("a read in phase %s: %s, want 200", phaseNames[phase], r)
				continue
			}
			if phase == phaseOutage && st.phase.Load() == phaseOutage {
				reads[phaseOutage].Add(1)
				if int64(took) > slowestOutageRead.Load() {
					slowestOutageRead.Store(int64(took))
				}
			} else {
				reads[phase].Add(1)
			}
		}
	})

	time.Sleep(before)
	outageStart := time.Now()
	d.Disconnect(t)
	st.phase.Store(phaseOutage)
	probeStats.phase.Store(phaseOutage)
	t.Logf("PostgreSQL unreachable (database %s refuses connections, open ones terminated) after %v of voting", d.Name, before)
	requireProblem(t, ts.send(t, request{method: "GET", path: "/readyz", allow5xx: true}), http.StatusServiceUnavailable, "unavailable")
	time.Sleep(outage - time.Since(outageStart))
	d.Reconnect(t)
	st.phase.Store(phaseAfter)
	probeStats.phase.Store(phaseAfter)
	reconnected := time.Now()
	t.Logf("PostgreSQL reachable again after %v", reconnected.Sub(outageStart).Round(time.Millisecond))

	// Writes succeed again by themselves: the probe changes its vote until
	// one is acknowledged (each one changes what memory holds, so a 2xx
	// means a commit).
	probeKey := voteKey{first.ID, opinions[first.ID][len(opinions[first.ID])-1]}
	probeAttempts := 0
	for {
		probeAttempts++
		v := []string{"agree", "disagree"}[probeAttempts%2]
		if r := probe.write(probeKey, v); r.Status == http.StatusOK {
			break
		}
		if time.Since(reconnected) > recoveryLimit {
			t.Fatalf("no write acknowledged %v after PostgreSQL returned (%d attempts)", recoveryLimit, probeAttempts)
		}
		time.Sleep(50 * time.Millisecond)
	}
	recovered := time.Since(reconnected)
	for {
		r := ts.send(t, request{method: "GET", path: "/readyz", allow5xx: true})
		if r.Status == http.StatusOK {
			break
		}
		if time.Since(reconnected) > recoveryLimit {
			t.Fatalf("/readyz %v after PostgreSQL returned: %s", recoveryLimit, r)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ready := time.Since(reconnected)
	time.Sleep(after - time.Since(reconnected))
	stopLoad()
	if t.Failed() {
		t.FailNow()
	}

	t.Logf("writes before the outage: %d 2xx, %d 503", st.ok[phaseBefore].Load(), st.unavailable[phaseBefore].Load())
	t.Logf("writes answered during the outage: %d 2xx (%d votes that changed something, %d votes that changed nothing, %d cancellations), %d 503 (answered after %v to %v)",
		st.ok[phaseOutage].Load(), st.changed.Load(), st.unchanged.Load(), st.cancels.Load(), st.unavailable[phaseOutage].Load(),
		time.Duration(st.min503.Load()).Round(time.Millisecond), time.Duration(st.max503.Load()).Round(time.Millisecond))
	t.Logf("%d of the 2xx during the outage confirmed an outcome that only a write answered 503, not committed yet, had produced",
		st.onPending.Load())
	t.Logf("writes answered after the outage: %d 2xx, %d 503", st.ok[phaseAfter].Load(), st.unavailable[phaseAfter].Load())
	t.Logf("first acknowledged write %v after PostgreSQL returned (%d probe attempts), /readyz 200 after %v",
		recovered.Round(time.Millisecond), probeAttempts, ready.Round(time.Millisecond))
	t.Logf("reads answered 200: %d before, %d during the outage (slowest %v), %d after",
		reads[phaseBefore].Load(), reads[phaseOutage].Load(), time.Duration(slowestOutageRead.Load()).Round(time.Millisecond), reads[phaseAfter].Load())
	if st.ok[phaseBefore].Load() == 0 || st.unavailable[phaseOutage].Load() == 0 || st.ok[phaseAfter].Load() == 0 || reads[phaseOutage].Load() == 0 {
		t.Fatalf("the load did not cover the outage: 2xx before %d, 503 during %d, 2xx after %d, reads during %d",
			st.ok[phaseBefore].Load(), st.unavailable[phaseOutage].Load(), st.ok[phaseAfter].Load(), reads[phaseOutage].Load())
	}

	// The backlog of the outage drains by itself.
	drainDeadline := time.Now().Add(30 * time.Second)
	for ts.Batcher.Stats().Pending != 0 {
		if time.Now().After(drainDeadline) {
			t.Fatalf("%d events still pending 30 s after the load ended", ts.Batcher.Stats().Pending)
		}
		time.Sleep(20 * time.Millisecond)
	}
	bs := ts.Batcher.Stats()
	t.Logf("batcher: %d transactions, %d events committed, %d failed attempts", bs.Flushes, bs.Events, bs.StoreErrors)

	// What the database itself holds, through a connection of its own.
	ctx := context.Background()
	db, err := postgres.Open(ctx, d.URL)
	if err != nil {
		t.Fatalf("open the database: %v", err)
	}
	defer db.Close()
	readVotes := func() map[string]map[voteKey]string { // participant -> its votes
		t.Helper()
		stored := map[string]map[voteKey]string{}
		rows, err := db.Pool().Query(ctx, `SELECT conversation_id, opinion_id, participant_id, vote FROM votes WHERE conversation_id = ANY($1)`,
			[]string{first.ID, other.ID})
		if err != nil {
			t.Fatalf("read the votes: %v", err)
		}
		defer rows.Close()
		for rows.Next() {
			var k voteKey
			var pid string
			var v int16
			if err := rows.Scan(&k.cid, &k.oid, &pid, &v); err != nil {
				t.Fatalf("read the votes: %v", err)
			}
			if stored[pid] == nil {
				stored[pid] = map[voteKey]string{}
			}
			stored[pid][k] = agora.Vote(v).String()
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("read the votes: %v", err)
		}
		return stored
	}
	stored := readVotes()
	everyone := append(slices.Clone(vs), probe)

	// Every acknowledged write is in the database, or was superseded by a
	// later write of the same voter on the same opinion whose answer was
	// 503 (it was pending, and commits when the store returns).
	var lost, byPending, notLast, keys, frozenKeys, frozenByPending int
	for _, v := range everyone {
		all := map[voteKey]bool{}
		for k := range v.last {
			all[k] = true
		}
		for k := range stored[v.id] {
			all[k] = true
		}
		for k := range all {
			keys++
			isFrozen := v != probe && k.cid == first.ID && slices.Index(opinions[first.ID], k.oid) < frozen
			if isFrozen {
				frozenKeys++
			}
			got := stored[v.id][k]
			want := v.acked[k]
			switch {
			case got == want:
			case slices.Contains(v.uncertain[k], got):
				byPending++
				if isFrozen {
					frozenByPending++
				}
			default:
				lost++
				t.Errorf("participant %s, opinion %s of %s: the database holds %q, the last acknowledged write %q, the unacknowledged ones after it %q",
					v.id, k.oid, k.cid, got, want, v.uncertain[k])
			}
			if got != v.last[k] {
				notLast++
			}
		}
	}
	t.Logf("%d (participant, opinion) pairs checked, %d of them left alone after the outage: %d (%d of those) hold a write answered 503 that superseded the last acknowledged one; %d hold something else than the last write sent; %d lost",
		keys, frozenKeys, byPending, frozenByPending, notLast, lost)
	if lost > 0 {
		t.Fatalf("%d acknowledged writes are missing from the database", lost)
	}

	// Memory has not diverged from the database: each voter's votes and
	// the counters the node serves are the database's, first from the
	// actors that lived through the outage, then from actors reloaded from
	// the store after a passivation.
	requireAsStored := func(when string, stored map[string]map[voteKey]string) {
		t.Helper()
		for _, v := range everyone {
			for _, cid := range []string{first.ID, other.ID} {
				want := map[string]string{}
				for k, vote := range stored[v.id] {
					if k.cid == cid {
						want[k.oid] = vote
					}
				}
				if got := ts.myVotes(t, v.token, cid); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("%s: participant %s has the votes %v in %s, the database %v", when, v.id, got, cid, want)
				}
			}
		}
		for _, cid := range []string{first.ID, other.ID} {
			want := counts{opinions: len(opinions[cid])}
			for _, votes := range stored {
				n := 0
				for k := range votes {
					if k.cid == cid {
						n++
					}
				}
				want.votes += n
				if n > 0 {
					want.participants++
				}
			}
			c := ts.conversation(t, cid)
			rc, err := db.RecountConversation(ctx, cid)
			if err != nil {
				t.Fatalf("recount %s: %v", cid, err)
			}
			got, recount := counts{c.OpinionCount, c.VoteCount, c.ParticipantCount}, counts{rc.OpinionCount, rc.VoteCount, rc.ParticipantCount}
			if got != recount || got != want || !rc.LastReactedAt.Equal(c.LastReactedAt) {
				t.Fatalf("%s: conversation %s has the counters %v (last reacted %v), the database's recount %v (%v), its votes table %v",
					when, cid, got, c.LastReactedAt, recount, rc.LastReactedAt, want)
			}
			t.Logf("%s: conversation %s: %v, equal to the database's recount", when, cid, got)
		}
	}
	requireAsStored("in memory after the outage", stored)
	for _, cid := range []string{first.ID, other.ID} {
		requireStatus(t, ts.do(t, "POST", "/admin/conversations/"+cid+"/passivate", testAdminToken, nil), http.StatusNoContent)
	}
	if again := readVotes(); fmt.Sprint(again) != fmt.Sprint(stored) {
		t.Fatalf("passivating the conversations changed the database's votes")
	}
	requireAsStored("reloaded from the store", stored)
}

// The phases of the outage test.
const (
	phaseBefore int32 = iota
	phaseOutage
	phaseAfter
)

var phaseNames = [...]string{"before the outage", "during the outage", "after the outage"}

// outageStats counts the answers to writes by the phase they were
// answered in.
type outageStats struct {
	phase       atomic.Int32
	ok          [3]atomic.Int64
	unavailable [3]atomic.Int64
	// The 2xx answered during the outage: votes that changed something,
	// votes that did not, and cancellations.
	changed, unchanged, cancels atomic.Int64
	// onPending counts the 2xx during the outage whose outcome differs
	// from the voter's last one acknowledged before the outage: what they
	// confirm is not in the database when they are answered.
	onPending      atomic.Int64
	min503, max503 atomic.Int64 // nanoseconds a 503 took during the outage
}

// voteKey is one opinion of one conversation.
type voteKey struct{ cid, oid string }

// outageVoter is one participant voting in a loop, and the test's record
// of the answers it got. It belongs to one goroutine at a time.
type outageVoter struct {
	t         *testing.T
	ts        *TestServer
	st        *outageStats
	rng       *rand.Rand
	id, token string
	// acked is the outcome of the last acknowledged write on each opinion
	// ("" when it cancelled), uncertain the outcomes of the writes answered
	// 503 since then, and last the outcome of the last write sent.
	acked     map[voteKey]string
	uncertain map[voteKey][]string
	last      map[voteKey]string
	// before is the outcome of the last write acknowledged outside the
	// outage.
	before map[voteKey]string
}

func newOutageVoter(t *testing.T, ts *TestServer, seed uint64, st *outageStats) *outageVoter {
	id, token := ts.newParticipant(t)
	return &outageVoter{t: t, ts: ts, st: st, rng: rand.New(rand.NewPCG(seed, 3)), id: id, token: token,
		acked: map[voteKey]string{}, uncertain: map[voteKey][]string{}, last: map[voteKey]string{}, before: map[voteKey]string{}}
}

// write casts vote on k, or cancels the vote when vote is "". Any answer
// other than the write's 2xx or a 503 with Retry-After fails the test.
func (v *outageVoter) write(k voteKey, vote string) *response {
	t := v.t
	rq := request{method: "DELETE", path: votePath(k.cid, k.oid), token: v.token, allow5xx: true}
	wantStatus := http.StatusNoContent
	if vote != "" {
		rq.method, rq.body, wantStatus = "PUT", map[string]string{"vote": vote}, http.StatusOK
	}
	start := time.Now()
	r := v.ts.send(t, rq)
	took := time.Since(start)
	phase := v.st.phase.Load()
	v.last[k] = vote
	switch r.Status {
	case wantStatus:
		if phase != phaseOutage {
			v.before[k] = vote
		} else if v.before[k] != vote {
			// Nothing commits during the outage: this 2xx confirms what
			// an earlier write answered 503 left in memory.
			v.st.onPending.Add(1)
		}
		v.acked[k] = vote
		delete(v.uncertain, k)
		v.st.ok[phase].Add(1)
		if vote != "" {
			var res voteResultJSON
			if err := json.Unmarshal(r.Body, &res); err != nil || res.OpinionID != k.oid || res.Vote != vote {
				t.Errorf("%s: want the vote %s on %s", r, vote, k.oid)
			} else if phase == phaseOutage && res.Changed {
				v.st.changed.Add(1)
			} else if phase == phaseOutage {
				v.st.unchanged.Add(1)
			}
		} else if phase == phaseOutage {
			v.st.cancels.Add(1)
		}
	case http.StatusServiceUnavailable:
		v.uncertain[k] = append(v.uncertain[k], vote)
		v.st.unavailable[phase].Add(1)
		var p struct{ Code string }
		if err := json.Unmarshal(r.Body, &p); err != nil || p.Code != "unavailable" || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s: a 503 without code unavailable or without Retry-After (%q)", r, r.Header.Get("Retry-After"))
		}
		if phase == phaseOutage {
			for {
				old := v.st.min503.Load()
				if old != 0 && old <= int64(took) || v.st.min503.CompareAndSwap(old, int64(took)) {
					break
				}
			}
			for {
				old := v.st.max503.Load()
				if old >= int64(took) || v.st.max503.CompareAndSwap(old, int64(took)) {
					break
				}
			}
		}
	default:
		// Its outcome is unknown too; the test fails anyway.
		v.uncertain[k] = append(v.uncertain[k], vote)
		t.Errorf("%s: want %d or 503", r, wantStatus)
	}
	return r
}
