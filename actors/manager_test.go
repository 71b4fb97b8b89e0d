package actors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/persist"
	"github.com/agora-dev/agora/persist/sqlite"
)

// spyStore is the real SQLite store with counted activations and an
// injectable Apply failure.
type spyStore struct {
	*sqlite.DB
	loads atomic.Int32
	fail  atomic.Pointer[func([]agora.Event) error]
}

func (s *spyStore) LoadConversation(ctx context.Context, id string, sink agora.ConversationSink) error {
	s.loads.Add(1)
	return s.DB.LoadConversation(ctx, id, sink)
}

func (s *spyStore) Apply(ctx context.Context, events []agora.Event) error {
	if f := s.fail.Load(); f != nil {
		if err := (*f)(events); err != nil {
			return err
		}
	}
	return s.DB.Apply(ctx, events)
}

func mustOpenManager(tb testing.TB, cfg Config) (*Manager, *spyStore) {
	return mustOpenManagerWith(tb, cfg, persist.Config{})
}

func mustOpenManagerWith(tb testing.TB, cfg Config, bcfg persist.Config) (*Manager, *spyStore) {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "agora.db"))
	if err != nil {
		tb.Fatal(err)
	}
	store := &spyStore{DB: db}
	var m *Manager
	bcfg.Logger = quiet
	bcfg.OnDrop = func(cid string, err error) { go m.Drop(cid, err) }
	b := persist.NewBatcher(store, bcfg)
	cfg.Logger = quiet
	m, err = NewManager(store, b, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	// The store keeps votes of known participants only.
	var events []agora.Event
	for _, id := range []string{alice.ParticipantID, bob.ParticipantID} {
		events = append(events, agora.Event{Kind: agora.EventParticipantCreated, Participant: &agora.Participant{ID: id, Role: agora.RoleParticipant, CreatedAt: time.Now().UTC()}})
	}
	if err := b.Write(context.Background(), events); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx := context.Background()
		if err := m.Close(ctx); err != nil {
			tb.Error(err)
		}
		if err := b.Close(ctx); err != nil {
			tb.Error(err)
		}
		db.Close()
	})
	return m, store
}

