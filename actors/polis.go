package actors

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/polis"
)

// Polis imports and exports conversations in the Polis open-data format. It
// needs no actor: an import writes a new conversation straight to the store
// in one transaction (the first request then activates it: claim, then
// load), and an export reads the store, plus the latest analysis for the
// groups, which the conversation service serves.
type Polis struct {
	store         agora.Store
	conversations agora.ConversationService
	// AnalysisWait bounds how long an export waits for a first analysis of
	// a conversation with votes (the groups of participants-votes.csv and
	// summary.csv); past it the groups are left empty. Default 30s.
	AnalysisWait time.Duration
}

var _ agora.PolisService = (*Polis)(nil)

// NewPolis returns the service over a store and the conversation service
// that answers analyses.
func NewPolis(store agora.Store, conversations agora.ConversationService) *Polis {
	return &Polis{store: store, conversations: conversations, AnalysisWait: 30 * time.Second}
}

// NewPolisImport implements agora.PolisService.
func (p *Polis) NewPolisImport() agora.PolisImport {
	return &polisImport{p: p, up: polis.NewUpload()}
}

// defaultImportTitle names an imported conversation that comes with neither
// a title nor a summary.csv topic.
const defaultImportTitle = "Imported Polis conversation"

type polisImport struct {
	p  *Polis
	up *polis.Upload
}

// AddFile implements agora.PolisImport.
func (i *polisImport) AddFile(name string, r io.Reader) error {
	return uploadError(i.up.Add(name, r))
}

// uploadError turns the polis package's errors, which name file and line,
// into EINVALID with that text.
func uploadError(err error) error {
	var pe *polis.ParseError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe):
		return agora.Errorf(agora.EINVALID, "%s", pe.Error())
	}
	return agora.Errorf(agora.EINVALID, "The upload could not be read: %v.", err)
}

// Commit implements agora.PolisImport.
//
// The conversation is the admin's (agora.AdminAuthorID), indexed, created
// now; its title is title, else summary.csv's topic, else a default, and
// its body summary.csv's conversation-description (both cut to their
// limits). Every voter and comment author becomes a participant without a
// token, with its Polis id as external_id; comments become opinions in
// comment-id order, with the comment-id as external_id, moved when
// moderated = -1, flagged when is-meta. The votes keep their Polis
// timestamps (votes from participants-votes.csv, which has none, take the
// import's time); every votes.csv row enters the vote history.
func (i *polisImport) Commit(ctx context.Context, title string) (*agora.ImportResult, error) {
	up, err := i.up.Finish()
	if err != nil {
		return nil, uploadError(err)
	}
	if title = strings.TrimSpace(title); title != "" {
		if title, err = agora.CheckText("title", title, 1, agora.MaxTitle); err != nil {
			return nil, err
		}
	} else if title = cut(up.SummaryValue("topic"), agora.MaxTitle); title == "" {
		title = defaultImportTitle
	}
	im := buildImport(up, title, cut(up.SummaryValue("conversation-description"), agora.MaxBody),
		time.Now().UTC().Truncate(time.Microsecond))
	if err := i.p.store.ImportConversation(ctx, im); err != nil {
		return nil, err
	}
	c := im.Conversation.Counters
	return &agora.ImportResult{ConversationID: im.Conversation.ID, Opinions: c.OpinionCount,
		Participants: c.ParticipantCount, Votes: c.VoteCount}, nil
}

// cut trims s and shortens it to at most n characters.
func cut(s string, n int) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return strings.TrimSpace(string([]rune(s)[:n]))
}

