package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agora-dev/agora"
	agorahttp "github.com/agora-dev/agora/http"
)

// The loadgen tests run `agora loadgen` through run(), as the binary
// would, against a real node in-process, with think times shrunk to
// milliseconds so that a run of a few seconds does thousands of requests.

// loadgenRun is the result of one `agora loadgen` command line.
type loadgenRun struct {
	code           int
	stdout, stderr string
	report         map[string]any
}

// runLoadgenCmd runs `agora loadgen` with args plus --json and decodes the
// report (nil when none was written).
func runLoadgenCmd(t *testing.T, args ...string) loadgenRun {
	t.Helper()
	file := filepath.Join(t.TempDir(), "report.json")
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"loadgen", "--json", file, "--progress", "1s"}, args...), &stdout, &stderr)
	r := loadgenRun{code: code, stdout: stdout.String(), stderr: stderr.String()}
	t.Logf("agora loadgen %s: exit %d\n%s%s", strings.Join(args, " "), code, r.stderr, r.stdout)
	if data, err := os.ReadFile(file); err == nil {
		if err := json.Unmarshal(data, &r.report); err != nil {
			t.Fatalf("the JSON report is not a JSON object: %v\n%s", err, data)
		}
	}
	return r
}

// newLoadgenConversation creates a conversation with seed opinions.
func newLoadgenConversation(t *testing.T, ts *TestServer, seeds int) string {
	t.Helper()
	_, token := ts.newParticipant(t)
	texts := make([]string, seeds)
	for i := range texts {
		texts[i] = fmt.Sprint("Seed opinion ", i)
	}
	return ts.createConversation(t, token, map[string]any{"title": "Under load", "seed_opinions": texts}).ID
}

// requireLoadgenReport checks the report's shape against api.md: the keys
// of every mode, the mode's own key and no other mode's, every operation
// with its figures. It returns the operations by name.
func requireLoadgenReport(t *testing.T, rep map[string]any, mode string) map[string]map[string]float64 {
	t.Helper()
	if rep == nil {
		t.Fatal("no JSON report was written")
	}
	keys := []string{"mode", "duration_s", "vus_max", "operations", "errors_by_status", "verification",
		"server", "conversation_id", "seed", "vus_timeline"}
	switch mode {
	case "capacity":
		keys = append(keys, "capacity_vus", "slo_p99_ms", "steps")
	case "throughput":
		keys = append(keys, "votes_per_second")
	}
	requireKeys(t, "the report", rep, keys...)
	if rep["mode"] != mode {
		t.Fatalf("mode %v, want %s", rep["mode"], mode)
	}
	if d, _ := rep["duration_s"].(float64); d <= 0 {
		t.Fatalf("duration_s %v, want a positive number", rep["duration_s"])
	}
	if n, _ := rep["vus_max"].(float64); n < 1 {
		t.Fatalf("vus_max %v, want at least 1", rep["vus_max"])
	}
	if _, ok := rep["errors_by_status"].(map[string]any); !ok {
		t.Fatalf("errors_by_status %v, want an object", rep["errors_by_status"])
	}
	v, ok := rep["verification"].(map[string]any)
	if !ok {
		t.Fatalf("verification %v, want an object", rep["verification"])
	}
	if _, ok := v["ok"].(bool); !ok {
		t.Fatalf("verification.ok %v, want a boolean", v["ok"])
	}
	if d, _ := v["detail"].(string); d == "" {
		t.Fatalf("verification.detail %v, want a sentence", v["detail"])
	}
	ops, ok := rep["operations"].(map[string]any)
	if !ok {
		t.Fatalf("operations %v, want an object", rep["operations"])
	}
	requireKeys(t, "operations", ops, "create_participant", "get_conversation", "list_opinions", "create_opinion", "vote")
	out := map[string]map[string]float64{}
	for name, o := range ops {
		obj, ok := o.(map[string]any)
		if !ok {
			t.Fatalf("operations.%s %v, want an object", name, o)
		}
		requireKeys(t, "operations."+name, obj, "count", "errors", "p50_ms", "p90_ms", "p99_ms", "max_ms", "per_second")
		out[name] = map[string]float64{}
		for k, x := range obj {
			f, ok := x.(float64)
			if !ok || f < 0 {
				t.Fatalf("operations.%s.%s %v, want a number >= 0", name, k, x)
			}
			out[name][k] = f
		}
		if o := out[name]; o["count"] > 0 && !(o["p50_ms"] <= o["p90_ms"] && o["p90_ms"] <= o["p99_ms"] && o["p99_ms"] <= o["max_ms"]) {
			t.Fatalf("operations.%s: percentiles out of order: %v", name, o)
		}
	}
	return out
}

