package storetest

import (
	"time"

	"github.com/agora-dev/agora"
)

// The constructors below build events as an actor emits them, each with
// what its kind carries (see agora.EventKind). They copy what they are
// given, as an actor hands the batcher copies: a test may go on changing
// its own values while the event waits to be applied. Stores' own tests
// and benchmarks use them too.

// ParticipantCreated registers p.
func ParticipantCreated(p *agora.Participant) agora.Event {
	c := *p
	return agora.Event{Kind: agora.EventParticipantCreated, At: p.CreatedAt, Participant: &c}
}

// RoleChanged gives participant id a new role.
func RoleChanged(id string, role agora.Role, at time.Time) agora.Event {
	return agora.Event{Kind: agora.EventRoleChanged, At: at, Participant: &agora.Participant{ID: id, Role: role}}
}

// ConversationCreated creates c with its counters and lock.
func ConversationCreated(c *agora.Conversation) agora.Event {
	cp := *c
	if c.Lock != nil {
		l := *c.Lock
		cp.Lock = &l
	}
	return agora.Event{Kind: agora.EventConversationCreated, ConversationID: c.ID, At: c.CreatedAt, Conversation: &cp}
}

// ConversationDeleted deletes conversation cid.
func ConversationDeleted(cid string, at time.Time) agora.Event {
	return agora.Event{Kind: agora.EventConversationDeleted, ConversationID: cid, At: at}
}

// Locked locks conversation cid.
func Locked(cid string, lock *agora.Lock) agora.Event {
	l := *lock
	return agora.Event{Kind: agora.EventLocked, ConversationID: cid, At: lock.At, Lock: &l}
}

// Unlocked unlocks conversation cid.
func Unlocked(cid string, at time.Time) agora.Event {
	return agora.Event{Kind: agora.EventUnlocked, ConversationID: cid, At: at}
}

// OpinionCreated creates o, with its status and moderation.
func OpinionCreated(o *agora.Opinion) agora.Event {
	return agora.Event{Kind: agora.EventOpinionCreated, ConversationID: o.ConversationID, At: o.CreatedAt, Opinion: copyOpinion(o)}
}

// OpinionModerated sets o's status and moderation (withdrawn when the
// status is visible).
func OpinionModerated(cid string, o *agora.Opinion) agora.Event {
	at := o.CreatedAt
	if o.Moderation != nil {
		at = o.Moderation.At
	}
	return agora.Event{Kind: agora.EventOpinionModerated, ConversationID: cid, At: at, Opinion: copyOpinion(o)}
}

// OpinionDeleted deletes opinion oid of conversation cid.
func OpinionDeleted(cid, oid string, at time.Time) agora.Event {
	return agora.Event{Kind: agora.EventOpinionDeleted, ConversationID: cid, At: at,
		Opinion: &agora.Opinion{ID: oid, ConversationID: cid}}
}

// VoteCast records participant pid's vote v on opinion oid, new or changed.
func VoteCast(cid, pid, oid string, v agora.Vote, at time.Time) agora.Event {
	return agora.Event{Kind: agora.EventVoteCast, ConversationID: cid, At: at,
		Vote: agora.StoredVote{ParticipantID: pid, OpinionID: oid, Vote: v, At: at}}
}

// VoteCancelled withdraws participant pid's vote on opinion oid.
func VoteCancelled(cid, pid, oid string, at time.Time) agora.Event {
	return agora.Event{Kind: agora.EventVoteCancelled, ConversationID: cid, At: at,
		Vote: agora.StoredVote{ParticipantID: pid, OpinionID: oid, At: at}}
}

// Counters sets the absolute counters of conversation cid.
func Counters(cid string, c agora.Counters) agora.Event {
	return agora.Event{Kind: agora.EventCounters, ConversationID: cid, At: c.LastReactedAt, Counters: c}
}

func copyOpinion(o *agora.Opinion) *agora.Opinion {
	c := *o
	if o.Moderation != nil {
		m := *o.Moderation
		c.Moderation = &m
	}
	return &c
}