// buildImport turns a checked upload into the store's import.
func buildImport(up *polis.Uploaded, title, body string, now time.Time) *agora.Import {
	at := func(ms int64) time.Time {
		if ms <= 0 {
			return now
		}
		return time.UnixMilli(ms).UTC()
	}
	im := &agora.Import{Conversation: agora.Conversation{ID: agora.NewID(10), Title: title, Body: body,
		AuthorID: agora.AdminAuthorID, CreatedAt: now, IsIndexed: true}}

	// Participants in order of first vote, then authors who never voted.
	pids := map[int]string{}
	participant := func(voter int, since time.Time) string {
		if id, ok := pids[voter]; ok {
			return id
		}
		id := agora.NewID(10)
		pids[voter] = id
		im.Participants = append(im.Participants, agora.Participant{ID: id, Role: agora.RoleParticipant,
			CreatedAt: since, ExternalID: strconv.Itoa(voter)})
		return id
	}
	for _, v := range up.History {
		participant(v.VoterID, at(v.Timestamp))
	}
	oids := make(map[int]string, len(up.Comments))
	for seq, c := range up.Comments {
		o := agora.Opinion{ID: agora.NewID(10), ConversationID: im.Conversation.ID,
			AuthorID: participant(c.AuthorID, at(c.Timestamp)), Text: strings.TrimSpace(c.Body),
			CreatedAt: at(c.Timestamp), Status: agora.StatusVisible, ExternalID: strconv.Itoa(c.CommentID),
			IsMeta: c.IsMeta, Seq: seq}
		if c.ModeratedOut() {
			o.Status = agora.StatusMoved
		}
		oids[c.CommentID] = o.ID
		im.Opinions = append(im.Opinions, o)
	}
	vote := func(v polis.Vote) agora.StoredVote {
		return agora.StoredVote{ParticipantID: pids[v.VoterID], OpinionID: oids[v.CommentID],
			Vote: agora.Vote(v.Value), At: at(v.Timestamp)}
	}
	im.Votes = make([]agora.StoredVote, len(up.Votes))
	for i, v := range up.Votes {
		im.Votes[i] = vote(v)
	}
	im.History = make([]agora.StoredVote, len(up.History))
	for i, v := range up.History {
		im.History[i] = vote(v)
	}
	im.Conversation.Counters = im.ComputeCounters()
	return im
}

// ExportPolis implements agora.PolisService.
//
// Ids: an opinion or participant imported from Polis keeps its Polis id
// (external_id); the others are numbered after the largest of those:
// opinions by seq, participants by their first vote in the history, then
// authors who never voted by their first opinion. Deleted opinions and
// their votes are left out.
//
//   - comments.csv: one row per opinion in comment-id order; agrees and
//     disagrees are its current tallies; moderated is 1 for a visible
//     opinion and -1 for a moved or hidden one; an is-meta column is added
//     only when some opinion is a meta statement.
//   - votes.csv: the vote history, in Polis' order (comment-id, voter-id,
//     time). Polis has no cancel: the rows of a vote that was later
//     cancelled are left out (a cancel and everything before it), so that
//     the latest row of every pair is its current vote and a re-import
//     gives the same current votes.
//   - participants-votes.csv: one row per participant with a current vote,
//     by voter-id, with its group in the latest analysis (empty when not
//     clustered, or when no analysis came within AnalysisWait).
//   - summary.csv: topic, url (empty), views (empty), voters,
//     voters-in-conv (participants in a group), commenters, comments,
//     groups and conversation-description.
func (p *Polis) ExportPolis(ctx context.Context, cid, file string, w io.Writer) error {
	switch file {
	case polis.CommentsFile, polis.VotesFile, polis.ParticipantsVotesFile, polis.SummaryFile:
	default:
		return agora.Errorf(agora.EINVALID, "Unknown export file %q (comments.csv, votes.csv, participants-votes.csv or summary.csv).", file)
	}
	x, err := p.loadExport(ctx, cid)
	if err != nil {
		return err
	}
	if file == polis.ParticipantsVotesFile || file == polis.SummaryFile {
		if err := p.loadGroups(ctx, x); err != nil {
			return err
		}
	}
	pw := polis.NewWriter(w)
	switch file {
	case polis.CommentsFile:
		x.writeComments(pw)
	case polis.VotesFile:
		x.writeVotes(pw)
	case polis.ParticipantsVotesFile:
		x.writeParticipantsVotes(pw)
	case polis.SummaryFile:
		x.writeSummary(pw)
	}
	return pw.Flush()
}

// export is what an export reads of a conversation, with Polis ids.
type export struct {
	conv     agora.Conversation
	opinions []*exportOpinion // not deleted, by seq
	byID     map[string]*exportOpinion
	votes    map[string]map[int]int // participant id -> comment id -> vote
	// voters maps participant ids to voter ids.
	voters  map[string]int
	history []exportVote
	// groups maps participant ids to their group in the latest analysis;
	// k is that analysis' number of groups.
	groups map[string]int
	k      int
}

type exportOpinion struct {
	agora.Opinion
	commentID int
	tally     agora.Tally
}

