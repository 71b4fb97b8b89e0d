// Package storeutil holds the conventions of rows that both stores follow,
// so that SQLite and PostgreSQL store an event the same way.
package storeutil

import (
	"strings"
	"time"

	"github.com/agora-dev/agora"
)

// Role is the role a participant's row stores: one created without a role
// is a plain participant.
func Role(p *agora.Participant) string {
	if p.Role == "" {
		return string(agora.RoleParticipant)
	}
	return string(p.Role)
}

// OrAt returns t, or the event's time when the event left t unset.
func OrAt(t, at time.Time) time.Time {
	if t.IsZero() {
		return at
	}
	return t
}

// VoteKey identifies a current vote, in the order of the votes' primary
// key.
type VoteKey struct{ Conversation, Opinion, Participant string }

// Compare orders keys as the votes' primary key does.
func (k VoteKey) Compare(o VoteKey) int {
	if c := strings.Compare(k.Conversation, o.Conversation); c != 0 {
		return c
	}
	if c := strings.Compare(k.Opinion, o.Opinion); c != 0 {
		return c
	}
	return strings.Compare(k.Participant, o.Participant)
}
