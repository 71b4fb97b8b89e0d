package agora

import "time"

// OpinionStatus says whether an opinion is shown and counted.
type OpinionStatus string

// Opinion statuses. Moved and hidden opinions leave the counters and the
// math; their votes are kept and count again when the moderation is
// withdrawn.
const (
	StatusVisible OpinionStatus = "visible"
	StatusMoved   OpinionStatus = "moved"
	StatusHidden  OpinionStatus = "hidden"
)

// ModerationAction is what a moderator does to an opinion.
type ModerationAction string

// Moderation actions.
const (
	ActionMove ModerationAction = "move"
	ActionHide ModerationAction = "hide"
)

// Status returns the status an opinion takes under the action, or "" for an
// unknown action.
func (a ModerationAction) Status() OpinionStatus {
	switch a {
	case ActionMove:
		return StatusMoved
	case ActionHide:
		return StatusHidden
	}
	return ""
}

// Opinion is a short statement participants vote on.
type Opinion struct {
	ID             string        `json:"id"`
	ConversationID string        `json:"conversation_id"`
	AuthorID       string        `json:"author_id"`
	Text           string        `json:"text"`
	CreatedAt      time.Time     `json:"created_at"`
	IsSeed         bool          `json:"is_seed"`
	Status         OpinionStatus `json:"status"`
	// Moderation is set while the opinion is moved or hidden.
	Moderation *Moderation `json:"moderation,omitempty"`
	// Deleted opinions are kept in the store for the history of votes but
	// answer 404 everywhere.
	Deleted    bool   `json:"-"`
	ExternalID string `json:"external_id,omitempty"`
	// IsMeta marks a meta statement of an imported Polis conversation (a
	// question about the participant, not an opinion): shown and counted
	// like any opinion, but left out of the math as Polis does. Only
	// imports set it; the stores persist it from ImportConversation.
	IsMeta bool `json:"is_meta,omitempty"`
	// Seq orders the opinions of one conversation by creation, from 0.
	Seq int `json:"-"`
}

// Moderation records why and when an opinion was moved or hidden.
type Moderation struct {
	Reason      Reason    `json:"reason"`
	Explanation string    `json:"explanation"`
	At          time.Time `json:"at"`
}

// Tally counts the current votes on one opinion.
type Tally struct {
	Agree    int `json:"agree"`
	Disagree int `json:"disagree"`
	Pass     int `json:"pass"`
}

// ClusterTally is a tally within one opinion group of the latest analysis.
type ClusterTally struct {
	Cluster int `json:"cluster"`
	Tally
}

// OpinionView is an opinion as the API shows it, with its tallies.
type OpinionView struct {
	Opinion
	Tally
	Clusters []ClusterTally `json:"clusters"`
}

// ModerationInput is the input of an opinion's moderation.
type ModerationInput struct {
	Action      ModerationAction
	Reason      Reason
	Explanation string
}

// Validate checks the action and reason and trims the explanation.
func (m *ModerationInput) Validate() error {
	if m.Action.Status() == "" {
		return Errorf(EINVALID, "Unknown action %q (move or hide).", m.Action)
	}
	l := LockInput{Reason: m.Reason, Explanation: m.Explanation}
	if err := l.Validate(); err != nil {
		return err
	}
	m.Explanation = l.Explanation
	return nil
}

// OpinionSort orders opinion listings.
type OpinionSort string

// Opinion sorts. The math sorts (discover, consensus, divisive, majority,
// cluster) need the analysis.
const (
	SortOpinionsNew       OpinionSort = "new"
	SortOpinionsModerated OpinionSort = "moderated"
	SortOpinionsHidden    OpinionSort = "hidden"
	SortOpinionsDiscover  OpinionSort = "discover"
	SortOpinionsConsensus OpinionSort = "consensus"
	SortOpinionsDivisive  OpinionSort = "divisive"
	SortOpinionsMajority  OpinionSort = "majority"
	SortOpinionsCluster   OpinionSort = "cluster"
)

// OpinionQuery selects a page of a conversation's opinions.
type OpinionQuery struct {
	Sort    OpinionSort
	Cluster int
	Limit   int
	Cursor  string
}

// OpinionPage is one page of opinions.
type OpinionPage struct {
	Items      []OpinionView `json:"items"`
	NextCursor *string       `json:"next_cursor"`
}