type exportVote struct {
	pid       string
	commentID int
	vote      agora.Vote
	ms        int64
}

// LoadConversation, LoadOpinion and LoadVote make export a
// ConversationSink.
func (x *export) LoadConversation(c agora.Conversation) error { x.conv = c; return nil }

func (x *export) LoadOpinion(o agora.Opinion) error {
	if !o.Deleted {
		eo := &exportOpinion{Opinion: o, commentID: -1}
		x.opinions = append(x.opinions, eo)
		x.byID[o.ID] = eo
	}
	return nil
}

func (x *export) LoadVote(v agora.StoredVote) error {
	o, ok := x.byID[v.OpinionID]
	if !ok {
		return nil // on a deleted opinion
	}
	switch v.Vote {
	case agora.Agree:
		o.tally.Agree++
	case agora.Disagree:
		o.tally.Disagree++
	default:
		o.tally.Pass++
	}
	if x.votes[v.ParticipantID] == nil {
		x.votes[v.ParticipantID] = map[int]int{}
	}
	// Comment ids are not known yet: key by seq, renumbered in loadExport.
	x.votes[v.ParticipantID][o.Seq] = int(v.Vote)
	return nil
}

// polisID returns an external id that is a Polis id (a non-negative
// integer).
func polisID(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0 && strconv.Itoa(n) == s
}

