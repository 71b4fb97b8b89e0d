package http

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/cluster"
)

// TestFencedIsUnavailable: a write the store fenced (another node took the
// conversation over) answers api.md's 503 unavailable, with Retry-After and
// without the epochs of the store's message.
func TestFencedIsUnavailable(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	var ctx fasthttp.RequestCtx
	s.writeError(&ctx, agora.Errorf(agora.EFENCED, "Conversation c1 is owned at epoch 7; the write was stamped 6."))
	var p problem
	if err := json.Unmarshal(ctx.Response.Body(), &p); err != nil {
		t.Fatal(err)
	}
	if ctx.Response.StatusCode() != 503 || p.Code != agora.EUNAVAILABLE || p.Status != 503 ||
		string(ctx.Response.Header.Peek("Retry-After")) == "" || strings.Contains(p.Detail, "epoch") {
		t.Fatalf("%d %s (Retry-After %q)", ctx.Response.StatusCode(), ctx.Response.Body(), ctx.Response.Header.Peek("Retry-After"))
	}
}

// answerStore keeps idempotent answers in memory; the rest of agora.Store
// is not used by the tests that take it.
type answerStore struct {
	agora.Store
	answers map[string]agora.IdempotentAnswer
}

func (s *answerStore) RememberAnswer(_ context.Context, a agora.IdempotentAnswer) error {
	k := a.ParticipantID + "\x00" + a.Target + "\x00" + a.Key
	if _, ok := s.answers[k]; !ok {
		s.answers[k] = a
	}
	return nil
}

func (s *answerStore) RememberedAnswer(_ context.Context, p, target, key string, now time.Time) (*agora.IdempotentAnswer, error) {
	if a, ok := s.answers[p+"\x00"+target+"\x00"+key]; ok && a.ExpiresAt.After(now) {
		return &a, nil
	}
	return nil, nil
}

// TestIdempotencyPastTheMemoryBound: once this node's memory holds
// maxIdempotencyEntries keys, a new key is still kept, in the store, and
// its retry replays (it used to run again).
func TestIdempotencyPastTheMemoryBound(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler), store: &answerStore{answers: map[string]agora.IdempotentAnswer{}}, idem: newIdempotency(time.Minute)}
	done := make(chan struct{})
	close(done)
	for i := range maxIdempotencyEntries {
		s.idem.entries[idemKey{participant: "other", target: "t", key: strconv.Itoa(i)}] = &idemEntry{done: done, expires: time.Now().Add(time.Minute)}
	}
	runs := 0
	post := func() *fasthttp.RequestCtx {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod("POST")
		ctx.Request.SetRequestURI("/v1/conversations/c1/opinions")
		ctx.Request.Header.Set("Idempotency-Key", "past-the-bound")
		err := s.idempotent(&ctx, agora.Caller{ParticipantID: "p1"}, func() error {
			runs++
			ctx.SetStatusCode(201)
			ctx.Response.Header.SetContentType("application/json")
			ctx.SetBodyString(`{"id":"o` + strconv.Itoa(runs) + `"}`)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return &ctx
	}
	first, retry := post(), post()
	if runs != 1 || string(retry.Response.Body()) != string(first.Response.Body()) || string(retry.Response.Header.Peek("Idempotent-Replayed")) != "true" {
		t.Fatalf("%d runs; retry %d %s (replayed %q), first %s", runs, retry.Response.StatusCode(), retry.Response.Body(),
			retry.Response.Header.Peek("Idempotent-Replayed"), first.Response.Body())
	}
}

// TestRelayedStreamsCount: a relayed stream counts against MaxStreams on
// the relaying node, and a relay that fails gives its place back.
func TestRelayedStreamsCount(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler), cfg: Config{MaxStreams: 1}}
	owner := cluster.Member{Name: "owner", HTTPAddr: "127.0.0.1:1"} // nothing listens there
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/v1/conversations/c1/events")
	s.proxyStream(&ctx, "c1", owner)
	if ctx.Response.StatusCode() != 503 || s.streams.Load() != 0 {
		t.Fatalf("a relay to an unreachable owner: %d, %d streams counted", ctx.Response.StatusCode(), s.streams.Load())
	}
	s.streams.Store(1) // the one stream allowed is open
	var full fasthttp.RequestCtx
	full.Request.SetRequestURI("/v1/conversations/c1/events")
	s.proxyStream(&full, "c1", owner)
	if full.Response.StatusCode() != 503 || !strings.Contains(string(full.Response.Body()), "too many open streams") || s.streams.Load() != 1 {
		t.Fatalf("a relay past MaxStreams: %d %s, %d streams counted", full.Response.StatusCode(), full.Response.Body(), s.streams.Load())
	}
}
