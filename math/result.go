package polismath

import "time"

// Analysis statuses.
const (
	// StatusOK means the conversation was mapped into at least two opinion groups.
	StatusOK = "ok"
	// StatusInsufficientData means there are too few participants, statements or
	// distinct opinions to form two groups; positions, consensus and priorities are
	// still filled in where they can be computed.
	StatusInsufficientData = "insufficient_data"
)

// Directions of a representative opinion or of a consensus list.
const (
	DirectionAgree    = "agree"
	DirectionDisagree = "disagree"
)

// Result is one analysis of a conversation, in the shape of the API's analysis object
// (see api.md). Run leaves ConversationID and ComputedAt empty: they belong to the
// caller, which knows the conversation and the clock.
type Result struct {
	// ConversationID is filled by the caller.
	ConversationID string `json:"conversation_id"`
	// ComputedAt is filled by the caller.
	ComputedAt time.Time `json:"computed_at"`
	// VotesIncluded is the number of votes (passes included) the analysis reflects.
	VotesIncluded int `json:"votes_included"`
	// ParticipantsTotal counts participants with at least one vote.
	ParticipantsTotal int `json:"participants_total"`
	// ParticipantsClustered counts participants placed in a group.
	ParticipantsClustered int `json:"participants_clustered"`
	// K is the number of opinion groups published (0 when there are none).
	K int `json:"k"`
	// Status is StatusOK or StatusInsufficientData.
	Status string `json:"status"`
	// Clusters are the opinion groups, by ascending id.
	Clusters []Cluster `json:"clusters"`
	// Consensus lists what the whole conversation agrees or disagrees with.
	Consensus Consensus `json:"consensus"`
	// Opinions holds one entry per voted statement (matrix column order), then the
	// unvoted statements of Input.Statements.
	Opinions []Opinion `json:"opinions"`
	// PCA is the projection the positions come from.
	PCA PCA `json:"pca"`
	// Participants holds every participant with at least one vote, in matrix order.
	Participants []Participant `json:"participants"`
	// GroupVotes holds the vote counts of every opinion per group (OpinionGroups):
	// those of Opinions[i] are GroupVotes[i*len(Clusters):][:len(Clusters)]. They are
	// not part of the analysis object.
	GroupVotes []GroupVotes `json:"-"`
	// ListedOpinion maps Input.Statements to Opinions: entry i is the index in
	// Opinions of the opinion of Input.Statements[i]. Run fills it only when
	// Input.Statements lists exactly the Matrix's columns, as an actor does (nil
	// otherwise): the caller then finds each of its statements' opinion without
	// searching.
	ListedOpinion []int32 `json:"-"`
}

// Cluster is one opinion group with the statements that characterise it.
type Cluster struct {
	// ID is stable across warm-started updates; on a cold start the groups are 0..k-1.
	ID int `json:"id"`
	// Size is the number of participants in the group.
	Size int `json:"size"`
	// Center is the mean position of the group's members.
	Center [2]float64 `json:"center"`
	// Representative holds at most five statements, agree ones first.
	Representative []Representative `json:"representative"`
}

// Representative is a statement on which a group differs from everyone else. The
// numbers are those of the direction (agree or disagree) in which it differs most.
type Representative struct {
	// OpinionID is the statement.
	OpinionID string `json:"opinion_id"`
	// Direction is DirectionAgree or DirectionDisagree.
	Direction string `json:"direction"`
	// NSuccess is the number of group members who voted in Direction, NTrials the
	// number who voted at all (passes included).
	NSuccess int `json:"n_success"`
	NTrials  int `json:"n_trials"`
	// PSuccess is (NSuccess+1)/(NTrials+2) and PTest its one-proportion z-score.
	PSuccess float64 `json:"p_success"`
	PTest    float64 `json:"p_test"`
	// Repness is PSuccess divided by the same probability outside the group, and
	// RepnessTest the two-proportion z-score of that difference.
	Repness     float64 `json:"repness"`
	RepnessTest float64 `json:"repness_test"`
	// BestAgree marks the statement chosen as the group's best agreed one; it is listed
	// first even when it does not pass the significance tests itself.
	BestAgree bool `json:"best_agree"`
}

