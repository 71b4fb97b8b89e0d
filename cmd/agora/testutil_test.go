package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/persist/postgres/pgtest"
)

// testAdminToken is the admin token of every server under test.
const testAdminToken = "test-admin-token-0123456789"

// testNodeName is the node name every server under test reports.
const testNodeName = "e2e-node"

// storeConfig points a server under test at a fresh, empty store: SQLite
// in a temporary directory, or a new PostgreSQL database for the tests that
// TestE2EPostgres runs a second time (see e2e_postgres_test.go). Restart
// reuses the configuration, so a restarted server finds the same store
// either way.
var storeConfig = func(tb testing.TB, c *ServeConfig) {
	if onPostgres(tb) {
		c.Postgres = pgtest.NewDatabase(tb).URL
		return
	}
	c.DataDir = tb.TempDir()
}

// ServerOption changes the configuration of a server under test.
type ServerOption func(*ServeConfig)

// WithRateLimit sets the per-participant write rate (the suite turns it
// off by default so that tests can write as fast as they like).
func WithRateLimit(perSecond float64) ServerOption {
	return func(c *ServeConfig) { c.RateLimit = perSecond }
}

// WithMaxInflight bounds the requests waiting for one conversation.
func WithMaxInflight(n int) ServerOption {
	return func(c *ServeConfig) { c.MaxInflight = n }
}

// TestServer is a running Main and an HTTP client that talks to it through
// a real socket.
type TestServer struct {
	*Main
	// URL is the base URL of the HTTP API, without a trailing slash.
	URL string

	client *http.Client
	logs   *testLogWriter
	closed bool
}

// MustOpenServer starts a node on a free loopback port over a fresh store
// and closes it when the test ends.
func MustOpenServer(tb testing.TB, opts ...ServerOption) *TestServer {
	tb.Helper()
	m := NewMain()
	m.Config.HTTPAddr = "127.0.0.1:0"
	m.Config.AdminToken = testAdminToken
	m.Config.NodeName = testNodeName
	m.Config.RateLimit = 0
	storeConfig(tb, &m.Config)
	for _, o := range opts {
		o(&m.Config)
	}
	ts := &TestServer{client: &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 128, DisableCompression: true},
		Timeout:   30 * time.Second,
	}}
	ts.start(tb, m)
	tb.Cleanup(func() { ts.Close(tb) })
	return ts
}

func (ts *TestServer) start(tb testing.TB, m *Main) {
	tb.Helper()
	ts.logs = &testLogWriter{tb: tb}
	m.Logger = slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := m.Run(context.Background()); err != nil {
		_ = m.Close(context.Background())
		tb.Fatalf("start the server: %v", err)
	}
	ts.Main, ts.URL, ts.closed = m, "http://"+m.HTTP.Addr(), false
}

// Close stops the node, committing everything, and fails the test when it
// does not stop cleanly. It may be called more than once.
func (ts *TestServer) Close(tb testing.TB) {
	tb.Helper()
	if ts.closed {
		return
	}
	ts.closed = true
	ts.client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := ts.Main.Close(ctx); err != nil {
		tb.Errorf("close the server: %v", err)
	}
	ts.logs.stop()
}

// Restart closes the node and opens a new one on the same store, as an
// operator restarting `agora serve` would.
func (ts *TestServer) Restart(tb testing.TB) {
	tb.Helper()
	cfg := ts.Main.Config
	ts.Close(tb)
	m := NewMain()
	m.Config = cfg
	m.Config.HTTPAddr = "127.0.0.1:0"
	ts.start(tb, m)
}

// testLogWriter sends the server's warnings and errors to the test log
// until the server is closed (logging after a test ends panics).
type testLogWriter struct {
	mu      sync.Mutex
	tb      testing.TB
	stopped bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.tb.Logf("server: %s", bytes.TrimSpace(p))
	}
	return len(p), nil
}

func (w *testLogWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}

// request is one HTTP request to the server under test.
type request struct {
	method, path string
	// token is sent as "Authorization: Bearer <token>" when not empty.
	token string
	// body is nil (no body), a []byte or string sent as is, or a value
	// sent JSON-encoded.
	body any
	// contentType defaults to application/json when there is a body.
	contentType string
	header      map[string]string
	// allow5xx lets a test check a 5xx the API documents (503 when draining).
	allow5xx bool
}

// response is what the server answered.
type response struct {
	method, path string
	Status       int
	Header       http.Header
	Body         []byte
}

func (r *response) String() string {
	return fmt.Sprintf("%s %s: %d %s", r.method, r.path, r.Status, bytes.TrimSpace(r.Body))
}

