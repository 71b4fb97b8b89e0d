package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/actors"
	"github.com/agora-dev/agora/cluster"
	agorahttp "github.com/agora-dev/agora/http"
	"github.com/agora-dev/agora/persist"
	"github.com/agora-dev/agora/persist/postgres"
	"github.com/agora-dev/agora/persist/sqlite"
)

// ServeConfig is the configuration of `agora serve`.
type ServeConfig struct {
	HTTPAddr      string
	DataDir       string
	Postgres      string
	AdminToken    string
	NodeName      string
	IdleTimeout   time.Duration
	FlushInterval time.Duration
	FlushMax      int
	MaxPending    int
	CommitTimeout time.Duration
	Ack           string
	RateLimit     float64
	MaxInflight   int
	MathInterval  time.Duration
	GossipAddr    string
	Join          string
	// GossipTestTimings shrinks gossip intervals to milliseconds, for tests.
	GossipTestTimings bool
	DrainWait         time.Duration
	DebugAddr         string
	CORSOrigins       string
	MaxConns          int
	MaxStreams        int
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	ShutdownTimeout   time.Duration
	LogLevel          string
	LogFormat         string

	// ImportMaxBytes bounds the body of a Polis import (--import-max-bytes).
	ImportMaxBytes int
}

// bindServeFlags declares the flags of `agora serve` with their defaults.
func bindServeFlags(fs *flag.FlagSet, c *ServeConfig) {
	host, _ := os.Hostname()
	fs.StringVar(&c.HTTPAddr, "http-addr", "127.0.0.1:8080", "address the HTTP API listens on")
	fs.StringVar(&c.DataDir, "data-dir", "./agora-data", "folder of the embedded SQLite store")
	fs.StringVar(&c.Postgres, "postgres", "", "PostgreSQL URL; when set, PostgreSQL is the store")
	fs.StringVar(&c.AdminToken, "admin-token", "", "bearer token of the admin API (generated and logged once when empty)")
	fs.StringVar(&c.NodeName, "node-name", host, "name of this node in the admin API and the cluster")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 10*time.Minute, "passivate a conversation's actor after this long without requests")
	fs.DurationVar(&c.FlushInterval, "flush-interval", 0, "longest wait of a write for others to share its commit (0: commit as soon as the previous commit ends)")
	fs.IntVar(&c.FlushMax, "flush-max", 1000, "with --flush-interval > 0, commit before the interval once this many events are pending")
	fs.IntVar(&c.MaxPending, "max-pending", 100_000, "bound on uncommitted events on this node; past it writes get 503")
	fs.DurationVar(&c.CommitTimeout, "commit-timeout", 5*time.Second, "how long a write waits for a failing store before it is answered 503, at the next failed attempt (it stays queued); a conversation request waits 10 s at most")
	fs.StringVar(&c.Ack, "ack", "committed", "when writes are answered: committed (durable) or applied (faster; a crash, or a commit that fails for good, loses acknowledged writes)")
	fs.Float64Var(&c.RateLimit, "rate-limit", 10, "writes per second per participant, burst twice as many; 0 turns it off")
	fs.IntVar(&c.ImportMaxBytes, "import-max-bytes", 256<<20, "largest body of POST /admin/import/polis (a whole Polis export); the JSON endpoints keep 64 KiB")
	fs.IntVar(&c.MaxInflight, "max-inflight", 4096, "bound on requests in flight for one conversation (waiting for its actor or their commit); past it 429")
	fs.DurationVar(&c.MathInterval, "math-interval", 500*time.Millisecond, "shortest time between two analyses of one conversation; changes within it coalesce")
	fs.StringVar(&c.GossipAddr, "gossip-addr", "", "host:port of this node's cluster gossip (UDP and TCP); set to run in a cluster, which requires --postgres")
	fs.StringVar(&c.Join, "join", "", "host:port,... of cluster members to join (retried until one answers)")
	fs.BoolVar(&c.GossipTestTimings, "gossip-test-timings", false, "gossip every few milliseconds and declare a silent node dead within about 200ms (for tests on one machine)")
	fs.DurationVar(&c.DrainWait, "drain-wait", time.Second, "on shutdown in a cluster, how long to keep forwarding while the draining state spreads (the hand-off starts at once)")
	fs.StringVar(&c.CORSOrigins, "cors-origins", "", "comma-separated browser origins allowed to call the API (* for any); none when empty")
	fs.IntVar(&c.MaxConns, "max-conns", 100_000, "bound on HTTP connections being served at once (open live-update streams are not counted: --max-streams bounds them); past it new ones get 503")
	fs.IntVar(&c.MaxStreams, "max-streams", 50_000, "bound on open live-update streams; past it new ones get 503")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", 30*time.Second, "longest time to read a request (slow clients get cut off)")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", 30*time.Second, "longest time to write a response (not live-update streams: each of their writes has 30 s)")
	fs.StringVar(&c.DebugAddr, "debug-addr", "", "address of a separate listener for pprof (/debug/pprof/); off when empty")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "deadline of a graceful shutdown")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "json", "json or text")
}