// requireVerified checks that the run succeeded without an error and that
// the end-of-run check held.
func requireVerified(t *testing.T, r loadgenRun) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit status %d, want 0", r.code)
	}
	v := r.report["verification"].(map[string]any)
	if v["ok"] != true {
		t.Fatalf("verification failed: %v", v["detail"])
	}
	if errs := r.report["errors_by_status"].(map[string]any); len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if !strings.Contains(r.stdout, "verification OK") {
		t.Fatalf("the human report does not say the verification holds:\n%s", r.stdout)
	}
}

func TestLoadgen(t *testing.T) {
	ts := MustOpenServer(t, WithMaxInflight(4096))

	t.Run("ScenarioKeepsTheCounters", func(t *testing.T) {
		t.Parallel()
		cid := newLoadgenConversation(t, ts, 30)
		before := ts.conversation(t, cid)
		r := runLoadgenCmd(t, "--server", ts.URL, "--conversation", cid,
			"--vus", "20", "--duration", "3s", "--think", "1ms-5ms")
		ops := requireLoadgenReport(t, r.report, "scenario")
		requireVerified(t, r)
		for _, name := range operationNames {
			if ops[name]["count"] < 1 || ops[name]["errors"] != 0 || ops[name]["per_second"] <= 0 {
				t.Errorf("operation %s: %v, want requests and no error", name, ops[name])
			}
		}
		if n := r.report["vus_max"].(float64); n != 20 {
			t.Errorf("vus_max %v, want 20", n)
		}
		// The report's own figures agree with the server's counters.
		after := ts.conversation(t, cid)
		if got, want := after.OpinionCount-before.OpinionCount, int(ops["create_opinion"]["count"]); got != want {
			t.Errorf("the conversation gained %d opinions, the report counts %d created", got, want)
		}
		if got, want := after.VoteCount-before.VoteCount, int(ops["create_opinion"]["count"]+ops["vote"]["count"]); got != want {
			t.Errorf("the conversation gained %d votes, the report counts %d (votes and authors' votes)", got, want)
		}
	})

	t.Run("ScenarioRampsAlongStages", func(t *testing.T) {
		t.Parallel()
		cid := newLoadgenConversation(t, ts, 10)
		r := runLoadgenCmd(t, "--server", ts.URL, "--conversation", cid,
			"--stages", "1s:8,1s:8,1s:0", "--think", "1ms-3ms", "--opinions", "1-2", "--votes", "2-4")
		requireLoadgenReport(t, r.report, "scenario")
		requireVerified(t, r)
		if n := r.report["vus_max"].(float64); n < 2 || n > 8 {
			t.Errorf("vus_max %v, want the ramp's peak of 8 at most", n)
		}
	})

	t.Run("ThroughputCastsDurableVotes", func(t *testing.T) {
		t.Parallel()
		cid := newLoadgenConversation(t, ts, 50)
		r := runLoadgenCmd(t, "--server", ts.URL, "--conversation", cid, "--mode", "throughput",
			"--clients", "20", "--duration", "2s")
		ops := requireLoadgenReport(t, r.report, "throughput")
		requireVerified(t, r)
		if ops["vote"]["count"] < 20 || ops["create_participant"]["count"] != 20 || ops["create_opinion"]["count"] != 0 {
			t.Errorf("operations %v: want 20 participants, votes, no opinion", ops)
		}
		if vps := r.report["votes_per_second"].(float64); vps <= 0 {
			t.Errorf("votes_per_second %v, want a positive number", vps)
		}
		// Most votes were changes: vote_count grew by the pairs only.
		if got := ts.conversation(t, cid).VoteCount; got > 20*50 {
			t.Errorf("vote_count %d: more than one vote per (client, opinion) pair", got)
		}
	})

	t.Run("CapacityRaisesTheVUsStepByStep", func(t *testing.T) {
		t.Parallel()
		cid := newLoadgenConversation(t, ts, 20)
		// Steps of 2 s: every step must count votes, and the store's commits
		// once stalled for 1.6 s while the whole suite ran on two cores
		// (every write waited, reads did not), leaving a 1 s step with none.
		r := runLoadgenCmd(t, "--server", ts.URL, "--conversation", cid, "--mode", "capacity",
			"--step-vus", "4", "--max-vus", "12", "--step-duration", "2s", "--slo-p99", "10s", "--think", "1ms-5ms")
		requireLoadgenReport(t, r.report, "capacity")
		requireVerified(t, r)
		steps := r.report["steps"].([]any)
		capacity := r.report["capacity_vus"].(float64)
		if len(steps) != 3 || capacity != 12 {
			t.Fatalf("steps %v, capacity %v: want 3 steps held up to 12 VUs under a 10 s SLO", steps, capacity)
		}
		for i, s := range steps {
			step := s.(map[string]any)
			if step["vus"] != float64(4*(i+1)) || step["held"] != true || step["votes"].(float64) < 1 {
				t.Errorf("step %d: %v", i, step)
			}
		}
	})

	t.Run("CapacityStopsAtTheFirstStepOverTheSLO", func(t *testing.T) {
		t.Parallel()
		cid := newLoadgenConversation(t, ts, 20)
		r := runLoadgenCmd(t, "--server", ts.URL, "--conversation", cid, "--mode", "capacity",
			"--step-vus", "4", "--max-vus", "40", "--step-duration", "1s", "--slo-p99", "1us", "--think", "1ms-5ms")
		requireLoadgenReport(t, r.report, "capacity")
		requireVerified(t, r)
		if steps, capacity := r.report["steps"].([]any), r.report["capacity_vus"].(float64); len(steps) != 1 || capacity != 0 {
			t.Fatalf("steps %v, capacity %v: want one failed step and a capacity of 0 under a 1 µs SLO", steps, capacity)
		}
	})

	t.Run("RejectsABadCommandLine", func(t *testing.T) {
		cid := newLoadgenConversation(t, ts, 1)
		for _, tc := range []struct {
			name string
			args []string
		}{
			{"NoServer", []string{"--conversation", cid}},
			{"NoConversation", []string{"--server", ts.URL}},
			{"ABadConversationID", []string{"--server", ts.URL, "--conversation", "no/such"}},
			{"AServerThatIsNotHTTP", []string{"--server", "ftp://127.0.0.1:1", "--conversation", cid}},
			{"AnUnknownMode", []string{"--server", ts.URL, "--conversation", cid, "--mode", "chaos"}},
			{"BadStages", []string{"--server", ts.URL, "--conversation", cid, "--stages", "2m50"}},
			{"AnUpsideDownThinkTime", []string{"--server", ts.URL, "--conversation", cid, "--think", "2s-1s"}},
			{"TooManyVUs", []string{"--server", ts.URL, "--conversation", cid, "--vus", "1000000"}},
			{"AStrayArgument", []string{"--server", ts.URL, "--conversation", cid, "extra"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				if code := run(append([]string{"loadgen"}, tc.args...), &stdout, &stderr); code != 2 {
					t.Fatalf("exit status %d, want 2; stderr: %s", code, stderr.String())
				}
				// The flag package prints the usage first when it cannot parse a flag.
				lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
				if last := lines[len(lines)-1]; !strings.HasPrefix(last, "agora loadgen: ") {
					t.Errorf("want a last line on stderr that says what is wrong, got:\n%s", stderr.String())
				}
			})
		}
	})

	t.Run("FailsOnAnUnknownConversation", func(t *testing.T) {
		r := runLoadgenCmd(t, "--server", ts.URL, "--conversation", "nosuchconversation", "--vus", "1", "--duration", "1s")
		if r.code != 1 || !strings.Contains(r.stderr, "does not exist") {
			t.Fatalf("exit status %d, stderr %q: want 1 and a clear line", r.code, r.stderr)
		}
	})

	t.Run("ReadsItsFlagsFromTheEnvironment", func(t *testing.T) {
		cid := newLoadgenConversation(t, ts, 5)
		t.Setenv("AGORA_SERVER", ts.URL)
		t.Setenv("AGORA_CONVERSATION", cid)
		t.Setenv("AGORA_THINK", "0")
		r := runLoadgenCmd(t, "--vus", "2", "--duration", "500ms")
		requireLoadgenReport(t, r.report, "scenario")
		requireVerified(t, r)
		if r.report["conversation_id"] != cid {
			t.Fatalf("conversation_id %v, want %s from AGORA_CONVERSATION", r.report["conversation_id"], cid)
		}
	})
}

