package actors

import (
	"encoding/json"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/agora-dev/agora"
)

// Live updates: each live conversation has a hub that fans its committed
// changes out to Server-Sent Events subscribers. Events are published
// after their write is committed, from the batcher's completion (never from
// the actor before the commit), so a subscriber never sees a change that
// could still be lost.
//
// The hub keeps the recent events in a ring, each rendered once; a
// subscriber is a cursor into that ring (the id of the last event it took),
// so publishing costs the same whatever the number of subscribers. The
// hub's goroutine wakes the subscribers at most once per wakeEvery by
// calling each one's notify function (spread over GOMAXPROCS goroutines),
// which takes everything after its cursor at once: under a burst a stream
// does one write per wake-up instead of one per event, and 10,000 streams
// cost 10,000 calls rather than 10,000 goroutine wake-ups. Nothing waits
// for a subscriber: notify functions must not block, and one that falls
// maxLag events behind is dropped and may resume with Last-Event-ID.
//
// Locking: h.mu guards the ring, the subscriber set and each
// subscription's cursor and notify function. The hub writes them holding
// h.mu; a subscription's reader moves its cursor holding h.mu for reading
// (one reader at a time per subscription: its caller's lock). Notify
// functions are called without h.mu. h.qmu guards only the queue and is
// never held with h.mu.

// Event names of the stream.
const (
	EventCounters   = "counters"
	EventOpinion    = "opinion"
	EventModeration = "moderation"
	EventAnalysis   = "analysis"
	EventReset      = "reset"
)

// countersEvery coalesces counters events: at most one per this interval.
const countersEvery = 250 * time.Millisecond

// hubBuffer is how many recent events a hub keeps: subscribers read them
// from this ring, and a resume finds what it missed there.
const hubBuffer = 1024

// maxLag is how many events a subscriber may fall behind before it is
// dropped: less than the ring, so that one resuming at once still finds
// the events it missed (minus what sat in its socket's buffers).
const maxLag = hubBuffer * 3 / 4

// wakeEvery bounds how often a hub wakes its subscribers. The first event
// after a quiet interval wakes them at once; events arriving within this
// interval of a wake-up wait for the next one and go out together, so
// that each stream writes at most 1/wakeEvery times a second whatever the
// rate of events. A write costs about 15 µs of CPU (mostly the kernel's,
// measured with BenchmarkStreams), so a wake-up of 2,000 streams costs
// about 30 ms: 50 ms keeps their fan-out under a core while adding at most
// 50 ms to a delivery; past a few thousand streams a wake-up takes longer
// than the interval and the next one starts when it ends.
const wakeEvery = 50 * time.Millisecond

// maxBatch bounds the bytes a subscriber takes from the ring at once, so a
// stream that fell behind catches up in writes of a bounded size.
const maxBatch = 64 << 10

// StreamEvent is one event of a conversation's stream.
type StreamEvent struct {
	// ID increases per conversation incarnation; 0 marks an event without
	// an id of its own (the counters snapshot that opens a stream).
	ID   uint64
	Name string
	Data []byte // one line of JSON
	// Frame is the event as the stream sends it, rendered once for every
	// subscriber rather than once per subscriber.
	Frame []byte
}

// render sets Frame: the id line (absent when ID is 0), the event name and
// the data.
func (e *StreamEvent) render() {
	var b []byte
	if e.ID > 0 {
		b = append(b, "id: "...)
		b = strconv.AppendUint(b, e.ID, 10)
		b = append(b, '\n')
	}
	b = append(b, "event: "...)
	b = append(b, e.Name...)
	b = append(b, "\ndata: "...)
	b = append(b, e.Data...)
	e.Frame = append(b, "\n\n"...)
}

// Subscription is one open stream: a cursor into its hub's ring. Its
// reader calls Next from one goroutine at a time, and Close when done.
type Subscription struct {
	// Backlog holds what the subscriber asked to resume: the missed events,
	// or a reset event when they are no longer held; then a counters
	// snapshot. Next continues after it.
	Backlog []StreamEvent

	hub     *hub
	sent    uint64 // the id of the last event Next handed out
	dropped bool   // fell maxLag behind
	notify  func()
	at      int // index in hub.subs; -1 once removed
}

