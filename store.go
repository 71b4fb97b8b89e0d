package agora

import (
	"context"
	"time"
)

// Store is the durable home of everything: participants, conversations,
// opinions, current votes and their history. Writes arrive only as batches
// of events from the write-behind batcher; reads serve activation of a
// conversation, authentication and listings. Implemented by persist/sqlite
// and persist/postgres; one contract suite tests both.
type Store interface {
	// Apply commits a batch of events in one transaction, all or nothing,
	// in order. Errors with code EINVALID (the batch can never commit) and
	// EFENCED (an event's epoch is no longer the conversation's) are
	// permanent; every other error is taken as transient and retried.
	Apply(ctx context.Context, events []Event) error

	// LoadConversation streams a conversation's state into sink: the
	// conversation first, then its opinions by Seq (deleted ones included,
	// flagged), then its current votes on them. ENOTFOUND when the
	// conversation is unknown or deleted.
	LoadConversation(ctx context.Context, id string, sink ConversationSink) error

	// ListConversations returns a page of indexed, unlocked, undeleted
	// conversations with their committed counters.
	ListConversations(ctx context.Context, q ConversationQuery) (*ConversationPage, error)

	// ParticipantByTokenHash returns the participant holding a token, or
	// ENOTFOUND.
	ParticipantByTokenHash(ctx context.Context, hash [32]byte) (*Participant, error)
	// Participant returns a participant by id, or ENOTFOUND.
	Participant(ctx context.Context, id string) (*Participant, error)

	// ClaimConversation makes node the owner of a conversation by
	// incrementing its ownership epoch, and returns the new epoch; events
	// stamped with an older epoch are refused from then on (EFENCED).
	// ENOTFOUND when the conversation is unknown or deleted. A conversation
	// is created with epoch 1 by its EventConversationCreated.
	ClaimConversation(ctx context.Context, id, node string) (int64, error)

	// ImportConversation writes a whole new conversation (Import) in one
	// transaction, all or nothing, by the store's bulk path (multi-row
	// statements, COPY): the conversation at epoch 1, its participants,
	// opinions, current votes and vote history. EINVALID when the import is
	// malformed or violates a constraint (an id that exists, a vote on an
	// unknown opinion); EUNAVAILABLE as for Apply. Nothing is written then.
	ImportConversation(ctx context.Context, im *Import) error

	// VoteHistory streams a conversation's vote history to fn in commit
	// order, cancels included (flagged), votes on deleted opinions too. It
	// is for exports and audits: the history has no index, so it scans.
	// ENOTFOUND for an unknown or deleted conversation; fn's error ends the
	// stream and is returned unchanged.
	VoteHistory(ctx context.Context, cid string, fn func(HistoryVote) error) error

	// ConversationParticipants streams, each once and in no set order, the
	// participants who voted in a conversation (its history) or authored
	// one of its opinions, without their token hash: exports read their
	// external ids. ENOTFOUND for an unknown or deleted conversation.
	ConversationParticipants(ctx context.Context, cid string, fn func(Participant) error) error

	// ConversationExists reports whether a conversation exists and is not
	// deleted, without loading it.
	ConversationExists(ctx context.Context, id string) (bool, error)

	// RememberAnswer keeps the answer to a creating request made with an
	// Idempotency-Key until a.ExpiresAt, so that a retry gets it again on
	// any node and after a restart. An unexpired answer already kept for
	// the same key stays: the first answer wins. Expired answers are
	// dropped on the way.
	RememberAnswer(ctx context.Context, a IdempotentAnswer) error
	// RememberedAnswer returns the answer kept for a participant's key on
	// a target, or nil when there is none or it expired before now.
	RememberedAnswer(ctx context.Context, participantID, target, key string, now time.Time) (*IdempotentAnswer, error)

	// Ping checks that the store answers (readiness).
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// IdempotentAnswer is the first successful answer to a creating request
// made with an Idempotency-Key: the status, media type and body a retry
// gets again instead of creating anew.
type IdempotentAnswer struct {
	// ParticipantID, Target (method and path) and Key identify the request.
	ParticipantID, Target, Key string
	Status                     int
	ContentType                string
	Body                       []byte
	ExpiresAt                  time.Time
}

// ConversationSink receives a conversation's state from the store, row by
// row, so that activation builds no intermediate copy.
type ConversationSink interface {
	LoadConversation(c Conversation) error
	LoadOpinion(o Opinion) error
	LoadVote(v StoredVote) error
}

// Auditor recounts what the store holds. It is for tests, audits and the
// load generator's verification; no request is ever served by a count.
type Auditor interface {
	// RecountConversation counts a conversation's opinions, votes and
	// voters from its rows under the definitions of Counters
	// (LastReactedAt is the stored value).
	RecountConversation(ctx context.Context, id string) (Counters, error)
}
