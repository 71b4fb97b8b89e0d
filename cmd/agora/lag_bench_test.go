package main

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAnalysisLag measures how far the analysis trails the votes on a
// conversation under continuous voting: 100 clients vote on 100 opinions
// for the benchmark's duration (b.N × 10 ms) while a reader polls the
// analysis; the lag of a sample is the time since the conversation first
// had the number of votes the analysis includes.
func BenchmarkAnalysisLag(b *testing.B) {
	const clients, opinions = 100, 100
	s := newBenchServer(b, clients+10, nil)
	cid, ops := s.conversation(opinions)

	// reached[v] is when the conversation first had v votes (only new votes
	// are cast, so the count only grows).
	var mu sync.Mutex
	reached := map[int]time.Time{}
	var count atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range clients {
		token := s.participant()
		wg.Add(1)
		go func() {
			defer wg.Done()
			order := rand.New(rand.NewPCG(uint64(c), 1)).Perm(opinions)
			for _, o := range order {
				select {
				case <-stop:
					return
				default:
				}
				vote := []string{"agree", "disagree", "pass"}[(o+c)%3]
				if code, _ := s.do("PUT", "/v1/conversations/"+cid+"/opinions/"+ops[o]+"/vote", token, map[string]string{"vote": vote}); code == 200 {
					n := int(count.Add(1))
					mu.Lock()
					reached[n] = time.Now()
					mu.Unlock()
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	b.ResetTimer()
	var lags []time.Duration
	end := time.Now().Add(time.Duration(b.N) * 10 * time.Millisecond)
	for time.Now().Before(end) {
		_, body := s.do("GET", "/v1/conversations/"+cid+"/analysis", "", nil)
		var an struct {
			VotesIncluded int `json:"votes_included"`
		}
		json.Unmarshal(body, &an)
		now := time.Now()
		mu.Lock()
		// Acknowledged votes are counted in the order their answers arrive,
		// which can trail the commit order slightly; the lag is measured
		// from the first moment the count reached votes_included.
		if t, ok := reached[an.VotesIncluded]; ok && an.VotesIncluded < int(count.Load()) {
			lags = append(lags, now.Sub(t))
		} else if an.VotesIncluded >= int(count.Load()) {
			lags = append(lags, 0)
		}
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	if len(lags) == 0 {
		b.Fatal("no samples")
	}
	slices.Sort(lags)
	b.ReportMetric(float64(lags[len(lags)/2].Milliseconds()), "p50-lag-ms")
	b.ReportMetric(float64(lags[len(lags)*99/100].Milliseconds()), "p99-lag-ms")
	b.ReportMetric(float64(lags[len(lags)-1].Milliseconds()), "max-lag-ms")
	b.ReportMetric(float64(count.Load())/time.Since(end.Add(-time.Duration(b.N)*10*time.Millisecond)).Seconds(), "votes/s")
}
