package actors

import (
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/agora-dev/agora"
)

// Live updates: each live conversation has a hub that fans its committed
// changes out to Server-Sent Events subscribers. Events are published
// after their write is committed, from the batcher's completion (never from
// the actor before the commit), so a subscriber never sees a change that
// could still be lost. Publishing never blocks: a subscriber whose buffer
// is full is disconnected and may resume with Last-Event-ID.

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

// hubBuffer is how many recent events a hub keeps for resumption.
const hubBuffer = 1024

// subscriberBuffer is how many events may wait for a slow subscriber
// before it is dropped (a few seconds of a busy conversation; each slot is
// a small struct, the frames are shared).
const subscriberBuffer = 128

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

// Subscription is one open stream.
type Subscription struct {
	// Events delivers the stream; it is closed when the subscription ends
	// (the subscriber was too slow, the conversation was deleted or left
	// this node, or the node is stopping).
	Events <-chan StreamEvent
	// Backlog holds what the subscriber asked to resume: the missed events,
	// or a reset event when they are no longer held; then a counters
	// snapshot.
	Backlog []StreamEvent

	hub *hub
	ch  chan StreamEvent
}

// Close ends the subscription.
func (s *Subscription) Close() { s.hub.unsubscribe(s) }

// hub is the fan-out of one conversation incarnation.
type hub struct {
	mu     sync.Mutex
	nextID uint64
	recent []StreamEvent // ring of the last hubBuffer events, oldest first
	subs   map[*Subscription]struct{}
	closed bool

	qmu   sync.Mutex
	queue []*notes // committed, waiting for the fan-out
	wake  chan struct{}
	done  chan struct{}

	committed       agora.Counters  // the latest committed counters
	counters        *agora.Counters // committed counters not yet sent
	countersSentAt  time.Time
	countersPending bool // a timer will send them
}

// newHub starts the hub of an incarnation whose committed counters are c.
func newHub(c agora.Counters) *hub {
	h := &hub{subs: map[*Subscription]struct{}{}, committed: c, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go h.run()
	return h
}

// post queues committed notes for the hub's goroutine: the batcher calls
// it on its own goroutine and must never wait for the fan-out, whose cost
// grows with the subscribers.
func (h *hub) post(n *notes) {
	if n == nil {
		return
	}
	h.qmu.Lock()
	h.queue = append(h.queue, n)
	h.qmu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// run publishes the queued notes in commit order until the hub closes.
func (h *hub) run() {
	for {
		select {
		case <-h.done:
			return
		case <-h.wake:
		}
		h.qmu.Lock()
		q := h.queue
		h.queue = nil
		h.qmu.Unlock()
		for _, n := range q {
			h.publishNotes(n)
		}
	}
}

// subscribe opens a stream resuming after lastID ("" for a new stream).
func (h *hub) subscribe(lastID string) (*Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, agora.Unavailable(time.Second, "The conversation is moving; reconnect shortly.")
	}
	s := &Subscription{hub: h, ch: make(chan StreamEvent, subscriberBuffer)}
	s.Events = s.ch
	if lastID != "" {
		s.Backlog = h.since(lastID)
	}
	// The snapshot has no id of its own (ID 0): the client's last id stays
	// that of the last real event, so a resume from it misses nothing.
	snapshot := StreamEvent{Name: EventCounters, Data: countersJSON(h.committed)}
	snapshot.render()
	s.Backlog = append(s.Backlog, snapshot)
	h.subs[s] = struct{}{}
	return s, nil
}

// since returns the events after id, or a reset when they are not held.
func (h *hub) since(lastID string) []StreamEvent {
	id, err := strconv.ParseUint(lastID, 10, 64)
	reset := []StreamEvent{{ID: h.nextID, Name: EventReset, Data: []byte(`{}`)}}
	reset[0].render()
	switch {
	case err != nil || id > h.nextID:
		return reset
	case id == h.nextID:
		return nil
	case len(h.recent) == 0 || h.recent[0].ID > id+1:
		return reset
	}
	for i, e := range h.recent {
		if e.ID > id {
			return append([]StreamEvent(nil), h.recent[i:]...)
		}
	}
	return nil
}

func (h *hub) unsubscribe(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}

// subscribers counts the open streams (an actor with subscribers is not
// idle).
func (h *hub) subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// close ends every stream; the conversation left this node or was deleted.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		close(h.done)
	}
	h.closed = true
	for s := range h.subs {
		delete(h.subs, s)
		close(s.ch)
	}
}

// publish appends an event and hands it to every subscriber; h.mu held.
func (h *hub) publishLocked(name string, data []byte) {
	if h.closed {
		return
	}
	h.nextID++
	e := StreamEvent{ID: h.nextID, Name: name, Data: data}
	e.render()
	if len(h.recent) == hubBuffer {
		copy(h.recent, h.recent[1:])
		h.recent = h.recent[:hubBuffer-1]
	}
	h.recent = append(h.recent, e)
	for s := range h.subs {
		select {
		case s.ch <- e:
		default: // too slow: drop it, it may resume
			delete(h.subs, s)
			close(s.ch)
		}
	}
}

// publish sends an event now.
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
