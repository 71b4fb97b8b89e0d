package agora

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on conversation texts, in Unicode characters after trimming.
const (
	MaxTitle       = 140
	MaxBody        = 3000
	MaxOpinionText = 1000
	MaxExplanation = 1000
	// MaxSeedOpinions bounds the seed opinions of one creation request.
	MaxSeedOpinions = 100
)

// Conversation is a topic people post opinions on and vote on.
type Conversation struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	AuthorID  string    `json:"author_id"`
	CreatedAt time.Time `json:"created_at"`
	IsIndexed bool      `json:"is_indexed"`
	Locked    bool      `json:"locked"`
	Lock      *Lock     `json:"lock"`
	Counters
}

// Lock records why and when a moderator locked a conversation.
type Lock struct {
	Reason      Reason    `json:"reason"`
	Explanation string    `json:"explanation"`
	At          time.Time `json:"at"`
}

// Counters are exact at every moment: they are maintained by the
// conversation's actor on each write, never recounted.
type Counters struct {
	// OpinionCount counts opinions that are neither deleted nor moderated.
	OpinionCount int `json:"opinion_count"`
	// VoteCount counts current votes (passes included) on those opinions.
	VoteCount int `json:"vote_count"`
	// ParticipantCount counts distinct participants with at least one such vote.
	ParticipantCount int `json:"participant_count"`
	// LastReactedAt is the creation time at first, then the time of the last
	// write that changed the conversation's opinions or votes.
	LastReactedAt time.Time `json:"last_reacted_at"`
}

// Reason is why a moderator locked a conversation or moderated an opinion.
type Reason string

// Moderation reasons.
const (
	ReasonMisleading Reason = "misleading"
	ReasonAntisocial Reason = "antisocial"
	ReasonIllegal    Reason = "illegal"
	ReasonDoxing     Reason = "doxing"
	ReasonSexual     Reason = "sexual"
	ReasonSpam       Reason = "spam"
)

// Valid reports whether r is a known reason.
func (r Reason) Valid() bool {
	switch r {
	case ReasonMisleading, ReasonAntisocial, ReasonIllegal, ReasonDoxing, ReasonSexual, ReasonSpam:
		return true
	}
	return false
}

// NewConversation is the input of a conversation's creation.
type NewConversation struct {
	Title        string
	Body         string
	IsIndexed    bool
	SeedOpinions []string
}

// Validate trims the texts in place and checks their lengths.
func (n *NewConversation) Validate() error {
	var err error
	if n.Title, err = CheckText("title", n.Title, 1, MaxTitle); err != nil {
		return err
	}
	if n.Body, err = CheckText("body", n.Body, 0, MaxBody); err != nil {
		return err
	}
	if len(n.SeedOpinions) > MaxSeedOpinions {
		return Errorf(EINVALID, "At most %d seed opinions.", MaxSeedOpinions)
	}
	for i := range n.SeedOpinions {
		if n.SeedOpinions[i], err = CheckText("seed_opinions", n.SeedOpinions[i], 1, MaxOpinionText); err != nil {
			return err
		}
	}
	return nil
}

// LockInput is the input of a lock.
type LockInput struct {
	Reason      Reason
	Explanation string
}

// Validate checks the reason and trims and checks the explanation.
func (l *LockInput) Validate() error {
	if !l.Reason.Valid() {
		return Errorf(EINVALID, "Unknown reason %q.", l.Reason)
	}
	var err error
	l.Explanation, err = CheckText("explanation", l.Explanation, 0, MaxExplanation)
	return err
}

// CheckText trims s and checks that it has between min and max Unicode
// characters; it returns the trimmed text.
func CheckText(field, s string, min, max int) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		return "", Errorf(EINVALID, "%s is not valid UTF-8.", field)
	}
	n := utf8.RuneCountInString(s)
	if n < min {
		if min == 1 {
			return "", Errorf(EINVALID, "%s must not be empty.", field)
		}
		return "", Errorf(EINVALID, "%s must have at least %d characters.", field, min)
	}
	if n > max {
		return "", Errorf(EINVALID, "%s must have at most %d characters (has %d).", field, max, n)
	}
	return s, nil
}

// ConversationSort orders conversation listings.
type ConversationSort string

// Conversation sorts.
const (
	SortConversationsNew    ConversationSort = "new"
	SortConversationsActive ConversationSort = "active"
)

// ConversationQuery selects a page of listed conversations.
type ConversationQuery struct {
	Sort   ConversationSort
	Limit  int
	Cursor string
}

// ConversationPage is one page of a listing.
type ConversationPage struct {
	Items      []Conversation `json:"items"`
	NextCursor *string        `json:"next_cursor"`
}

// EncodeConversationCursor makes the cursor of a listing page that ends
// with conversation id, whose sort key (created_at or last_reacted_at) is
// keyMicros: base64url("<sort letter><key>.<id>"), opaque to clients, and
// tied to its sort so that a cursor of "new" is refused by "active"
// instead of silently skipping rows. Every store pages with it.
func EncodeConversationCursor(sort ConversationSort, keyMicros int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(string(sort[0]) + strconv.FormatInt(keyMicros, 10) + "." + id))
}

// NewConversationPage makes the page of a listing from the rows a store
// read for it: up to limit+1 conversations in sort order, the extra one
// only telling that there is a next page, whose cursor continues after the
// last conversation kept. Every store pages with it.
func NewConversationPage(rows []Conversation, sort ConversationSort, limit int) *ConversationPage {
	page := &ConversationPage{Items: rows}
	if len(rows) > limit {
		page.Items = rows[:limit]
		last := page.Items[limit-1]
		key := last.CreatedAt
		if sort == SortConversationsActive {
			key = last.LastReactedAt
		}
		cursor := EncodeConversationCursor(sort, key.UnixMicro(), last.ID)
		page.NextCursor = &cursor
	}
	return page
}

// DecodeConversationCursor reads a cursor of EncodeConversationCursor for
// the same sort, or returns EINVALID.
func DecodeConversationCursor(sort ConversationSort, cursor string) (int64, string, error) {
	bad := Errorf(EINVALID, "Malformed cursor.")
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(raw) < 3 || raw[0] != sort[0] {
		return 0, "", bad
	}
	num, id, ok := strings.Cut(string(raw[1:]), ".")
	if !ok || !ValidID(id) {
		return 0, "", bad
	}
	key, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, "", bad
	}
	return key, id, nil
}