// Notify sets the function the hub calls when events may be ready, and
// when the subscription ends (Next then answers !ok). It is called on the
// hub's goroutines (two calls may overlap when the hub closes) and must
// return at once: it may try a non-blocking write, or hand the work to a
// goroutine of its own.
func (s *Subscription) Notify(f func()) {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.notify = f
}

// Next appends to b the frames of the events published since the last
// call (since Backlog on the first), at most maxBatch bytes of them; the
// caller calls it again until it appends nothing. ok is false when the
// subscription has ended: it fell too far behind (b then gets nothing; the
// client may resume), or the conversation was deleted or left this node
// (b gets the events still pending first).
func (s *Subscription) Next(b []byte) (frames []byte, ok bool) {
	h := s.hub
	h.mu.RLock()
	defer h.mu.RUnlock()
	if s.dropped || h.nextID-s.sent > uint64(len(h.ring)) {
		return b, false
	}
	start := len(b)
	for s.sent < h.nextID && len(b)-start < maxBatch {
		s.sent++
		b = append(b, h.ring[(s.sent-1)%hubBuffer].Frame...)
	}
	return b, !h.closed || len(b) > start
}

// Close ends the subscription.
func (s *Subscription) Close() { s.hub.unsubscribe(s) }

// hub is the fan-out of one conversation incarnation.
type hub struct {
	mu sync.RWMutex
	// base is the incarnation's first id less one: its ownership epoch in
	// the high 32 bits, so that every id of an incarnation is above every
	// id of the ones before it (the store raises the epoch at each claim,
	// on any node). A client's id from an earlier incarnation is then told
	// from this one's, and answered with a reset. (It used to be 0 in every
	// incarnation: an old id below the new newest one resumed from the
	// wrong place, silently skipping events.) A multiple of hubBuffer, so
	// that the ring's places stay (id-1)%hubBuffer.
	base   uint64
	nextID uint64        // the id of the newest event; base when none yet
	ring   []StreamEvent // the last hubBuffer events: event id at (id-1)%hubBuffer
	// subs holds the subscriptions in the order they subscribed, nil
	// where one has left since the last wake-up (nsubs counts the others).
	// Every wake-up visits them in this order, so a stream is written to
	// at a steady period: an event waits at most about one sweep for its
	// stream. (In a map's random order it waited up to two.)
	subs  []*Subscription
	nsubs int
	// notifiers is dueNotifiers' list, kept to spare an allocation per
	// wake-up; only the hub's goroutine uses it.
	notifiers []func()
	closed    bool
	// wokenFor is the newest event id of the last wake-up.
	wokenFor uint64

	qmu   sync.Mutex
	queue []*notes // committed, waiting for the fan-out
	wake  chan struct{}
	done  chan struct{}

	committed       agora.Counters  // the latest committed counters
	counters        *agora.Counters // committed counters not yet sent
	countersSentAt  time.Time
	countersPending bool // a timer will send them
}

