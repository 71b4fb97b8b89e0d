package http

import (
	"errors"
	"time"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/cluster"
)

// eventsRoute is the live-update stream, relayed as a stream rather than
// as one frame.
const eventsRoute = "/v1/conversations/{cid}/events"

// hopsKey is the user value that tells a handler how often the request it
// runs was forwarded already.
const hopsKey = "agora.hops"

// forwardIfRemote sends a request about a conversation another node owns
// to that node and relays its answer unchanged; it reports whether it
// answered. Requests with a malformed id stay here for their 400.
func (s *Server) forwardIfRemote(ctx *fasthttp.RequestCtx) bool {
	cid, _ := ctx.UserValue("cid").(string)
	if !agora.ValidID(cid) {
		return false
	}
	owner, ok := s.cfg.Cluster.Owner(cid)
	if !ok {
		s.writeError(ctx, agora.Unavailable(time.Second, "No node of the cluster is serving conversations yet."))
		return true
	}
	if owner.Name == s.cfg.Cluster.Self() {
		return false
	}
	if route, _ := ctx.UserValue(router.MatchedRoutePathParam).(string); route == eventsRoute {
		s.proxyStream(ctx, cid, owner)
		return true
	}
	hops, _ := ctx.UserValue(hopsKey).(int)
	if hops >= cluster.MaxHops {
		s.writeError(ctx, agora.Unavailable(time.Second, "The conversation is moving between nodes; try again shortly."))
		return true
	}
	req := &cluster.Request{
		Method: string(ctx.Method()),
		URI:    string(ctx.RequestURI()),
		Body:   append([]byte(nil), ctx.PostBody()...),
		Hops:   hops + 1,
	}
	for _, name := range cluster.ForwardedRequestHeaders {
		if v := ctx.Request.Header.Peek(name); v != nil {
			req.Header = append(req.Header, []string{name, string(v)})
		}
	}
	resp, err := s.forward(cid, owner, req)
	if errors.Is(err, errOwnerChanged) {
		s.countForward("error")
		s.writeError(ctx, agora.Unavailable(time.Second, "The conversation is moving between nodes; try again shortly."))
		return true
	}
	if err != nil {
		s.countForward("error")
		s.log.Warn("forwarding to a conversation's owner failed", "owner", owner.Name, "err", err)
		s.writeError(ctx, agora.Unavailable(time.Second, "The node that owns this conversation is not answering; try again shortly."))
		return true
	}
	s.countForward("ok")
	for _, h := range resp.Header {
		ctx.Response.Header.Set(h[0], h[1])
	}
	ctx.SetStatusCode(resp.Status)
	ctx.SetBody(resp.Body)
	return true
}

// errOwnerChanged: the cluster gave the conversation to another node while
// a request waited for the one it was forwarded to.
var errOwnerChanged = errors.New("the conversation's owner changed")

// ownerCheck is how often a forward in flight checks that its node still
// owns the conversation.
const ownerCheck = 250 * time.Millisecond

// forward sends req to owner and waits for its answer, or until the cluster
// no longer has owner own the conversation: a frozen or cut-off owner keeps
// the connection open and silent, and its clients would otherwise wait the
// whole forward timeout even after the conversation moved. The forward
// left behind ends by that timeout; the client, answered 503, retries on
// the new owner (a write the old owner still commits is fenced once the
// new one has claimed the conversation).
func (s *Server) forward(cid string, owner cluster.Member, req *cluster.Request) (*cluster.Response, error) {
	type result struct {
		resp *cluster.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := s.cfg.Forwarder.Forward(owner.HTTPAddr, req)
		done <- result{resp, err}
	}()
	tick := time.NewTicker(ownerCheck)
	defer tick.Stop()
	for {
		select {
		case r := <-done:
			return r.resp, r.err
		case <-tick.C:
			if !s.owns(owner, cid) {
				return nil, errOwnerChanged
			}
		}
	}
}

// forwarded runs a request a peer forwarded, through the same routes and
// checks as a client's, and answers with the result as a msgpack frame.
func (s *Server) forwarded(ctx *fasthttp.RequestCtx) {
	fr, err := cluster.DecodeRequest(ctx.PostBody())
	if err != nil {
		s.writeError(ctx, agora.Errorf(agora.EINVALID, "Malformed forwarded request."))
		return
	}
	var req fasthttp.Request
	req.Header.SetMethod(fr.Method)
	req.SetRequestURI(fr.URI)
	for _, h := range fr.Header {
		req.Header.Set(h[0], h[1])
	}
	req.SetBody(fr.Body)
	var inner fasthttp.RequestCtx
	inner.Init(&req, ctx.RemoteAddr(), nil)
	inner.SetUserValue(hopsKey, fr.Hops)
	s.router.Handler(&inner)
	out := &cluster.Response{Status: inner.Response.StatusCode(), Body: inner.Response.Body()}
	for _, name := range cluster.RelayedResponseHeaders {
		if v := inner.Response.Header.Peek(name); v != nil {
			out.Header = append(out.Header, []string{name, string(v)})
		}
	}
	body, err := cluster.EncodeResponse(out)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	ctx.Response.Header.SetContentType("application/msgpack")
	ctx.SetBody(body)
}
