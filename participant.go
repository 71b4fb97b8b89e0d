package agora

import (
	"context"
	"time"
)

// Role is what a participant may do beyond voting and posting.
type Role string

// Roles. A moderator may moderate every conversation; the author of a
// conversation may moderate that conversation whatever their role.
const (
	RoleParticipant Role = "participant"
	RoleModerator   Role = "moderator"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleParticipant || r == RoleModerator }

// Participant is a person (or an imported Polis voter) who posts and votes.
type Participant struct {
	ID          string    `json:"participant_id"`
	DisplayName string    `json:"display_name"`
	Role        Role      `json:"role"`
	CreatedAt   time.Time `json:"created_at"`
	// TokenHash is the SHA-256 of the bearer token; imported participants
	// have none (all zero) and cannot authenticate.
	TokenHash  [32]byte `json:"-"`
	ExternalID string   `json:"external_id,omitempty"`
}

// Caller is who makes a request: a participant, or the holder of the admin
// token, who may do everything an author, a moderator or the admin API may
// do but is not a participant.
type Caller struct {
	ParticipantID string
	Role          Role
	Admin         bool
}

// IsModerator reports whether the caller may moderate any conversation.
func (c Caller) IsModerator() bool { return c.Admin || c.Role == RoleModerator }

// MaxDisplayName is the longest display name, in characters.
const MaxDisplayName = 40

// ParticipantService creates and authenticates participants.
type ParticipantService interface {
	// CreateParticipant registers a participant and returns it with its
	// bearer token, which is never stored in clear. Returns EINVALID for a
	// bad display name and EUNAVAILABLE when the store cannot commit.
	CreateParticipant(ctx context.Context, displayName string) (*Participant, string, error)
	// Authenticate returns the participant a token belongs to, or
	// EUNAUTHENTICATED.
	Authenticate(ctx context.Context, token string) (*Participant, error)
	// Participant returns a participant by id, or ENOTFOUND.
	Participant(ctx context.Context, id string) (*Participant, error)
	// SetRole changes a participant's role; ENOTFOUND when unknown.
	SetRole(ctx context.Context, id string, role Role) (*Participant, error)
}
