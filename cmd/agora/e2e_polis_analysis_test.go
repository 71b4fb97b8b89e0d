package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agora-dev/agora"
	polismath "github.com/agora-dev/agora/math"
)

// TestE2EPolisAnalysisEqualsAnalyze imports open-data folders through the
// admin API and checks that the server's analysis of each, once it includes
// every vote, is the one `agora analyze` computes offline on the same folder:
// same groups (sizes, members, centers, representative statements), same
// consensus lists, same PCA (up to the sign of each component) and the same
// numbers per statement and per participant, within 1e-9. The server names
// opinions and participants by agora ids; their external ids (the Polis
// comment-id and voter-id, read from the opinion listings and from the
// store) map them back, and the analysis carries the same ones beside every
// opinion_id and participant_id.
func TestE2EPolisAnalysisEqualsAnalyze(t *testing.T) {
	t.Parallel()
	ts := MustOpenServer(t)
	for _, name := range []string{"london.youth.policing", "15-per-hour-seattle", "scoop-hivemind.freshwater", "austria-climate.5twd2jsnkf.2022-08-08"} {
		t.Run(name, func(t *testing.T) {
			if testing.Short() && strings.HasPrefix(name, "austria") {
				t.Skip("62,000 votes: not in -short")
			}
			dir := openDataDir(t, name)
			cid := ts.importDir(t, dir).ConversationID

			file := filepath.Join(t.TempDir(), "analysis.json")
			var stdout, stderr bytes.Buffer
			if code := run([]string{"analyze", dir, "--json", file}, &stdout, &stderr); code != 0 {
				t.Fatalf("agora analyze %s: exit %d: %s", dir, code, stderr.String())
			}
			var want polismath.Result
			if err := json.Unmarshal(mustReadFile(t, file), &want); err != nil {
				t.Fatalf("%s: %v", file, err)
			}

			got := ts.completeAnalysis(t, cid)
			ops, voters := ts.polisIDs(t, cid)
			ts.requireExternalIDs(t, cid, ops, voters)
			toPolisIDs(t, &got, ops, voters)
			requireSameAnalysis(t, &got, &want)
		})
	}
}

