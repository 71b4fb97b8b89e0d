package storetest

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/agora-dev/agora"
)

// model is an independent, in-memory account of conversations that random
// batches of events change, as the actors would: it emits only the events
// an actor would (no vote on a moderated or deleted opinion, no cancel
// without a vote) and computes the counters from its own state, so that a
// store's rows can be checked against it.
type model struct {
	f             *fixture
	conversations []*agora.Conversation
	participants  []*agora.Participant
	opinions      map[string][]*agora.Opinion // by conversation, in seq order
	votes         map[modelKey]agora.StoredVote
	lastReacted   map[string]time.Time
}

type modelKey struct{ conversation, opinion, participant string }

// newModel applies conversations, participants and opinions per
// conversation, in one batch.
func newModel(f *fixture, conversations, participants, opinions int) *model {
	f.t.Helper()
	m := &model{f: f, opinions: map[string][]*agora.Opinion{}, votes: map[modelKey]agora.StoredVote{},
		lastReacted: map[string]time.Time{}}
	var events []agora.Event
	for range participants {
		p := f.participant()
		m.participants = append(m.participants, p)
		events = append(events, ParticipantCreated(p))
	}
	for i := range conversations {
		c := f.conversation(m.participants[i%participants].ID)
		m.conversations = append(m.conversations, c)
		m.lastReacted[c.ID] = c.CreatedAt
		events = append(events, ConversationCreated(c))
		for j := range opinions {
			o := f.opinion(c, m.participants[j%participants].ID)
			o.IsSeed = j < 2
			m.opinions[c.ID] = append(m.opinions[c.ID], o)
			events = append(events, OpinionCreated(o))
		}
	}
	f.apply(events...)
	return m
}

// batch makes about n random changes and returns their events, ending with
// the counters of every conversation it touched. With wrongCounts the
// counters carry made-up counts (and the right LastReactedAt), so that only
// a true recount can match the model.
func (m *model) batch(rng *rand.Rand, n int, wrongCounts bool) []agora.Event {
	var events []agora.Event
	touched := map[string]bool{}
	var order []string
	touch := func(cid string, at time.Time, reacted bool) {
		if !touched[cid] {
			touched[cid] = true
			order = append(order, cid)
		}
		if reacted {
			m.lastReacted[cid] = at
		}
	}
	for range n {
		c := m.conversations[rng.IntN(len(m.conversations))]
		ops := m.opinions[c.ID]
		o := ops[rng.IntN(len(ops))]
		p := m.participants[rng.IntN(len(m.participants))]
		k := modelKey{c.ID, o.ID, p.ID}
		at := m.f.tick()
		open := !o.Deleted && o.Status == agora.StatusVisible
		switch r := rng.IntN(100); {
		case r < 65: // cast or change
			v := agora.Vote(rng.IntN(3) - 1)
			if old, ok := m.votes[k]; !open || (ok && old.Vote == v) {
				continue
			}
			m.votes[k] = agora.StoredVote{ParticipantID: p.ID, OpinionID: o.ID, Vote: v, At: at}
			events = append(events, VoteCast(c.ID, p.ID, o.ID, v, at))
			touch(c.ID, at, true)
		case r < 80: // cancel
			if _, ok := m.votes[k]; !open || !ok {
				continue
			}
			delete(m.votes, k)
			events = append(events, VoteCancelled(c.ID, p.ID, o.ID, at))
			touch(c.ID, at, true)
		case r < 88: // moderate, or withdraw a moderation
			if o.Deleted {
				continue
			}
			if o.Status == agora.StatusVisible {
				o.Status = []agora.OpinionStatus{agora.StatusMoved, agora.StatusHidden}[rng.IntN(2)]
				o.Moderation = &agora.Moderation{Reason: agora.ReasonSpam, Explanation: "Model.", At: at}
			} else {
				o.Status, o.Moderation = agora.StatusVisible, nil
			}
			events = append(events, OpinionModerated(c.ID, o))
			touch(c.ID, at, false)
		case r < 91: // delete
			if o.Deleted {
				continue
			}
			o.Deleted = true
			events = append(events, OpinionDeleted(c.ID, o.ID, at))
			touch(c.ID, at, false)
		default: // a new opinion with its author's agree vote
			no := m.f.opinion(c, p.ID)
			m.opinions[c.ID] = append(m.opinions[c.ID], no)
			m.votes[modelKey{c.ID, no.ID, p.ID}] = agora.StoredVote{ParticipantID: p.ID, OpinionID: no.ID, Vote: agora.Agree, At: no.CreatedAt}
			events = append(events, OpinionCreated(no), VoteCast(c.ID, p.ID, no.ID, agora.Agree, no.CreatedAt))
			touch(c.ID, no.CreatedAt, true)
		}
	}
	for i, cid := range order {
		counters := m.counters(cid)
		if wrongCounts {
			counters.OpinionCount, counters.VoteCount, counters.ParticipantCount = 1000+i, 2000+i, 3000+i
		}
		events = append(events, Counters(cid, counters))
	}
	return events
}

// counters computes a conversation's counters from the model's state, under
// the definitions of agora.Counters.
func (m *model) counters(cid string) agora.Counters {
	counted := map[string]bool{}
	c := agora.Counters{LastReactedAt: m.lastReacted[cid]}
	for _, o := range m.opinions[cid] {
		if !o.Deleted && o.Status == agora.StatusVisible {
			counted[o.ID] = true
			c.OpinionCount++
		}
	}
	voters := map[string]bool{}
	for k := range m.votes {
		if k.conversation == cid && counted[k.opinion] {
			c.VoteCount++
			voters[k.participant] = true
		}
	}
	c.ParticipantCount = len(voters)
	return c
}

// check compares a loaded conversation's opinions and votes with the model.
func (m *model) check(t *testing.T, r *recorder) {
	t.Helper()
	cid := r.conversation.ID
	var want []agora.Opinion
	for _, o := range m.opinions[cid] {
		want = append(want, *o)
	}
	wantOpinions(t, r.opinions, want...)
	var votes []agora.StoredVote
	for k, v := range m.votes {
		if k.conversation == cid {
			votes = append(votes, v)
		}
	}
	wantVotes(t, r.votes, votes...)
}
