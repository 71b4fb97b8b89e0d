package actors

import (
	"context"
	"sync"
	"time"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/persist"
)

// Participants creates and authenticates participants. Participants are
// not owned by any conversation, so they have no actor: their writes go
// straight to the batcher (and are answered after the commit) and a cache
// keyed by token hash keeps authentication off the store.
type Participants struct {
	store   agora.Store
	batcher *persist.Batcher

	// ttl bounds how long a cached participant is trusted: in a cluster a
	// role changed through another node reaches this one's cache within
	// it. 0 trusts the cache until the participant changes here (one node).
	ttl time.Duration

	mu       sync.RWMutex
	byHash   map[[32]byte]*agora.Participant // immutable values: replaced, never changed
	byID     map[string]*agora.Participant
	cachedAt map[string]time.Time // by participant id
}

// maxCachedParticipants bounds the cache; past it the cache starts over
// and refills from the store on demand.
const maxCachedParticipants = 1 << 20

var _ agora.ParticipantService = (*Participants)(nil)

// NewParticipants returns the participant service of a node.
func NewParticipants(store agora.Store, batcher *persist.Batcher) *Participants {
	return &Participants{
		store:    store,
		batcher:  batcher,
		byHash:   map[[32]byte]*agora.Participant{},
		byID:     map[string]*agora.Participant{},
		cachedAt: map[string]time.Time{},
	}
}

// WithCacheTTL makes cached participants expire after d, so that a role
// changed on another node of a cluster takes effect here within d.
func (ps *Participants) WithCacheTTL(d time.Duration) *Participants {
	ps.ttl = d
	return ps
}

// fresh reports whether a cached participant may still be trusted; ps.mu
// must be held.
func (ps *Participants) fresh(id string) bool {
	return ps.ttl <= 0 || time.Since(ps.cachedAt[id]) < ps.ttl
}

func (ps *Participants) remember(p *agora.Participant) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if len(ps.byID) >= maxCachedParticipants {
		ps.byHash = map[[32]byte]*agora.Participant{}
		ps.byID = map[string]*agora.Participant{}
		ps.cachedAt = map[string]time.Time{}
	}
	ps.cachedAt[p.ID] = time.Now()
	if old := ps.byID[p.ID]; old != nil {
		delete(ps.byHash, old.TokenHash)
	}
	ps.byID[p.ID] = p
	if p.TokenHash != ([32]byte{}) {
		ps.byHash[p.TokenHash] = p
	}
}

// CreateParticipant implements agora.ParticipantService.
func (ps *Participants) CreateParticipant(ctx context.Context, displayName string) (*agora.Participant, string, error) {
	name, err := agora.CheckText("display_name", displayName, 0, agora.MaxDisplayName)
	if err != nil {
		return nil, "", err
	}
	token := agora.NewToken()
	p := &agora.Participant{
		ID:          agora.NewID(12),
		DisplayName: name,
		Role:        agora.RoleParticipant,
		CreatedAt:   time.Now().UTC().Truncate(time.Microsecond),
		TokenHash:   agora.HashToken(token),
	}
	ev := agora.Event{Kind: agora.EventParticipantCreated, At: p.CreatedAt, Participant: p}
	if err := ps.batcher.Write(ctx, []agora.Event{ev}); err != nil {
		return nil, "", err
	}
	ps.remember(p)
	c := *p
	return &c, token, nil
}

// Authenticate implements agora.ParticipantService.
func (ps *Participants) Authenticate(ctx context.Context, token string) (*agora.Participant, error) {
	hash := agora.HashToken(token)
	ps.mu.RLock()
	fresh, stale := ps.split(ps.byHash[hash])
	ps.mu.RUnlock()
	p, err := ps.freshOrLoad(fresh, stale, func() (*agora.Participant, error) { return ps.store.ParticipantByTokenHash(ctx, hash) })
	if agora.ErrorCode(err) == agora.ENOTFOUND {
		return nil, agora.Errorf(agora.EUNAUTHENTICATED, "Unknown token.")
	}
	return p, err
}

// Participant implements agora.ParticipantService.
func (ps *Participants) Participant(ctx context.Context, id string) (*agora.Participant, error) {
	ps.mu.RLock()
	fresh, stale := ps.split(ps.byID[id])
	ps.mu.RUnlock()
	return ps.freshOrLoad(fresh, stale, func() (*agora.Participant, error) { return ps.store.Participant(ctx, id) })
}

// split tells a cached participant (nil: none) fresh or stale; ps.mu held.
func (ps *Participants) split(p *agora.Participant) (fresh, stale *agora.Participant) {
	if p != nil && !ps.fresh(p.ID) {
		return nil, p
	}
	return p, nil
}

// freshOrLoad returns a copy of the fresh cached participant, else of the
// one load reads from the store (and caches). While the store fails (any
// error but ENOTFOUND), the stale entry it would refresh is still the best
// there is (no role can change meanwhile), so the reads a node serves from
// memory go on through a store outage.
func (ps *Participants) freshOrLoad(fresh, stale *agora.Participant, load func() (*agora.Participant, error)) (*agora.Participant, error) {
	p := fresh
	if p == nil {
		var err error
		switch p, err = load(); {
		case err != nil && stale != nil && agora.ErrorCode(err) != agora.ENOTFOUND:
			p = stale
		case err != nil:
			return nil, err
		default:
			ps.remember(p)
		}
	}
	c := *p
	return &c, nil
}

// SetRole implements agora.ParticipantService.
func (ps *Participants) SetRole(ctx context.Context, id string, role agora.Role) (*agora.Participant, error) {
	if !role.Valid() {
		return nil, agora.Errorf(agora.EINVALID, "role must be participant or moderator.")
	}
	p, err := ps.Participant(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.Role == role {
		return p, nil
	}
	p.Role = role
	ev := agora.Event{Kind: agora.EventRoleChanged, At: time.Now().UTC().Truncate(time.Microsecond), Participant: p}
	if err := ps.batcher.Write(ctx, []agora.Event{ev}); err != nil {
		return nil, err
	}
	ps.remember(p)
	c := *p
	return &c, nil
}