// check refuses values no node can run with, before anything is opened:
// a negative rate, bound or wait that would otherwise turn a feature off or
// make every request fail, and flags that need others.
func (c *ServeConfig) check() error {
	if c.Ack != "committed" && c.Ack != "applied" {
		return fmt.Errorf("%w: --ack must be committed or applied", errUsage)
	}
	// Below 0.5 a second the burst (twice the rate) holds no whole token:
	// every write would be refused.
	if c.RateLimit != 0 && !(c.RateLimit >= 0.5) || math.IsInf(c.RateLimit, 0) {
		return fmt.Errorf("%w: --rate-limit %v: want 0.5 writes per second or more, or 0 for none", errUsage, c.RateLimit)
	}
	for _, b := range []struct {
		name string
		v    int
	}{
		{"flush-max", c.FlushMax}, {"max-pending", c.MaxPending}, {"max-inflight", c.MaxInflight},
		{"max-conns", c.MaxConns}, {"max-streams", c.MaxStreams}, {"import-max-bytes", c.ImportMaxBytes},
	} {
		if b.v < 1 {
			return fmt.Errorf("%w: --%s %d: want 1 or more", errUsage, b.name, b.v)
		}
	}
	for _, d := range []struct {
		name    string
		v       time.Duration
		zeroToo bool // 0 is refused as well
	}{
		{"idle-timeout", c.IdleTimeout, true}, {"commit-timeout", c.CommitTimeout, true},
		{"read-timeout", c.ReadTimeout, true}, {"write-timeout", c.WriteTimeout, true},
		{"shutdown-timeout", c.ShutdownTimeout, true},
		{"flush-interval", c.FlushInterval, false}, {"math-interval", c.MathInterval, true},
		{"drain-wait", c.DrainWait, false},
	} {
		if d.v < 0 || (d.zeroToo && d.v == 0) {
			want := "a duration of 0 or more"
			if d.zeroToo {
				want = "a positive duration"
			}
			return fmt.Errorf("%w: --%s %v: want %s", errUsage, d.name, d.v, want)
		}
	}
	if c.GossipAddr == "" && c.Join != "" {
		return fmt.Errorf("%w: --join needs --gossip-addr", errUsage)
	}
	if c.GossipAddr != "" && c.Postgres == "" {
		return fmt.Errorf("%w: a cluster (--gossip-addr) requires --postgres: its nodes share one store", errUsage)
	}
	return nil
}

// Main is a running node: the store, the batcher, the actors and the HTTP
// server, wired together. Tests run the real Main on port 0.
type Main struct {
	Config ServeConfig
	Logger *slog.Logger

	Cluster      *cluster.Cluster
	Store        agora.Store
	Batcher      *persist.Batcher
	Manager      *actors.Manager
	Participants *actors.Participants
	HTTP         *agorahttp.Server
}

// NewMain returns a Main with the default configuration.
func NewMain() *Main {
	m := &Main{}
	bindServeFlags(flag.NewFlagSet("", flag.ContinueOnError), &m.Config)
	return m
}

// ParseFlags reads the configuration from args and the environment.
func (m *Main) ParseFlags(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("agora serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bindServeFlags(fs, &m.Config)
	return parseFlags(fs, args)
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: use debug, info, warn or error", errUsage, level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: use json or text", errUsage, format)
}

