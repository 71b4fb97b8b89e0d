package actors

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anthdm/hollywood/actor"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/persist"
)

// Config tunes the manager. The zero value of a field selects its default.
type Config struct {
	// IdleTimeout passivates an actor (flush, then stop) when no command
	// reached it for this long, so memory holds only active conversations.
	// Default 10m.
	IdleTimeout time.Duration
	// MaxInflight bounds the commands of one conversation between admission
	// and answer: waiting for the actor, and for writes, waiting for their
	// commit. Past it, requests get 429 with Retry-After instead of growing
	// the inbox, which in hollywood never refuses. Default 4096: a hot
	// conversation taking 5,000 writes/s with commits of 50-100 ms has 250
	// to 500 writes waiting for their commit alone (512 refused writes at
	// 8,000 VUs while the p99 was still under 100 ms), and 4,096 commands
	// are a few milliseconds of the actor's work.
	MaxInflight int
	// InboxSize is the initial capacity of an actor's inbox. Default 64.
	InboxSize int
	// RequestTimeout bounds how long a caller waits for an actor's answer,
	// including activation and the commit of its write. Default 10s.
	RequestTimeout time.Duration
	// AckApplied answers writes as soon as the actor has applied them,
	// before they are committed: lower latency, and a crash loses the writes
	// of the last few milliseconds. The default (false) answers after the
	// commit, so a 2xx means durable.
	AckApplied bool
	// MathInterval is the shortest time between two starts of the math on
	// one conversation: changes within it coalesce into one run, so a hot
	// conversation's analysis is at most about MathInterval plus one run
	// behind its votes. Default 500ms. A conversation whose runs take
	// longer than a quarter of it is analysed less often (see mathShare).
	MathInterval time.Duration
	// MathWorkers bounds the analyses computed at once on this node, each
	// on one core. Default GOMAXPROCS-1 (at least 1), so that the math
	// never takes every core from the requests.
	MathWorkers int
	// Placement says which conversations this node may hold; nil owns
	// them all (a single node).
	Placement agora.Placement
	// OnAnalysis, when set, is told how long each run of the math took
	// (for metrics); it runs on a math worker.
	OnAnalysis func(took time.Duration, ok bool)
	// NodeName is recorded as the owner of the conversations this node
	// claims.
	NodeName string
	// Logger receives actor errors. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = 4096
	}
	if c.InboxSize <= 0 {
		c.InboxSize = 64
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.MathInterval <= 0 {
		c.MathInterval = 500 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Manager finds or spawns the actor of a conversation, loading its state
// from the store once even when many first requests arrive together;
// passivates idle actors; and refuses work past its bounds. It implements
// agora.ConversationService for one node.
type Manager struct {
	engine  *actor.Engine
	store   agora.Store
	batcher *persist.Batcher
	cfg     Config
	log     *slog.Logger
	gen     atomic.Uint64
	// deadLetters counts commands that reached a stopped actor.
	deadLetters atomic.Uint64
	math        *mathPool

	mu     sync.Mutex
	actors map[string]*handle
	closed bool

	stopSweep chan struct{}
	sweepDone chan struct{}
}

var _ agora.ConversationService = (*Manager)(nil)

// NewManager starts a manager. The batcher's OnDrop must call Drop.
func NewManager(store agora.Store, batcher *persist.Batcher, cfg Config) (*Manager, error) {
	cfg.setDefaults()
	engine, err := actor.NewEngine(actor.NewEngineConfig())
	if err != nil {
		return nil, err
	}
	m := &Manager{
		engine:    engine,
		store:     store,
		batcher:   batcher,
		cfg:       cfg,
		log:       cfg.Logger,
		actors:    map[string]*handle{},
		math:      newMathPool(cfg.MathWorkers, 4096),
		stopSweep: make(chan struct{}),
		sweepDone: make(chan struct{}),
	}
	engine.Subscribe(engine.Spawn(deadLetters(&m.deadLetters), "deadletters"))
	go m.sweep()
	return m, nil
}

// acquire returns the ready actor of a conversation with one in-flight
// command counted on it; the caller must call release.
func (m *Manager) acquire(ctx context.Context, cid string) (*handle, error) {
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil, agora.Unavailable(time.Second, "The server is shutting down.")
		}
		h, ok := m.actors[cid]
		if !ok {
			if err := m.mayActivate(cid); err != nil {
				m.mu.Unlock()
				return nil, err
			}
			h = &handle{cid: cid, ready: make(chan struct{}), stopped: make(chan struct{})}
			h.inflight.Add(1)
			m.actors[cid] = h
			m.mu.Unlock()
			m.load(h)
		} else if h.stopping {
			stopped := h.stopped
			m.mu.Unlock()
			select {
			case <-stopped:
				continue
			case <-ctx.Done():
				return nil, errReloading
			}
		} else {
			if int(h.inflight.Load()) >= m.cfg.MaxInflight {
				m.mu.Unlock()
				return nil, errBusyConversation()
			}
			h.inflight.Add(1)
			m.mu.Unlock()
		}
		select {
		case <-h.ready:
		case <-ctx.Done():
			h.inflight.Add(-1)
			return nil, agora.Unavailable(time.Second, "The conversation is taking too long to load; try again shortly.")
		}
		if h.loadErr != nil {
			h.inflight.Add(-1)
			return nil, h.loadErr
		}
		h.lastActive.Store(time.Now().UnixNano())
		return h, nil
	}
}