// completeAnalysis waits until the analysis of a conversation includes all
// its votes and returns it, with participants.
func (ts *TestServer) completeAnalysis(tb testing.TB, cid string) polismath.Result {
	tb.Helper()
	votes := ts.conversation(tb, cid).VoteCount
	deadline := time.Now().Add(30 * time.Second)
	for {
		a := expect[polismath.Result](tb, ts.do(tb, "GET", convPath(cid)+"/analysis?include=participants", "", nil), http.StatusOK)
		if a.VotesIncluded == votes {
			return a
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the analysis of %s includes %d votes after 30s, the conversation has %d", cid, a.VotesIncluded, votes)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// polisIDs returns the external ids of a conversation's opinions, from the
// listings (visible, moved and hidden), and of its participants, from the
// store, as exports read them (no endpoint lists participants), by agora id.
func (ts *TestServer) polisIDs(tb testing.TB, cid string) (ops, voters map[string]string) {
	tb.Helper()
	ops = map[string]string{}
	for _, sort := range []string{"new", "moderated", "hidden"} {
		cursor := ""
		for {
			path := opinionsPath(cid) + "?limit=500&sort=" + sort
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			page := expect[struct {
				Items []struct {
					ID         string `json:"id"`
					ExternalID string `json:"external_id"`
				} `json:"items"`
				NextCursor *string `json:"next_cursor"`
			}](tb, ts.do(tb, "GET", path, testAdminToken, nil), http.StatusOK)
			for _, o := range page.Items {
				if o.ExternalID == "" {
					tb.Fatalf("imported opinion %s has no external id", o.ID)
				}
				ops[o.ID] = o.ExternalID
			}
			if page.NextCursor == nil {
				break
			}
			cursor = *page.NextCursor
		}
	}
	voters = map[string]string{}
	err := ts.Store.ConversationParticipants(context.Background(), cid, func(p agora.Participant) error {
		voters[p.ID] = p.ExternalID
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return ops, voters
}

// requireExternalIDs checks that the analysis of an imported conversation
// (the latest, with participants) gives every opinion and participant its
// Polis id as external_id, beside its agora id.
func (ts *TestServer) requireExternalIDs(tb testing.TB, cid string, ops, voters map[string]string) {
	tb.Helper()
	type opinion struct {
		OpinionID  string `json:"opinion_id"`
		ExternalID string `json:"external_id"`
	}
	a := expect[struct {
		Clusters []struct {
			Representative []opinion `json:"representative"`
		} `json:"clusters"`
		Consensus struct {
			Agree    []opinion `json:"agree"`
			Disagree []opinion `json:"disagree"`
		} `json:"consensus"`
		Opinions     []opinion `json:"opinions"`
		Participants []struct {
			ParticipantID string `json:"participant_id"`
			ExternalID    string `json:"external_id"`
		} `json:"participants"`
	}](tb, ts.do(tb, "GET", convPath(cid)+"/analysis?include=participants", "", nil), http.StatusOK)
	all := slices.Concat(a.Opinions, a.Consensus.Agree, a.Consensus.Disagree)
	for _, c := range a.Clusters {
		all = append(all, c.Representative...)
	}
	if len(a.Opinions) == 0 || len(a.Participants) == 0 {
		tb.Fatalf("the analysis of %s has %d opinions and %d participants", cid, len(a.Opinions), len(a.Participants))
	}
	for _, o := range all {
		if want := ops[o.OpinionID]; o.ExternalID != want || want == "" {
			tb.Fatalf("opinion %s has external_id %q in the analysis, Polis id %q", o.OpinionID, o.ExternalID, want)
		}
	}
	for _, p := range a.Participants {
		if want := voters[p.ParticipantID]; p.ExternalID != want || want == "" {
			tb.Fatalf("participant %s has external_id %q in the analysis, Polis id %q", p.ParticipantID, p.ExternalID, want)
		}
	}
}

// toPolisIDs renames the opinions and participants of an analysis by their
// external ids.
func toPolisIDs(tb testing.TB, a *polismath.Result, ops, voters map[string]string) {
	tb.Helper()
	op := func(id *string) {
		ext, ok := ops[*id]
		if !ok {
			tb.Fatalf("the analysis names opinion %s, which no listing shows", *id)
		}
		*id = ext
	}
	for i := range a.Opinions {
		op(&a.Opinions[i].OpinionID)
	}
	for i := range a.PCA.OpinionIDs {
		op(&a.PCA.OpinionIDs[i])
	}
	for _, l := range [][]polismath.ConsensusOpinion{a.Consensus.Agree, a.Consensus.Disagree} {
		for i := range l {
			op(&l[i].OpinionID)
		}
	}
	for _, c := range a.Clusters {
		for i := range c.Representative {
			op(&c.Representative[i].OpinionID)
		}
	}
	for i := range a.Participants {
		p := &a.Participants[i]
		ext, ok := voters[p.ParticipantID]
		if !ok || ext == "" {
			tb.Fatalf("the analysis places participant %s, who is not an imported participant", p.ParticipantID)
		}
		p.ParticipantID = ext
	}
}

// analysisTolerance bounds the difference of any number of two analyses
// of the same votes.
const analysisTolerance = 1e-9

// requireSameAnalysis compares two analyses named by the same ids. The
// signs of the PCA components are arbitrary: got's are aligned on want's,
// and every coordinate with them.
func requireSameAnalysis(tb testing.TB, got, want *polismath.Result) {
	tb.Helper()
	var diffs []string
	fail := func(format string, args ...any) {
		if len(diffs) < 40 {
			diffs = append(diffs, fmt.Sprintf(format, args...))
		}
	}
	near := func(what string, g, w float64) {
		if math.Abs(g-w) > analysisTolerance || math.IsNaN(g) != math.IsNaN(w) {
			fail("%s: %.15g, want %.15g (difference %.3g)", what, g, w, g-w)
		}
	}

	if got.K != want.K || got.Status != want.Status {
		fail("k %d (%s), want %d (%s)", got.K, got.Status, want.K, want.Status)
	}
	if got.VotesIncluded != want.VotesIncluded {
		fail("votes_included %d, want %d", got.VotesIncluded, want.VotesIncluded)
	}
	if got.ParticipantsTotal != want.ParticipantsTotal || got.ParticipantsClustered != want.ParticipantsClustered {
		fail("participants total/clustered %d/%d, want %d/%d", got.ParticipantsTotal, got.ParticipantsClustered,
			want.ParticipantsTotal, want.ParticipantsClustered)
	}
	sizes := func(r *polismath.Result) []int {
		var s []int
		for _, c := range r.Clusters {
			s = append(s, c.Size)
		}
		slices.Sort(s)
		return s
	}
	if g, w := sizes(got), sizes(want); !slices.Equal(g, w) {
		fail("cluster sizes %v, want %v", g, w)
	}

	// PCA: the same columns, center and components up to sign.
	if g, w := slices.Sorted(slices.Values(got.PCA.OpinionIDs)), slices.Sorted(slices.Values(want.PCA.OpinionIDs)); !slices.Equal(g, w) {
		fail("PCA columns %v, want %v", g, w)
	}
	wantCol := map[string]int{}
	for j, id := range want.PCA.OpinionIDs {
		wantCol[id] = j
	}
	sign := [2]float64{1, 1}
	if len(got.PCA.Components) != len(want.PCA.Components) {
		fail("%d PCA components, want %d", len(got.PCA.Components), len(want.PCA.Components))
	} else {
		for c := range got.PCA.Components {
			dot := 0.0
			for j, id := range got.PCA.OpinionIDs {
				if w, ok := wantCol[id]; ok {
					dot += got.PCA.Components[c][j] * want.PCA.Components[c][w]
				}
			}
			if dot < 0 && c < 2 {
				sign[c] = -1
			}
		}
	}
	for j, id := range got.PCA.OpinionIDs {
		w, ok := wantCol[id]
		if !ok {
			continue
		}
		near("PCA center of "+id, got.PCA.Center[j], want.PCA.Center[w])
		for c := range min(len(got.PCA.Components), len(want.PCA.Components), 2) {
			near(fmt.Sprintf("PCA component %d of %s", c, id), sign[c]*got.PCA.Components[c][j], want.PCA.Components[c][w])
		}
	}

	// Statements.
	wantOps := map[string]polismath.Opinion{}
	for _, o := range want.Opinions {
		wantOps[o.OpinionID] = o
	}
	if len(got.Opinions) != len(want.Opinions) {
		fail("%d opinions, want %d", len(got.Opinions), len(want.Opinions))
	}
	for _, o := range got.Opinions {
		w, ok := wantOps[o.OpinionID]
		if !ok {
			fail("opinion %s is not in agora analyze's", o.OpinionID)
			continue
		}
		near("x of "+o.OpinionID, sign[0]*o.X, w.X)
		near("y of "+o.OpinionID, sign[1]*o.Y, w.Y)
		near("extremity of "+o.OpinionID, o.Extremity, w.Extremity)
		near("priority of "+o.OpinionID, o.Priority, w.Priority)
		near("gac_agree of "+o.OpinionID, o.GACAgree, w.GACAgree)
		near("gac_disagree of "+o.OpinionID, o.GACDisagree, w.GACDisagree)
	}

	// Consensus: the same statements in the same order, the same numbers.
	for _, l := range []struct {
		name     string
		got, wnt []polismath.ConsensusOpinion
	}{{"agree", got.Consensus.Agree, want.Consensus.Agree}, {"disagree", got.Consensus.Disagree, want.Consensus.Disagree}} {
		ids := func(cs []polismath.ConsensusOpinion) []string {
			var s []string
			for _, c := range cs {
				s = append(s, c.OpinionID)
			}
			return s
		}
		if g, w := ids(l.got), ids(l.wnt); !slices.Equal(g, w) {
			fail("consensus %s %v, want %v", l.name, g, w)
			continue
		}
		for i, c := range l.got {
			w := l.wnt[i]
			if c.NSuccess != w.NSuccess || c.NTrials != w.NTrials {
				fail("consensus %s %s: %d/%d, want %d/%d", l.name, c.OpinionID, c.NSuccess, c.NTrials, w.NSuccess, w.NTrials)
			}
			near("consensus "+l.name+" p_success of "+c.OpinionID, c.PSuccess, w.PSuccess)
			near("consensus "+l.name+" p_test of "+c.OpinionID, c.PTest, w.PTest)
		}
	}

	// Participants: the same positions; clusters matched by their members.
	wantPt := map[string]polismath.Participant{}
	for _, p := range want.Participants {
		wantPt[p.ParticipantID] = p
	}
	if len(got.Participants) != len(want.Participants) {
		fail("%d participants, want %d", len(got.Participants), len(want.Participants))
	}
	clusterOf := map[int]int{} // got's cluster id -> want's
	for _, p := range got.Participants {
		w, ok := wantPt[p.ParticipantID]
		if !ok {
			fail("participant %s is not in agora analyze's", p.ParticipantID)
			continue
		}
		near("x of participant "+p.ParticipantID, sign[0]*p.X, w.X)
		near("y of participant "+p.ParticipantID, sign[1]*p.Y, w.Y)
		switch {
		case (p.Cluster == nil) != (w.Cluster == nil):
			fail("participant %s: cluster %v, want %v", p.ParticipantID, ptrString(p.Cluster), ptrString(w.Cluster))
		case p.Cluster != nil:
			if c, ok := clusterOf[*p.Cluster]; ok && c != *w.Cluster {
				fail("participant %s is in group %d with members of agora analyze's group %d, but is in its group %d",
					p.ParticipantID, *p.Cluster, c, *w.Cluster)
			}
			clusterOf[*p.Cluster] = *w.Cluster
		}
	}
	wantCluster := map[int]polismath.Cluster{}
	for _, c := range want.Clusters {
		wantCluster[c.ID] = c
	}
	for _, c := range got.Clusters {
		w, ok := wantCluster[clusterOf[c.ID]]
		if !ok {
			fail("group %d matches no group of agora analyze's", c.ID)
			continue
		}
		if c.Size != w.Size {
			fail("group %d: size %d, want %d (group %d)", c.ID, c.Size, w.Size, w.ID)
		}
		near(fmt.Sprintf("x of group %d", c.ID), sign[0]*c.Center[0], w.Center[0])
		near(fmt.Sprintf("y of group %d", c.ID), sign[1]*c.Center[1], w.Center[1])
		reps := func(rs []polismath.Representative) []string {
			var s []string
			for _, r := range rs {
				s = append(s, fmt.Sprintf("%s %s %d/%d best=%v", r.OpinionID, r.Direction, r.NSuccess, r.NTrials, r.BestAgree))
			}
			return s
		}
		if g, ws := reps(c.Representative), reps(w.Representative); !slices.Equal(g, ws) {
			fail("representative statements of group %d: %v, want %v", c.ID, g, ws)
			continue
		}
		for i, r := range c.Representative {
			wr := w.Representative[i]
			near(fmt.Sprintf("repness of %s in group %d", r.OpinionID, c.ID), r.Repness, wr.Repness)
			near(fmt.Sprintf("repness_test of %s in group %d", r.OpinionID, c.ID), r.RepnessTest, wr.RepnessTest)
			near(fmt.Sprintf("p_test of %s in group %d", r.OpinionID, c.ID), r.PTest, wr.PTest)
		}
	}
	if len(diffs) > 0 {
		tb.Fatalf("the server's analysis differs from agora analyze's:\n%s", strings.Join(diffs, "\n"))
	}
}

func ptrString(p *int) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprint(*p)
}