// droppingVotes is a conversation service that loses every nth vote while
// answering it as applied: the fault the end-of-run check must catch. It
// lives only in this test; the node's own path is untouched.
type droppingVotes struct {
	agora.ConversationService
	every int64
	n     atomic.Int64
}

func (d *droppingVotes) Vote(ctx context.Context, c agora.Caller, cid, oid string, v agora.Vote) (*agora.VoteResult, error) {
	if d.n.Add(1)%d.every == 0 {
		return &agora.VoteResult{OpinionID: oid, Vote: v, Changed: true}, nil
	}
	return d.ConversationService.Vote(ctx, c, cid, oid, v)
}

// doublingVotes counts every nth vote twice: it also casts it for a
// participant of its own, whom the load generator never sees. It lives
// only in this test.
type doublingVotes struct {
	agora.ConversationService
	participants agora.ParticipantService
	every        int64
	n            atomic.Int64
}

func (d *doublingVotes) Vote(ctx context.Context, c agora.Caller, cid, oid string, v agora.Vote) (*agora.VoteResult, error) {
	res, err := d.ConversationService.Vote(ctx, c, cid, oid, v)
	if err == nil && res.Changed && d.n.Add(1)%d.every == 0 {
		if p, _, err := d.participants.CreateParticipant(ctx, ""); err == nil {
			d.ConversationService.Vote(ctx, agora.Caller{ParticipantID: p.ID, Role: agora.RoleParticipant}, cid, oid, v)
		}
	}
	return res, err
}

