package http

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/cluster"
)

// auth says who may call a route.
type auth int

const (
	authNone     auth = iota // no token looked at
	authOptional             // a valid token identifies the caller; none is anonymous
	authRequired             // a participant or the admin
	authAdmin                // the admin token only
)

// handlerFunc is a route's handler once the caller is known. It writes its
// answer or returns an error that becomes a problem+json answer.
type handlerFunc func(ctx *fasthttp.RequestCtx, c agora.Caller) error

func (s *Server) routes() *router.Router {
	r := router.New()
	r.SaveMatchedRoutePath = true
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleOPTIONS = false
	r.NotFound = func(ctx *fasthttp.RequestCtx) {
		s.writeError(ctx, agora.Errorf(agora.ENOTFOUND, "No route for %s.", string(ctx.Path())))
	}
	r.MethodNotAllowed = func(ctx *fasthttp.RequestCtx) {
		// The router always lists OPTIONS, which this server does not answer.
		ctx.Response.Header.Set("Allow", withoutOptions(string(ctx.Response.Header.Peek("Allow"))))
		s.writeError(ctx, agora.Errorf(agora.EMETHOD, "Method %s is not allowed here.", string(ctx.Method())))
	}
	r.PanicHandler = func(ctx *fasthttp.RequestCtx, v any) {
		s.log.Error("handler panicked", "path", string(ctx.Path()), "panic", v)
		ctx.ResetBody()
		s.writeError(ctx, agora.Errorf(agora.EINTERNAL, "Internal error.")) // the panic is logged, never shown
	}

	// get routes GET and HEAD, which answers as GET does without the body
	// (fasthttp sends none for HEAD), as HTTP asks of a server: load
	// balancers probe with it, clients check a resource with it. The
	// live-update stream is GET alone.
	get := func(path string, h fasthttp.RequestHandler) {
		r.GET(path, h)
		r.HEAD(path, h)
	}
	const conv = "/v1/conversations/{cid}"
	const op = conv + "/opinions/{oid}"
	r.POST("/v1/participants", s.handle(authNone, false, s.createParticipant))
	get("/v1/participants/me", s.handle(authRequired, false, s.me))

	r.POST("/v1/conversations", s.handle(authRequired, true, s.createConversation))
	get("/v1/conversations", s.handle(authNone, false, s.listConversations))
	get(conv, s.handle(authNone, false, s.getConversation))
	r.DELETE(conv, s.handle(authRequired, false, s.deleteConversation))

	r.POST(conv+"/opinions", s.handle(authRequired, true, s.createOpinion))
	get(conv+"/opinions", s.handle(authOptional, false, s.listOpinions))
	get(op, s.handle(authOptional, false, s.getOpinion))
	r.DELETE(op, s.handle(authRequired, true, s.deleteOpinion))
	get(conv+"/next", s.handle(authRequired, false, s.nextOpinion))
	get(conv+"/analysis", s.handle(authNone, false, s.analysis))
	r.GET(conv+"/events", s.handle(authNone, false, s.events))

	r.PUT(op+"/vote", s.handle(authRequired, true, s.vote))
	r.DELETE(op+"/vote", s.handle(authRequired, true, s.cancelVote))
	get(conv+"/votes/me", s.handle(authRequired, false, s.myVotes))

	r.PUT(conv+"/lock", s.handle(authRequired, false, s.lock))
	r.DELETE(conv+"/lock", s.handle(authRequired, false, s.unlock))
	r.PUT(op+"/moderation", s.handle(authRequired, false, s.moderate))
	r.DELETE(op+"/moderation", s.handle(authRequired, false, s.unmoderate))

	get("/admin/actors", s.handle(authAdmin, false, s.adminActors))
	get("/admin/conversations/{cid}/state", s.handle(authAdmin, false, s.adminState))
	r.POST("/admin/conversations/{cid}/passivate", s.handle(authAdmin, false, s.adminPassivate))
	get("/admin/cluster", s.handle(authAdmin, false, s.adminCluster))
	r.PUT("/admin/participants/{pid}/role", s.handle(authAdmin, false, s.adminSetRole))
	r.POST(importPolisPath, s.importPolis)
	get("/admin/conversations/{cid}/export/polis/{file}", s.handle(authAdmin, false, s.exportPolis))

	if s.cfg.Cluster != nil {
		// Peers only: a single node has no route a client could reach it by.
		// (A client that calls it in a cluster gains nothing: the request
		// it carries goes through the same routes and checks as its own.)
		r.POST(cluster.ForwardPath, s.forwarded)
	}
	get("/healthz", s.handle(authNone, false, s.healthz))
	get("/readyz", s.handle(authNone, false, s.readyz))
	get("/openapi.yaml", s.handle(authNone, false, s.openapi))
	get("/metrics", s.handle(authNone, false, s.metrics))
	return r
}

