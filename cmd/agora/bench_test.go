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
)

// BenchmarkHTTPVotes measures durable votes per second through HTTP on one
// hot conversation: the real server on loopback with the SQLite store and
// group commit (ack after commit), 200 concurrent clients, each its own
// participant, every vote a change that must be committed. It reports
// throughput and the p50/p99 latency of the votes.
func BenchmarkHTTPVotes(b *testing.B) {
	const clients, opinions = 200, 100
	m := NewMain()
	m.Config.HTTPAddr = "127.0.0.1:0"
	m.Config.DataDir = b.TempDir()
	m.Config.AdminToken = "bench-admin"
	m.Config.RateLimit = 0
	m.Config.MaxInflight = 4 * clients
	m.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	if err := m.Run(ctx); err != nil {
		b.Fatal(err)
	}
	defer m.Close(ctx)
	hc := &fasthttp.HostClient{Addr: m.HTTP.Addr(), MaxConns: clients}

	do := func(method, path, token string, body any) (int, []byte) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.Header.SetMethod(method)
		req.SetRequestURI("http://" + m.HTTP.Addr() + path)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != nil {
			req.Header.SetContentType("application/json")
			data, _ := json.Marshal(body)
			req.SetBody(data)
		}
		if err := hc.Do(req, resp); err != nil {
			b.Fatal(err)
		}
		return resp.StatusCode(), append([]byte(nil), resp.Body()...)
	}
	participant := func() string {
		_, body := do("POST", "/v1/participants", "", nil)
		var p struct{ Token string }
		json.Unmarshal(body, &p)
		return p.Token
	}
	author := participant()
	seeds := make([]string, opinions)
	for i := range seeds {
		seeds[i] = fmt.Sprint("opinion ", i)
	}
	_, body := do("POST", "/v1/conversations", author, map[string]any{"title": "hot", "seed_opinions": seeds})
	var conv struct{ ID string }
	json.Unmarshal(body, &conv)
	_, body = do("GET", "/v1/conversations/"+conv.ID+"/opinions?limit=500", "", nil)
	var page struct{ Items []struct{ ID string } }
	json.Unmarshal(body, &page)
	tokens := make([]string, clients)
	for i := range tokens {
		tokens[i] = participant()
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
				o := rng.IntN(len(page.Items))
				v := (last[o] + 1 + rng.IntN(2)) % 3 // always a change
				last[o] = v
				t0 := time.Now()
				code, _ := do("PUT", "/v1/conversations/"+conv.ID+"/opinions/"+page.Items[o].ID+"/vote", tokens[c],
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
	st := m.Batcher.Stats()
	b.ReportMetric(float64(st.Events)/float64(max(st.Flushes, 1)), "events/commit")
}
