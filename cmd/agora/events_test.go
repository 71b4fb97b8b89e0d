package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct {
	id, name string
	data     map[string]any
}

// sseStream reads a live-update stream through a real connection.
type sseStream struct {
	t      *testing.T
	resp   *http.Response
	events chan sseEvent
}

func openStream(t *testing.T, ts *TestServer, cid, lastID string) *sseStream {
	t.Helper()
	return openStreamAt(t, ts.URL, cid, lastID)
}

// openStreamAt opens the stream of cid on the node at base (scheme://host).
func openStreamAt(t *testing.T, base, cid, lastID string) *sseStream {
	t.Helper()
	req, _ := http.NewRequest("GET", base+convPath(cid)+"/events", nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sseStream{t: t, resp: resp, events: make(chan sseEvent, 1024)}
	t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if e.name != "" {
					s.events <- e
				}
				e = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				e.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				e.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				json.Unmarshal([]byte(line[6:]), &e.data)
			}
		}
	}()
	return s
}

// ended waits until the stream ends, returning the events it still brought.
func (s *sseStream) ended(within time.Duration) []sseEvent {
	s.t.Helper()
	var got []sseEvent
	timeout := time.After(within)
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				return got
			}
			got = append(got, e)
		case <-timeout:
			s.t.Fatalf("the stream did not end within %v", within)
		}
	}
}

// next waits for the next event with the given name, skipping others, and
// returns it with what was skipped.
func (s *sseStream) next(name string) (sseEvent, []sseEvent) {
	s.t.Helper()
	var skipped []sseEvent
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				s.t.Fatalf("the stream ended while waiting for %s", name)
			}
			if e.name == name {
				return e, skipped
			}
			skipped = append(skipped, e)
		case <-timeout:
			s.t.Fatalf("no %s event within 10 s (skipped %v)", name, skipped)
		}
	}
}

