package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agora-dev/agora"
)

// `agora loadgen` replays the load test of the system agora replaces
// against one conversation and checks, at the end, that the server's
// counters moved by exactly what it acknowledged. Three modes:
//
//   - scenario: virtual users (VUs) that each register, read the
//     conversation and a page of opinions, then post 5-10 opinions and cast
//     5-15 votes in random order with think time between actions; a VU then
//     starts over as a new participant. The VU count follows --stages (or a
//     flat --vus for --duration).
//   - capacity: the scenario's VUs, raised by --step-vus every
//     --step-duration until the p99 of votes or opinion creation over a
//     step passes --slo-p99 or a request fails; the highest VU count that
//     held is the capacity.
//   - throughput: --clients closed-loop clients without think time, each its
//     own participant, changing votes on the conversation's opinions as fast
//     as the server acknowledges them: durable votes per second.
//
// The run is bounded: by its duration (or the capacity steps), by
// maxLoadgenVUs, and by the request timeout when it drains. It only talks
// to --server. The check at the end assumes that nobody else writes to the
// conversation during the run.

// maxLoadgenVUs bounds every VU and client count, so that a typo cannot
// open a million connections.
const maxLoadgenVUs = 100_000

// maxLoadgenDuration bounds the length of a run.
const maxLoadgenDuration = 24 * time.Hour

// loadgenConfig is the configuration of `agora loadgen`.
type loadgenConfig struct {
	Server       string
	Conversation string
	Mode         string

	VUs      int
	Duration time.Duration
	Stages   rampStages

	Think    lgDurationRange
	Opinions lgIntRange
	Votes    lgIntRange
	PageSize int

	StepVUs      int
	StepDuration time.Duration
	MaxVUs       int
	SLOP99       time.Duration

	Clients int

	Timeout time.Duration
	Conns   int
	JSON    string
	// CPUProfile is a file for a CPU profile of the load generator itself,
	// which shares the machine with the server in every figure we publish.
	CPUProfile string
	Progress   time.Duration
	Seed       uint64
}

// bindLoadgenFlags declares the flags of `agora loadgen` with their defaults.
func bindLoadgenFlags(fs *flag.FlagSet, c *loadgenConfig) {
	c.Think = lgDurationRange{500 * time.Millisecond, 2 * time.Second}
	c.Opinions = lgIntRange{5, 10}
	c.Votes = lgIntRange{5, 15}
	fs.StringVar(&c.Server, "server", "", "base URL of the agora node to load (required), e.g. http://127.0.0.1:8080")
	fs.StringVar(&c.Conversation, "conversation", "", "id of the conversation to load (required)")
	fs.StringVar(&c.Mode, "mode", "scenario", "scenario, capacity or throughput")
	fs.IntVar(&c.VUs, "vus", 10, "scenario: virtual users of a flat run")
	fs.DurationVar(&c.Duration, "duration", time.Minute, "scenario: length of a flat run; throughput: length of the voting")
	fs.Var(&c.Stages, "stages", "scenario: ramp profile DURATION:VUS,... from 1 VU (e.g. 2m:50,18m:200); overrides --vus and --duration")
	fs.Var(&c.Think, "think", "think time between a VU's actions, uniform in MIN-MAX (e.g. 500ms-2s), one value, or 0 for none")
	fs.Var(&c.Opinions, "opinions", "opinions each VU posts per iteration, uniform in MIN-MAX")
	fs.Var(&c.Votes, "votes", "votes each VU casts per iteration, uniform in MIN-MAX (on opinions of the page it read, not its own)")
	fs.IntVar(&c.PageSize, "page-size", 100, "limit of the page of opinions a VU reads (1-500); throughput mode votes on such a page")
	fs.IntVar(&c.StepVUs, "step-vus", 10, "capacity: VUs of the first step and added at each step")
	fs.DurationVar(&c.StepDuration, "step-duration", 30*time.Second, "capacity: length of a step")
	fs.IntVar(&c.MaxVUs, "max-vus", 500, "capacity: stop raising the VU count here")
	fs.DurationVar(&c.SLOP99, "slo-p99", 100*time.Millisecond, "capacity: a step holds while the p99 of votes and of opinion creation stay at or below this")
	fs.IntVar(&c.Clients, "clients", 50, "throughput: closed-loop clients, each its own participant")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Second, "timeout of one request; a write that times out counts as uncertain")
	fs.IntVar(&c.Conns, "conns", 0, "most connections to the server (default: one per VU or client, plus a few)")
	fs.StringVar(&c.JSON, "json", "", "also write the report as JSON to this file")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of the load generator (not the server) to this file")
	fs.DurationVar(&c.Progress, "progress", 5*time.Second, "interval of the progress lines on stderr; 0 for none")
	fs.Uint64Var(&c.Seed, "seed", 0, "seed of the random choices (default: from the clock; the report shows it)")
}

