package actors

import (
	"context"
	"testing"
	"time"

	"github.com/agora-dev/agora"
)

// TestParticipantsCacheTTL: a role changed through another node (here,
// straight in the store) reaches a node whose cache expires.
func TestParticipantsCacheTTL(t *testing.T) {
	ctx := context.Background()
	m, store := mustOpenManager(t, Config{})
	local := NewParticipants(store, m.batcher).WithCacheTTL(20 * time.Millisecond)
	p, token, err := local.CreateParticipant(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := local.Authenticate(ctx, token); err != nil || got.Role != agora.RoleParticipant {
		t.Fatalf("authenticate: %+v, %v", got, err)
	}
	// Another node makes carol a moderator.
	other := NewParticipants(store, m.batcher)
	if _, err := other.SetRole(ctx, p.ID, agora.RoleModerator); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 5*time.Second, func() error {
		got, err := local.Authenticate(ctx, token)
		if err != nil {
			return err
		}
		if got.Role != agora.RoleModerator {
			return agora.Errorf(agora.EINTERNAL, "role %s still cached", got.Role)
		}
		return nil
	})
}

// failingStore is a store whose participant reads fail while fail is set,
// as PostgreSQL's do during an outage.
type failingStore struct {
	agora.Store
	fail bool
}

func (s *failingStore) ParticipantByTokenHash(ctx context.Context, h [32]byte) (*agora.Participant, error) {
	if s.fail {
		return nil, agora.Unavailable(time.Second, "store down")
	}
	return s.Store.ParticipantByTokenHash(ctx, h)
}

func (s *failingStore) Participant(ctx context.Context, id string) (*agora.Participant, error) {
	if s.fail {
		return nil, agora.Unavailable(time.Second, "store down")
	}
	return s.Store.Participant(ctx, id)
}

// TestParticipantsThroughAStoreOutage: once a cached participant is due
// for a refresh, a failing store does not log them out: the cached entry
// serves (a role cannot change while the store fails). A token the node
// never saw still needs the store.
func TestParticipantsThroughAStoreOutage(t *testing.T) {
	ctx := context.Background()
	m, store := mustOpenManager(t, Config{})
	fs := &failingStore{Store: store}
	ps := NewParticipants(fs, m.batcher).WithCacheTTL(time.Millisecond)
	p, token, err := ps.CreateParticipant(ctx, "dana")
	if err != nil {
		t.Fatal(err)
	}
	_, unseen, err := NewParticipants(store, m.batcher).CreateParticipant(ctx, "erin")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // past the TTL: the next read asks the store
	fs.fail = true
	if got, err := ps.Authenticate(ctx, token); err != nil || got.ID != p.ID {
		t.Fatalf("authenticate during the outage: %+v, %v", got, err)
	}
	if got, err := ps.Participant(ctx, p.ID); err != nil || got.ID != p.ID {
		t.Fatalf("participant during the outage: %+v, %v", got, err)
	}
	if _, err := ps.Authenticate(ctx, unseen); agora.ErrorCode(err) != agora.EUNAVAILABLE {
		t.Fatalf("an unseen token during the outage: %v, want unavailable", err)
	}
	fs.fail = false
	if _, err := ps.Authenticate(ctx, unseen); err != nil {
		t.Fatalf("the unseen token after the outage: %v", err)
	}
}
