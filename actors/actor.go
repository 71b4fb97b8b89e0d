// Package actors holds the conversation actors and their manager. Each
// active conversation is one hollywood actor that owns the conversation's
// state and applies commands one at a time; the manager finds or spawns
// actors, passivates idle ones and applies admission control in front of
// their inboxes.
//
// Rules of ownership:
//   - a conversation's state is touched only by its actor's goroutine;
//     what leaves the actor is a copy;
//   - commands carry their reply channel (buffered, so the actor never
//     blocks on a caller that gave up); hollywood's Engine.Request is not
//     used, its reply ids collide under load;
//   - the batcher owns pending events; the actor appends and is completed.
package actors

import (
	"encoding/json"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anthdm/hollywood/actor"

	"github.com/agora-dev/agora"
)

// envelope carries a command and the channel its answer goes to.
type envelope struct {
	cmd   command
	reply chan reply
}

type reply struct {
	value any
	err   error
}

// handle is the manager's record of one conversation's actor. The atomics
// are written by the actor and read by the admin API.
type handle struct {
	cid     string
	pid     *actor.PID
	ready   chan struct{} // closed once loaded (or failed: loadErr)
	stopped chan struct{} // closed once stopped and its writes settled
	loadErr error
	// epoch is the ownership epoch this incarnation claimed; set before
	// ready is closed, read-only after.
	epoch int64

	// Guarded by Manager.mu.
	stopping bool

	inflight   atomic.Int32 // commands acquired and not yet answered
	pending    atomic.Int32 // writes appended and not yet settled
	lastActive atomic.Int64 // unix nanoseconds
	opinions   atomic.Int32
	votes      atomic.Int32
	voters     atomic.Int32
	locked     atomic.Bool
	analysis   atomic.Pointer[analysis] // the latest, published by the actor
	// ext caches an imported conversation's participants' external ids,
	// loaded on first use (Manager.voterExternalIDs).
	extMu sync.Mutex
	ext   map[string]string
	// hub fans committed changes out to live-update streams; set before
	// ready is closed.
	hub *hub
}

// convActor is the hollywood receiver of one conversation.
type convActor struct {
	m      *Manager
	h      *handle
	s      *conversation
	pid    *actor.PID
	broken bool

	// The math's bookkeeping (see analysis.go).
	mathInFlight  bool
	mathDue       bool // a postponed run is scheduled
	lastMathStart time.Time
	lastMathCost  time.Duration // from the last start to its result
	failedVersion uint64        // a version whose analysis failed; not retried
}

// mathShare bounds the share of one core a conversation's analysis may take
// under continuous change: a run starts no sooner than mathShare times the
// last run's duration after the last start. A conversation whose run takes
// 200 ms (about 250,000 opinions) is analysed every 800 ms instead of every
// MathInterval, so its analysis takes at most a quarter of a core and stays
// within about a second of the votes; a smaller one is analysed every
// MathInterval.
const mathShare = 4

// Receive implements actor.Receiver.
func (a *convActor) Receive(c *actor.Context) {
	switch msg := c.Message().(type) {
	case *envelope:
		a.handle(msg)
	case actor.Started:
		a.pid = c.PID()
		a.maybeAnalyze()
	case analysisDone:
		a.mathInFlight = false
		a.lastMathCost = time.Since(a.lastMathStart)
		if msg.a == nil {
			a.failedVersion = a.s.version
		} else if a.s.an == nil || msg.a.version >= a.s.an.version {
			a.s.an = msg.a
			a.h.analysis.Store(msg.a)
			b, _ := json.Marshal(map[string]any{"computed_at": msg.a.computedAt, "votes_included": msg.a.votes, "k": msg.a.k})
			a.h.hub.publish(EventAnalysis, b)
		}
		a.maybeAnalyze()
	case analysisDue:
		a.mathDue = false
		a.maybeAnalyze()
	}
}