// Consensus lists the statements most of the conversation agrees, or disagrees, with.
type Consensus struct {
	// Agree holds at most five statements, the most agreed first.
	Agree []ConsensusOpinion `json:"agree"`
	// Disagree holds at most five statements, the most disagreed first.
	Disagree []ConsensusOpinion `json:"disagree"`
}

// ConsensusOpinion is one consensus statement with its counts over all participants.
type ConsensusOpinion struct {
	// OpinionID is the statement.
	OpinionID string `json:"opinion_id"`
	// NSuccess counts the votes in the list's direction, NTrials all votes (passes
	// included).
	NSuccess int `json:"n_success"`
	NTrials  int `json:"n_trials"`
	// PSuccess is (NSuccess+1)/(NTrials+2) and PTest its one-proportion z-score.
	PSuccess float64 `json:"p_success"`
	PTest    float64 `json:"p_test"`
}

// Opinion carries the per-statement results.
type Opinion struct {
	// OpinionID is the statement.
	OpinionID string `json:"opinion_id"`
	// X and Y place the statement in the participants' plane (where someone who agreed
	// with it alone would be).
	X float64 `json:"x"`
	Y float64 `json:"y"`
	// Extremity is the distance of (X, Y) from the origin: how much the statement
	// separates the groups.
	Extremity float64 `json:"extremity"`
	// Priority is the routing weight: statements with few votes, that divide the
	// groups, and that are not mostly passed get shown first.
	Priority float64 `json:"priority"`
	// GACAgree is the product over groups of each group's agree probability: high only
	// when every group agrees. GACDisagree is the same for disagreement.
	GACAgree    float64 `json:"gac_agree"`
	GACDisagree float64 `json:"gac_disagree"`
}

// GroupVotes counts the votes of one group's members on one statement.
//
// Its fields are int32, as the tallies are: a Result holds one per statement and
// group (76,000 at 19,000 statements and four groups), half the memory of ints.
type GroupVotes struct {
	// Agree, Disagree and Pass count the members' votes on the statement.
	Agree    int32 `json:"agree"`
	Disagree int32 `json:"disagree"`
	Pass     int32 `json:"pass"`
}

// OpinionGroups returns the vote counts of Opinions[i] per group, in the order of
// Clusters (nil without groups), for the "clusters" list of the API's opinion
// object.
func (r *Result) OpinionGroups(i int) []GroupVotes {
	nc := len(r.Clusters)
	if nc == 0 || (i+1)*nc > len(r.GroupVotes) {
		return nil
	}
	return r.GroupVotes[i*nc : i*nc+nc : i*nc+nc]
}

// PCA is the linear map from votes to the plane: a participant's position is the
// centered vote row projected on the components, then scaled for sparsity.
type PCA struct {
	// OpinionIDs are the matrix columns, the order of Center and of each component.
	OpinionIDs []string `json:"opinion_ids"`
	// Center is the mean vote of each statement (agree = +1).
	Center []float64 `json:"center"`
	// Components are the two principal components (unit vectors, zero on moderated-out
	// statements), each signed so that its largest-magnitude entry is positive.
	Components [][]float64 `json:"components"`
}

// Participant is one participant's place in the map.
type Participant struct {
	// ParticipantID is the participant.
	ParticipantID string `json:"participant_id"`
	// X and Y are the participant's position (projection scaled for sparsity).
	X float64 `json:"x"`
	Y float64 `json:"y"`
	// Cluster is the participant's group, nil when they are not clustered (too few
	// votes) or there are no groups. The members of a group share the pointer: like
	// the whole Result, it is read-only.
	Cluster *int `json:"cluster"`
}
