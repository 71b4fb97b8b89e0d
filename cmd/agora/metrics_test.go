package main

import (
	"bytes"
	"fmt"
	"net/http"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads /metrics and parses the exposition.
func scrape(t *testing.T, ts *TestServer) map[string]*dto.MetricFamily {
	t.Helper()
	r := ts.do(t, "GET", "/metrics", "", nil)
	requireStatus(t, r, http.StatusOK)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

// value sums a family's samples (counters, gauges) or counts (histograms)
// whose labels include want.
func value(f *dto.MetricFamily, want map[string]string) float64 {
	total := 0.0
	for _, m := range f.GetMetric() {
		match := true
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		}
	}
	return total
}

// TestMetricsUnderLoad scrapes /metrics while participants vote and finds
// each family of the node with values that fit what the test did.
func TestMetricsUnderLoad(t *testing.T) {
	ts := MustOpenServer(t)
	_, author := ts.newParticipant(t)
	seeds := make([]string, 10)
	for i := range seeds {
		seeds[i] = fmt.Sprint("opinion ", i)
	}
	conv := ts.createConversation(t, author, map[string]any{"title": "metrics", "seed_opinions": seeds})
	ops := ts.opinions(t, "", conv.ID, "new")
	const voters = 20
	var wg sync.WaitGroup
	for v := range voters {
		_, token := ts.newParticipant(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, op := range ops {
				ts.vote(t, token, conv.ID, op.ID, []string{"agree", "disagree", "pass"}[(i+v)%3])
			}
		}()
	}
	during := scrape(t, ts)
	wg.Wait()
	// The analysis of the votes, then the scrape that must see everything.
	for range 200 {
		an := ts.do(t, "GET", convPath(conv.ID)+"/analysis", "", nil).object(t)
		if int(an["votes_included"].(float64)) == voters*len(ops) {
			break
		}
	}
	after := scrape(t, ts)
	if during["agora_http_request_duration_seconds"] == nil {
		t.Fatal("no request histogram while the load ran")
	}

	votes := float64(voters * len(ops))
	for _, tc := range []struct {
		family string
		labels map[string]string
		min    float64
	}{
		{"agora_http_request_duration_seconds", map[string]string{"route": "/v1/conversations/{cid}/opinions/{oid}/vote", "method": "PUT", "status": "200"}, votes},
		{"agora_http_request_duration_seconds", map[string]string{"route": "/v1/participants", "status": "201"}, voters + 1},
		{"agora_store_commits_total", nil, 1},
		{"agora_store_events_total", nil, 2 * votes}, // each vote and its counters
		{"agora_store_commit_duration_seconds", nil, 1},
		{"agora_store_commit_events", nil, 1},
		{"agora_actors_live", nil, 1},
		{"agora_math_run_duration_seconds", map[string]string{"outcome": "ok"}, 1},
		{"go_goroutines", nil, 1},
		{"process_resident_memory_bytes", nil, 1 << 20},
	} {
		f := after[tc.family]
		if f == nil {
			t.Errorf("family %s missing", tc.family)
			continue
		}
		if got := value(f, tc.labels); got < tc.min {
			t.Errorf("%s%v = %v, want at least %v", tc.family, tc.labels, got, tc.min)
		}
	}
	for _, family := range []string{"agora_actor_inflight_commands", "agora_actor_pending_writes", "agora_batcher_pending_events",
		"agora_store_errors_total", "agora_math_queue", "agora_dead_letters_total"} {
		f := after[family]
		if f == nil {
			t.Errorf("family %s missing", family)
		} else if v := value(f, nil); v < 0 || v > votes {
			t.Errorf("%s = %v, out of range for an idle node", family, v)
		}
	}
	// Route templates, never raw ids, label the requests.
	for _, m := range after["agora_http_request_duration_seconds"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" && bytes.Contains([]byte(l.GetValue()), []byte(conv.ID)) {
				t.Fatalf("a route label holds an id: %s", l.GetValue())
			}
		}
	}
}

// TestMetricsMethodLabel sends methods HTTP does not define: they share one
// "other" label value, so that a client cannot add a series per request.
func TestMetricsMethodLabel(t *testing.T) {
	ts := MustOpenServer(t)
	for i := range 20 {
		requireStatus(t, ts.do(t, fmt.Sprintf("X%dY", i), "/healthz", "", nil), http.StatusMethodNotAllowed)
	}
	f := scrape(t, ts)["agora_http_request_duration_seconds"]
	if f == nil {
		t.Fatal("no agora_http_request_duration_seconds family")
	}
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "method" && l.GetValue() != "other" && l.GetValue() != "GET" {
				t.Errorf("a series with method=%q", l.GetValue())
			}
		}
	}
	if got := value(f, map[string]string{"method": "other"}); got != 20 {
		t.Errorf("%v requests with method=other, want 20", got)
	}
}
