package actors

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/agora-dev/agora"
)

// TestAnalysisExternalIDs checks that the served analysis puts the external
// ids of imported opinions and participants beside every opinion_id and
// participant_id, and nothing for native ones.
func TestAnalysisExternalIDs(t *testing.T) {
	s := newConversation(agora.Conversation{ID: "c1"})
	for i := range 12 {
		o := agora.Opinion{ID: fmt.Sprint("o", i), Seq: i, Status: agora.StatusVisible}
		if i%4 != 3 { // every fourth opinion is native
			o.ExternalID = fmt.Sprint(100 + i)
		}
		if err := s.LoadOpinion(o); err != nil {
			t.Fatal(err)
		}
	}
	voterExternalIDs := map[string]string{}
	for p := range 40 {
		id := fmt.Sprint("p", p)
		if p%5 != 4 { // every fifth participant is native
			voterExternalIDs[id] = fmt.Sprint(p)
		}
		for o := range 12 {
			v := agora.Disagree
			if (o+p)%3 == 0 {
				v = agora.Agree
			}
			if err := s.LoadVote(agora.StoredVote{ParticipantID: id, OpinionID: fmt.Sprint("o", o), Vote: v}); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.finishLoad()
	a := compute(s.snapshotForMath(), nil)
	if a == nil {
		t.Fatal("no analysis")
	}
	if !a.imported() {
		t.Fatal("a conversation with external opinion ids is not taken as imported")
	}

	type opinion struct {
		OpinionID  string  `json:"opinion_id"`
		ExternalID *string `json:"external_id"`
	}
	type participant struct {
		ParticipantID string  `json:"participant_id"`
		ExternalID    *string `json:"external_id"`
	}
	type output struct {
		Clusters []struct {
			Representative []opinion `json:"representative"`
		} `json:"clusters"`
		Consensus struct {
			Agree    []opinion `json:"agree"`
			Disagree []opinion `json:"disagree"`
		} `json:"consensus"`
		Opinions     []opinion     `json:"opinions"`
		Participants []participant `json:"participants"`
	}
	wantOpinion := func(t *testing.T, o opinion) {
		t.Helper()
		var i int
		if _, err := fmt.Sscanf(o.OpinionID, "o%d", &i); err != nil {
			t.Fatal(err)
		}
		switch {
		case i%4 == 3 && o.ExternalID != nil:
			t.Errorf("native opinion %s has external_id %q", o.OpinionID, *o.ExternalID)
		case i%4 != 3 && (o.ExternalID == nil || *o.ExternalID != fmt.Sprint(100+i)):
			t.Errorf("opinion %s has external_id %v, want %d", o.OpinionID, o.ExternalID, 100+i)
		}
	}
	plain, err := a.plainBody()
	if err != nil {
		t.Fatal(err)
	}
	full, err := a.fullBody(voterExternalIDs)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		json         []byte
		participants bool
	}{
		{"WithoutParticipants", plain, false},
		{"WithParticipants", full, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out output
			if err := json.Unmarshal(tc.json, &out); err != nil {
				t.Fatal(err)
			}
			if len(out.Opinions) != 12 || len(out.Clusters) < 2 {
				t.Fatalf("%d opinions and %d clusters, want 12 and at least 2", len(out.Opinions), len(out.Clusters))
			}
			reps := 0
			for _, c := range out.Clusters {
				reps += len(c.Representative)
				for _, o := range c.Representative {
					wantOpinion(t, o)
				}
			}
			if reps == 0 {
				t.Error("no representative opinions to check")
			}
			for _, o := range append(append(out.Opinions, out.Consensus.Agree...), out.Consensus.Disagree...) {
				wantOpinion(t, o)
			}
			if !tc.participants {
				if out.Participants != nil {
					t.Errorf("%d participants without include=participants", len(out.Participants))
				}
				return
			}
			if len(out.Participants) != 40 {
				t.Fatalf("%d participants, want 40", len(out.Participants))
			}
			for _, p := range out.Participants {
				var i int
				if _, err := fmt.Sscanf(p.ParticipantID, "p%d", &i); err != nil {
					t.Fatal(err)
				}
				switch {
				case i%5 == 4 && p.ExternalID != nil:
					t.Errorf("native participant %s has external_id %q", p.ParticipantID, *p.ExternalID)
				case i%5 != 4 && (p.ExternalID == nil || *p.ExternalID != fmt.Sprint(i)):
					t.Errorf("participant %s has external_id %v, want %d", p.ParticipantID, p.ExternalID, i)
				}
			}
		})
	}
}