// openDroppingServer serves ts's node through droppingVotes on another
// port and returns its URL.
func openDroppingServer(t *testing.T, ts *TestServer, every int64) string {
	t.Helper()
	return openFaultyServer(t, ts, &droppingVotes{ConversationService: ts.Manager, every: every})
}

// openFaultyServer serves ts's node through svc on another port and
// returns its URL.
func openFaultyServer(t *testing.T, ts *TestServer, svc agora.ConversationService) string {
	t.Helper()
	srv := agorahttp.NewServer(agorahttp.Config{
		Addr:       "127.0.0.1:0",
		NodeName:   testNodeName,
		AdminToken: testAdminToken,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, svc, ts.Participants, ts.Store)
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("close the faulty server: %v", err)
		}
	})
	return "http://" + srv.Addr()
}

func TestLoadgenDetectsLostVotes(t *testing.T) {
	ts := MustOpenServer(t, WithMaxInflight(4096))
	url := openDroppingServer(t, ts, 7)

	t.Run("Scenario", func(t *testing.T) {
		t.Parallel()
		cid := newLoadgenConversation(t, ts, 30)
		r := runLoadgenCmd(t, "--server", url, "--conversation", cid, "--vus", "10", "--duration", "2s", "--think", "1ms-5ms")
		requireLoadgenReport(t, r.report, "scenario")
		if r.code != 1 {
			t.Fatalf("exit status %d, want 1", r.code)
		}
		v := r.report["verification"].(map[string]any)
		detail, _ := v["detail"].(string)
		if v["ok"] != false || !strings.Contains(detail, "vote_count") || !strings.Contains(detail, "difference -") {
			t.Fatalf("verification %v: want ok=false naming the vote_count difference", v)
		}
		if !strings.Contains(r.stdout, "verification FAILED") || !strings.Contains(r.stderr, "verification failed") {
			t.Fatalf("the failure is not said plainly on stdout and stderr")
		}
	})

	t.Run("Throughput", func(t *testing.T) {
		t.Parallel()
		cid := newLoadgenConversation(t, ts, 10)
		r := runLoadgenCmd(t, "--server", url, "--conversation", cid, "--mode", "throughput", "--clients", "10", "--duration", "2s")
		requireLoadgenReport(t, r.report, "throughput")
		v := r.report["verification"].(map[string]any)
		if r.code != 1 || v["ok"] != false || v["contradicted_votes"].(float64) < 1 {
			t.Fatalf("exit %d, verification %v: want a failure with contradicted votes", r.code, v)
		}
	})
}

