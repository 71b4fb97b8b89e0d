package agora

import "time"

// Vote is a participant's reaction to an opinion. The values are Polis'
// with agree positive (Polis itself negates agree).
type Vote int8

// Votes.
const (
	Disagree Vote = -1
	Pass     Vote = 0
	Agree    Vote = 1
)

// String returns the API name of the vote.
func (v Vote) String() string {
	switch v {
	case Agree:
		return "agree"
	case Disagree:
		return "disagree"
	case Pass:
		return "pass"
	}
	return "invalid"
}

// ParseVote parses the API name of a vote.
func ParseVote(s string) (Vote, error) {
	switch s {
	case "agree":
		return Agree, nil
	case "disagree":
		return Disagree, nil
	case "pass":
		return Pass, nil
	}
	return 0, Errorf(EINVALID, "vote must be agree, disagree or pass.")
}

// MarshalText encodes the vote by name.
func (v Vote) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// VoteEntry is one of a participant's current votes.
type VoteEntry struct {
	OpinionID string `json:"opinion_id"`
	Vote      Vote   `json:"vote"`
}

// VoteResult answers a vote.
type VoteResult struct {
	OpinionID string `json:"opinion_id"`
	Vote      Vote   `json:"vote"`
	Changed   bool   `json:"changed"`
}

// StoredVote is a current vote as the store returns it when a conversation
// is activated.
type StoredVote struct {
	ParticipantID string
	OpinionID     string
	Vote          Vote
	At            time.Time
}
