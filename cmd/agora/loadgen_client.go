package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// lgOp is a kind of request the load generator measures.
type lgOp int

const (
	opCreateParticipant lgOp = iota
	opGetConversation
	opListOpinions
	opCreateOpinion
	opVote
	numOperations
)

// operationNames are the operations' names in the report.
var operationNames = [numOperations]string{
	opCreateParticipant: "create_participant",
	opGetConversation:   "get_conversation",
	opListOpinions:      "list_opinions",
	opCreateOpinion:     "create_opinion",
	opVote:              "vote",
}

// lgOutcome is what an answer says about a write, for the end-of-run check.
type lgOutcome int

const (
	// outcomeApplied: a 2xx. A write answered 2xx is committed.
	outcomeApplied lgOutcome = iota
	// outcomeNotApplied: a 4xx (429 included: "the write was not applied"), or a
	// request that never left (connection refused, no free connection).
	outcomeNotApplied
	// outcomeUncertain: a 5xx (503 says the write "may still take effect"), a
	// timeout or a broken connection: the write may or may not be applied.
	outcomeUncertain
)

// opStats are the figures of one operation.
type opStats struct {
	latency latencyHistogram
	errors  atomic.Int64
}

// lgStats are the figures of every operation over a period: the whole run,
// or one capacity step. Safe for concurrent use.
type lgStats struct {
	ops      [numOperations]opStats
	mu       sync.Mutex
	byStatus map[string]int64 // guarded by mu
}

func newLGStats() *lgStats { return &lgStats{byStatus: map[string]int64{}} }

// record adds one request; errKey is empty for a success, else the status
// code or the kind of transport failure.
func (s *lgStats) record(op lgOp, d time.Duration, errKey string) {
	s.ops[op].latency.record(d)
	if errKey == "" {
		return
	}
	s.ops[op].errors.Add(1)
	s.mu.Lock()
	s.byStatus[errKey]++
	s.mu.Unlock()
}

// totals returns the requests and the errors of every operation.
func (s *lgStats) totals() (requests, errs int64) {
	for op := range numOperations {
		requests += s.ops[op].latency.count()
		errs += s.ops[op].errors.Load()
	}
	return requests, errs
}

// errorsByStatus returns a copy of the error counts by status.
func (s *lgStats) errorsByStatus() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.byStatus)
}

// lgClient sends the load to one node. It only ever connects to the host of
// --server, and never follows redirects.
type lgClient struct {
	hc           *fasthttp.HostClient
	host         string
	prefix       string
	timeout      time.Duration
	convPath     string
	opinionsPath string

	// stats holds the whole run's figures; step, when set, the current
	// capacity step's as well.
	stats *lgStats
	step  atomic.Pointer[lgStats]

	// activeClients and peakClients count throughput mode's clients.
	activeClients atomic.Int64
	peakClients   atomic.Int64
}

func newLGClient(cfg loadgenConfig) (*lgClient, error) {
	u, prefix, err := parseServerURL(cfg.Server)
	if err != nil {
		return nil, fmt.Errorf("%w: --server: %v", errUsage, err)
	}
	tls := u.Scheme == "https"
	c := &lgClient{
		hc: &fasthttp.HostClient{
			Addr:               fasthttp.AddMissingPort(u.Host, tls),
			IsTLS:              tls,
			Name:               "agora-loadgen",
			MaxConns:           cfg.Conns,
			MaxConnWaitTimeout: cfg.Timeout,
			ReadTimeout:        cfg.Timeout,
			WriteTimeout:       cfg.Timeout,
			// No retries: each request is sent once, so that what the
			// server acknowledged is exactly what the check counts.
			MaxIdemponentCallAttempts: 1,
			MaxIdleConnDuration:       time.Minute,
		},
		host:    u.Host,
		prefix:  prefix,
		timeout: cfg.Timeout,
		stats:   newLGStats(),
	}
	c.convPath = "/v1/conversations/" + cfg.Conversation
	c.opinionsPath = c.convPath + "/opinions"
	return c, nil
}

func (c *lgClient) close() { c.hc.CloseIdleConnections() }

// errBadBody is a 2xx answer whose body is not what the API promises.
var errBadBody = errors.New("the answer's body is not the JSON the API promises")

// lgBody is an answer the load generator decodes on its hot path: with a
// parser that picks the few fields it needs instead of encoding/json's
// reflection, which cost a third of the load generator's CPU at 10,000
// VUs (a page of 100 opinions is tens of kilobytes) on the machine it
// shares with the server.
type lgBody interface {
	decode(v *fastjson.Value) error
}

// lgParsers lends the parsers of lgBody answers.
var lgParsers fastjson.ParserPool

// send sends one request and decodes a 2xx JSON answer into out when out
// is not nil. It returns the status (0 on a transport error) and the time
// the exchange took, until the answer was read and before it was decoded.
func (c *lgClient) send(method, path, token string, body []byte, out any) (int, time.Duration, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI(c.prefix + path)
	req.Header.SetHost(c.host)
	if token != "" {
		req.Header.Set(fasthttp.HeaderAuthorization, "Bearer "+token)
	}
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(body)
	}
	t0 := time.Now()
	err := c.hc.DoTimeout(req, resp, c.timeout)
	d := time.Since(t0)
	if err != nil {
		return 0, d, err
	}
	status := resp.StatusCode()
	if out == nil || status < 200 || status >= 300 {
		return status, d, nil
	}
	if b, ok := out.(lgBody); ok {
		p := lgParsers.Get()
		defer lgParsers.Put(p)
		v, err := p.ParseBytes(resp.Body())
		if err == nil {
			err = b.decode(v)
		}
		if err != nil {
			return status, d, errBadBody
		}
		return status, d, nil
	}
	if err := json.Unmarshal(resp.Body(), out); err != nil {
		return status, d, errBadBody
	}
	return status, d, nil
}

// do sends one measured request and classifies its answer.
func (c *lgClient) do(op lgOp, method, path, token string, body []byte, out any) (int, lgOutcome) {
	status, d, err := c.send(method, path, token, body, out)
	errKey, oc := "", outcomeApplied
	switch {
	case errors.Is(err, errBadBody):
		errKey = "invalid_body" // still a 2xx: the write is committed
	case errors.Is(err, fasthttp.ErrTimeout):
		errKey, oc = "timeout", outcomeUncertain
	case errors.Is(err, fasthttp.ErrNoFreeConns), errors.Is(err, fasthttp.ErrDialTimeout), errors.Is(err, syscall.ECONNREFUSED):
		errKey, oc = "not_sent", outcomeNotApplied
	case err != nil:
		errKey, oc = "transport", outcomeUncertain
	case status >= 500:
		errKey, oc = strconv.Itoa(status), outcomeUncertain
	case status < 200 || status >= 300:
		errKey, oc = strconv.Itoa(status), outcomeNotApplied
	}
	c.stats.record(op, d, errKey)
	if s := c.step.Load(); s != nil {
		s.record(op, d, errKey)
	}
	return status, oc
}

// get sends an unmeasured GET: the reads of the end-of-run check.
func (c *lgClient) get(path string, out any) (int, error) {
	status, _, err := c.send("GET", path, "", nil, out)
	return status, err
}
