package agora

import "time"

// EventKind names a change that must reach the store.
type EventKind uint8

// Event kinds. Each carries the fields named beside it.
const (
	// EventParticipantCreated: Participant.
	EventParticipantCreated EventKind = iota + 1
	// EventRoleChanged: Participant (ID and Role).
	EventRoleChanged
	// EventConversationCreated: Conversation.
	EventConversationCreated
	// EventConversationDeleted: ConversationID.
	EventConversationDeleted
	// EventLocked: Lock. EventUnlocked: nothing else.
	EventLocked
	EventUnlocked
	// EventOpinionCreated: Opinion.
	EventOpinionCreated
	// EventOpinionModerated: Opinion (ID, Status, Moderation); a status of
	// visible withdraws the moderation.
	EventOpinionModerated
	// EventOpinionDeleted: Opinion (ID).
	EventOpinionDeleted
	// EventVoteCast: Vote (a new or changed vote).
	EventVoteCast
	// EventVoteCancelled: Vote (ParticipantID, OpinionID).
	EventVoteCancelled
	// EventCounters: Counters, absolute values; only the latest of a batch
	// per conversation needs writing.
	EventCounters
)

var eventKindNames = [...]string{"", "participant_created", "role_changed", "conversation_created",
	"conversation_deleted", "locked", "unlocked", "opinion_created", "opinion_moderated",
	"opinion_deleted", "vote_cast", "vote_cancelled", "counters"}

// String names the kind for logs and the vote history.
func (k EventKind) String() string {
	if int(k) < len(eventKindNames) {
		return eventKindNames[k]
	}
	return "unknown"
}

// Event is one change on its way to the store through the write-behind
// batcher. Events of one conversation are appended by its actor in the
// order they were applied, and the store applies a batch in order, in one
// transaction.
type Event struct {
	Kind EventKind
	// ConversationID is empty for participant events.
	ConversationID string
	// Epoch is the ownership epoch of the actor that emitted the event (0
	// for participant events). The store commits a conversation's events
	// only while its epoch is still this one, so a node that lost a
	// conversation can never commit for it (fencing).
	Epoch int64
	At    time.Time

	Participant  *Participant
	Conversation *Conversation
	Lock         *Lock
	Opinion      *Opinion
	Vote         StoredVote
	Counters     Counters
}

// CheckEvents rejects (EINVALID), before a store writes anything, a batch
// with an event that lacks what its kind needs: such a batch would fail,
// or panic, halfway otherwise. Every store calls it first in Apply.
func CheckEvents(events []Event) error {
	for i := range events {
		ev := &events[i]
		missing := ""
		switch ev.Kind {
		case EventParticipantCreated, EventRoleChanged:
			if ev.Participant == nil || ev.Participant.ID == "" {
				missing = "participant"
			}
		case EventConversationCreated:
			if ev.Conversation == nil || ev.Conversation.ID == "" {
				missing = "conversation"
			}
		case EventConversationDeleted, EventUnlocked, EventCounters:
			if ev.ConversationID == "" {
				missing = "conversation id"
			}
		case EventLocked:
			if ev.ConversationID == "" || ev.Lock == nil {
				missing = "conversation id or lock"
			}
		case EventOpinionCreated, EventOpinionModerated, EventOpinionDeleted:
			if ev.Opinion == nil || ev.Opinion.ID == "" {
				missing = "opinion"
			}
		case EventVoteCast, EventVoteCancelled:
			if ev.ConversationID == "" || ev.Vote.OpinionID == "" || ev.Vote.ParticipantID == "" {
				missing = "conversation, opinion or participant id"
			}
		default:
			return Errorf(EINVALID, "Event %d has unknown kind %d.", i, ev.Kind)
		}
		if missing != "" {
			return Errorf(EINVALID, "Event %d (%s) lacks its %s.", i, ev.Kind, missing)
		}
	}
	return nil
}