// withoutOptions removes OPTIONS from an Allow header's list of methods.
func withoutOptions(allow string) string {
	methods := strings.Split(allow, ", ")
	return strings.Join(slices.DeleteFunc(methods, func(m string) bool { return m == fasthttp.MethodOptions }), ", ")
}

// handle authenticates the caller, applies the write rate limit and turns
// a returned error into a problem+json answer.
func (s *Server) handle(level auth, write bool, fn handlerFunc) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if s.cfg.Cluster != nil && s.forwardIfRemote(ctx) {
			return
		}
		if len(ctx.Request.Body()) > s.cfg.MaxBodySize {
			s.writeError(ctx, agora.Errorf(agora.ETOOLARGE, "The request body is over the limit of %d bytes.", s.cfg.MaxBodySize))
			return
		}
		c, err := s.caller(ctx, level)
		if err == nil && write && !c.Admin {
			err = s.limiter.allow(c.ParticipantID, time.Now())
		}
		if err == nil {
			err = fn(ctx, c)
		}
		if err != nil {
			s.writeError(ctx, err)
		}
	}
}

// caller identifies who makes the request.
func (s *Server) caller(ctx *fasthttp.RequestCtx, level auth) (agora.Caller, error) {
	if level == authNone {
		return agora.Caller{}, nil
	}
	h := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
	if len(h) == 0 {
		if level == authOptional {
			return agora.Caller{}, nil
		}
		return agora.Caller{}, agora.Errorf(agora.EUNAUTHENTICATED, "An Authorization: Bearer token is required.")
	}
	const prefix = "bearer "
	if len(h) <= len(prefix) || !bytes.EqualFold(h[:len(prefix)], []byte(prefix)) {
		return agora.Caller{}, agora.Errorf(agora.EUNAUTHENTICATED, "The Authorization header must be \"Bearer <token>\".")
	}
	token := string(bytes.TrimSpace(h[len(prefix):]))
	if s.isAdmin(token) {
		return agora.Caller{Admin: true}, nil
	}
	if len(token) > 256 {
		return agora.Caller{}, agora.Errorf(agora.EUNAUTHENTICATED, "Unknown token.")
	}
	// On an admin endpoint too: an unknown token is 401, a participant's 403.
	p, err := s.participants.Authenticate(reqContext(ctx), token)
	if err != nil {
		return agora.Caller{}, err
	}
	if level == authAdmin {
		return agora.Caller{}, agora.Errorf(agora.EFORBIDDEN, "This endpoint needs the admin token.")
	}
	return agora.Caller{ParticipantID: p.ID, Role: p.Role}, nil
}

// reqContext returns the context services get. fasthttp's RequestCtx is
// not cancelled when a client goes away, so deadlines come from the
// services' own timeouts.
func reqContext(*fasthttp.RequestCtx) context.Context { return context.Background() }

// pathID returns a path parameter that must be an id.
func pathID(ctx *fasthttp.RequestCtx, name string) (string, error) {
	v, _ := ctx.UserValue(name).(string)
	if !agora.ValidID(v) {
		return "", agora.Errorf(agora.EINVALID, "%s is not a valid id (1-64 characters of A-Z, a-z, 0-9, _ and -).", name)
	}
	return v, nil
}

// queryInt parses an optional integer query parameter within [lo, hi].
func queryInt(ctx *fasthttp.RequestCtx, name string, def, lo, hi int) (int, error) {
	raw := ctx.QueryArgs().Peek(name)
	if raw == nil {
		return def, nil
	}
	n, err := strconv.Atoi(string(raw))
	if err != nil || n < lo || n > hi {
		return 0, agora.Errorf(agora.EINVALID, "%s must be an integer from %d to %d.", name, lo, hi)
	}
	return n, nil
}

// queryString returns an optional query parameter, copied.
func queryString(ctx *fasthttp.RequestCtx, name string) string {
	return string(ctx.QueryArgs().Peek(name))
}
