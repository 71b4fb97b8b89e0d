// Package http serves agora's REST API over fasthttp: routing, JSON,
// problem+json errors, authentication, rate limits and the admin and
// operations endpoints. Handlers copy what they need out of the
// fasthttp.RequestCtx before calling a service: the context and its byte
// slices die when the handler returns.
package http

import (
	"context"
	"crypto/subtle"
	_ "embed"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/cluster"
)

//go:embed openapi.yaml
var openapiSpec []byte

// Config tunes the server. The zero value of a field selects its default.
type Config struct {
	// Addr is the listen address. Default 127.0.0.1:8080.
	Addr string
	// NodeName names this node in the admin API.
	NodeName string
	// AdminToken is the bearer token of the admin API; only its hash is kept.
	AdminToken string
	// MaxBodySize bounds request bodies (413 past it). Default 64 KiB.
	MaxBodySize int
	// ImportMaxBodySize bounds the body of POST /admin/import/polis, a whole
	// Polis export (413 past it); the JSON endpoints keep MaxBodySize.
	// Default 256 MiB: the largest production conversation (113K votes)
	// uploads in a few MB.
	ImportMaxBodySize int
	// Polis imports and exports Polis open data; nil answers those
	// endpoints 404.
	Polis agora.PolisService
	// MaxHeaderSize bounds request headers (431 past it). Default 16 KiB.
	MaxHeaderSize int
	// RateLimit is each participant's sustained writes per second, with a
	// burst of twice as many; 0 turns it off (cmd/agora defaults it to 10).
	RateLimit float64
	// IdempotencyTTL is how long an Idempotency-Key is remembered. Default 10m.
	IdempotencyTTL time.Duration
	// Cluster, when set, places conversations on nodes: requests for a
	// conversation this node does not own go to its owner through
	// Forwarder. nil serves everything locally (a single node).
	Cluster   *cluster.Cluster
	Forwarder *cluster.Forwarder
	// Metrics, when set, times every request and serves /metrics.
	Metrics *Metrics
	// CORSOrigins lists the browser origins allowed to call the API ("*"
	// for any); empty sends no CORS headers.
	CORSOrigins []string
	// MaxConns bounds the connections served at once; past it new ones get
	// 503. Default 100,000 (live-update streams hold a connection each).
	MaxConns int
	// ReadTimeout and WriteTimeout bound reading a request and writing a
	// response, against slow clients. Defaults 30s. Live-update streams
	// set a deadline per write instead (see flush).
	ReadTimeout, WriteTimeout time.Duration
	// Streams opens live-update streams; nil answers 404 on /events.
	Streams Streams
	// MaxStreams bounds the open live-update streams of this node; past it
	// new ones get 503. Default 50,000.
	MaxStreams int
	// Logger receives internal errors. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.MaxBodySize <= 0 {
		c.MaxBodySize = 64 << 10
	}
	if c.ImportMaxBodySize <= 0 {
		c.ImportMaxBodySize = 256 << 20
	}
	if c.MaxHeaderSize <= 0 {
		c.MaxHeaderSize = 16 << 10
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 100_000
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 30 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = 50_000
	}
	if c.IdempotencyTTL <= 0 {
		c.IdempotencyTTL = 10 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// minReadBodySize is how much of a body fasthttp reads before it gives up
// on a request. Reading a body somewhat over MaxBodySize lets the handler
// answer 413 on a connection that stays usable: when fasthttp refuses a
// body unread it closes the connection, and a client still sending it may
// see a reset instead of the 413 (net/http reads 256 KiB for the same
// reason).
const minReadBodySize = 256 << 10

// Server is the HTTP front of one node.
type Server struct {
	cfg           Config
	log           *slog.Logger
	conversations agora.ConversationService
	participants  agora.ParticipantService
	store         agora.Store
	adminHash     [32]byte

	srv      *fasthttp.Server
	router   *router.Router
	ln       net.Listener
	draining atomic.Bool
	// streams counts open live-update streams; stopStreams ends them.
	streams     atomic.Int64
	stopStreams chan struct{}
	limiter     *rateLimiter
	idem        *idempotency
	stopGC      chan struct{}
}

// NewServer builds a server over the services.
func NewServer(cfg Config, conversations agora.ConversationService, participants agora.ParticipantService, store agora.Store) *Server {
	cfg.setDefaults()
	s := &Server{
		cfg:           cfg,
		log:           cfg.Logger,
		conversations: conversations,
		participants:  participants,
		store:         store,
		adminHash:     agora.HashToken(cfg.AdminToken),
		limiter:       newRateLimiter(cfg.RateLimit),
		idem:          newIdempotency(cfg.IdempotencyTTL),
		stopGC:        make(chan struct{}),
		stopStreams:   make(chan struct{}),
	}
	s.router = s.routes()
	s.srv = &fasthttp.Server{
		Handler:                      s.instrument(s.router.Handler),
		Concurrency:                  cfg.MaxConns,
		ErrorHandler:                 s.serverError,
		Name:                         "agora",
		MaxRequestBodySize:           max(cfg.MaxBodySize, minReadBodySize),
		HeaderReceived:               s.requestConfig,
		ExpectHandler:                s.expectContinue,
		ReadBufferSize:               cfg.MaxHeaderSize,
		ReadTimeout:                  cfg.ReadTimeout,
		WriteTimeout:                 cfg.WriteTimeout,
		IdleTimeout:                  2 * time.Minute,
		NoDefaultContentType:         true,
		DisablePreParseMultipartForm: true,
		// Only live-update streams hijack their connection; they close it
		// themselves (http/events.go).
		KeepHijackedConns: true,
		Logger:            connLogger{cfg.Logger},
	}
	return s
}

// Open starts listening; Addr then returns the bound address (useful with
// port 0).
func (s *Server) Open() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	s.OpenListener(ln)
	return nil
}