// object decodes the body as a JSON object.
func (r *response) object(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		tb.Fatalf("%s: the body is not a JSON object: %v", r, err)
	}
	return m
}

// do sends a request. It fails the test (without stopping it, so it is safe
// in any goroutine) on a transport error, which it returns as status 0, and
// on any 5xx answer: the API never answers 5xx to the suite's requests.
func (ts *TestServer) do(tb testing.TB, method, path, token string, body any) *response {
	tb.Helper()
	return ts.send(tb, request{method: method, path: path, token: token, body: body})
}

// send is do with full control of the request.
func (ts *TestServer) send(tb testing.TB, rq request) *response {
	tb.Helper()
	resp := &response{method: rq.method, path: rq.path}
	var body io.Reader
	switch b := rq.body.(type) {
	case nil:
	case io.Reader: // sent chunked: its length is unknown
		body = b
	case []byte:
		body = bytes.NewReader(b)
	case string:
		body = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			tb.Errorf("%s %s: encode the body: %v", rq.method, rq.path, err)
			return resp
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(rq.method, ts.URL+rq.path, body)
	if err != nil {
		tb.Errorf("%s %s: %v", rq.method, rq.path, err)
		return resp
	}
	if rq.body != nil {
		ct := rq.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if rq.token != "" {
		req.Header.Set("Authorization", "Bearer "+rq.token)
	}
	for k, v := range rq.header {
		req.Header.Set(k, v)
	}
	res, err := ts.client.Do(req)
	if err != nil {
		tb.Errorf("%s %s: %v", rq.method, rq.path, err)
		return resp
	}
	defer res.Body.Close()
	resp.Status, resp.Header = res.StatusCode, res.Header
	if resp.Body, err = io.ReadAll(res.Body); err != nil {
		tb.Errorf("%s %s: read the body: %v", rq.method, rq.path, err)
	}
	if resp.Status >= 500 && !rq.allow5xx {
		tb.Errorf("a 5xx answer: %s", resp)
	}
	if validateAgainstSpec {
		validateResponse(tb, req, resp.Status, resp.Header, resp.Body)
	}
	return resp
}

// validateAgainstSpec turns on the check of every response against
// openapi.yaml.
var validateAgainstSpec = true

// expect checks the status of a JSON answer and decodes its body into T.
func expect[T any](tb testing.TB, r *response, status int) T {
	tb.Helper()
	var v T
	if r.Status != status {
		tb.Fatalf("%s: want status %d", r, status)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		tb.Fatalf("%s: Content-Type %q, want application/json", r, ct)
	}
	if err := json.Unmarshal(r.Body, &v); err != nil {
		tb.Fatalf("%s: decode into %T: %v", r, v, err)
	}
	return v
}

// requireStatus checks the status of an answer whose body does not matter.
func requireStatus(tb testing.TB, r *response, status int) {
	tb.Helper()
	if r.Status != status {
		tb.Fatalf("%s: want status %d", r, status)
	}
}

// requireProblem checks that r is an RFC 9457 problem with the given status
// and code, in the shape of api.md.
func requireProblem(tb testing.TB, r *response, status int, code string) {
	tb.Helper()
	if r.Status != status {
		tb.Fatalf("%s: want status %d (%s)", r, status, code)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		tb.Fatalf("%s: Content-Type %q, want application/problem+json", r, ct)
	}
	p := r.object(tb)
	if got, want := slices.Sorted(maps.Keys(p)), []string{"code", "detail", "status", "title", "type"}; !slices.Equal(got, want) {
		tb.Fatalf("%s: problem fields %v, want %v", r, got, want)
	}
	for _, k := range []string{"type", "title", "detail", "code"} {
		if s, ok := p[k].(string); !ok || s == "" {
			tb.Fatalf("%s: problem field %s must be a non-empty string", r, k)
		}
	}
	if p["code"] != code {
		tb.Fatalf("%s: code %v, want %s", r, p["code"], code)
	}
	if s, ok := p["status"].(float64); !ok || int(s) != status {
		tb.Fatalf("%s: problem status %v, want %d", r, p["status"], status)
	}
	if strings.Contains(string(r.Body), "goroutine ") || strings.Contains(string(r.Body), ".go:") {
		tb.Fatalf("%s: the problem leaks internals", r)
	}
}

// requireKeys checks that a JSON object has exactly the given fields.
func requireKeys(tb testing.TB, what string, obj map[string]any, keys ...string) {
	tb.Helper()
	got := slices.Sorted(maps.Keys(obj))
	want := slices.Sorted(slices.Values(keys))
	if !slices.Equal(got, want) {
		tb.Fatalf("%s has fields %v, want %v", what, got, want)
	}
}

// The API's objects as a client decodes them. They are declared here, not
// taken from the domain, so that a renamed JSON field fails the suite.

type conversationJSON struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	AuthorID  string    `json:"author_id"`
	CreatedAt time.Time `json:"created_at"`
	IsIndexed bool      `json:"is_indexed"`
	Locked    bool      `json:"locked"`
	Lock      *lockJSON `json:"lock"`
	countersJSON
}

type countersJSON struct {
	OpinionCount     int       `json:"opinion_count"`
	VoteCount        int       `json:"vote_count"`
	ParticipantCount int       `json:"participant_count"`
	LastReactedAt    time.Time `json:"last_reacted_at"`
}

type lockJSON struct {
	Reason      string    `json:"reason"`
	Explanation string    `json:"explanation"`
	At          time.Time `json:"at"`
}

type conversationPage struct {
	Items      []conversationJSON `json:"items"`
	NextCursor *string            `json:"next_cursor"`
}

type tallyJSON struct {
	Agree    int `json:"agree"`
	Disagree int `json:"disagree"`
	Pass     int `json:"pass"`
}

type opinionJSON struct {
	ID             string    `json:"id"`
	ConversationID string    `json:"conversation_id"`
	AuthorID       string    `json:"author_id"`
	Text           string    `json:"text"`
	CreatedAt      time.Time `json:"created_at"`
	IsSeed         bool      `json:"is_seed"`
	Status         string    `json:"status"`
	tallyJSON
	Clusters []json.RawMessage `json:"clusters"`
}

type opinionPage struct {
	Items      []opinionJSON `json:"items"`
	NextCursor *string       `json:"next_cursor"`
}

type voteResultJSON struct {
	OpinionID string `json:"opinion_id"`
	Vote      string `json:"vote"`
	Changed   bool   `json:"changed"`
}

type myVotesJSON struct {
	Votes []struct {
		OpinionID string `json:"opinion_id"`
		Vote      string `json:"vote"`
	} `json:"votes"`
}

type participantJSON struct {
	ParticipantID string    `json:"participant_id"`
	DisplayName   string    `json:"display_name"`
	Role          string    `json:"role"`
	CreatedAt     time.Time `json:"created_at"`
}

type actorStateJSON struct {
	ConversationID string    `json:"conversation_id"`
	Opinions       int       `json:"opinions"`
	Votes          int       `json:"votes"`
	Participants   int       `json:"participants"`
	PendingWrites  int       `json:"pending_writes"`
	Mailbox        int       `json:"mailbox"`
	LastActiveAt   time.Time `json:"last_active_at"`
	AnalysisVotes  int       `json:"analysis_votes"`
	Epoch          int64     `json:"epoch"`
	Locked         *bool     `json:"locked"`
	Owner          string    `json:"owner"`
}

// Paths.

func convPath(cid string) string         { return "/v1/conversations/" + cid }
func opinionsPath(cid string) string     { return convPath(cid) + "/opinions" }
func opinionPath(cid, oid string) string { return opinionsPath(cid) + "/" + oid }
func votePath(cid, oid string) string    { return opinionPath(cid, oid) + "/vote" }
func myVotesPath(cid string) string      { return convPath(cid) + "/votes/me" }

// Helpers for requests that must succeed. They stop the test otherwise, so
// they belong to the test's goroutine.

// newParticipant registers a participant and returns its id and token.
func (ts *TestServer) newParticipant(tb testing.TB) (id, token string) {
	tb.Helper()
	p := expect[struct {
		ID    string `json:"participant_id"`
		Token string `json:"token"`
	}](tb, ts.do(tb, "POST", "/v1/participants", "", nil), http.StatusCreated)
	if p.ID == "" || p.Token == "" {
		tb.Fatalf("a participant without id or token: %+v", p)
	}
	return p.ID, p.Token
}

// setRole gives a participant a role through the admin API.
func (ts *TestServer) setRole(tb testing.TB, pid, role string) {
	tb.Helper()
	p := expect[participantJSON](tb, ts.do(tb, "PUT", "/admin/participants/"+pid+"/role", testAdminToken, map[string]string{"role": role}), http.StatusOK)
	if p.ParticipantID != pid || p.Role != role {
		tb.Fatalf("set role: got %+v, want %s %s", p, pid, role)
	}
}

// createConversation creates a conversation with the given body (a title
// is made up when body is nil).
func (ts *TestServer) createConversation(tb testing.TB, token string, body any) conversationJSON {
	tb.Helper()
	if body == nil {
		body = map[string]any{"title": "A conversation"}
	}
	return expect[conversationJSON](tb, ts.do(tb, "POST", "/v1/conversations", token, body), http.StatusCreated)
}

func (ts *TestServer) conversation(tb testing.TB, cid string) conversationJSON {
	tb.Helper()
	return expect[conversationJSON](tb, ts.do(tb, "GET", convPath(cid), "", nil), http.StatusOK)
}

func (ts *TestServer) createOpinion(tb testing.TB, token, cid, text string) opinionJSON {
	tb.Helper()
	return expect[opinionJSON](tb, ts.do(tb, "POST", opinionsPath(cid), token, map[string]string{"text": text}), http.StatusCreated)
}

func (ts *TestServer) opinion(tb testing.TB, token, cid, oid string) opinionJSON {
	tb.Helper()
	return expect[opinionJSON](tb, ts.do(tb, "GET", opinionPath(cid, oid), token, nil), http.StatusOK)
}

// opinions lists every opinion of a sort, following the cursors.
func (ts *TestServer) opinions(tb testing.TB, token, cid, sort string) []opinionJSON {
	tb.Helper()
	var all []opinionJSON
	cursor := ""
	for range 1000 {
		path := opinionsPath(cid) + "?limit=500&sort=" + sort
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		p := expect[opinionPage](tb, ts.do(tb, "GET", path, token, nil), http.StatusOK)
		all = append(all, p.Items...)
		if p.NextCursor == nil {
			return all
		}
		cursor = *p.NextCursor
	}
	tb.Fatalf("listing %s opinions of %s never ends", sort, cid)
	return nil
}

func (ts *TestServer) vote(tb testing.TB, token, cid, oid, vote string) voteResultJSON {
	tb.Helper()
	r := expect[voteResultJSON](tb, ts.do(tb, "PUT", votePath(cid, oid), token, map[string]string{"vote": vote}), http.StatusOK)
	if r.OpinionID != oid || r.Vote != vote {
		tb.Fatalf("vote %s on %s answered %+v", vote, oid, r)
	}
	return r
}

func (ts *TestServer) cancelVote(tb testing.TB, token, cid, oid string) {
	tb.Helper()
	requireStatus(tb, ts.do(tb, "DELETE", votePath(cid, oid), token, nil), http.StatusNoContent)
}

// myVotes returns the caller's votes by opinion id.
func (ts *TestServer) myVotes(tb testing.TB, token, cid string) map[string]string {
	tb.Helper()
	v := expect[myVotesJSON](tb, ts.do(tb, "GET", myVotesPath(cid), token, nil), http.StatusOK)
	if v.Votes == nil {
		tb.Fatalf("votes/me of %s: votes is null, want a list", cid)
	}
	out := map[string]string{}
	for _, e := range v.Votes {
		if _, dup := out[e.OpinionID]; dup {
			tb.Fatalf("votes/me of %s lists opinion %s twice", cid, e.OpinionID)
		}
		out[e.OpinionID] = e.Vote
	}
	return out
}

func (ts *TestServer) moderate(tb testing.TB, token, cid, oid, action string) opinionJSON {
	tb.Helper()
	o := expect[opinionJSON](tb, ts.do(tb, "PUT", opinionPath(cid, oid)+"/moderation", token,
		map[string]string{"action": action, "reason": "spam", "explanation": "test"}), http.StatusOK)
	if want := map[string]string{"move": "moved", "hide": "hidden"}[action]; o.Status != want {
		tb.Fatalf("moderation %s of %s: status %q, want %q", action, oid, o.Status, want)
	}
	return o
}

func (ts *TestServer) unmoderate(tb testing.TB, token, cid, oid string) opinionJSON {
	tb.Helper()
	o := expect[opinionJSON](tb, ts.do(tb, "DELETE", opinionPath(cid, oid)+"/moderation", token, nil), http.StatusOK)
	if o.Status != "visible" {
		tb.Fatalf("withdrawn moderation of %s: status %q, want visible", oid, o.Status)
	}
	return o
}

func (ts *TestServer) lock(tb testing.TB, token, cid string) conversationJSON {
	tb.Helper()
	c := expect[conversationJSON](tb, ts.do(tb, "PUT", convPath(cid)+"/lock", token,
		map[string]string{"reason": "spam", "explanation": "locked by a test"}), http.StatusOK)
	if !c.Locked || c.Lock == nil {
		tb.Fatalf("lock %s answered an unlocked conversation: %+v", cid, c)
	}
	return c
}

func (ts *TestServer) unlock(tb testing.TB, token, cid string) conversationJSON {
	tb.Helper()
	c := expect[conversationJSON](tb, ts.do(tb, "DELETE", convPath(cid)+"/lock", token, nil), http.StatusOK)
	if c.Locked || c.Lock != nil {
		tb.Fatalf("unlock %s answered a locked conversation: %+v", cid, c)
	}
	return c
}

// recount counts the conversation's rows in the store.
func (ts *TestServer) recount(tb testing.TB, cid string) agora.Counters {
	tb.Helper()
	a, ok := ts.Store.(agora.Auditor)
	if !ok {
		tb.Fatalf("the store %T does not recount", ts.Store)
	}
	c, err := a.RecountConversation(context.Background(), cid)
	if err != nil {
		tb.Fatalf("recount %s: %v", cid, err)
	}
	return c
}

// counts are the counters a test predicts.
type counts struct{ opinions, votes, participants int }

func (c counts) String() string {
	return "opinions=" + strconv.Itoa(c.opinions) + " votes=" + strconv.Itoa(c.votes) + " participants=" + strconv.Itoa(c.participants)
}

// requireCounters checks a conversation's counters, as the API shows them,
// against the test's prediction and against a recount of the store's rows
// (last_reacted_at included), and returns the conversation.
func (ts *TestServer) requireCounters(tb testing.TB, cid string, want counts) conversationJSON {
	tb.Helper()
	c := ts.conversation(tb, cid)
	if got := (counts{c.OpinionCount, c.VoteCount, c.ParticipantCount}); got != want {
		tb.Fatalf("conversation %s: counters %v, want %v", cid, got, want)
	}
	rc := ts.recount(tb, cid)
	if got := (counts{rc.OpinionCount, rc.VoteCount, rc.ParticipantCount}); got != want {
		tb.Fatalf("conversation %s: the store's recount %v, want %v", cid, got, want)
	}
	if !rc.LastReactedAt.Equal(c.LastReactedAt) {
		tb.Fatalf("conversation %s: stored last_reacted_at %v, the API shows %v", cid, rc.LastReactedAt, c.LastReactedAt)
	}
	return c
}

// voteModel is the test's own account of a conversation: the status of its
// opinions and everyone's current votes, from which it predicts the
// counters under the definitions of api.md.
type voteModel struct {
	status map[string]string            // opinion id -> visible|moved|hidden|deleted
	votes  map[string]map[string]string // participant id -> opinion id -> vote
}

func newVoteModel() *voteModel {
	return &voteModel{status: map[string]string{}, votes: map[string]map[string]string{}}
}

func (m *voteModel) addOpinion(oid, author string, withVote bool) {
	m.status[oid] = "visible"
	if withVote {
		m.vote(author, oid, "agree")
	}
}

// vote records a vote and reports whether it changed anything.
func (m *voteModel) vote(pid, oid, v string) bool {
	if m.votes[pid] == nil {
		m.votes[pid] = map[string]string{}
	}
	old, ok := m.votes[pid][oid]
	m.votes[pid][oid] = v
	return !ok || old != v
}

// cancel removes a vote and reports whether there was one.
func (m *voteModel) cancel(pid, oid string) bool {
	_, ok := m.votes[pid][oid]
	delete(m.votes[pid], oid)
	return ok
}

func (m *voteModel) counts() counts {
	var c counts
	for _, s := range m.status {
		if s == "visible" {
			c.opinions++
		}
	}
	for _, vs := range m.votes {
		n := 0
		for oid := range vs {
			if m.status[oid] == "visible" {
				n++
			}
		}
		c.votes += n
		if n > 0 {
			c.participants++
		}
	}
	return c
}

// tally counts the current votes on one opinion, whatever its status.
func (m *voteModel) tally(oid string) tallyJSON {
	var t tallyJSON
	for _, vs := range m.votes {
		switch vs[oid] {
		case "agree":
			t.Agree++
		case "disagree":
			t.Disagree++
		case "pass":
			t.Pass++
		}
	}
	return t
}

// myVotes is what votes/me should answer a participant: its votes on
// opinions that are not deleted.
func (m *voteModel) myVotes(pid string) map[string]string {
	out := map[string]string{}
	for oid, v := range m.votes[pid] {
		if m.status[oid] != "deleted" {
			out[oid] = v
		}
	}
	return out
}