// validate checks the configuration and fills in what depends on the mode.
func (c *loadgenConfig) validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
	}
	if c.Server == "" {
		return bad("--server is required")
	}
	if c.Conversation == "" {
		return bad("--conversation is required")
	}
	if !agora.ValidID(c.Conversation) {
		return bad("--conversation %q is not an id", c.Conversation)
	}
	if _, _, err := parseServerURL(c.Server); err != nil {
		return bad("--server: %v", err)
	}
	switch c.Mode {
	case "scenario":
		if len(c.Stages) == 0 {
			if c.VUs < 1 || c.VUs > maxLoadgenVUs {
				return bad("--vus must be from 1 to %d", maxLoadgenVUs)
			}
			if c.Duration <= 0 || c.Duration > maxLoadgenDuration {
				return bad("--duration must be positive and at most %v", maxLoadgenDuration)
			}
		} else if c.Stages.total() > maxLoadgenDuration {
			return bad("--stages last longer than %v", maxLoadgenDuration)
		}
	case "capacity":
		if c.StepVUs < 1 || c.MaxVUs < c.StepVUs || c.MaxVUs > maxLoadgenVUs {
			return bad("--step-vus must be at least 1 and at most --max-vus, itself at most %d", maxLoadgenVUs)
		}
		if c.StepDuration <= 0 || time.Duration(c.MaxVUs/c.StepVUs)*c.StepDuration > maxLoadgenDuration {
			return bad("--step-duration must be positive, and all steps together at most %v", maxLoadgenDuration)
		}
		if c.SLOP99 <= 0 {
			return bad("--slo-p99 must be positive")
		}
	case "throughput":
		if c.Clients < 1 || c.Clients > maxLoadgenVUs {
			return bad("--clients must be from 1 to %d", maxLoadgenVUs)
		}
		if c.Duration <= 0 || c.Duration > maxLoadgenDuration {
			return bad("--duration must be positive and at most %v", maxLoadgenDuration)
		}
	default:
		return bad("--mode %q: use scenario, capacity or throughput", c.Mode)
	}
	if c.Opinions.Min < 0 || c.Votes.Min < 0 || c.Opinions.Max > 1000 || c.Votes.Max > 1000 {
		return bad("--opinions and --votes must lie within 0-1000")
	}
	if c.PageSize < 1 || c.PageSize > 500 {
		return bad("--page-size must be from 1 to 500")
	}
	if c.Timeout <= 0 {
		return bad("--timeout must be positive")
	}
	if c.Conns < 0 || c.Progress < 0 {
		return bad("--conns and --progress must not be negative")
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano()) % 1_000_000_000 // short enough to retype
	}
	if c.Conns == 0 {
		c.Conns = c.peakVUs() + 16
	}
	return nil
}

// peakVUs is the most VUs or clients the run can have at once.
func (c *loadgenConfig) peakVUs() int {
	switch c.Mode {
	case "capacity":
		return c.MaxVUs
	case "throughput":
		return c.Clients
	}
	return c.profile().peak()
}

// profile is the scenario's VU count over time.
func (c *loadgenConfig) profile() rampProfile {
	if len(c.Stages) > 0 {
		return rampProfile{start: 1, stages: c.Stages}
	}
	return rampProfile{start: c.VUs, stages: rampStages{{c.Duration, c.VUs}}}
}

