package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/agora-dev/agora/persist/postgres/pgtest"
)

// BenchmarkHTTPVotes measures durable votes per second through HTTP on one
// hot conversation: the real server on loopback with the SQLite store and
// group commit (ack after commit), 200 concurrent clients, each its own
// participant, every vote a change that must be committed. It reports
// throughput and the p50/p99 latency of the votes.
// benchServer is a real server on loopback for benchmarks, with a client
// of conns connections.
type benchServer struct {
	tb testing.TB
	m  *Main
	hc *fasthttp.HostClient
}

func newBenchServer(b *testing.B, conns int, configure func(*ServeConfig)) *benchServer {
	m := NewMain()
	m.Config.HTTPAddr = "127.0.0.1:0"
	m.Config.DataDir = b.TempDir()
	m.Config.AdminToken = "bench-admin"
	m.Config.RateLimit = 0
	if configure != nil {
		configure(&m.Config)
	}
	m.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := m.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close(context.Background()) })
	return &benchServer{tb: b, m: m, hc: &fasthttp.HostClient{Addr: m.HTTP.Addr(), MaxConns: conns}}
}

// do sends a request with an optional JSON body and returns the status and
// a copy of the body.
func (s *benchServer) do(method, path, token string, body any) (int, []byte) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://" + s.m.HTTP.Addr() + path)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.SetContentType("application/json")
		data, _ := json.Marshal(body)
		req.SetBody(data)
	}
	if err := s.hc.Do(req, resp); err != nil {
		s.tb.Fatal(err)
	}
	return resp.StatusCode(), append([]byte(nil), resp.Body()...)
}

// participant registers a participant and returns its token.
func (s *benchServer) participant() string {
	_, body := s.do("POST", "/v1/participants", "", nil)
	var p struct{ Token string }
	json.Unmarshal(body, &p)
	return p.Token
}

// conversation creates a conversation with n seed opinions and returns its
// id and the opinions' ids.
func (s *benchServer) conversation(n int) (string, []string) {
	seeds := make([]string, n)
	for i := range seeds {
		seeds[i] = fmt.Sprint("opinion ", i)
	}
	_, body := s.do("POST", "/v1/conversations", s.participant(), map[string]any{"title": "bench", "seed_opinions": seeds})
	var conv struct{ ID string }
	json.Unmarshal(body, &conv)
	_, body = s.do("GET", "/v1/conversations/"+conv.ID+"/opinions?limit=500", "", nil)
	var page struct{ Items []struct{ ID string } }
	json.Unmarshal(body, &page)
	ids := make([]string, len(page.Items))
	for i, it := range page.Items {
		ids[i] = it.ID
	}
	return conv.ID, ids
}

func BenchmarkHTTPVotes(b *testing.B) {
	b.Run("store=sqlite", func(b *testing.B) { benchmarkHTTPVotes(b, nil) })
	b.Run("store=postgres", func(b *testing.B) {
		url := pgtest.NewDatabase(b).URL
		benchmarkHTTPVotes(b, func(c *ServeConfig) { c.Postgres = url })
	})
}

func benchmarkHTTPVotes(b *testing.B, store func(*ServeConfig)) {
	const clients, opinions = 200, 100
	s := newBenchServer(b, clients, func(c *ServeConfig) {
		c.MaxInflight = 4 * clients
		if store != nil {
			store(c)
		}
	})
	cid, ops := s.conversation(opinions)
	tokens := make([]string, clients)
	for i := range tokens {
		tokens[i] = s.participant()
	}
	latencies := make([][]time.Duration, clients)
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 3))
			last := map[int]int{}
			for next.Add(1) <= int64(b.N) {
				o := rng.IntN(len(ops))
				v := (last[o] + 1 + rng.IntN(2)) % 3 // always a change
				last[o] = v
				t0 := time.Now()
				code, _ := s.do("PUT", "/v1/conversations/"+cid+"/opinions/"+ops[o]+"/vote", tokens[c],
					map[string]string{"vote": []string{"agree", "disagree", "pass"}[v]})
				latencies[c] = append(latencies[c], time.Since(t0))
				if code != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d votes failed", n)
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "votes/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	st := s.m.Batcher.Stats()
	b.ReportMetric(float64(st.Events)/float64(max(st.Flushes, 1)), "events/commit")
}

// BenchmarkHTTPOpinions measures one client posting opinions one after the
// other through HTTP (SQLite, ack after commit): an operation is a whole
// creation, its commit included. With an Idempotency-Key, each creation
// also looks its key up in the store and keeps its answer there.
func BenchmarkHTTPOpinions(b *testing.B) {
	for _, keyed := range []bool{false, true} {
		name := "plain"
		if keyed {
			name = "idempotency-key"
		}
		b.Run(name, func(b *testing.B) {
			s := newBenchServer(b, 1, nil)
			cid, _ := s.conversation(1)
			token := s.participant()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			i := 0
			for b.Loop() {
				req.Reset()
				req.Header.SetMethod("POST")
				req.SetRequestURI("http://" + s.m.HTTP.Addr() + "/v1/conversations/" + cid + "/opinions")
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.SetContentType("application/json")
				if keyed {
					req.Header.Set("Idempotency-Key", fmt.Sprint("key-", i))
				}
				req.SetBodyString(fmt.Sprintf(`{"text":"opinion %d"}`, i))
				if err := s.hc.Do(req, resp); err != nil || resp.StatusCode() != 201 {
					b.Fatalf("%v %d %s", err, resp.StatusCode(), resp.Body())
				}
				i++
			}
		})
	}
}