// Run opens the store and starts serving. It returns once the node is
// listening; Close stops it.
func (m *Main) Run(ctx context.Context) error {
	c := &m.Config
	if err := c.check(); err != nil {
		return err
	}
	if m.Logger == nil {
		m.Logger = slog.Default()
	}
	var store agora.Store
	if c.Postgres != "" {
		pg, err := postgres.Open(ctx, c.Postgres)
		if err != nil {
			return fmt.Errorf("open the PostgreSQL store: %w", err)
		}
		store = pg
	} else {
		db, err := sqlite.Open(ctx, filepath.Join(c.DataDir, sqlite.FileName))
		if err != nil {
			return fmt.Errorf("open the store in %s: %w", c.DataDir, err)
		}
		store = db
	}
	m.Store = store
	var err error
	if c.AdminToken == "" {
		c.AdminToken = agora.NewToken()
		m.Logger.Warn("no admin token configured; generated one for this run", "admin_token", c.AdminToken)
	}

	metrics := newNodeMetrics()
	m.Batcher = persist.NewBatcher(store, persist.Config{
		OnCommit:      metrics.observeCommit,
		MaxBatch:      c.FlushMax,
		FlushInterval: c.FlushInterval,
		MaxPending:    c.MaxPending,
		CommitTimeout: c.CommitTimeout,
		Logger:        m.Logger,
		OnDrop: func(cid string, err error) {
			go m.Manager.Drop(cid, err)
		},
	})
	ln, err := net.Listen("tcp", c.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.HTTPAddr, err)
	}
	if err := m.startCluster(ln.Addr().String()); err != nil {
		ln.Close()
		return err
	}
	var placement agora.Placement
	var forwarder *cluster.Forwarder
	if m.Cluster != nil {
		// The owner answers a write within --commit-timeout (503 past it),
		// a read at once: a forward waits that long and a margin.
		placement, forwarder = m.Cluster, cluster.NewForwarder(c.CommitTimeout+5*time.Second)
	}
	m.Manager, err = actors.NewManager(store, m.Batcher, actors.Config{
		Placement:    placement,
		OnAnalysis:   metrics.observeMath,
		IdleTimeout:  c.IdleTimeout,
		MaxInflight:  c.MaxInflight,
		AckApplied:   c.Ack == "applied",
		NodeName:     c.NodeName,
		MathInterval: c.MathInterval,
		Logger:       m.Logger,
	})
	if err != nil {
		return err
	}
	m.Participants = actors.NewParticipants(store, m.Batcher)
	if m.Cluster != nil {
		// Roles change through any node; other nodes' caches follow within
		// this bound.
		m.Participants.WithCacheTTL(10 * time.Second)
	}
	m.HTTP = agorahttp.NewServer(agorahttp.Config{
		Addr:         c.HTTPAddr,
		NodeName:     c.NodeName,
		AdminToken:   c.AdminToken,
		RateLimit:    c.RateLimit,
		Cluster:      m.Cluster,
		Forwarder:    forwarder,
		Metrics:      metrics.http,
		CORSOrigins:  splitList(c.CORSOrigins),
		MaxConns:     c.MaxConns,
		Streams:      m.Manager,
		MaxStreams:   c.MaxStreams,
		ReadTimeout:  c.ReadTimeout,
		WriteTimeout: c.WriteTimeout,
		Logger:       m.Logger,

		Polis:             actors.NewPolis(store, m.Manager),
		ImportMaxBodySize: c.ImportMaxBytes,
	}, m.Manager, m.Participants, store)
	metrics.register(m)
	m.HTTP.OpenListener(ln)
	if c.DebugAddr != "" {
		if err := m.startDebug(c.DebugAddr); err != nil {
			return err
		}
	}
	storeAttr := slog.String("data_dir", c.DataDir)
	if c.Postgres != "" {
		storeAttr = slog.String("store", "postgres") // not the URL: it may hold a password
	}
	m.Logger.Info("agora is serving", "http_addr", m.HTTP.Addr(), storeAttr, "ack", c.Ack,
		"node", c.NodeName, "gossip_addr", c.GossipAddr)
	return nil
}

// Close shuts the node down in order. A single node stops accepting
// requests, passivates every actor, commits what is pending and closes the
// store. A cluster node first announces that it is draining (readyz turns
// 503; its own view drops it, so its actors are handed off at once, and
// the other nodes take its conversations over as they hear), forwards the
// requests it still receives for DrainWait, then stops accepting, flushes,
// leaves the gossip and closes the store. Close returns an error
// when something could not be committed before the deadline.
func (m *Main) Close(ctx context.Context) error {
	var errs []error
	if m.HTTP != nil {
		m.HTTP.SetDraining()
	}
	if m.Cluster != nil {
		if err := m.Cluster.SetState(cluster.StateDraining); err != nil {
			errs = append(errs, fmt.Errorf("announce draining: %w", err))
		}
		select {
		case <-time.After(m.Config.DrainWait):
		case <-ctx.Done():
		}
		if m.Manager != nil {
			if err := m.Manager.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("hand off the actors: %w", err))
			}
		}
	}
	if m.HTTP != nil {
		if err := m.HTTP.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop the HTTP server: %w", err))
		}
	}
	if m.Manager != nil && m.Cluster == nil {
		if err := m.Manager.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop the actors: %w", err))
		}
	}
	if m.Batcher != nil {
		if err := m.Batcher.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("flush: %w", err))
		}
	}
	if m.Cluster != nil {
		if err := m.Cluster.Leave(time.Second); err != nil {
			errs = append(errs, fmt.Errorf("leave the cluster: %w", err))
		}
	}
	if m.Store != nil {
		if err := m.Store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close the store: %w", err))
		}
	}
	return errors.Join(errs...)
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	m := NewMain()
	if err := m.ParseFlags(args, stderr); err != nil {
		return err
	}
	logger, err := newLogger(stderr, m.Config.LogLevel, strings.ToLower(m.Config.LogFormat))
	if err != nil {
		return err
	}
	m.Logger = logger
	if err := m.Run(ctx); err != nil {
		_ = m.Close(context.Background())
		return err
	}
	<-ctx.Done()
	logger.Info("shutting down", "deadline", m.Config.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
	defer cancel()
	if err := m.Close(sctx); err != nil {
		return err
	}
	logger.Info("stopped cleanly")
	return nil
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("agora migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "./agora-data", "folder of the embedded SQLite store")
	postgresURL := fs.String("postgres", "", "PostgreSQL URL")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var applied []string
	var err error
	if *postgresURL != "" {
		applied, err = postgres.Migrate(ctx, *postgresURL)
	} else {
		applied, err = sqlite.Migrate(ctx, filepath.Join(*dataDir, sqlite.FileName))
	}
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "migrations: already up to date")
	}
	for _, v := range applied {
		fmt.Fprintf(stdout, "migrations: applied %s\n", v)
	}
	return nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
