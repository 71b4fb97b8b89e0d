package http

import (
	"strings"

	"github.com/valyala/fasthttp"
)

// corsHeaders are the request headers browsers may send to the API.
const corsHeaders = "Authorization, Content-Type, Idempotency-Key, X-Request-Id, Last-Event-ID"

// cors answers browsers' cross-origin checks for the configured origins.
// It reports whether it answered the request (a preflight).
func (s *Server) cors(ctx *fasthttp.RequestCtx) bool {
	if len(s.cfg.CORSOrigins) == 0 {
		return false
	}
	origin := string(ctx.Request.Header.Peek("Origin"))
	if origin == "" || !s.originAllowed(origin) {
		return false
	}
	h := &ctx.Response.Header
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "Retry-After, X-Request-Id, Idempotent-Replayed, Allow")
	if string(ctx.Method()) != fasthttp.MethodOptions || len(ctx.Request.Header.Peek("Access-Control-Request-Method")) == 0 {
		return false
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
	h.Set("Access-Control-Allow-Headers", corsHeaders)
	h.Set("Access-Control-Max-Age", "600")
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return true
}

func (s *Server) originAllowed(origin string) bool {
	for _, o := range s.cfg.CORSOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}
