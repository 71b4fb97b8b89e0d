package main

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
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
	analysisLag(b, s, cid, ops, clients)
}

// BenchmarkAnalysisLagProductionSize is BenchmarkAnalysisLag on the
// conversation `agora gen` makes with its defaults (113,000 votes on 19,000
// opinions by 6,000 participants), imported first: 100 new participants
// vote on 100 of its opinions. The math of such a conversation takes tens
// of milliseconds a run, so its analyses are spaced by their cost.
func BenchmarkAnalysisLagProductionSize(b *testing.B) {
	const clients, opinions = 100, 100
	s := newBenchServer(b, clients+10, nil)
	g, err := generate(genDefaults())
	if err != nil {
		b.Fatal(err)
	}
	ac := &adminClient{base: "http://" + s.m.HTTP.Addr(), token: "bench-admin", http: &http.Client{}, stderr: io.Discard}
	res, err := ac.importPolis(context.Background(), "lag", g.files)
	if err != nil {
		b.Fatal(err)
	}
	_, body := s.do("GET", "/v1/conversations/"+res.ConversationID+"/opinions?limit="+strconv.Itoa(opinions), "", nil)
	var page struct{ Items []struct{ ID string } }
	json.Unmarshal(body, &page)
	var ops []string
	for _, it := range page.Items {
		ops = append(ops, it.ID)
	}
	if len(ops) != opinions {
		b.Fatalf("%d opinions listed", len(ops))
	}
	analysisLag(b, s, res.ConversationID, ops, clients)
}

// analysisLag votes on ops from new participants while polling the
// analysis, and reports the lag of the analysis behind the votes.
func analysisLag(b *testing.B, s *benchServer, cid string, ops []string, clients int) {
	opinions := len(ops)
	included := func() int {
		_, body := s.do("GET", "/v1/conversations/"+cid+"/analysis", "", nil)
		var an struct {
			VotesIncluded int `json:"votes_included"`
		}
		json.Unmarshal(body, &an)
		return an.VotesIncluded
	}
	// The votes before the run: the analysis of the conversation as it is.
	_, body := s.do("GET", "/v1/conversations/"+cid, "", nil)
	var conv struct {
		VoteCount int `json:"vote_count"`
	}
	json.Unmarshal(body, &conv)
	base := 0
	for deadline := time.Now().Add(30 * time.Second); conv.VoteCount > 0 && base == 0; time.Sleep(50 * time.Millisecond) {
		if base = included(); base == 0 && time.Now().After(deadline) {
			b.Fatal("no analysis of the conversation")
		}
	}

	// reached[v] is when the conversation first had base+v votes (only new
	// votes are cast, so the count only grows).
	var mu sync.Mutex
	// The conversation has had base votes since before now at least: an
	// analysis with none of the new votes is measured from here.
	reached := map[int]time.Time{0: time.Now()}
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
		v := included() - base
		now := time.Now()
		mu.Lock()
		// Acknowledged votes are counted in the order their answers arrive,
		// which can trail the commit order slightly; the lag is measured
		// from the first moment the count reached votes_included.
		if t, ok := reached[v]; ok && v < int(count.Load()) {
			lags = append(lags, now.Sub(t))
		} else if v >= int(count.Load()) {
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