// parseServerURL splits the base URL of a node into what the HTTP client
// needs: the host:port to connect to, whether it is TLS, and a path prefix
// (without a trailing slash) for every request.
func parseServerURL(raw string) (u *url.URL, prefix string, err error) {
	u, err = url.Parse(raw)
	if err != nil {
		return nil, "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, "", fmt.Errorf("%q: the scheme must be http or https", raw)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, "", fmt.Errorf("%q: want scheme://host[:port][/prefix] and nothing else", raw)
	}
	return u, strings.TrimSuffix(u.EscapedPath(), "/"), nil
}

// rampStage is one leg of a ramp: the VU count goes linearly from where the
// previous stage ended to target over d.
type rampStage struct {
	d      time.Duration
	target int
}

// rampStages is a ramp profile as the --stages flag writes it: 2m:50,18m:200.
type rampStages []rampStage

func (s *rampStages) String() string {
	parts := make([]string, len(*s))
	for i, st := range *s {
		parts[i] = fmt.Sprintf("%v:%d", st.d, st.target)
	}
	return strings.Join(parts, ",")
}

func (s *rampStages) Set(v string) error {
	var out rampStages
	for part := range strings.SplitSeq(v, ",") {
		ds, ns, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return fmt.Errorf("stage %q: want DURATION:VUS", part)
		}
		d, err := time.ParseDuration(ds)
		if err != nil || d <= 0 {
			return fmt.Errorf("stage %q: the duration must be positive, like 30s or 2m", part)
		}
		n, err := strconv.Atoi(ns)
		if err != nil || n < 0 || n > maxLoadgenVUs {
			return fmt.Errorf("stage %q: the VU count must be from 0 to %d", part, maxLoadgenVUs)
		}
		out = append(out, rampStage{d, n})
	}
	*s = out
	return nil
}

// total is the length of the whole ramp.
func (s rampStages) total() time.Duration {
	var t time.Duration
	for _, st := range s {
		t += st.d
	}
	return t
}

// rampProfile is a VU count as a function of the time since the start.
type rampProfile struct {
	start  int
	stages rampStages
}

// target returns the VU count at elapsed time t.
func (p rampProfile) target(t time.Duration) int {
	from := p.start
	for _, st := range p.stages {
		if t < st.d {
			return from + int(math.Round(float64(st.target-from)*float64(t)/float64(st.d)))
		}
		t -= st.d
		from = st.target
	}
	return from
}

// peak returns the highest VU count of the profile.
func (p rampProfile) peak() int {
	n := p.start
	for _, st := range p.stages {
		n = max(n, st.target)
	}
	return n
}

// lgDurationRange is a flag value MIN-MAX of durations ("500ms-2s"), or one
// duration, or "0" for none.
type lgDurationRange struct{ Min, Max time.Duration }

func (r *lgDurationRange) String() string {
	if r.Min == r.Max {
		return r.Min.String()
	}
	return r.Min.String() + "-" + r.Max.String()
}