// A server that counts acknowledged votes twice fails the check too.
func TestLoadgenDetectsDoubleCountedVotes(t *testing.T) {
	ts := MustOpenServer(t, WithMaxInflight(4096))
	url := openFaultyServer(t, ts, &doublingVotes{ConversationService: ts.Manager, participants: ts.Participants, every: 5})
	cid := newLoadgenConversation(t, ts, 30)
	r := runLoadgenCmd(t, "--server", url, "--conversation", cid, "--vus", "10", "--duration", "2s", "--think", "1ms-5ms")
	requireLoadgenReport(t, r.report, "scenario")
	v := r.report["verification"].(map[string]any)
	detail, _ := v["detail"].(string)
	if r.code != 1 || v["ok"] != false || !strings.Contains(detail, "vote_count") || !strings.Contains(detail, "difference +") {
		t.Fatalf("exit %d, verification %v: want ok=false naming the vote_count difference +N", r.code, v)
	}
}

func TestLoadgenHistogramPrecision(t *testing.T) {
	var h latencyHistogram
	rng := rand.New(rand.NewPCG(1, 2))
	values := make([]time.Duration, 100_000)
	for i := range values {
		// Log-uniform from 1 µs to about 20 s.
		values[i] = time.Duration(float64(time.Microsecond) * math.Exp(rng.Float64()*16.8))
		h.record(values[i])
	}
	slices.Sort(values)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999} {
		exact := values[int(q*float64(len(values)))-1].Truncate(time.Microsecond)
		got := h.quantile(q)
		if diff := (got - exact).Abs(); diff > exact/100+time.Microsecond {
			t.Errorf("p%v = %v, exact %v: off by more than 1%%", q*100, got, exact)
		}
	}
	if h.maxLatency() != values[len(values)-1].Truncate(time.Microsecond) {
		t.Errorf("max %v, want %v", h.maxLatency(), values[len(values)-1])
	}
	if h.count() != int64(len(values)) {
		t.Errorf("count %d, want %d", h.count(), len(values))
	}
	t.Run("BucketsAreContiguous", func(t *testing.T) {
		for us := int64(0); us < 1<<22; us += 1 + us/1000 {
			i := histIndex(us)
			if i < 0 || i >= histBuckets {
				t.Fatalf("value %d µs: bucket %d out of range", us, i)
			}
			if v := histValue(i); float64(v-us) > float64(us)/200+1 || float64(us-v) > float64(us)/200+1 {
				t.Fatalf("value %d µs reads back as %d", us, v)
			}
		}
	})
	t.Run("AnEmptyHistogramReadsZero", func(t *testing.T) {
		var e latencyHistogram
		if e.quantile(0.99) != 0 || e.maxLatency() != 0 {
			t.Fatal("an empty histogram has figures")
		}
	})
}

