package agora

import (
	"context"
	"time"
)

// ConversationService is what the HTTP layer asks of conversations. The
// actor manager implements it on one node; the cluster router implements
// it by forwarding to the owner. Methods return EINVALID, EFORBIDDEN,
// ENOTFOUND, EMODERATED, ELOCKED, ERATELIMITED (admission) and
// EUNAVAILABLE (store or backlog) as documented on each.
type ConversationService interface {
	// CreateConversation creates a conversation and its seed opinions.
	CreateConversation(ctx context.Context, caller Caller, in NewConversation) (*Conversation, error)
	// Conversation returns a conversation with its exact counters.
	Conversation(ctx context.Context, id string) (*Conversation, error)
	// ListConversations lists indexed, unlocked conversations.
	ListConversations(ctx context.Context, q ConversationQuery) (*ConversationPage, error)
	// DeleteConversation deletes a conversation (author or admin).
	DeleteConversation(ctx context.Context, caller Caller, id string) error

	// CreateOpinion posts an opinion with its author's agree vote.
	CreateOpinion(ctx context.Context, caller Caller, cid, text string) (*OpinionView, error)
	// Opinion returns one visible or moved opinion; a hidden one only to
	// those who may moderate the conversation (ENOTFOUND to others).
	Opinion(ctx context.Context, caller Caller, cid, oid string) (*OpinionView, error)
	// Opinions returns a page of opinions; hidden ones to moderators only.
	Opinions(ctx context.Context, caller Caller, cid string, q OpinionQuery) (*OpinionPage, error)
	// DeleteOpinion deletes an opinion (its author, a moderator, or admin).
	DeleteOpinion(ctx context.Context, caller Caller, cid, oid string) error
	// NextOpinion draws a visible opinion the caller has not voted on; nil
	// when none is left.
	NextOpinion(ctx context.Context, caller Caller, cid string) (*OpinionView, error)

	// Vote casts or changes the caller's vote.
	Vote(ctx context.Context, caller Caller, cid, oid string, v Vote) (*VoteResult, error)
	// CancelVote withdraws the caller's vote, if any.
	CancelVote(ctx context.Context, caller Caller, cid, oid string) error
	// MyVotes lists the caller's current votes in a conversation.
	MyVotes(ctx context.Context, caller Caller, cid string) ([]VoteEntry, error)

	// Lock and Unlock stop and restart new opinions and votes.
	Lock(ctx context.Context, caller Caller, cid string, in LockInput) (*Conversation, error)
	Unlock(ctx context.Context, caller Caller, cid string) (*Conversation, error)
	// Moderate moves or hides an opinion; Unmoderate makes it visible again.
	Moderate(ctx context.Context, caller Caller, cid, oid string, in ModerationInput) (*OpinionView, error)
	Unmoderate(ctx context.Context, caller Caller, cid, oid string) (*OpinionView, error)

	// Analysis returns the latest analysis of a conversation as the JSON
	// analysis object of the API, with each participant's place when
	// withParticipants is set. It is computed beside the write path and
	// trails the votes by about a second at most.
	Analysis(ctx context.Context, cid string, withParticipants bool) ([]byte, error)

	// ActorState describes the live actor of a conversation, activating it.
	ActorState(ctx context.Context, cid string) (*ActorState, error)
	// Actors describes every live actor of this node.
	Actors(ctx context.Context) []ActorState
	// Passivate flushes and stops a conversation's actor.
	Passivate(ctx context.Context, cid string) error
}

// ActorState is what the admin API shows of a live conversation actor.
type ActorState struct {
	ConversationID string    `json:"conversation_id"`
	Opinions       int       `json:"opinions"`
	Votes          int       `json:"votes"`
	Participants   int       `json:"participants"`
	PendingWrites  int       `json:"pending_writes"`
	Mailbox        int       `json:"mailbox"`
	LastActiveAt   time.Time `json:"last_active_at"`
	AnalysisVotes  int       `json:"analysis_votes"`
	Epoch          int64     `json:"epoch"`
	// Streams counts the open live-update streams of the conversation.
	Streams int    `json:"streams"`
	Locked  *bool  `json:"locked,omitempty"`
	Owner   string `json:"owner,omitempty"`
}

// Placement says which conversations this node owns. A single node owns
// them all; in a cluster, rendezvous hashing over the serving members
// decides, and the store's ownership epoch fences off a node whose view is
// stale.
type Placement interface {
	// Owns reports whether this node owns the conversation now.
	Owns(cid string) bool
}