// acquireLive is acquire for a conversation whose actor is loaded and
// running, which needs no waiting; it returns nil and no error when the
// conversation needs acquire (not in memory, loading, failed to load or
// stopping).
func (m *Manager) acquireLive(cid string) (*handle, error) {
	m.mu.Lock()
	h, ok := m.actors[cid]
	if m.closed || !ok || h.stopping {
		m.mu.Unlock()
		return nil, nil
	}
	select {
	case <-h.ready:
	default:
		m.mu.Unlock()
		return nil, nil
	}
	if h.loadErr != nil {
		m.mu.Unlock()
		return nil, nil
	}
	if int(h.inflight.Load()) >= m.cfg.MaxInflight {
		m.mu.Unlock()
		return nil, errBusyConversation()
	}
	h.inflight.Add(1)
	m.mu.Unlock()
	h.lastActive.Store(time.Now().UnixNano())
	return h, nil
}

// errBusyConversation answers a request past MaxInflight.
func errBusyConversation() error {
	return &agora.Error{Code: agora.ERATELIMITED, Message: "This conversation is receiving more requests than it can take; try again shortly.", RetryAfter: time.Second}
}

// load reads a conversation from the store and spawns its actor. It runs
// once per activation, in the goroutine of the first request; the others
// wait on h.ready.
func (m *Manager) load(h *handle) {
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.RequestTimeout)
	defer cancel()
	s := newConversation(agora.Conversation{ID: h.cid})
	// Claim before loading: once the epoch is ours no other node can commit
	// for the conversation, so the load sees every write that was ever
	// acknowledged and nothing can be committed behind it.
	var err error
	h.epoch, err = m.store.ClaimConversation(ctx, h.cid, m.cfg.NodeName)
	if err == nil {
		err = m.store.LoadConversation(ctx, h.cid, s)
	}
	if err != nil {
		if agora.ErrorCode(err) == agora.EINTERNAL {
			m.log.Error("loading a conversation failed", "conversation", h.cid, "err", err)
			err = agora.Unavailable(time.Second, "The store is not answering; try again shortly.")
		}
		h.loadErr = err
		m.mu.Lock()
		if m.actors[h.cid] == h {
			delete(m.actors, h.cid)
		}
		m.mu.Unlock()
		close(h.stopped)
		close(h.ready)
		return
	}
	s.finishLoad()
	m.spawn(h, s)
}

func (m *Manager) spawn(h *handle, s *conversation) {
	a := &convActor{m: m, h: h, s: s}
	h.hub = newHub(h.epoch, s.conv.Counters)
	a.publish()
	id := h.cid + "." + strconv.FormatUint(m.gen.Add(1), 10)
	h.pid = m.engine.Spawn(func() actor.Receiver { return a }, "conversation",
		actor.WithID(id), actor.WithInboxSize(m.cfg.InboxSize))
	close(h.ready)
}

// request sends a command to a conversation's actor and waits for the
// answer.
func (m *Manager) request(ctx context.Context, cid string, cmd command) (any, error) {
	return m.requestAfter(ctx, cid, cmd, nil)
}

