package actors

import (
	"context"
	"time"

	"github.com/agora-dev/agora"
)

// typed sends a command and asserts its result type.
func typed[T any](m *Manager, ctx context.Context, cid string, cmd command) (T, error) {
	v, err := m.request(ctx, cid, cmd)
	if err != nil {
		var zero T
		return zero, err
	}
	t, _ := v.(T)
	return t, nil
}

// CreateConversation implements agora.ConversationService: the state is
// built here, the actor spawned with it, and the actor then emits the
// creation events, so the conversation is live before it is durable and
// answered only once it is.
func (m *Manager) CreateConversation(ctx context.Context, caller agora.Caller, in agora.NewConversation) (*agora.Conversation, error) {
	if err := requireParticipant(caller); err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	id, err := m.newOwnedID()
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	c := agora.Conversation{
		ID:        id,
		Title:     in.Title,
		Body:      in.Body,
		AuthorID:  caller.ParticipantID,
		CreatedAt: now,
		IsIndexed: in.IsIndexed,
	}
	c.LastReactedAt = now
	s := newConversation(c)
	for _, text := range in.SeedOpinions {
		s.addOpinion(agora.Opinion{
			ID: agora.NewID(10), ConversationID: c.ID, AuthorID: caller.ParticipantID,
			Text: text, CreatedAt: now, IsSeed: true, Status: agora.StatusVisible,
		})
	}
	h := &handle{cid: c.ID, ready: make(chan struct{}), stopped: make(chan struct{}), epoch: 1}
	h.lastActive.Store(now.UnixNano())
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, agora.Unavailable(time.Second, "The server is shutting down.")
	}
	m.actors[c.ID] = h
	h.inflight.Add(1)
	m.mu.Unlock()
	defer h.inflight.Add(-1)
	m.spawn(h, s)
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	v, err := m.send(ctx, h, announceCreated{seeds: len(in.SeedOpinions)})
	if err != nil {
		return nil, err
	}
	return v.(*agora.Conversation), nil
}

// Conversation implements agora.ConversationService.
func (m *Manager) Conversation(ctx context.Context, id string) (*agora.Conversation, error) {
	return typed[*agora.Conversation](m, ctx, id, getConversation{})
}

// ListConversations implements agora.ConversationService from the store,
// whose counters are committed in the same transactions as the writes.
func (m *Manager) ListConversations(ctx context.Context, q agora.ConversationQuery) (*agora.ConversationPage, error) {
	return m.store.ListConversations(ctx, q)
}

// DeleteConversation implements agora.ConversationService. Once the
// deletion is committed the actor is retired; the store answers ENOTFOUND
// from then on.
func (m *Manager) DeleteConversation(ctx context.Context, caller agora.Caller, id string) error {
	if _, err := m.request(ctx, id, deleteConversation{caller: caller}); err != nil {
		return err
	}
	go m.Passivate(context.Background(), id)
	return nil
}

// CreateOpinion implements agora.ConversationService.
func (m *Manager) CreateOpinion(ctx context.Context, caller agora.Caller, cid, text string) (*agora.OpinionView, error) {
	if err := requireParticipant(caller); err != nil {
		return nil, err
	}
	text, err := agora.CheckText("text", text, 1, agora.MaxOpinionText)
	if err != nil {
		return nil, err
	}
	return typed[*agora.OpinionView](m, ctx, cid, createOpinion{caller: caller, text: text})
}

// Opinion implements agora.ConversationService.
func (m *Manager) Opinion(ctx context.Context, caller agora.Caller, cid, oid string) (*agora.OpinionView, error) {
	return typed[*agora.OpinionView](m, ctx, cid, getOpinion{caller: caller, oid: oid})
}

// Opinions implements agora.ConversationService.
func (m *Manager) Opinions(ctx context.Context, caller agora.Caller, cid string, q agora.OpinionQuery) (*agora.OpinionPage, error) {
	// An order of the analysis is sorted by its first reader: here, on the
	// request's goroutine, rather than on the actor, which would hold every
	// write of the conversation meanwhile.
	v, err := m.requestAfter(ctx, cid, listOpinions{caller: caller, q: q}, func(h *handle) {
		if a := h.analysis.Load(); a != nil {
			a.order(q.Sort)
		}
	})
	if err != nil {
		return nil, err
	}
	page, _ := v.(*agora.OpinionPage)
	return page, nil
}

// DeleteOpinion implements agora.ConversationService.
func (m *Manager) DeleteOpinion(ctx context.Context, caller agora.Caller, cid, oid string) error {
	_, err := m.request(ctx, cid, deleteOpinion{caller: caller, oid: oid})
	return err
}

// NextOpinion implements agora.ConversationService.
func (m *Manager) NextOpinion(ctx context.Context, caller agora.Caller, cid string) (*agora.OpinionView, error) {
	if err := requireParticipant(caller); err != nil {
		return nil, err
	}
	return typed[*agora.OpinionView](m, ctx, cid, nextOpinion{caller: caller})
}

// Vote implements agora.ConversationService.
func (m *Manager) Vote(ctx context.Context, caller agora.Caller, cid, oid string, v agora.Vote) (*agora.VoteResult, error) {
	if err := requireParticipant(caller); err != nil {
		return nil, err
	}
	return typed[*agora.VoteResult](m, ctx, cid, castVote{caller: caller, oid: oid, vote: v})
}