// newHub starts the hub of the incarnation that claimed epoch, whose
// committed counters are c.
func newHub(epoch int64, c agora.Counters) *hub {
	base := uint64(epoch) << 32
	h := &hub{base: base, nextID: base, wokenFor: base, committed: c, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go h.run()
	return h
}

// post queues committed notes for the hub's goroutine: the batcher calls
// it on its own goroutine and must never wait for the fan-out.
func (h *hub) post(n *notes) {
	if n == nil {
		return
	}
	h.qmu.Lock()
	h.queue = append(h.queue, n)
	h.qmu.Unlock()
	h.signal()
}

// signal tells the hub's goroutine that there is something to publish or
// to wake the subscribers for.
func (h *hub) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// run publishes the queued notes in commit order and wakes the
// subscribers, at most once per wakeEvery, until the hub closes.
//
// A wake-up of thousands of streams takes longer than wakeEvery (about
// 15 µs per write), so notes committed meanwhile are published at once,
// while the wake-up goes on: the streams it has not reached yet take them
// in this wake-up, the others in the next, which starts as soon as this
// one ends and wakeEvery has passed. An event then waits for the sweep to
// reach its stream once, not for the wake-up in progress to end first.
func (h *hub) run() {
	pause := time.NewTimer(wakeEvery)
	defer pause.Stop()
	for {
		if !h.unwoken() {
			select {
			case <-h.done:
				return
			case <-h.wake:
			}
		}
		h.publishQueued()
		start := time.Now()
		fs, ok := h.dueNotifiers()
		if !ok {
			continue
		}
		woken := make(chan struct{})
		go func() {
			notifyAll(fs)
			close(woken)
		}()
		for waking := true; waking; {
			select {
			case <-woken:
				waking = false
			case <-h.wake:
				h.publishQueued()
			}
		}
		clear(fs) // let ended streams go
		pause.Reset(max(0, wakeEvery-time.Since(start)))
		select {
		case <-h.done:
			return
		case <-pause.C:
		}
	}
}

// publishQueued publishes the queued notes in commit order.
func (h *hub) publishQueued() {
	h.qmu.Lock()
	q := h.queue
	h.queue = nil
	h.qmu.Unlock()
	for _, n := range q {
		h.publishNotes(n)
	}
}

// unwoken reports whether events were published since the last wake-up.
func (h *hub) unwoken() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return !h.closed && h.nextID != h.wokenFor
}

// dueNotifiers drops the subscribers that fell maxLag behind the last
// wake-up and returns the notify functions of all the others; it reports
// false when there is nothing new to wake them for.
func (h *hub) dueNotifiers() ([]func(), bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.nextID == h.wokenFor {
		return nil, false
	}
	fs := h.notifiers[:0]
	for i, s := range h.subs {
		if s == nil {
			continue
		}
		if s.sent < h.wokenFor && h.wokenFor-s.sent > maxLag {
			s.dropped = true
			h.subs[i], s.at = nil, -1
			h.nsubs--
		}
		if s.notify != nil {
			fs = append(fs, s.notify)
		}
	}
	h.compact()
	h.wokenFor, h.notifiers = h.nextID, fs
	return fs, true
}

// notifyAll calls the functions on GOMAXPROCS goroutines: each call may
// be a write, and the writes of one wake-up are many.
func notifyAll(fs []func()) {
	shards := min(runtime.GOMAXPROCS(0), len(fs)/64+1)
	var wg sync.WaitGroup
	for i := range shards {
		wg.Go(func() {
			for _, f := range fs[i*len(fs)/shards : (i+1)*len(fs)/shards] {
				f()
			}
		})
	}
	wg.Wait()
}

// subscribe opens a stream resuming after lastID ("" for a new stream).
func (h *hub) subscribe(lastID string) (*Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, agora.Unavailable(time.Second, "The conversation is moving; reconnect shortly.")
	}
	s := &Subscription{hub: h, sent: h.nextID}
	if lastID != "" {
		s.Backlog = h.since(lastID)
	}
	// The snapshot has no id of its own (ID 0): the client's last id stays
	// that of the last real event, so a resume from it misses nothing.
	snapshot := StreamEvent{Name: EventCounters, Data: countersJSON(h.committed)}
	snapshot.render()
	s.Backlog = append(s.Backlog, snapshot)
	s.at = len(h.subs)
	h.subs = append(h.subs, s)
	h.nsubs++
	return s, nil
}

// since returns the events after id, or a reset when they are not held;
// h.mu held.
func (h *hub) since(lastID string) []StreamEvent {
	id, err := strconv.ParseUint(lastID, 10, 64)
	reset := []StreamEvent{{ID: h.nextID, Name: EventReset, Data: []byte(`{}`)}}
	reset[0].render()
	switch {
	case err != nil || id > h.nextID || id < h.base:
		return reset
	case id == h.nextID:
		return nil
	case h.nextID-id > uint64(len(h.ring)):
		return reset
	}
	missed := make([]StreamEvent, 0, h.nextID-id)
	for next := id + 1; next <= h.nextID; next++ {
		missed = append(missed, h.ring[(next-1)%hubBuffer])
	}
	return missed
}