// requestAfter is request calling prepare, when not nil, with the
// conversation's handle before the command is sent.
//
// A request to a live actor, nearly all of them, needs no context with a
// deadline (a timer and two allocations, 3% of the server's CPU in the
// throughput run): its wait for the answer is bounded by a pooled timer.
// Only an activation or a stop in progress takes acquire's path.
func (m *Manager) requestAfter(ctx context.Context, cid string, cmd command, prepare func(*handle)) (any, error) {
	deadline := time.Now().Add(m.cfg.RequestTimeout)
	h, err := m.acquireLive(cid)
	if h == nil && err == nil {
		actx, cancel := context.WithDeadline(ctx, deadline)
		h, err = m.acquire(actx, cid)
		cancel()
	}
	if err != nil {
		return nil, err
	}
	defer h.inflight.Add(-1)
	if prepare != nil {
		prepare(h)
	}
	t := answerTimers.Get().(*time.Timer)
	defer answerTimers.Put(t)
	defer t.Stop()
	t.Reset(time.Until(deadline))
	return m.sendUntil(ctx, h, cmd, t.C)
}

// answerTimers lends requestAfter its timers, stopped.
var answerTimers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

func (m *Manager) send(ctx context.Context, h *handle, cmd command) (any, error) {
	return m.sendUntil(ctx, h, cmd, nil)
}

// sendUntil sends a command and waits for its answer until ctx is done or
// timeout (when not nil) fires.
func (m *Manager) sendUntil(ctx context.Context, h *handle, cmd command, timeout <-chan time.Time) (any, error) {
	e := &envelope{cmd: cmd, reply: make(chan reply, 1)}
	m.engine.Send(h.pid, e)
	select {
	case r := <-e.reply:
		return r.value, r.err
	case <-ctx.Done():
	case <-timeout:
	}
	return nil, agora.Unavailable(time.Second, "The conversation did not answer in time; a write may still be committed. Retrying is safe.")
}

// Drop removes a conversation from memory after its writes failed
// permanently: the actor refuses everything from now on and the next
// request reloads the conversation from the store (claiming it again if
// this node owns it then; see mayActivate). It must not be called on the
// batcher's goroutine synchronously (it waits for the batcher).
func (m *Manager) Drop(cid string, err error) {
	m.mu.Lock()
	h := m.actors[cid]
	m.mu.Unlock()
	if h != nil {
		m.drop(h)
	}
}

func (m *Manager) drop(h *handle) {
	m.mu.Lock()
	if h.stopping || m.actors[h.cid] != h {
		m.mu.Unlock()
		return
	}
	h.stopping = true
	m.mu.Unlock()
	<-h.ready
	if h.loadErr == nil {
		m.engine.Send(h.pid, &envelope{cmd: breakActor{}, reply: make(chan reply, 1)})
	}
	m.retire(h)
}

// breakActor makes an actor refuse every later command (see convActor).
type breakActor struct{}

func (breakActor) writes() int { return 0 }
func (breakActor) apply(*conversation, time.Time) (any, []agora.Event, error) {
	panic("breakActor is handled by the actor itself")
}

// retire stops an actor marked stopping: it lets the commands already
// accepted finish, stops the actor, waits until every write it queued has
// settled in the store, then forgets it. Until then new requests for the
// conversation wait, so a reload never misses a write.
func (m *Manager) retire(h *handle) {
	deadline := time.Now().Add(m.cfg.RequestTimeout)
	for h.inflight.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	<-m.engine.Poison(h.pid).Done()
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := m.batcher.Sync(ctx)
		cancel()
		if err == nil {
			break
		}
		if attempt == 0 {
			m.log.Warn("waiting for the store before a conversation can be reloaded", "conversation", h.cid, "err", err)
		}
	}
	h.hub.close()
	m.mu.Lock()
	if m.actors[h.cid] == h {
		delete(m.actors, h.cid)
	}
	m.mu.Unlock()
	close(h.stopped)
}

