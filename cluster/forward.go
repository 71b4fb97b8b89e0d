package cluster

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/vmihailenco/msgpack/v5"
)

// ForwardPath is the internal endpoint that runs a request forwarded by a
// peer as if a client had sent it.
const ForwardPath = "/internal/forward"

// MaxHops bounds how often one request is forwarded: two views of the
// membership may disagree for a moment, never three in a row.
const MaxHops = 2

// Request is a client's HTTP request on its way to the conversation's
// owner, msgpack-encoded. Only what the API reads travels: the method, the
// path with its query, the headers that matter and the body.
type Request struct {
	Method string     `msgpack:"m"`
	URI    string     `msgpack:"u"`
	Header [][]string `msgpack:"h"`
	Body   []byte     `msgpack:"b"`
	// Hops counts the forwards so far.
	Hops int `msgpack:"n"`
}

// Response is the owner's answer, relayed unchanged to the client.
type Response struct {
	Status int        `msgpack:"s"`
	Header [][]string `msgpack:"h"`
	Body   []byte     `msgpack:"b"`
}

// ForwardedRequestHeaders are the request headers a forward carries.
var ForwardedRequestHeaders = []string{"Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id", "Last-Event-ID", "Accept"}

// RelayedResponseHeaders are the response headers relayed back.
var RelayedResponseHeaders = []string{"Content-Type", "Retry-After", "Allow", "Idempotent-Replayed", "X-Request-Id"}

// EncodeRequest and the other codecs are the wire format between nodes.
func EncodeRequest(r *Request) ([]byte, error) { return msgpack.Marshal(r) }

// DecodeRequest decodes a forwarded request, refusing malformed frames.
func DecodeRequest(b []byte) (*Request, error) {
	if !validFrame(b) {
		return nil, errMalformedFrame
	}
	var r Request
	if err := msgpack.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("cluster: malformed forwarded request: %w", err)
	}
	if r.Method == "" || len(r.URI) == 0 || r.URI[0] != '/' {
		return nil, errors.New("cluster: forwarded request without a method or an absolute path")
	}
	if !headerPairs(r.Header) {
		return nil, errors.New("cluster: forwarded header is not a name and a value")
	}
	return &r, nil
}

// headerPairs reports whether every header is a name and a value: the relaying
// node indexes both.
func headerPairs(header [][]string) bool {
	for _, h := range header {
		if len(h) != 2 {
			return false
		}
	}
	return true
}

// EncodeResponse encodes an owner's answer.
func EncodeResponse(r *Response) ([]byte, error) { return msgpack.Marshal(r) }

// DecodeResponse decodes an owner's answer.
func DecodeResponse(b []byte) (*Response, error) {
	if !validFrame(b) {
		return nil, errMalformedFrame
	}
	var r Response
	if err := msgpack.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("cluster: malformed forwarded response: %w", err)
	}
	if r.Status < 100 || r.Status > 599 {
		return nil, fmt.Errorf("cluster: forwarded response with status %d", r.Status)
	}
	if !headerPairs(r.Header) {
		return nil, errors.New("cluster: forwarded response header is not a name and a value")
	}
	return &r, nil
}

// Forwarder sends requests to peers over one pooled fasthttp client per
// peer.
type Forwarder struct {
	// Timeout bounds a forward, including the owner's work.
	Timeout time.Duration

	mu      sync.Mutex
	clients map[string]*fasthttp.HostClient
}

// NewForwarder returns a forwarder with the given timeout.
func NewForwarder(timeout time.Duration) *Forwarder {
	return &Forwarder{Timeout: timeout, clients: map[string]*fasthttp.HostClient{}}
}

func (f *Forwarder) client(addr string) *fasthttp.HostClient {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.clients[addr]
	if c == nil {
		c = &fasthttp.HostClient{Addr: addr, MaxConns: 512, MaxIdleConnDuration: time.Minute, RetryIfErr: retryForward}
		f.clients[addr] = c
	}
	return c
}

// retrySafe marks a forward whose request the API makes idempotent (GET,
// HEAD, PUT, DELETE); retryForward retries those once. fasthttp asks only
// when a connection failed before any byte of the answer, which is what a
// pooled connection to a peer that restarted does: the request then reached
// no process, and without the retry a client got 503 although the owner was
// up (1 to 7 per node after a restart, in a cluster audit). A POST is not
// retried: it may have reached the owner.
const retrySafe = "X-Agora-Retry-Safe"

func retryForward(req *fasthttp.Request, attempts int, _ error) (resetTimeout, retry bool) {
	return false, attempts < 2 && len(req.Header.Peek(retrySafe)) > 0
}

// Forward sends r to the peer serving HTTP at addr and returns its answer.
func (f *Forwarder) Forward(addr string, r *Request) (*Response, error) {
	body, err := EncodeRequest(r)
	if err != nil {
		return nil, err
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI("http://" + addr + ForwardPath)
	req.Header.SetContentType("application/msgpack")
	req.SetBody(body)
	switch r.Method {
	case fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodPut, fasthttp.MethodDelete:
		req.Header.Set(retrySafe, "1")
	}
	if err := f.client(addr).DoTimeout(req, resp, f.Timeout); err != nil {
		return nil, fmt.Errorf("cluster: forward to %s: %w", addr, err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return nil, fmt.Errorf("cluster: forward to %s: status %d", addr, resp.StatusCode())
	}
	return DecodeResponse(resp.Body())
}
