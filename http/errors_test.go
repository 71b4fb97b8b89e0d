package http

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/agora-dev/agora"
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
