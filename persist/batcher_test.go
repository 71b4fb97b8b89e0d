package persist_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/persist"
)

// memStore is a Store whose Apply records each transaction and can be made
// to fail; only Apply matters to the batcher.
type memStore struct {
	agora.Store // nil: the batcher calls only Apply

	mu        sync.Mutex
	txs       [][]agora.Event
	fail      func(events []agora.Event) error
	applyWait time.Duration
}

func (s *memStore) Apply(_ context.Context, events []agora.Event) error {
	s.mu.Lock()
	fail, wait := s.fail, s.applyWait
	s.mu.Unlock()
	time.Sleep(wait)
	if fail != nil {
		if err := fail(events); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.txs = append(s.txs, append([]agora.Event(nil), events...))
	return nil
}

func (s *memStore) setFail(f func([]agora.Event) error) {
	s.mu.Lock()
	s.fail = f
	s.mu.Unlock()
}

func (s *memStore) committed() (txs int, events []agora.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tx := range s.txs {
		events = append(events, tx...)
	}
	return len(s.txs), events
}

// downStore returns a store that fails transiently while down is set, as
// it is at first.
func downStore() (*memStore, *atomic.Bool) {
	store, down := &memStore{}, &atomic.Bool{}
	down.Store(true)
	store.setFail(func([]agora.Event) error {
		if down.Load() {
			return agora.Unavailable(time.Second, "disk busy")
		}
		return nil
	})
	return store, down
}

func vote(cid string, n int) agora.Event {
	return agora.Event{Kind: agora.EventVoteCast, ConversationID: cid, Vote: agora.StoredVote{ParticipantID: "p", OpinionID: string(rune('a' + n%26))}}
}

// write appends one event through a reservation and returns a channel with
// its outcome.
func write(t *testing.T, b *persist.Batcher, ev agora.Event) <-chan error {
	t.Helper()
	if err := b.TryReserve(1); err != nil {
		t.Fatalf("TryReserve: %v", err)
	}
	ch := make(chan error, 1)
	b.Append([]agora.Event{ev}, 1, func(err error) { ch <- err })
	return ch
}

func TestBatcher(t *testing.T) {
	t.Run("concurrent writers share transactions and are all committed in order", func(t *testing.T) {
		store := &memStore{applyWait: time.Millisecond}
		b := persist.NewBatcher(store, persist.Config{FlushInterval: 2 * time.Millisecond})
		const writers, each = 50, 40
		var wg sync.WaitGroup
		var failed atomic.Int32
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cid := string(rune('A' + w%26))
				for i := range each {
					if err := <-write(t, b, vote(cid, i)); err != nil {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if failed.Load() != 0 {
			t.Fatalf("%d writes failed", failed.Load())
		}
		txs, events := store.committed()
		if len(events) != writers*each {
			t.Fatalf("committed %d events, want %d", len(events), writers*each)
		}
		if txs >= writers*each/2 {
			t.Errorf("%d transactions for %d sequential-per-writer events: no group commit", txs, len(events))
		}
		if err := b.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a full batch flushes without waiting for the interval", func(t *testing.T) {
		store := &memStore{}
		b := persist.NewBatcher(store, persist.Config{MaxBatch: 10, FlushInterval: time.Hour})
		var chs []<-chan error
		for i := range 10 {
			chs = append(chs, write(t, b, vote("c", i)))
		}
		for _, ch := range chs {
			select {
			case err := <-ch:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a full batch was not flushed")
			}
		}
		b.Close(context.Background())
	})

	t.Run("transient errors are retried and callers past the deadline get 503 while the write still commits", func(t *testing.T) {
		store, down := downStore()
		b := persist.NewBatcher(store, persist.Config{CommitTimeout: 50 * time.Millisecond, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond})
		err := <-write(t, b, vote("c", 1))
		if agora.ErrorCode(err) != agora.EUNAVAILABLE {
			t.Fatalf("err = %v, want EUNAVAILABLE", err)
		}
		if _, events := store.committed(); len(events) != 0 {
			t.Fatalf("committed while the store was down")
		}
		down.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if _, events := store.committed(); len(events) != 1 {
			t.Fatalf("committed %d events after recovery, want 1", len(events))
		}
		b.Close(context.Background())
	})

	t.Run("a write answered 503 at its deadline is still notified when it commits", func(t *testing.T) {
		store, down := downStore()
		b := persist.NewBatcher(store, persist.Config{CommitTimeout: 50 * time.Millisecond, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond})
		defer b.Close(context.Background())
		if err := b.TryReserve(1); err != nil {
			t.Fatal(err)
		}
		answered, committed := make(chan error, 2), make(chan struct{}, 2)
		b.AppendNotify([]agora.Event{vote("c", 1)}, 1, func(err error) { answered <- err }, func() { committed <- struct{}{} })
		if err := <-answered; agora.ErrorCode(err) != agora.EUNAVAILABLE {
			t.Fatalf("answer = %v, want EUNAVAILABLE", err)
		}
		select {
		case <-committed:
			t.Fatal("notified of a commit while the store was down")
		default:
		}
		down.Store(false)
		select {
		case <-committed:
		case <-time.After(5 * time.Second):
			t.Fatal("not notified when the write committed")
		}
		select {
		case err := <-answered:
			t.Fatalf("answered twice (again with %v)", err)
		case <-time.After(20 * time.Millisecond):
		}
	})

	t.Run("writes queued behind a failing commit are answered at their deadline too", func(t *testing.T) {
		store := &memStore{}
		var down atomic.Bool
		down.Store(true)
		store.setFail(func([]agora.Event) error {
			if down.Load() {
				return agora.Unavailable(time.Second, "down")
			}
			return nil
		})
		b := persist.NewBatcher(store, persist.Config{CommitTimeout: 50 * time.Millisecond, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond})
		first := write(t, b, vote("c", 0))
		time.Sleep(10 * time.Millisecond) // the first write is being retried: the next ones queue behind it
		var later []<-chan error
		for i := range 5 {
			later = append(later, write(t, b, vote("c", i+1)))
		}
		for _, ch := range append(later, first) {
			select {
			case err := <-ch:
				if agora.ErrorCode(err) != agora.EUNAVAILABLE {
					t.Fatalf("err = %v, want EUNAVAILABLE", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a queued write was not answered at its deadline")
			}
		}
		down.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if _, events := store.committed(); len(events) != 6 {
			t.Fatalf("committed %d events after recovery, want 6", len(events))
		}
		b.Close(context.Background())
	})

	t.Run("a permanent error discards only the conversation that caused it", func(t *testing.T) {
		store := &memStore{}
		store.setFail(func(events []agora.Event) error {
			for _, e := range events {
				if e.ConversationID == "bad" {
					return agora.Errorf(agora.EINVALID, "constraint")
				}
			}
			return nil
		})
		var dropped []string
		var mu sync.Mutex
		b := persist.NewBatcher(store, persist.Config{FlushInterval: 20 * time.Millisecond, OnDrop: func(cid string, err error) {
			mu.Lock()
			dropped = append(dropped, cid)
			mu.Unlock()
		}})
		good := write(t, b, vote("good", 1))
		bad := write(t, b, vote("bad", 2))
		good2 := write(t, b, vote("good2", 3))
		if err := <-good; err != nil {
			t.Errorf("good: %v", err)
		}
		if err := <-good2; err != nil {
			t.Errorf("good2: %v", err)
		}
		if err := <-bad; agora.ErrorCode(err) != agora.EINVALID {
			t.Errorf("bad: %v, want EINVALID", err)
		}
		b.Close(context.Background())
		mu.Lock()
		defer mu.Unlock()
		if len(dropped) != 1 || dropped[0] != "bad" {
			t.Errorf("dropped = %v, want [bad]", dropped)
		}
		if _, events := store.committed(); len(events) != 2 {
			t.Errorf("committed %d events, want 2", len(events))
		}
	})

	t.Run("a full backlog refuses reservations with 503", func(t *testing.T) {
		store := &memStore{}
		block := make(chan struct{})
		store.setFail(func([]agora.Event) error { <-block; return nil })
		b := persist.NewBatcher(store, persist.Config{MaxPending: 3})
		for range 3 {
			if err := b.TryReserve(1); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.TryReserve(1); agora.ErrorCode(err) != agora.EUNAVAILABLE || agora.ErrorRetryAfter(err) <= 0 {
			t.Fatalf("err = %v, want EUNAVAILABLE with Retry-After", err)
		}
		b.Release(3)
		if err := b.TryReserve(1); err != nil {
			t.Fatalf("after release: %v", err)
		}
		b.Release(1)
		close(block)
		b.Close(context.Background())
	})

	t.Run("Close commits what is pending and then refuses writes", func(t *testing.T) {
		store := &memStore{}
		b := persist.NewBatcher(store, persist.Config{FlushInterval: time.Hour, MaxBatch: 1 << 20})
		ch := write(t, b, vote("c", 1))
		if err := b.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
		if err := b.TryReserve(1); agora.ErrorCode(err) != agora.EUNAVAILABLE {
			t.Fatalf("after close: %v", err)
		}
	})

	t.Run("Close reports what could not be committed by the deadline", func(t *testing.T) {
		store := &memStore{}
		store.setFail(func([]agora.Event) error { return errors.New("connection refused") })
		b := persist.NewBatcher(store, persist.Config{RetryMin: time.Millisecond})
		write(t, b, vote("c", 1))
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := b.Close(ctx); err == nil {
			t.Fatal("Close succeeded with an uncommitted event")
		}
	})
}