func (r *lgDurationRange) Set(v string) error {
	lo, hi, isRange := strings.Cut(v, "-")
	if !isRange {
		hi = lo
	}
	a, err1 := time.ParseDuration(strings.TrimSpace(lo))
	b, err2 := time.ParseDuration(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil || a < 0 || b < a {
		return fmt.Errorf("want MIN-MAX durations with MIN <= MAX, like 500ms-2s, or 0")
	}
	r.Min, r.Max = a, b
	return nil
}

// pick draws a duration uniformly in the range.
func (r lgDurationRange) pick(rng *rand.Rand) time.Duration {
	if r.Max <= r.Min {
		return r.Min
	}
	return r.Min + time.Duration(rng.Int64N(int64(r.Max-r.Min)+1))
}

// lgIntRange is a flag value MIN-MAX of integers ("5-10"), or one integer.
type lgIntRange struct{ Min, Max int }

func (r *lgIntRange) String() string {
	if r.Min == r.Max {
		return strconv.Itoa(r.Min)
	}
	return fmt.Sprintf("%d-%d", r.Min, r.Max)
}

func (r *lgIntRange) Set(v string) error {
	lo, hi, isRange := strings.Cut(v, "-")
	if !isRange {
		hi = lo
	}
	a, err1 := strconv.Atoi(strings.TrimSpace(lo))
	b, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil || a < 0 || b < a {
		return fmt.Errorf("want MIN-MAX integers with 0 <= MIN <= MAX, like 5-10")
	}
	r.Min, r.Max = a, b
	return nil
}

// pick draws an integer uniformly in the range.
func (r lgIntRange) pick(rng *rand.Rand) int {
	return r.Min + rng.IntN(r.Max-r.Min+1)
}

// loadgen is one run of `agora loadgen`.
type loadgen struct {
	cfg    loadgenConfig
	client *lgClient
	stderr io.Writer // progress lines, from several goroutines
	start  time.Time

	// pool runs the scenario's VUs (scenario and capacity modes).
	pool *vuPool
	// tally collects what the server acknowledged to every participant.
	tally writeTally
	// vuStarts numbers the VUs and clients started (each seeds its own
	// random source from it); iterations numbers the scenario iterations.
	vuStarts   atomic.Uint64
	iterations atomic.Int64

	// timeline samples the VU count every timelineEvery.
	timelineMu sync.Mutex
	timeline   []int
}

// timelineEvery is the interval of the VU count over time in the report.
const timelineEvery = 10 * time.Second

// runLoadgen runs `agora loadgen`: it reads the conversation's counters,
// runs the load of the chosen mode, reads the counters again once every
// request has been answered, prints the report and writes it as JSON. It
// fails (exit status 1) when the counters do not match what was
// acknowledged.
func runLoadgen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg loadgenConfig
	fs := flag.NewFlagSet("agora loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bindLoadgenFlags(fs, &cfg)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	client, err := newLGClient(cfg)
	if err != nil {
		return err
	}
	defer client.close()
	g := &loadgen{cfg: cfg, client: client, stderr: &lgSyncWriter{w: stderr}}

	before, err := g.readCounters(ctx)
	if err != nil {
		return err
	}
	if before.Locked {
		return fmt.Errorf("conversation %s is locked: its opinions and votes would all get 423", cfg.Conversation)
	}
	fmt.Fprintf(stderr, "loadgen: %s mode against %s, conversation %s (%d opinions, %d votes, %d participants), seed %d\n",
		cfg.Mode, cfg.Server, cfg.Conversation, before.Opinions, before.Votes, before.Participants, cfg.Seed)

	rep := &loadgenReport{Mode: cfg.Mode, Server: cfg.Server, ConversationID: cfg.Conversation, Seed: cfg.Seed}
	switch cfg.Mode {
	case "scenario":
		err = g.runScenario(ctx, rep)
	case "capacity":
		err = g.runCapacity(ctx, rep)
	case "throughput":
		err = g.runThroughput(ctx, rep)
	}
	if err != nil {
		return err
	}
	g.fillReport(rep)

	// Every request has been answered or has timed out: the counters now
	// reflect everything the server acknowledged.
	after, err := g.readCounters(context.WithoutCancel(ctx))
	if err != nil {
		rep.Verification = lgVerification{OK: false, Detail: "could not read the conversation after the run: " + err.Error()}
	} else {
		rep.Verification = verifyCounters(before.lgCounters, after.lgCounters, g.tally.snapshot())
	}

	rep.print(stdout)
	if cfg.JSON != "" {
		data, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.JSON, append(data, '\n'), 0o644); err != nil {
			return fmt.Errorf("write the report: %w", err)
		}
	}
	if !rep.Verification.OK {
		return errors.New("verification failed: " + rep.Verification.Detail)
	}
	return nil
}

// readCounters reads the conversation, retrying a few times over transient
// failures (a 5xx or a transport error); these reads are not part of the
// measured load.
func (g *loadgen) readCounters(ctx context.Context) (*lgConversation, error) {
	var lastErr error
	for attempt := range 5 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Second):
			}
		}
		var c lgConversation
		status, err := g.client.get(g.client.convPath, &c)
		switch {
		case err != nil:
			lastErr = err
		case status == 200:
			return &c, nil
		case status == 404:
			return nil, fmt.Errorf("conversation %s does not exist at %s", g.cfg.Conversation, g.cfg.Server)
		case status >= 500:
			lastErr = fmt.Errorf("GET %s: status %d", g.client.convPath, status)
		default:
			return nil, fmt.Errorf("GET %s: status %d", g.client.convPath, status)
		}
	}
	return nil, fmt.Errorf("read conversation %s: %w", g.cfg.Conversation, lastErr)
}