func (h *hub) unsubscribe(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.at >= 0 && s.at < len(h.subs) && h.subs[s.at] == s {
		h.subs[s.at], s.at = nil, -1
		h.nsubs--
	}
	if len(h.subs) > 2*h.nsubs+64 {
		// Streams come and go on a quiet conversation: close the gaps
		// without waiting for a wake-up.
		h.compact()
	}
}

// compact closes the gaps subscriptions left in h.subs, keeping the
// others' order; h.mu held.
func (h *hub) compact() {
	live := h.subs[:0]
	for _, s := range h.subs {
		if s != nil {
			s.at = len(live)
			live = append(live, s)
		}
	}
	clear(h.subs[len(live):])
	h.subs = live
}

// subscribers counts the open streams (an actor with subscribers is not
// idle).
func (h *hub) subscribers() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.nsubs
}

// close ends every stream; the conversation left this node or was deleted.
// The subscribers are notified to take what is still pending and end.
func (h *hub) close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	close(h.done)
	var fs []func()
	for _, s := range h.subs {
		if s != nil && s.notify != nil {
			fs = append(fs, s.notify)
		}
	}
	h.subs, h.nsubs = nil, 0
	h.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// publishLocked appends an event to the ring for the subscribers to take
// at the next wake-up; h.mu held.
func (h *hub) publishLocked(name string, data []byte) {
	if h.closed {
		return
	}
	h.nextID++
	e := StreamEvent{ID: h.nextID, Name: name, Data: data}
	e.render()
	if len(h.ring) < hubBuffer {
		h.ring = append(h.ring, e)
	} else {
		h.ring[(e.ID-1)%hubBuffer] = e
	}
	h.signal()
}

// publish appends an event; the hub's goroutine wakes the subscribers.
func (h *hub) publish(name string, data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.publishLocked(name, data)
}

// publishCounters sends the counters at most every countersEvery; values
// arriving in between are coalesced into one event with the latest.
func (h *hub) publishCounters(c agora.Counters) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.committed = c
	h.counters = &c
	if h.countersPending {
		return
	}
	if wait := countersEvery - time.Since(h.countersSentAt); wait > 0 {
		h.countersPending = true
		time.AfterFunc(wait, func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.countersPending = false
			h.flushCountersLocked()
		})
		return
	}
	h.flushCountersLocked()
}

func (h *hub) flushCountersLocked() {
	if h.counters == nil {
		return
	}
	h.publishLocked(EventCounters, countersJSON(*h.counters))
	h.counters, h.countersSentAt = nil, time.Now()
}

func countersJSON(c agora.Counters) []byte {
	b, _ := json.Marshal(c)
	return b
}

// notes are the stream events of one write, built by the actor when it
// applies the write and published once the write is committed.
type notes struct {
	counters *agora.Counters
	events   []StreamEvent // names and data; ids are given at publication
}

// notesOf derives the stream events of a write from its store events.
func (s *conversation) notesOf(events []agora.Event) *notes {
	n := &notes{}
	for i := range events {
		ev := &events[i]
		switch ev.Kind {
		case agora.EventCounters:
			c := ev.Counters
			n.counters = &c
		case agora.EventOpinionCreated:
			if o, ok := s.opinionByID[ev.Opinion.ID]; ok && s.opinions[o].counted() {
				b, _ := json.Marshal(s.view(s.opinions[o]))
				n.events = append(n.events, StreamEvent{Name: EventOpinion, Data: b})
			}
		case agora.EventOpinionModerated:
			b, _ := json.Marshal(map[string]any{"opinion_id": ev.Opinion.ID, "status": ev.Opinion.Status})
			n.events = append(n.events, StreamEvent{Name: EventModeration, Data: b})
		case agora.EventLocked, agora.EventUnlocked:
			b, _ := json.Marshal(map[string]bool{"locked": ev.Kind == agora.EventLocked})
			n.events = append(n.events, StreamEvent{Name: EventModeration, Data: b})
		}
	}
	if n.counters == nil && len(n.events) == 0 {
		return nil
	}
	return n
}

// publish sends a committed write's events.
func (h *hub) publishNotes(n *notes) {
	if n == nil {
		return
	}
	for _, e := range n.events {
		h.publish(e.Name, e.Data)
	}
	if n.counters != nil {
		h.publishCounters(*n.counters)
	}
}