// loadExport reads the conversation, its participants and its history from
// the store, and numbers opinions and participants.
func (p *Polis) loadExport(ctx context.Context, cid string) (*export, error) {
	x := &export{byID: map[string]*exportOpinion{}, votes: map[string]map[int]int{}, voters: map[string]int{}}
	if err := p.store.LoadConversation(ctx, cid, x); err != nil {
		return nil, err
	}

	// Comment ids: external ids first, then numbers after the largest.
	used := map[int]bool{}
	next := 0
	for _, o := range x.opinions {
		if id, ok := polisID(o.ExternalID); ok && !used[id] {
			o.commentID, used[id] = id, true
			next = max(next, id+1)
		}
	}
	for _, o := range x.opinions {
		if o.commentID < 0 {
			o.commentID = next
			next++
		}
	}
	bySeq := make(map[int]int, len(x.opinions))
	for _, o := range x.opinions {
		bySeq[o.Seq] = o.commentID
	}
	for pid, vs := range x.votes {
		renumbered := make(map[int]int, len(vs))
		for seq, v := range vs {
			renumbered[bySeq[seq]] = v
		}
		x.votes[pid] = renumbered
	}

	// Voter ids: external ids first, then numbers after the largest, by
	// first vote, then by first opinion.
	usedVoters := map[int]bool{}
	nextVoter := 0
	err := p.store.ConversationParticipants(ctx, cid, func(pt agora.Participant) error {
		if id, ok := polisID(pt.ExternalID); ok && !usedVoters[id] {
			x.voters[pt.ID], usedVoters[id] = id, true
			nextVoter = max(nextVoter, id+1)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	number := func(pid string) {
		if _, ok := x.voters[pid]; !ok {
			x.voters[pid] = nextVoter
			nextVoter++
		}
	}
	err = p.store.VoteHistory(ctx, cid, func(h agora.HistoryVote) error {
		o, ok := x.byID[h.OpinionID]
		if !ok {
			return nil // on a deleted opinion
		}
		number(h.ParticipantID)
		v := exportVote{pid: h.ParticipantID, commentID: o.commentID, vote: h.Vote, ms: h.At.UnixMilli()}
		if h.Cancelled {
			v.vote = cancelled
		}
		x.history = append(x.history, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for pid := range x.votes { // a current vote the history lacks
		number(pid)
	}
	for _, o := range x.opinions {
		number(o.AuthorID)
	}
	return x, nil
}

// cancelled marks a cancel in an export's copy of the history.
const cancelled agora.Vote = 2

// analysisGroups is the part of the analysis object an export reads.
type analysisGroups struct {
	VotesIncluded int `json:"votes_included"`
	K             int `json:"k"`
	Participants  []struct {
		ParticipantID string `json:"participant_id"`
		Cluster       *int   `json:"cluster"`
	} `json:"participants"`
}

// loadGroups reads the groups of the latest analysis, waiting up to
// AnalysisWait for a first one when the conversation has counted votes.
func (p *Polis) loadGroups(ctx context.Context, x *export) error {
	deadline := time.Now().Add(p.AnalysisWait)
	for {
		raw, err := p.conversations.Analysis(ctx, x.conv.ID, true)
		if err != nil {
			return err
		}
		var a analysisGroups
		if err := json.Unmarshal(raw, &a); err != nil {
			return err
		}
		if a.VotesIncluded > 0 || x.conv.VoteCount == 0 || time.Now().After(deadline) {
			x.k, x.groups = a.K, map[string]int{}
			for _, pt := range a.Participants {
				if pt.Cluster != nil {
					x.groups[pt.ParticipantID] = *pt.Cluster
				}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return agora.Unavailable(time.Second, "The analysis of %s is not ready yet.", x.conv.ID)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (x *export) writeComments(w *polis.Writer) {
	withMeta := slices.ContainsFunc(x.opinions, func(o *exportOpinion) bool { return o.IsMeta })
	w.CommentsHeader(withMeta)
	for _, o := range x.sortedOpinions() {
		moderated := 1
		if o.Status != agora.StatusVisible {
			moderated = -1
		}
		w.Comment(polis.Comment{Timestamp: o.CreatedAt.UnixMilli(), CommentID: o.commentID,
			AuthorID: x.voters[o.AuthorID], Agrees: o.tally.Agree, Disagrees: o.tally.Disagree,
			Moderated: moderated, IsMeta: o.IsMeta, Body: o.Text}, withMeta)
	}
}

func (x *export) sortedOpinions() []*exportOpinion {
	return slices.SortedFunc(slices.Values(x.opinions), func(a, b *exportOpinion) int { return cmp.Compare(a.commentID, b.commentID) })
}

func (x *export) writeVotes(w *polis.Writer) {
	type pair struct {
		pid string
		cid int
	}
	// The index of each pair's last cancel: its rows up to there are left out.
	lastCancel := map[pair]int{}
	for i, v := range x.history {
		if v.vote == cancelled {
			lastCancel[pair{v.pid, v.commentID}] = i
		}
	}
	rows := make([]polis.Vote, 0, len(x.history))
	for i, v := range x.history {
		if c, ok := lastCancel[pair{v.pid, v.commentID}]; ok && i <= c {
			continue
		}
		rows = append(rows, polis.Vote{Timestamp: v.ms, CommentID: v.commentID, VoterID: x.voters[v.pid], Value: int(v.vote)})
	}
	slices.SortStableFunc(rows, func(a, b polis.Vote) int {
		return cmp.Or(cmp.Compare(a.CommentID, b.CommentID), cmp.Compare(a.VoterID, b.VoterID))
	})
	w.VotesHeader()
	for _, v := range rows {
		w.Vote(v)
	}
}

// commented counts the opinions each participant wrote.
func (x *export) commented() map[string]int {
	n := map[string]int{}
	for _, o := range x.opinions {
		n[o.AuthorID]++
	}
	return n
}

func (x *export) writeParticipantsVotes(w *polis.Writer) {
	ids := make([]int, 0, len(x.opinions))
	for _, o := range x.sortedOpinions() {
		ids = append(ids, o.commentID)
	}
	commented := x.commented()
	rows := make([]polis.ParticipantVotes, 0, len(x.votes))
	for pid, vs := range x.votes {
		r := polis.ParticipantVotes{Participant: polis.Participant{VoterID: x.voters[pid]}, Comments: commented[pid], Votes: vs}
		r.GroupID, r.HasGroup = x.groups[pid]
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b polis.ParticipantVotes) int { return cmp.Compare(a.VoterID, b.VoterID) })
	w.ParticipantsVotesHeader(ids)
	for _, r := range rows {
		w.ParticipantVotes(r, ids)
	}
}

func (x *export) writeSummary(w *polis.Writer) {
	inConv := 0
	for pid := range x.votes {
		if _, ok := x.groups[pid]; ok {
			inConv++
		}
	}
	itoa := strconv.Itoa
	w.Summary([][2]string{
		{"topic", x.conv.Title},
		{"url", ""},
		{"views", ""},
		{"voters", itoa(len(x.votes))},
		{"voters-in-conv", itoa(inConv)},
		{"commenters", itoa(len(x.commented()))},
		{"comments", itoa(len(x.opinions))},
		{"groups", itoa(x.k)},
		{"conversation-description", x.conv.Body},
	})
}