// checkFor retries check until it succeeds or the time is up.
func checkFor(tb testing.TB, total time.Duration, check func() error) {
	tb.Helper()
	deadline := time.Now().Add(total)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var (
	alice = agora.Caller{ParticipantID: "alice"}
	bob   = agora.Caller{ParticipantID: "bob"}
	admin = agora.Caller{Admin: true}
)

// seedConversation creates a conversation with two opinions and votes.
func seedConversation(t *testing.T, m *Manager) (*agora.Conversation, []string) {
	t.Helper()
	ctx := context.Background()
	c, err := m.CreateConversation(ctx, alice, agora.NewConversation{Title: "t", IsIndexed: true, SeedOpinions: []string{"one", "two"}})
	if err != nil {
		t.Fatal(err)
	}
	page, err := m.Opinions(ctx, alice, c.ID, agora.OpinionQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var oids []string
	for _, o := range page.Items {
		oids = append(oids, o.ID)
		if _, err := m.Vote(ctx, bob, c.ID, o.ID, agora.Disagree); err != nil {
			t.Fatal(err)
		}
	}
	c, err = m.Conversation(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	return c, oids
}

func TestManager(t *testing.T) {
	ctx := context.Background()

	t.Run("concurrent first requests load the conversation once", func(t *testing.T) {
		m, store := mustOpenManager(t, Config{})
		c, _ := seedConversation(t, m)
		if err := m.Passivate(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		store.loads.Store(0)
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := m.Conversation(ctx, c.ID)
				if err != nil {
					t.Error(err)
				} else if got.Counters != c.Counters {
					t.Errorf("counters after reload %+v, want %+v", got.Counters, c.Counters)
				}
			}()
		}
		wg.Wait()
		if n := store.loads.Load(); n != 1 {
			t.Fatalf("%d loads, want 1", n)
		}
	})

	t.Run("a panic answers 503 and the conversation reloads with every committed write", func(t *testing.T) {
		m, _ := mustOpenManager(t, Config{})
		c, _ := seedConversation(t, m)
		_, err := m.request(ctx, c.ID, panicking{})
		if agora.ErrorCode(err) != agora.EUNAVAILABLE {
			t.Fatalf("err = %v, want EUNAVAILABLE", err)
		}
		checkFor(t, 5*time.Second, func() error {
			got, err := m.Conversation(ctx, c.ID)
			if err != nil {
				return err
			}
			if got.Counters != c.Counters {
				return errors.New("counters changed across the reload")
			}
			return nil
		})
	})

	t.Run("past MaxInflight a conversation answers 429 with Retry-After", func(t *testing.T) {
		m, _ := mustOpenManager(t, Config{MaxInflight: 2})
		c, _ := seedConversation(t, m)
		release := make(chan struct{})
		var once sync.Once
		unblock := func() { once.Do(func() { close(release) }) }
		defer unblock()
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m.request(ctx, c.ID, blocking{release})
			}()
		}
		checkFor(t, 5*time.Second, func() error {
			m.mu.Lock()
			defer m.mu.Unlock()
			if n := m.actors[c.ID].inflight.Load(); n != 2 {
				return fmt.Errorf("%d commands in flight, want 2", n)
			}
			return nil
		})
		_, err := m.Conversation(ctx, c.ID)
		if agora.ErrorCode(err) != agora.ERATELIMITED || agora.ErrorRetryAfter(err) <= 0 {
			t.Fatalf("err = %v, want 429 with Retry-After", err)
		}
		unblock()
		wg.Wait()
		if _, err := m.Conversation(ctx, c.ID); err != nil {
			t.Fatalf("after the burst: %v", err)
		}
	})

	t.Run("idle actors are passivated and come back identical", func(t *testing.T) {
		m, store := mustOpenManager(t, Config{IdleTimeout: 30 * time.Millisecond})
		c, _ := seedConversation(t, m)
		checkFor(t, 5*time.Second, func() error {
			if n := len(m.Actors(ctx)); n != 0 {
				return errors.New("actor still live")
			}
			return nil
		})
		before := store.loads.Load()
		got, err := m.Conversation(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Counters != c.Counters || store.loads.Load() != before+1 {
			t.Fatalf("reloaded %+v (loads %d→%d), want %+v", got.Counters, before, store.loads.Load(), c.Counters)
		}
	})

	t.Run("a permanent store error drops the conversation, which reloads as committed", func(t *testing.T) {
		m, _ := mustOpenManager(t, Config{})
		c, oids := seedConversation(t, m)
		fail := func(events []agora.Event) error {
			for _, e := range events {
				if e.Kind == agora.EventOpinionCreated && strings.Contains(e.Opinion.Text, "poison") {
					return agora.Errorf(agora.EINVALID, "rejected")
				}
			}
			return nil
		}
		m.store.(*spyStore).fail.Store(&fail)
		if _, err := m.CreateOpinion(ctx, bob, c.ID, "poison"); agora.ErrorCode(err) != agora.EINVALID {
			t.Fatalf("err = %v, want the permanent error", err)
		}
		m.store.(*spyStore).fail.Store(nil)
		checkFor(t, 5*time.Second, func() error {
			got, err := m.Conversation(ctx, c.ID)
			if err != nil {
				return err
			}
			if got.Counters != c.Counters {
				return errors.New("memory still holds the discarded opinion")
			}
			return nil
		})
		if _, err := m.Vote(ctx, alice, c.ID, oids[0], agora.Pass); err != nil {
			t.Fatalf("writes after the reload: %v", err)
		}
	})

	t.Run("a write fenced off by another owner is refused and the conversation reloads under a new epoch", func(t *testing.T) {
		m, store := mustOpenManager(t, Config{})
		c, oids := seedConversation(t, m)
		before, err := m.ActorState(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.ClaimConversation(ctx, c.ID, "another-node"); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Vote(ctx, alice, c.ID, oids[0], agora.Agree); agora.ErrorCode(err) != agora.EFENCED {
			t.Fatalf("fenced write: %v, want %s", err, agora.EFENCED)
		}
		checkFor(t, 5*time.Second, func() error {
			st, err := m.ActorState(ctx, c.ID)
			if err != nil {
				return err
			}
			if st.Epoch <= before.Epoch+1 {
				return fmt.Errorf("epoch %d, want above %d", st.Epoch, before.Epoch+1)
			}
			return nil
		})
		got, err := m.Conversation(ctx, c.ID)
		if err != nil || got.Counters != c.Counters {
			t.Fatalf("after the reload: %+v, %v; want %+v", got, err, c.Counters)
		}
		if _, err := m.Vote(ctx, alice, c.ID, oids[0], agora.Agree); err != nil {
			t.Fatalf("write after the reload: %v", err)
		}
	})

	t.Run("a write that changes nothing is not acknowledged before the writes it confirms", func(t *testing.T) {
		m, store := mustOpenManagerWith(t, Config{}, persist.Config{CommitTimeout: 100 * time.Millisecond, RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond})
		c, oids := seedConversation(t, m)
		down := func([]agora.Event) error { return agora.Unavailable(time.Second, "down") }
		store.fail.Store(&down)
		if _, err := m.Vote(ctx, alice, c.ID, oids[0], agora.Agree); agora.ErrorCode(err) != agora.EUNAVAILABLE {
			t.Fatalf("vote while the store is down: %v, want 503", err)
		}
		// The retry finds the vote in memory, still uncommitted: no 2xx.
		if res, err := m.Vote(ctx, alice, c.ID, oids[0], agora.Agree); agora.ErrorCode(err) != agora.EUNAVAILABLE {
			t.Fatalf("retry while the store is down: %+v, %v; want 503", res, err)
		}
		store.fail.Store(nil)
		res, err := m.Vote(ctx, alice, c.ID, oids[0], agora.Agree)
		if err != nil || res.Changed {
			t.Fatalf("retry after recovery: %+v, %v; want 200 unchanged", res, err)
		}
	})

	t.Run("deleted conversations answer not found after their actor is gone", func(t *testing.T) {
		m, _ := mustOpenManager(t, Config{})
		c, _ := seedConversation(t, m)
		if err := m.DeleteConversation(ctx, bob, c.ID); agora.ErrorCode(err) != agora.EFORBIDDEN {
			t.Fatalf("delete by a non-author: %v", err)
		}
		if err := m.DeleteConversation(ctx, alice, c.ID); err != nil {
			t.Fatal(err)
		}
		checkFor(t, 5*time.Second, func() error {
			if len(m.Actors(ctx)) != 0 {
				return errors.New("actor still live")
			}
			return nil
		})
		if _, err := m.Conversation(ctx, c.ID); agora.ErrorCode(err) != agora.ENOTFOUND {
			t.Fatalf("after delete: %v", err)
		}
	})
}

type panicking struct{}

func (panicking) writes() int { return 1 }
func (panicking) apply(s *conversation, _ time.Time) (any, []agora.Event, error) {
	s.conv.VoteCount = -999 // a half-applied change the reload must undo
	panic("boom")
}

type blocking struct{ release chan struct{} }

func (blocking) writes() int { return 0 }
func (b blocking) apply(*conversation, time.Time) (any, []agora.Event, error) {
	<-b.release
	return nil, nil, nil
}