func TestLoadgenRampProfile(t *testing.T) {
	var s rampStages
	if err := s.Set("2m:50,18m:200"); err != nil {
		t.Fatal(err)
	}
	p := rampProfile{start: 1, stages: s}
	for _, tc := range []struct {
		at   time.Duration
		want int
	}{
		{0, 1}, {time.Minute, 26}, {2 * time.Minute, 50}, {11 * time.Minute, 125}, {20 * time.Minute, 200}, {time.Hour, 200},
	} {
		if got := p.target(tc.at); got != tc.want {
			t.Errorf("at %v: %d VUs, want %d", tc.at, got, tc.want)
		}
	}
	if p.peak() != 200 || s.total() != 20*time.Minute {
		t.Errorf("peak %d, total %v", p.peak(), s.total())
	}
	for _, bad := range []string{"", "2m", "2m:", "x:5", "-1m:5", "1m:-5", "0s:5"} {
		if err := s.Set(bad); err == nil {
			t.Errorf("stages %q accepted", bad)
		}
	}
	var think lgDurationRange
	for in, want := range map[string]lgDurationRange{
		"500ms-2s": {500 * time.Millisecond, 2 * time.Second},
		"0":        {0, 0},
		"1s":       {time.Second, time.Second},
	} {
		if err := think.Set(in); err != nil || think != want {
			t.Errorf("think %q: %v %v, want %v", in, think, err, want)
		}
	}
	var n lgIntRange
	if err := n.Set("5-10"); err != nil || n != (lgIntRange{5, 10}) {
		t.Errorf("range 5-10: %v %v", n, err)
	}
}

// The hot answers are decoded by picking their fields; a 2xx whose body is
// not the promised JSON still counts as an invalid_body error.
func TestLoadgenDecodesAnswers(t *testing.T) {
	bodies := map[string]string{
		"/v1/participants": `{"participant_id":"p1","token":"t1","role":"participant"}`,
		"/v1/conversations/c1/opinions": `{"items":[{"id":"o1","author_id":"p9","body":"x","clusters":[{"cluster":0,"agree":1}]},` +
			`{"id":"o2","author_id":null}],"next_cursor":null}`,
		"/v1/conversations/c1/opinions/o1/vote": `{"changed":true,"vote":"agree"}`,
		"/v1/conversations/c1/opinions/o2/vote": `{"changed":`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, bodies[r.URL.Path])
	}))
	defer srv.Close()
	c, err := newLGClient(loadgenConfig{Server: srv.URL, Conversation: "c1", Timeout: 5 * time.Second, Conns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	var p lgParticipant
	if _, oc := c.do(opCreateParticipant, "POST", "/v1/participants", "", nil, &p); oc != outcomeApplied || p != (lgParticipant{ID: "p1", Token: "t1"}) {
		t.Fatalf("participant %+v, outcome %v", p, oc)
	}
	var page lgOpinionPage
	c.do(opListOpinions, "GET", c.opinionsPath, "t1", nil, &page)
	if want := []lgPageItem{{"o1", "p9"}, {"o2", ""}}; !slices.Equal(page.Items, want) {
		t.Fatalf("page %+v, want %+v", page.Items, want)
	}
	var a lgVoteAnswer
	if c.do(opVote, "PUT", c.opinionsPath+"/o1/vote", "t1", []byte(`{"vote":"agree"}`), &a); !a.Changed {
		t.Fatal("changed not read")
	}
	_, oc := c.do(opVote, "PUT", c.opinionsPath+"/o2/vote", "t1", []byte(`{"vote":"agree"}`), &a)
	c.stats.mu.Lock()
	bad := c.stats.byStatus["invalid_body"]
	c.stats.mu.Unlock()
	if oc != outcomeApplied || bad != 1 || c.stats.ops[opVote].errors.Load() != 1 {
		t.Fatalf("a cut 2xx body: outcome %v, invalid_body %d, vote errors %d", oc, bad, c.stats.ops[opVote].errors.Load())
	}
}