// CancelVote implements agora.ConversationService.
func (m *Manager) CancelVote(ctx context.Context, caller agora.Caller, cid, oid string) error {
	if err := requireParticipant(caller); err != nil {
		return err
	}
	_, err := m.request(ctx, cid, cancelVote{caller: caller, oid: oid})
	return err
}

// MyVotes implements agora.ConversationService.
func (m *Manager) MyVotes(ctx context.Context, caller agora.Caller, cid string) ([]agora.VoteEntry, error) {
	if err := requireParticipant(caller); err != nil {
		return nil, err
	}
	return typed[[]agora.VoteEntry](m, ctx, cid, myVotes{caller: caller})
}

// Lock implements agora.ConversationService.
func (m *Manager) Lock(ctx context.Context, caller agora.Caller, cid string, in agora.LockInput) (*agora.Conversation, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	return typed[*agora.Conversation](m, ctx, cid, lockConversation{caller: caller, in: &in})
}

// Unlock implements agora.ConversationService.
func (m *Manager) Unlock(ctx context.Context, caller agora.Caller, cid string) (*agora.Conversation, error) {
	return typed[*agora.Conversation](m, ctx, cid, lockConversation{caller: caller})
}

// Moderate implements agora.ConversationService.
func (m *Manager) Moderate(ctx context.Context, caller agora.Caller, cid, oid string, in agora.ModerationInput) (*agora.OpinionView, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	return typed[*agora.OpinionView](m, ctx, cid, moderateOpinion{caller: caller, oid: oid, in: &in})
}

// Unmoderate implements agora.ConversationService.
func (m *Manager) Unmoderate(ctx context.Context, caller agora.Caller, cid, oid string) (*agora.OpinionView, error) {
	return typed[*agora.OpinionView](m, ctx, cid, moderateOpinion{caller: caller, oid: oid})
}

// ActorState implements agora.ConversationService, activating the
// conversation if needed.
func (m *Manager) ActorState(ctx context.Context, cid string) (*agora.ActorState, error) {
	h, release, err := m.live(ctx, cid)
	if err != nil {
		return nil, err
	}
	defer release()
	st := h.state()
	locked := h.locked.Load()
	st.Locked = &locked
	return &st, nil
}

// Actors implements agora.ConversationService.
func (m *Manager) Actors(context.Context) []agora.ActorState {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]agora.ActorState, 0, len(m.actors))
	for _, h := range m.actors {
		if h.loaded() && !h.stopping {
			out = append(out, h.state())
		}
	}
	return out
}

// Analysis implements agora.ConversationService. The analysis is read from
// the handle, where the actor publishes each new one; right after an
// activation the first run is awaited briefly rather than answering an
// empty analysis for a conversation that has votes.
func (m *Manager) Analysis(ctx context.Context, cid string, withParticipants bool) ([]byte, error) {
	h, release, err := m.live(ctx, cid)
	if err != nil {
		return nil, err
	}
	defer release()
	a := h.analysis.Load()
	for wait := time.Now().Add(2 * time.Second); a == nil && h.votes.Load() > 0 && time.Now().Before(wait); a = h.analysis.Load() {
		time.Sleep(5 * time.Millisecond)
	}
	if a == nil {
		return emptyAnalysis(cid, withParticipants), nil
	}
	if !withParticipants {
		return a.plainBody()
	}
	var ext map[string]string
	if a.imported() {
		if ext, err = m.voterExternalIDs(ctx, h); err != nil {
			return nil, err
		}
	}
	return a.fullBody(ext)
}

// voterExternalIDs returns the Polis ids of an imported conversation's
// participants, read from the store by the first request that shows them
// and kept for the incarnation: imported participants have no token, so
// the set never changes, and activation does not pay for a query most
// conversations never need.
func (m *Manager) voterExternalIDs(ctx context.Context, h *handle) (map[string]string, error) {
	h.extMu.Lock()
	defer h.extMu.Unlock()
	if h.ext != nil {
		return h.ext, nil
	}
	ext := map[string]string{}
	err := m.store.ConversationParticipants(ctx, h.cid, func(p agora.Participant) error {
		if p.ExternalID != "" {
			ext[p.ID] = p.ExternalID
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	h.ext = ext
	return ext, nil
}

// live returns the handle of a live (activated, undeleted) conversation for
// reads of what its actor publishes; release must be called after.
func (m *Manager) live(ctx context.Context, cid string) (*handle, func(), error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	h, err := m.acquire(ctx, cid)
	if err != nil {
		return nil, nil, err
	}
	if _, err := m.send(ctx, h, getConversation{}); err != nil {
		h.inflight.Add(-1)
		return nil, nil, err
	}
	return h, func() { h.inflight.Add(-1) }, nil
}

// newOwnedID draws conversation ids until this node owns one, so that a
// conversation is created where it will live (about n draws for n nodes).
// A node that owns nothing (joining or draining) cannot create.
func (m *Manager) newOwnedID() (string, error) {
	for range 10_000 {
		id := agora.NewID(10)
		if p := m.cfg.Placement; p == nil || p.Owns(id) {
			return id, nil
		}
	}
	return "", agora.Unavailable(time.Second, "This node is not serving conversations; try again shortly.")
}

// Subscribe opens a live-update stream of a conversation, resuming after
// lastEventID when the node still holds what followed it (else the
// backlog starts with a reset event). The subscription holds no command
// slot: it only listens.
func (m *Manager) Subscribe(ctx context.Context, cid, lastEventID string) (*Subscription, error) {
	h, release, err := m.live(ctx, cid)
	if err != nil {
		return nil, err
	}
	defer release()
	return h.hub.subscribe(lastEventID)
}