// elapsed is the time since the load started.
func (g *loadgen) elapsed() time.Duration { return time.Since(g.start) }

// activeVUs is the number of VUs or clients running now.
func (g *loadgen) activeVUs() int {
	if g.pool != nil {
		return int(g.pool.active.Load())
	}
	return int(g.client.activeClients.Load())
}

// watch prints a progress line every --progress and samples the VU count
// every timelineEvery until ctx ends.
func (g *loadgen) watch(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	g.sampleVUs()
	timeline := time.NewTicker(timelineEvery)
	defer timeline.Stop()
	var progress <-chan time.Time
	if g.cfg.Progress > 0 {
		t := time.NewTicker(g.cfg.Progress)
		defer t.Stop()
		progress = t.C
	}
	lastOps, lastAt := int64(0), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timeline.C:
			g.sampleVUs()
		case now := <-progress:
			ops, errs := g.client.stats.totals()
			rate := float64(ops-lastOps) / now.Sub(lastAt).Seconds()
			lastOps, lastAt = ops, now
			fmt.Fprintf(g.stderr, "loadgen: %6.1fs  vus %-5d ops/s %-8.1f errors %-6d vote p99 %.1fms\n",
				g.elapsed().Seconds(), g.activeVUs(), rate, errs, lgMillis(g.client.stats.ops[opVote].latency.quantile(0.99)))
		}
	}
}

func (g *loadgen) sampleVUs() {
	g.timelineMu.Lock()
	g.timeline = append(g.timeline, g.activeVUs())
	g.timelineMu.Unlock()
}

// runScenario runs VUs along the configured profile until it ends.
func (g *loadgen) runScenario(ctx context.Context, rep *loadgenReport) error {
	p := g.cfg.profile()
	runCtx, cancel := context.WithTimeout(ctx, p.stages.total())
	defer cancel()
	g.pool = newVUPool(runCtx, p.peak(), g.runVU)
	g.start = time.Now()
	g.pool.setTarget(p.target(0))
	watched := make(chan struct{})
	go g.watch(runCtx, watched)

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for runCtx.Err() == nil {
		g.pool.setTarget(p.target(g.elapsed()))
		select {
		case <-runCtx.Done():
		case <-tick.C:
		}
	}
	g.pool.wait()
	<-watched
	rep.DurationS = g.elapsed().Seconds()
	return nil
}

// runCapacity raises the VU count step by step until a step breaks the SLO
// or sees an error.
func (g *loadgen) runCapacity(ctx context.Context, rep *loadgenReport) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	g.pool = newVUPool(runCtx, g.cfg.MaxVUs, g.runVU)
	g.start = time.Now()
	g.pool.setTarget(g.cfg.StepVUs)
	watched := make(chan struct{})
	go g.watch(runCtx, watched)

	held := 0
	for vus := g.cfg.StepVUs; vus <= g.cfg.MaxVUs && runCtx.Err() == nil; vus += g.cfg.StepVUs {
		step := newLGStats()
		g.client.step.Store(step)
		g.pool.setTarget(vus)
		select {
		case <-runCtx.Done():
		case <-time.After(g.cfg.StepDuration):
		}
		g.client.step.Store(nil)
		r := g.judgeStep(vus, step)
		rep.Steps = append(rep.Steps, r)
		fmt.Fprintf(g.stderr, "loadgen: step %d VUs: vote p99 %.1fms (%d), create_opinion p99 %.1fms (%d), errors %d: %s\n",
			vus, r.VoteP99MS, r.Votes, r.CreateOpinionP99MS, r.Opinions, r.Errors, map[bool]string{true: "held", false: "failed"}[r.Held])
		if !r.Held {
			break
		}
		held = vus
	}
	cancel()
	g.pool.wait()
	<-watched
	rep.DurationS = g.elapsed().Seconds()
	rep.CapacityVUs = &held
	slo := lgMillis(g.cfg.SLOP99)
	rep.SLOP99MS = &slo
	return nil
}