func TestLiveUpdates(t *testing.T) {
	ts := MustOpenServer(t)
	_, author := ts.newParticipant(t)
	conv := ts.createConversation(t, author, map[string]any{"title": "live"})

	t.Run("a subscriber receives each kind of event after its write", func(t *testing.T) {
		s := openStream(t, ts, conv.ID, "")
		first, _ := s.next("counters")
		if first.data["opinion_count"].(float64) != 0 {
			t.Fatalf("first snapshot %v", first.data)
		}
		op := ts.createOpinion(t, author, conv.ID, "streamed")
		e, _ := s.next("opinion")
		if e.data["id"] != op.ID || e.data["text"] != "streamed" || e.id == "" {
			t.Fatalf("opinion event %+v", e)
		}
		c, _ := s.next("counters")
		if c.data["opinion_count"].(float64) != 1 || c.data["vote_count"].(float64) != 1 {
			t.Fatalf("counters after the opinion %v", c.data)
		}
		ts.moderate(t, author, conv.ID, op.ID, "hide")
		m, _ := s.next("moderation")
		if m.data["opinion_id"] != op.ID || m.data["status"] != "hidden" {
			t.Fatalf("moderation event %v", m.data)
		}
		ts.unmoderate(t, author, conv.ID, op.ID)
		ts.lock(t, author, conv.ID)
		for {
			l, _ := s.next("moderation")
			if locked, ok := l.data["locked"]; ok {
				if locked != true {
					t.Fatalf("lock event %v", l.data)
				}
				break
			}
		}
		ts.unlock(t, author, conv.ID)
		a, _ := s.next("analysis")
		if _, ok := a.data["votes_included"]; !ok {
			t.Fatalf("analysis event %v", a.data)
		}
	})

	t.Run("a resume with Last-Event-ID delivers exactly the missed events", func(t *testing.T) {
		s := openStream(t, ts, conv.ID, "")
		s.next("counters")
		op := ts.createOpinion(t, author, conv.ID, "before the gap")
		e, _ := s.next("opinion")
		if e.data["id"] != op.ID {
			t.Fatalf("opinion event %v", e.data)
		}
		s.resp.Body.Close()
		var missed []string
		for i := range 3 {
			missed = append(missed, ts.createOpinion(t, author, conv.ID, fmt.Sprint("missed ", i)).ID)
		}
		time.Sleep(300 * time.Millisecond) // the coalesced counters are out
		r := openStream(t, ts, conv.ID, e.id)
		var got []string
		last := e.id
		for len(got) < len(missed) {
			ev, skipped := r.next("opinion")
			for _, sk := range append(skipped, ev) {
				if sk.name == "reset" {
					t.Fatal("reset although the missed events are held")
				}
				if sk.id != "" && sk.id <= last && len(sk.id) == len(last) {
					t.Fatalf("event %s replayed after %s", sk.id, last)
				}
				if sk.id != "" {
					last = sk.id
				}
			}
			got = append(got, ev.data["id"].(string))
		}
		if fmt.Sprint(got) != fmt.Sprint(missed) {
			t.Fatalf("resumed with %v, missed %v", got, missed)
		}
		u := openStream(t, ts, conv.ID, "999999")
		if e, _ := u.next("reset"); e.name != "reset" {
			t.Fatal("no reset for an id the server does not hold")
		}
	})

	t.Run("a resume across a reactivation gets a reset, not the new incarnation's events", func(t *testing.T) {
		c := ts.createConversation(t, author, map[string]any{"title": "reactivated"})
		s := openStream(t, ts, c.ID, "")
		s.next("counters")
		ts.createOpinion(t, author, c.ID, "first")
		e, _ := s.next("opinion")
		for i := range 4 {
			ts.createOpinion(t, author, c.ID, fmt.Sprint("seen later ", i))
		}
		s.resp.Body.Close()
		requireStatus(t, ts.do(t, "POST", "/admin/conversations/"+c.ID+"/passivate", testAdminToken, nil), http.StatusNoContent)
		// The next incarnation sends more events than the client saw.
		for i := range 6 {
			ts.createOpinion(t, author, c.ID, fmt.Sprint("after ", i))
		}
		r := openStream(t, ts, c.ID, e.id)
		if ev, skipped := r.next("reset"); ev.name != "reset" || len(skipped) > 0 {
			t.Fatalf("resume after %s across a reactivation: %+v after %d other events, want a reset first", e.id, ev, len(skipped))
		}
	})

	t.Run("a stalled subscriber is dropped without slowing the writes", func(t *testing.T) {
		// A client that never reads: its socket buffers fill, then its
		// subscription overflows and is dropped.
		conn, err := net.Dial("tcp", ts.HTTP.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if tcp, ok := conn.(*net.TCPConn); ok {
			tcp.SetReadBuffer(1024)
		}
		fmt.Fprintf(conn, "GET %s/events HTTP/1.1\r\nHost: x\r\n\r\n", convPath(conv.ID))
		op := ts.createOpinion(t, author, conv.ID, "target")
		_, voter := ts.newParticipant(t)
		timeVotes := func() time.Duration {
			start := time.Now()
			for i := range 100 {
				ts.vote(t, voter, conv.ID, op.ID, []string{"agree", "disagree", "pass"}[i%3])
			}
			return time.Since(start)
		}
		streams := func() int {
			var st struct{ Streams int }
			r := ts.do(t, "GET", "/admin/conversations/"+conv.ID+"/state", testAdminToken, nil)
			json.Unmarshal(r.Body, &st)
			return st.Streams
		}
		base := timeVotes()
		// Flood the stalled stream with long opinions until its socket
		// buffers and its subscription overflow.
		long := strings.Repeat("a long opinion that fills the buffers ", 26)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, tok := ts.newParticipant(t)
				for i := range 600 {
					if streams() == 0 && i%50 == 0 {
						return
					}
					ts.do(t, "POST", opinionsPath(conv.ID), tok, map[string]string{"text": fmt.Sprint(w, i, long)})
				}
			}()
		}
		wg.Wait()
		checkForT(t, 10*time.Second, func() error {
			if n := streams(); n != 0 {
				return fmt.Errorf("%d streams still subscribed", n)
			}
			return nil
		})
		t.Logf("100 votes took %v before the stalled subscriber, %v after it was dropped", base, timeVotes())
	})

	t.Run("an HTTP/1.0 client gets the stream unchunked, ended by the connection", func(t *testing.T) {
		conn, err := net.Dial("tcp", ts.HTTP.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET %s/events HTTP/1.0\r\n\r\n", convPath(conv.ID))
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(conn)
		var head []string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("head %q: %v", head, err)
			}
			if line == "\r\n" {
				break
			}
			head = append(head, strings.TrimSpace(line))
		}
		if !strings.Contains(head[0], " 200 ") || slices.Contains(head, "Transfer-Encoding: chunked") {
			t.Fatalf("head %q", head)
		}
		if line, err := r.ReadString('\n'); err != nil || line != "event: counters\n" {
			t.Fatalf("first line of the body %q: %v", line, err)
		}
	})

	t.Run("a stream outlives the server's write timeout", func(t *testing.T) {
		short := MustOpenServer(t, func(c *ServeConfig) { c.WriteTimeout = 300 * time.Millisecond })
		_, tok := short.newParticipant(t)
		c := short.createConversation(t, tok, map[string]any{"title": "long"})
		s := openStream(t, short, c.ID, "")
		s.next("counters")
		time.Sleep(time.Second)
		op := short.createOpinion(t, tok, c.ID, "still here")
		if e, _ := s.next("opinion"); e.data["id"] != op.ID {
			t.Fatalf("opinion event %v", e.data)
		}
	})

	t.Run("shutdown ends the streams", func(t *testing.T) {
		s := openStream(t, ts, conv.ID, "")
		s.next("counters")
		done := make(chan struct{})
		go func() {
			for range s.events {
			}
			close(done)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ts.HTTP.Close(ctx); err != nil {
			t.Fatalf("close with a stream open: %v", err)
		}
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the stream outlived the shutdown")
		}
	})
}

func checkForT(t *testing.T, total time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
