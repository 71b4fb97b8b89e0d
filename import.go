package agora

import (
	"context"
	"io"
	"time"
)

// AdminAuthorID is the author of the conversations the admin imports. The
// admin token is not a participant, and conversations.author_id has no
// foreign key, so the author is this reserved name: no participant id is
// ever "admin" (participant ids are 10 random base62 characters), so only
// the admin, and moderators, may moderate an imported conversation.
const AdminAuthorID = "admin"

// Import is a whole new conversation written to the store at once, in one
// transaction (agora import polis, agora gen): the bulk path, instead of
// one event per vote through the batcher. It is the conversation as its
// actor would have written it: the counters must be the ones activation
// recomputes from the rows (see ComputeCounters).
type Import struct {
	// Conversation is created at epoch 1, as EventConversationCreated does;
	// the first request then claims it and loads it.
	Conversation Conversation
	// Participants are created with the conversation. Imported participants
	// have no token (a zero TokenHash) and cannot authenticate.
	Participants []Participant
	// Opinions have Seq 0..n-1 in order and belong to the conversation.
	Opinions []Opinion
	// Votes are the current votes: at most one per (opinion, participant),
	// by participants of the import, on its opinions.
	Votes []StoredVote
	// History is the vote history in time order (what a votes.csv export
	// reads back): every cast and change, the current votes' included.
	History []StoredVote
}

// ImportResult answers an import: the new conversation's id and its
// counters, under the definitions of Counters.
type ImportResult struct {
	ConversationID string `json:"conversation_id"`
	Opinions       int    `json:"opinions"`
	Participants   int    `json:"participants"`
	Votes          int    `json:"votes"`
}

// HistoryVote is one row of a conversation's vote history, in commit order:
// a cast or a change carries its vote; a cancel has Cancelled set (and a
// meaningless Vote).
type HistoryVote struct {
	StoredVote
	Cancelled bool
}

// ComputeCounters counts the import's rows under the definitions of
// Counters: opinions neither deleted nor moderated, the current votes on
// them and their distinct voters. LastReactedAt is the latest time of an
// opinion or a vote, or the conversation's creation when it is later.
func (im *Import) ComputeCounters() Counters {
	counted := make(map[string]bool, len(im.Opinions))
	c := Counters{LastReactedAt: im.Conversation.CreatedAt}
	for i := range im.Opinions {
		o := &im.Opinions[i]
		if !o.Deleted && o.Status == StatusVisible {
			counted[o.ID] = true
			c.OpinionCount++
		}
		c.LastReactedAt = later(c.LastReactedAt, o.CreatedAt)
	}
	voters := map[string]bool{}
	for i := range im.Votes {
		v := &im.Votes[i]
		if counted[v.OpinionID] {
			c.VoteCount++
			voters[v.ParticipantID] = true
		}
		c.LastReactedAt = later(c.LastReactedAt, v.At)
	}
	c.ParticipantCount = len(voters)
	return c
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Validate checks what the store's constraints would refuse halfway, so
// that a bad import fails before any write: ids well formed and unique,
// opinions numbered 0..n-1 in order, votes and history only by the import's
// participants on its opinions, one current vote per pair, and vote values
// in {-1, 0, 1}, and counters equal to ComputeCounters'. It returns
// EINVALID.
func (im *Import) Validate() error {
	c := &im.Conversation
	if !ValidID(c.ID) {
		return Errorf(EINVALID, "The conversation id %q is not an id.", c.ID)
	}
	participants := make(map[string]bool, len(im.Participants))
	for i := range im.Participants {
		p := &im.Participants[i]
		if !ValidID(p.ID) || participants[p.ID] {
			return Errorf(EINVALID, "Participant %d has a bad or repeated id %q.", i, p.ID)
		}
		participants[p.ID] = true
	}
	opinions := make(map[string]bool, len(im.Opinions))
	for i := range im.Opinions {
		o := &im.Opinions[i]
		if !ValidID(o.ID) || opinions[o.ID] {
			return Errorf(EINVALID, "Opinion %d has a bad or repeated id %q.", i, o.ID)
		}
		if o.Seq != i {
			return Errorf(EINVALID, "Opinion %s has seq %d, want %d.", o.ID, o.Seq, i)
		}
		if o.ConversationID != "" && o.ConversationID != c.ID {
			return Errorf(EINVALID, "Opinion %s belongs to conversation %s, not %s.", o.ID, o.ConversationID, c.ID)
		}
		switch o.Status {
		case StatusVisible, StatusMoved, StatusHidden:
		default:
			return Errorf(EINVALID, "Opinion %s has an unknown status %q.", o.ID, o.Status)
		}
		opinions[o.ID] = true
	}
	check := func(what string, i int, v *StoredVote) error {
		if !participants[v.ParticipantID] {
			return Errorf(EINVALID, "%s %d is by %q, who is not a participant of the import.", what, i, v.ParticipantID)
		}
		if !opinions[v.OpinionID] {
			return Errorf(EINVALID, "%s %d is on %q, which is not an opinion of the import.", what, i, v.OpinionID)
		}
		if v.Vote < Disagree || v.Vote > Agree {
			return Errorf(EINVALID, "%s %d has the value %d, not -1, 0 or 1.", what, i, v.Vote)
		}
		return nil
	}
	type pair struct{ o, p string }
	seen := make(map[pair]bool, len(im.Votes))
	for i := range im.Votes {
		v := &im.Votes[i]
		if err := check("Vote", i, v); err != nil {
			return err
		}
		k := pair{v.OpinionID, v.ParticipantID}
		if seen[k] {
			return Errorf(EINVALID, "Vote %d repeats the current vote of %s on %s.", i, v.ParticipantID, v.OpinionID)
		}
		seen[k] = true
	}
	for i := range im.History {
		if err := check("History vote", i, &im.History[i]); err != nil {
			return err
		}
	}
	if got, want := c.Counters, im.ComputeCounters(); got.OpinionCount != want.OpinionCount ||
		got.VoteCount != want.VoteCount || got.ParticipantCount != want.ParticipantCount {
		return Errorf(EINVALID, "The counters (opinions %d, votes %d, participants %d) are not those of the rows (%d, %d, %d).",
			got.OpinionCount, got.VoteCount, got.ParticipantCount, want.OpinionCount, want.VoteCount, want.ParticipantCount)
	}
	return nil
}

// PolisService imports and exports conversations in the Polis open-data
// format (comments.csv, votes.csv, participants-votes.csv, summary.csv).
type PolisService interface {
	// NewPolisImport starts an import, fed file by file as an upload
	// arrives.
	NewPolisImport() PolisImport
	// ExportPolis writes one file of the conversation's export to w: file
	// is comments.csv, votes.csv, participants-votes.csv or summary.csv
	// (EINVALID otherwise). ENOTFOUND for an unknown conversation.
	ExportPolis(ctx context.Context, cid, file string, w io.Writer) error
}

// PolisImport is one import in progress: files are added as they arrive,
// in any order, and Commit creates the conversation, all or nothing.
type PolisImport interface {
	// AddFile reads one uploaded file (comments.csv, votes.csv,
	// participants-votes.csv, or summary.csv for the title and body). It
	// returns EINVALID naming the file and line of a malformed row.
	AddFile(name string, r io.Reader) error
	// Commit checks the files together and writes the conversation in one
	// transaction. title, when not empty, overrides summary.csv's topic.
	// It returns EINVALID for bad input (nothing is written) and
	// EUNAVAILABLE when the store cannot commit.
	Commit(ctx context.Context, title string) (*ImportResult, error)
}
