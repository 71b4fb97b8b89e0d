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