// OpenListener serves on a listener bound by the caller, who needed the
// address earlier (a cluster node gossips it before it serves).
func (s *Server) OpenListener(ln net.Listener) {
	s.ln = ln
	go func() {
		if err := s.srv.Serve(ln); err != nil {
			s.log.Error("http server stopped", "err", err)
		}
	}()
	go s.gc()
}

// Addr returns the listening address.
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.Addr
	}
	return s.ln.Addr().String()
}

// SetDraining makes readyz answer 503 so load balancers stop sending
// traffic while the node drains.
func (s *Server) SetDraining() { s.draining.Store(true) }

// Close stops accepting connections and waits for the requests underway.
func (s *Server) Close(ctx context.Context) error {
	s.draining.Store(true)
	select {
	case <-s.stopStreams:
	default:
		close(s.stopStreams) // streams would hold the shutdown open
	}
	select {
	case <-s.stopGC:
	default:
		close(s.stopGC)
	}
	return s.srv.ShutdownWithContext(ctx)
}

// gc forgets expired idempotency keys and idle rate-limit buckets.
func (s *Server) gc() {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-s.stopGC:
			return
		case now := <-t.C:
			s.idem.expire(now)
			s.limiter.expire(now)
		}
	}
}

// isAdmin compares a bearer token with the admin token in constant time.
func (s *Server) isAdmin(token string) bool {
	if s.cfg.AdminToken == "" {
		return false
	}
	h := agora.HashToken(token)
	return subtle.ConstantTimeCompare(h[:], s.adminHash[:]) == 1
}

// connLogger receives fasthttp's reports on connections it could not serve
// (bodies over the limit, unparsable requests, timeouts): clients' faults,
// already answered, so they go to the configured logger at debug level
// instead of the standard logger's stderr.
type connLogger struct{ log *slog.Logger }

// Printf implements fasthttp.Logger.
func (l connLogger) Printf(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...))
}
