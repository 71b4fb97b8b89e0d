package actors

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agora-dev/agora"
)

// drain takes everything a subscription has, as Next's callers do.
func drain(t *testing.T, s *Subscription) (frames []byte, ok bool) {
	t.Helper()
	for {
		before := len(frames)
		frames, ok = s.Next(frames)
		if !ok || len(frames) == before {
			return frames, ok
		}
	}
}

// ids lists the ids of the frames, in order.
func ids(frames []byte) []string {
	var out []string
	for _, line := range bytes.Split(frames, []byte("\n")) {
		if id, ok := bytes.CutPrefix(line, []byte("id: ")); ok {
			out = append(out, string(id))
		}
	}
	return out
}

func idRange(from, to uint64) []string {
	var out []string
	for id := from; id <= to; id++ {
		out = append(out, strconv.FormatUint(id, 10))
	}
	return out
}

func TestHub(t *testing.T) {
	t.Run("a subscriber takes every event after its cursor at once", func(t *testing.T) {
		h := newHub(0, agora.Counters{})
		defer h.close()
		h.publish(EventAnalysis, []byte(`{}`))
		s, err := h.subscribe("")
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			h.publish(EventOpinion, []byte(`{}`))
		}
		frames, ok := drain(t, s)
		if got := ids(frames); !ok || fmt.Sprint(got) != fmt.Sprint(idRange(2, 6)) {
			t.Fatalf("got %v (ok %v), want ids 2 to 6", got, ok)
		}
		if frames, ok := drain(t, s); !ok || len(frames) != 0 {
			t.Fatalf("a second call took %q", frames)
		}
	})

	t.Run("the hub notifies its subscribers of a burst once, not once per event", func(t *testing.T) {
		h := newHub(0, agora.Counters{})
		defer h.close()
		s, _ := h.subscribe("")
		var calls atomic.Int32
		s.Notify(func() { calls.Add(1) })
		h.publish(EventOpinion, []byte(`{}`))
		deadline := time.Now().Add(5 * time.Second)
		for calls.Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if calls.Load() == 0 {
			t.Fatal("not notified of the first event")
		}
		// A burst within one interval is one more wake-up, not one per event.
		for range 50 {
			h.publish(EventOpinion, []byte(`{}`))
		}
		time.Sleep(3 * wakeEvery)
		if n := calls.Load(); n > 10 {
			t.Fatalf("%d notifications for 51 events", n)
		}
		if frames, _ := drain(t, s); len(ids(frames)) != 51 {
			t.Fatalf("took %d events, want 51", len(ids(frames)))
		}
	})

	t.Run("notes committed during a wake-up are published before it ends", func(t *testing.T) {
		h := newHub(0, agora.Counters{})
		defer h.close()
		slow, _ := h.subscribe("")
		other, _ := h.subscribe("")
		inWake, release := make(chan struct{}), make(chan struct{})
		var held, released sync.Once
		defer released.Do(func() { close(release) })
		// The slow subscriber's notify holds the first wake-up open.
		slow.Notify(func() { held.Do(func() { close(inWake); <-release }) })
		h.post(&notes{events: []StreamEvent{{Name: EventOpinion, Data: []byte(`{}`)}}})
		select {
		case <-inWake:
		case <-time.After(5 * time.Second):
			t.Fatal("no wake-up")
		}
		h.post(&notes{events: []StreamEvent{{Name: EventOpinion, Data: []byte(`{}`)}}})
		var got []string
		for deadline := time.Now().Add(5 * time.Second); len(got) < 2 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			frames, _ := drain(t, other)
			got = append(got, ids(frames)...)
		}
		if fmt.Sprint(got) != fmt.Sprint(idRange(1, 2)) {
			t.Fatalf("while the wake-up was under way the other subscriber took %v, want ids 1 to 2", got)
		}
	})

	t.Run("a subscriber that falls maxLag behind is dropped and notified", func(t *testing.T) {
		h := newHub(0, agora.Counters{})
		defer h.close()
		slow, _ := h.subscribe("")
		var notified atomic.Int32
		slow.Notify(func() { notified.Add(1) }) // takes nothing: too slow
		for range maxLag + 2 {
			h.publish(EventOpinion, []byte(`{}`))
		}
		// The first wake-up sets the mark the lag is measured from; the
		// slow subscriber took nothing and the next one drops it.
		time.Sleep(2 * wakeEvery)
		h.publish(EventOpinion, []byte(`{}`))
		deadline := time.Now().Add(5 * time.Second)
		for h.subscribers() != 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if n := h.subscribers(); n != 0 {
			t.Fatalf("%d subscribers left", n)
		}
		if notified.Load() < 2 {
			t.Fatal("the dropped subscriber was not notified")
		}
		if frames, ok := slow.Next(nil); ok || len(frames) != 0 {
			t.Fatalf("a dropped subscriber took %q (ok %v)", frames, ok)
		}
	})

	t.Run("a resume finds what it missed in the ring, or a reset once the ring moved on", func(t *testing.T) {
		h := newHub(0, agora.Counters{})
		defer h.close()
		for range hubBuffer + 10 {
			h.publish(EventOpinion, []byte(`{}`))
		}
		last := uint64(hubBuffer + 10)
		for _, tc := range []struct {
			lastID string
			want   []string // ids of the backlog's events, or "reset"
		}{
			{strconv.FormatUint(last-3, 10), idRange(last-2, last)},
			{strconv.FormatUint(last-hubBuffer, 10), idRange(last-hubBuffer+1, last)},
			{strconv.FormatUint(last, 10), nil},
			{strconv.FormatUint(last-hubBuffer-1, 10), []string{"reset"}},
			{strconv.FormatUint(last+1, 10), []string{"reset"}},
			{"garbage", []string{"reset"}},
		} {
			s, _ := h.subscribe(tc.lastID)
			var got []string
			for _, e := range s.Backlog[:len(s.Backlog)-1] {
				if e.Name == EventReset {
					got = append(got, "reset")
				} else {
					got = append(got, strconv.FormatUint(e.ID, 10))
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("after %s: backlog %v, want %v", tc.lastID, got, tc.want)
			}
			if snap := s.Backlog[len(s.Backlog)-1]; snap.Name != EventCounters || snap.ID != 0 {
				t.Errorf("after %s: the backlog ends with %s %d, not the counters snapshot", tc.lastID, snap.Name, snap.ID)
			}
			s.Close()
		}
	})

	t.Run("an id of an earlier incarnation gets a reset, whatever the new one has sent", func(t *testing.T) {
		// The incarnation of epoch 4 sent 13 events; a client saw 2 of
		// them. The conversation is activated again (epoch 5, on this node
		// or another) and sends 7: the client's id must not be taken for
		// the new incarnation's second event.
		old := newHub(4, agora.Counters{})
		for range 13 {
			old.publish(EventOpinion, []byte(`{}`))
		}
		s, _ := old.subscribe("")
		s.Close()
		for range 3 {
			old.publish(EventOpinion, []byte(`{}`))
		}
		seen := strconv.FormatUint(old.base+2, 10)
		oldLast := old.nextID
		old.close()

		h := newHub(5, agora.Counters{})
		defer h.close()
		for range 7 {
			h.publish(EventOpinion, []byte(`{}`))
		}
		if h.base+1 <= oldLast {
			t.Fatalf("the new incarnation's first id %d is not above the old one's last %d", h.base+1, oldLast)
		}
		for _, lastID := range []string{seen, strconv.FormatUint(oldLast, 10)} {
			r, _ := h.subscribe(lastID)
			if len(r.Backlog) != 2 || r.Backlog[0].Name != EventReset {
				t.Errorf("resume after the old incarnation's %s: %d events, the first %q; want a reset", lastID, len(r.Backlog)-1, r.Backlog[0].Name)
			}
			r.Close()
		}
		r, _ := h.subscribe(strconv.FormatUint(h.base+2, 10))
		if got := len(r.Backlog) - 1; got != 5 || r.Backlog[0].ID != h.base+3 {
			t.Errorf("resume after the new incarnation's second event: %d events from %d, want 5 from %d", got, r.Backlog[0].ID, h.base+3)
		}
		r.Close()
	})
	t.Run("closing the hub hands out what is pending, then ends the subscriptions", func(t *testing.T) {
		h := newHub(0, agora.Counters{})
		s, _ := h.subscribe("")
		notified := make(chan struct{}, 1)
		s.Notify(func() {
			select {
			case notified <- struct{}{}:
			default:
			}
		})
		h.publish(EventOpinion, []byte(`{}`))
		h.close()
		<-notified
		frames, ok := drain(t, s)
		if got := ids(frames); ok || fmt.Sprint(got) != "[1]" {
			t.Fatalf("got %v (ok %v), want the pending event then the end", got, ok)
		}
		if _, err := h.subscribe(""); err == nil {
			t.Fatal("a closed hub took a subscriber")
		}
	})
}