// sweep passivates idle actors.
func (m *Manager) sweep() {
	defer close(m.sweepDone)
	every := min(max(m.cfg.IdleTimeout/4, 10*time.Millisecond), time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stopSweep:
			return
		case <-t.C:
		}
		idleSince := time.Now().Add(-m.cfg.IdleTimeout).UnixNano()
		var idle []*handle
		m.mu.Lock()
		for _, h := range m.actors {
			if !h.stopping && h.loaded() && h.inflight.Load() == 0 && h.pending.Load() == 0 && h.lastActive.Load() < idleSince && h.hub.subscribers() == 0 {
				h.stopping = true
				idle = append(idle, h)
			}
		}
		m.mu.Unlock()
		for _, h := range idle {
			m.retire(h)
		}
	}
}

// Passivate implements agora.ConversationService. A conversation that is
// not live here has nothing to passivate; ENOTFOUND when it does not exist.
func (m *Manager) Passivate(ctx context.Context, cid string) error {
	m.mu.Lock()
	h := m.actors[cid]
	if h == nil {
		m.mu.Unlock()
		switch ok, err := m.store.ConversationExists(ctx, cid); {
		case err != nil:
			return agora.Unavailable(time.Second, "The store is not answering; try again shortly.")
		case !ok:
			return agora.Errorf(agora.ENOTFOUND, "Conversation %s not found.", cid)
		}
		return nil
	}
	already := h.stopping
	h.stopping = true
	m.mu.Unlock()
	if !already {
		<-h.ready
		if h.loadErr == nil {
			m.retire(h)
		}
	}
	select {
	case <-h.stopped:
		return nil
	case <-ctx.Done():
		return agora.Unavailable(time.Second, "The conversation is still being passivated.")
	}
}

// Close passivates every actor, so that everything they queued is
// committed, and stops the engine's sweeper. New requests get 503.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	var all []*handle
	for _, h := range m.actors {
		if !h.stopping {
			h.stopping = true
			all = append(all, h)
		}
	}
	m.mu.Unlock()
	close(m.stopSweep)
	<-m.sweepDone
	var wg sync.WaitGroup
	for _, h := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-h.ready
			if h.loadErr == nil {
				m.retire(h)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); m.math.close(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return agora.Unavailable(0, "actors were still stopping at the shutdown deadline")
	}
}

// mayActivate refuses to activate a conversation this node does not own:
// the HTTP layer forwards those, and this catches a view that changed in
// between. A node fenced off a conversation it still owns by its own view
// claims it back: two nodes whose views disagree can take a conversation
// from each other until gossip settles (their writes then fail with 503,
// none is applied twice or lost), and the one the settled view names keeps
// it. m.mu must be held.
func (m *Manager) mayActivate(cid string) error {
	if p := m.cfg.Placement; p != nil && !p.Owns(cid) {
		return agora.Unavailable(time.Second, "The conversation is moving to another node; try again shortly.")
	}
	return nil
}

// Rebalance hands off the conversations this node no longer owns after a
// change of membership: each such actor stops taking commands, its writes
// are flushed, and it stops; the new owner activates the conversation from
// the store on its next request. It returns at once; the handoffs run in
// the background.
func (m *Manager) Rebalance() {
	p := m.cfg.Placement
	if p == nil {
		return
	}
	var moving []*handle
	m.mu.Lock()
	for cid, h := range m.actors {
		if !h.stopping && !p.Owns(cid) {
			h.stopping = true
			moving = append(moving, h)
		}
	}
	m.mu.Unlock()
	for _, h := range moving {
		go func() {
			<-h.ready
			if h.loadErr == nil {
				m.retire(h)
			}
		}()
	}
	if len(moving) > 0 {
		m.log.Info("handing off conversations after a membership change", "conversations", len(moving))
	}
}

// Stats is a snapshot of a node's actors, for metrics.
type Stats struct {
	Live        int    // actors activated and not stopping
	Inflight    int    // commands waiting for an actor
	Pending     int    // writes appended and not yet settled
	MathQueue   int    // snapshots waiting for a math worker
	DeadLetters uint64 // commands that reached a stopped actor
}

// Stats returns a snapshot of the node's actors.
func (m *Manager) Stats() Stats {
	s := Stats{MathQueue: len(m.math.jobs), DeadLetters: m.deadLetters.Load()}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, h := range m.actors {
		if h.loaded() && !h.stopping {
			s.Live++
		}
		s.Inflight += int(h.inflight.Load())
		s.Pending += int(h.pending.Load())
	}
	return s
}