// maybeAnalyze starts a run of the math when the state changed since the
// last analysis, none is in flight, and MathInterval has passed since the
// last start; otherwise it schedules itself or waits for the run in flight.
func (a *convActor) maybeAnalyze() {
	if a.mathInFlight || a.mathDue || a.broken || a.s.deleted || a.pid == nil {
		return
	}
	v := a.s.version
	if (a.s.an != nil && a.s.an.version == v) || v == a.failedVersion || len(a.s.voters) == 0 {
		return
	}
	if wait := max(a.m.cfg.MathInterval, mathShare*a.lastMathCost) - time.Since(a.lastMathStart); wait > 0 {
		a.scheduleAnalysis(wait)
		return
	}
	snap := a.s.snapshotForMath()
	prev := a.s.an
	pid, engine, log, observe := a.pid, a.m.engine, a.m.log, a.m.cfg.OnAnalysis
	if !a.m.math.trySubmit(func() {
		start := time.Now()
		defer func() {
			if r := recover(); r != nil {
				log.Error("the math panicked; the previous analysis stays", "conversation", snap.cid, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				engine.Send(pid, analysisDone{})
				if observe != nil {
					observe(time.Since(start), false)
				}
			}
		}()
		an := compute(snap, prev)
		if observe != nil {
			observe(time.Since(start), an != nil)
		}
		engine.Send(pid, analysisDone{a: an})
	}) {
		a.scheduleAnalysis(a.m.cfg.MathInterval) // the pool is saturated: try again later
		return
	}
	a.mathInFlight = true
	a.lastMathStart = time.Now()
}

func (a *convActor) scheduleAnalysis(after time.Duration) {
	a.mathDue = true
	pid, engine := a.pid, a.m.engine
	time.AfterFunc(after, func() { engine.Send(pid, analysisDue{}) })
}

func (a *convActor) handle(e *envelope) {
	if _, ok := e.cmd.(breakActor); ok {
		a.broken = true
	}
	if a.broken {
		e.reply <- reply{err: errReloading}
		return
	}
	w := e.cmd.writes()
	if w > 0 {
		if err := a.m.batcher.TryReserve(w); err != nil {
			e.reply <- reply{err: err}
			return
		}
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	res, events, err := a.apply(e.cmd, now)
	if err != nil || len(events) == 0 {
		if w > 0 {
			a.m.batcher.Release(w)
		}
		if err == nil && w > 0 && !a.m.cfg.AckApplied {
			// A write that changed nothing confirms the state in memory,
			// which may hold writes not yet committed (answered 503 during
			// an outage, say): answer once they are.
			a.m.batcher.Barrier(a.h.cid, func(err error) { e.reply <- reply{value: res, err: err} })
			return
		}
		e.reply <- reply{value: res, err: err}
		return
	}
	for i := range events {
		events[i].Epoch = a.h.epoch
	}
	a.publish()
	a.h.pending.Add(1)
	if a.m.cfg.AckApplied {
		e.reply <- reply{value: res}
	}
	ackApplied, cid, hub, n := a.m.cfg.AckApplied, a.h.cid, a.h.hub, a.s.notesOf(events)
	a.maybeAnalyze()
	a.m.batcher.AppendNotify(events, w, func(err error) {
		a.h.pending.Add(-1)
		if !ackApplied {
			e.reply <- reply{value: res, err: err}
		} else if err != nil {
			a.m.log.Error("a write acknowledged as applied failed to commit", "conversation", cid, "err", err)
		}
	}, func() { hub.post(n) }) // also for a write answered 503 that commits later
}

// apply runs a command and turns a panic into a reload: the state may be
// half-changed, so the actor refuses everything from then on and the
// manager replaces it with one loaded from the store (after the writes
// already queued have settled).
func (a *convActor) apply(cmd command, now time.Time) (res any, events []agora.Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			a.broken = true
			a.m.log.Error("conversation actor panicked; reloading it from the store",
				"conversation", a.h.cid, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			go a.m.drop(a.h)
			res, events, err = nil, nil, errReloading
		}
	}()
	return cmd.apply(a.s, now)
}

// publish copies the counters the admin API shows into the handle.
func (a *convActor) publish() {
	a.h.opinions.Store(int32(a.s.conv.OpinionCount))
	a.h.votes.Store(int32(a.s.conv.VoteCount))
	a.h.voters.Store(int32(a.s.conv.ParticipantCount))
	a.h.locked.Store(a.s.conv.Locked)
}

var errReloading = agora.Unavailable(time.Second, "The conversation is being reloaded; try again shortly.")

func (h *handle) streamCount() int {
	if h.hub == nil {
		return 0
	}
	return h.hub.subscribers()
}

func (h *handle) analysisVotes() int {
	if a := h.analysis.Load(); a != nil {
		return a.votes
	}
	return 0
}

// loaded reports whether the actor is running (loaded without error).
func (h *handle) loaded() bool {
	select {
	case <-h.ready:
		return h.loadErr == nil
	default:
		return false
	}
}

func (h *handle) state() agora.ActorState {
	return agora.ActorState{
		ConversationID: h.cid,
		Opinions:       int(h.opinions.Load()),
		Votes:          int(h.votes.Load()),
		Participants:   int(h.voters.Load()),
		PendingWrites:  int(h.pending.Load()),
		Mailbox:        int(h.inflight.Load()),
		LastActiveAt:   time.Unix(0, h.lastActive.Load()).UTC(),
		Epoch:          h.epoch,
		AnalysisVotes:  h.analysisVotes(),
		Streams:        h.streamCount(),
	}
}

// deadLetters answers commands that reached an actor after it stopped, so
// that no caller waits for a reply that will never come, and counts them.
func deadLetters(count *atomic.Uint64) actor.Producer {
	return func() actor.Receiver { return deadLetterReceiver{count} }
}

type deadLetterReceiver struct{ count *atomic.Uint64 }

func (d deadLetterReceiver) Receive(c *actor.Context) {
	if dl, ok := c.Message().(actor.DeadLetterEvent); ok {
		d.count.Add(1)
		if e, ok := dl.Message.(*envelope); ok {
			e.reply <- reply{err: errReloading}
		}
	}
}