// judgeStep decides whether a capacity step held.
func (g *loadgen) judgeStep(vus int, s *lgStats) stepReport {
	vote, opinion := &s.ops[opVote].latency, &s.ops[opCreateOpinion].latency
	_, errs := s.totals()
	r := stepReport{
		VUs:                vus,
		Votes:              vote.count(),
		Opinions:           opinion.count(),
		VoteP99MS:          lgMillis(vote.quantile(0.99)),
		CreateOpinionP99MS: lgMillis(opinion.quantile(0.99)),
		Errors:             errs,
	}
	r.Held = errs == 0 && vote.quantile(0.99) <= g.cfg.SLOP99 && opinion.quantile(0.99) <= g.cfg.SLOP99
	return r
}

// fillReport turns the statistics into the report's figures.
func (g *loadgen) fillReport(rep *loadgenReport) {
	rep.Operations = map[string]opReport{}
	for op := range numOperations {
		s := &g.client.stats.ops[op]
		h := &s.latency
		r := opReport{
			Count:  h.count(),
			Errors: s.errors.Load(),
			P50MS:  lgMillis(h.quantile(0.50)),
			P90MS:  lgMillis(h.quantile(0.90)),
			P99MS:  lgMillis(h.quantile(0.99)),
			MaxMS:  lgMillis(h.maxLatency()),
		}
		if rep.DurationS > 0 {
			r.PerSecond = lgRound(float64(r.Count) / rep.DurationS)
		}
		rep.Operations[operationNames[op]] = r
	}
	rep.ErrorsByStatus = g.client.stats.errorsByStatus()
	rep.DurationS = lgRound(rep.DurationS)
	g.timelineMu.Lock()
	rep.VUsTimeline = &vusTimeline{EveryS: timelineEvery.Seconds(), VUs: append([]int{}, g.timeline...)}
	g.timelineMu.Unlock()
	if g.pool != nil {
		rep.VUsMax = int(g.pool.peak.Load())
	} else {
		rep.VUsMax = int(g.client.peakClients.Load())
	}
}

// vuPool runs up to a target number of VUs, one goroutine each. VU slot i
// runs while i < target; a VU whose slot is above a lowered target stops at
// its next pause.
type vuPool struct {
	ctx     context.Context
	run     func(ctx context.Context, slot int, keep func() bool)
	target  atomic.Int64
	running []atomic.Bool
	active  atomic.Int64
	peak    atomic.Int64
	wg      sync.WaitGroup
}

func newVUPool(ctx context.Context, slots int, run func(ctx context.Context, slot int, keep func() bool)) *vuPool {
	return &vuPool{ctx: ctx, run: run, running: make([]atomic.Bool, slots)}
}

// setTarget sets the VU count and starts the VUs it lacks. It must not be
// called concurrently with wait.
func (p *vuPool) setTarget(n int) {
	n = min(n, len(p.running))
	p.target.Store(int64(n))
	if p.ctx.Err() != nil {
		return
	}
	for slot := range n {
		if !p.running[slot].CompareAndSwap(false, true) {
			continue
		}
		p.peak.Store(max(p.peak.Load(), p.active.Add(1)))
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.running[slot].Store(false)
			defer p.active.Add(-1)
			p.run(p.ctx, slot, func() bool { return p.ctx.Err() == nil && int64(slot) < p.target.Load() })
		}()
	}
}

// wait waits for every VU to stop, once the pool's context has ended.
func (p *vuPool) wait() { p.wg.Wait() }

// lgSyncWriter serializes the progress lines of several goroutines.
type lgSyncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *lgSyncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// lgMillis converts a duration to milliseconds with µs precision.
func lgMillis(d time.Duration) float64 { return lgRound(float64(d) / float64(time.Millisecond)) }

func lgRound(f float64) float64 { return math.Round(f*1000) / 1000 }
