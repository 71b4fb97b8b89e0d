package http

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/actors"
	"github.com/agora-dev/agora/cluster"
)

// Streams opens live-update subscriptions (actors.Manager).
type Streams interface {
	Subscribe(ctx context.Context, cid, lastEventID string) (*actors.Subscription, error)
}

// heartbeat keeps idle streams alive through proxies.
const heartbeat = 15 * time.Second

// events serves GET /v1/conversations/{cid}/events as Server-Sent Events:
// the response headers at once, a counters snapshot first (after the
// missed events or a reset when resuming with Last-Event-ID), then every
// committed change. The stream ends when the subscriber is too slow (it
// may resume), when the conversation is deleted or leaves this node, and
// at shutdown.
//
// The stream takes the connection over from fasthttp (a hijack) and writes
// to it directly: fasthttp's streamed bodies go through a pipe to the
// connection's goroutine, two goroutine wake-ups and a copy per write, and
// keep that goroutine and its buffers for the stream's life. At each of
// its hub's wake-ups a stream sends everything pending in one write, from
// the hub's goroutines while its socket takes it (see sseStream).
func (s *Server) events(ctx *fasthttp.RequestCtx, _ agora.Caller) error {
	cid, err := pathID(ctx, "cid")
	if err != nil {
		return err
	}
	if s.cfg.Streams == nil {
		return agora.Errorf(agora.ENOTFOUND, "Live updates are not enabled.")
	}
	if err := s.takeStream(); err != nil {
		return err
	}
	sub, err := s.cfg.Streams.Subscribe(reqContext(ctx), cid, string(ctx.Request.Header.Peek("Last-Event-ID")))
	if err != nil {
		s.streams.Add(-1)
		return err
	}
	streamHeaders(ctx)
	// HTTP/1.0 clients cannot read chunks: their stream ends with the
	// connection instead.
	chunked := ctx.Request.Header.IsHTTP11()
	if chunked {
		ctx.Response.Header.SetContentLength(-1)
	} else {
		ctx.Response.Header.SetContentLength(-2)
	}
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(conn net.Conn) {
		// The head is rendered here, after every middleware has set its
		// headers; ctx lives until this function returns, and returning at
		// once lets fasthttp recycle it and the connection's 16 KiB read
		// buffer (the server keeps hijacked connections open: the stream
		// closes its own).
		head := ctx.Response.Header.AppendBytes(nil)
		if u, ok := conn.(interface{ UnsafeConn() net.Conn }); ok {
			conn = u.UnsafeConn()
		}
		go func() {
			defer s.streams.Add(-1)
			defer conn.Close()
			newSSEStream(sub, conn, chunked).run(head, s.stopStreams)
		}()
	})
	return nil
}

// flush sends what a proxied stream has buffered. The server's write
// timeout bounds a whole response, which a stream never finishes: each
// flush instead gets a deadline of its own, long enough for a slow reader
// and short enough to let go of a stalled one.
func flush(conn net.Conn, w *bufio.Writer) error {
	conn.SetWriteDeadline(time.Now().Add(2 * heartbeat))
	return w.Flush()
}

func streamHeaders(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetContentType("text/event-stream")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.Response.Header.Set("X-Accel-Buffering", "no")
	ctx.SetStatusCode(fasthttp.StatusOK)
}

// proxyStream relays the stream of a conversation another node owns: the
// owner's events arrive through one HTTP connection and are copied as they
// come. When the owner changes, the stream ends and the client resumes
// through any node, with a reset if the new owner lacks what it missed. A
// graceful owner ends it itself; for one that died or froze, the relay
// checks every relayCheck that the owner is still the cluster's, since a
// frozen owner's connection stays open and silent.
func (s *Server) proxyStream(ctx *fasthttp.RequestCtx, cid string, owner cluster.Member) {
	// A relayed stream counts against --max-streams here too: it holds a
	// worker and two connections on this node.
	if err := s.takeStream(); err != nil {
		s.writeError(ctx, err)
		return
	}
	streaming := false
	defer func() {
		if !streaming {
			s.streams.Add(-1)
		}
	}()
	req, _ := http.NewRequest(http.MethodGet, "http://"+owner.HTTPAddr+string(ctx.RequestURI()), nil)
	if id := ctx.Request.Header.Peek("Last-Event-ID"); id != nil {
		req.Header.Set("Last-Event-ID", string(id))
	}
	resp, err := streamClient.Do(req)
	if err != nil {
		s.countForward("error")
		s.writeError(ctx, agora.Unavailable(time.Second, "The node that owns this conversation is not answering; try again shortly."))
		return
	}
	s.countForward("ok")
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		ctx.Response.Header.SetContentType(resp.Header.Get("Content-Type"))
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			ctx.Response.Header.Set("Retry-After", ra)
		}
		ctx.SetStatusCode(resp.StatusCode)
		ctx.SetBody(body)
		return
	}
	streamHeaders(ctx)
	stop, conn := s.stopStreams, ctx.Conn()
	streaming = true
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		done := make(chan struct{})
		defer s.streams.Add(-1)
		defer resp.Body.Close()
		defer close(done)
		go func() {
			tick := time.NewTicker(relayCheck)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-stop:
				case <-tick.C:
					if s.owns(owner, cid) {
						continue
					}
				}
				resp.Body.Close() // ends the copy below
				return
			}
		}()
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				w.Write(buf[:n])
				if flush(conn, w) != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
}

// takeStream counts a stream about to open, or refuses it past MaxStreams;
// the stream gives its place back with s.streams.Add(-1).
func (s *Server) takeStream() error {
	if s.streams.Add(1) > int64(s.cfg.MaxStreams) {
		s.streams.Add(-1)
		return agora.Unavailable(5*time.Second, "This node has too many open streams; try another node or later.")
	}
	return nil
}

// owns reports whether the cluster still has owner own conversation cid.
func (s *Server) owns(owner cluster.Member, cid string) bool {
	o, ok := s.cfg.Cluster.Owner(cid)
	return ok && o.Name == owner.Name
}

// relayCheck is how often a relayed stream checks that its owner still
// owns the conversation.
const relayCheck = 500 * time.Millisecond

// streamClient has no timeout: a stream lasts as long as its client. It
// keeps no connection once its stream ends: streams are long, so reusing
// one saves little, and pooled ones held two goroutines each until the
// owner closed them.
var streamClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// OpenStreams returns the number of open live-update streams.
func (s *Server) OpenStreams() int64 { return s.streams.Load() }
