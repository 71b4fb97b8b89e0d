package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestE2EAnalysis checks the analysis endpoint and the math sorts through
// HTTP: a polarised conversation is analysed within moments, the analysis
// object has the shape of api.md, and the opinion lists follow it.
func TestE2EAnalysis(t *testing.T) {
	t.Parallel()
	ts := MustOpenServer(t)
	_, author := ts.newParticipant(t)
	seeds := make([]string, 12)
	for i := range seeds {
		seeds[i] = fmt.Sprint("opinion ", i)
	}
	conv := ts.createConversation(t, author, map[string]any{"title": "groups", "seed_opinions": seeds})
	ops := ts.opinions(t, "", conv.ID, "new")
	for p := range 24 {
		_, token := ts.newParticipant(t)
		for o, op := range ops {
			vote := "disagree"
			if (o+p)%2 == 0 {
				vote = "agree"
			}
			ts.vote(t, token, conv.ID, op.ID, vote)
		}
	}
	want := ts.conversation(t, conv.ID).VoteCount

	var an map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := ts.do(t, "GET", convPath(conv.ID)+"/analysis?include=participants", "", nil)
		requireStatus(t, r, http.StatusOK)
		an = r.object(t)
		if int(an["votes_included"].(float64)) == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the analysis includes %v votes, the conversation %d", an["votes_included"], want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	requireKeys(t, "analysis", an, "conversation_id", "computed_at", "votes_included", "participants_total",
		"participants_clustered", "k", "status", "clusters", "consensus", "opinions", "pca", "participants")
	if an["status"] != "ok" || an["k"].(float64) < 2 {
		t.Fatalf("status %v, k %v: want ok and two groups at least", an["status"], an["k"])
	}
	if n := len(an["participants"].([]any)); n != 24 {
		t.Fatalf("%d participants placed, want 24", n)
	}
	if _, err := time.Parse(time.RFC3339, an["computed_at"].(string)); err != nil {
		t.Fatalf("computed_at: %v", err)
	}

	t.Run("without include the participants are left out", func(t *testing.T) {
		obj := expect[map[string]any](t, ts.do(t, "GET", convPath(conv.ID)+"/analysis", "", nil), http.StatusOK)
		if _, ok := obj["participants"]; ok {
			t.Fatal("participants listed without include=participants")
		}
	})
	t.Run("before any vote the answer has the same shape, computed_at null", func(t *testing.T) {
		empty := ts.createConversation(t, author, map[string]any{"title": "no votes yet"})
		r := ts.do(t, "GET", convPath(empty.ID)+"/analysis?include=participants", "", nil)
		requireStatus(t, r, http.StatusOK)
		obj := r.object(t)
		requireKeys(t, "analysis", obj, "conversation_id", "computed_at", "votes_included", "participants_total",
			"participants_clustered", "k", "status", "clusters", "consensus", "opinions", "pca", "participants")
		pca := obj["pca"].(map[string]any)
		if obj["computed_at"] != nil || obj["status"] != "insufficient_data" || len(obj["participants"].([]any)) != 0 ||
			len(pca["components"].([]any)) != 2 {
			t.Fatalf("analysis before any vote: %s", r.Body)
		}
		plain := expect[map[string]any](t, ts.do(t, "GET", convPath(empty.ID)+"/analysis", "", nil), http.StatusOK)
		if _, ok := plain["participants"]; ok {
			t.Fatal("participants listed without include=participants")
		}
	})
	t.Run("bad include and unknown conversations are refused", func(t *testing.T) {
		requireProblem(t, ts.do(t, "GET", convPath(conv.ID)+"/analysis?include=everything", "", nil), http.StatusBadRequest, "invalid_input")
		requireProblem(t, ts.do(t, "GET", convPath("nope")+"/analysis", "", nil), http.StatusNotFound, "not_found")
		requireProblem(t, ts.do(t, "GET", convPath("bad$id")+"/analysis", "", nil), http.StatusBadRequest, "invalid_input")
	})
	t.Run("opinions carry one tally per group", func(t *testing.T) {
		r := ts.do(t, "GET", opinionsPath(conv.ID)+"?sort=discover&limit=100", "", nil)
		page := expect[struct {
			Items []struct {
				ID       string            `json:"id"`
				Clusters []json.RawMessage `json:"clusters"`
			} `json:"items"`
		}](t, r, http.StatusOK)
		if len(page.Items) != len(seeds) {
			t.Fatalf("discover listed %d opinions, want %d", len(page.Items), len(seeds))
		}
		for _, it := range page.Items {
			if len(it.Clusters) != int(an["k"].(float64)) {
				t.Fatalf("opinion %s has %d cluster tallies, want k=%v", it.ID, len(it.Clusters), an["k"])
			}
		}
	})
	t.Run("every math sort answers", func(t *testing.T) {
		for _, q := range []string{"discover", "consensus", "divisive", "majority", "cluster&cluster=0"} {
			requireStatus(t, ts.do(t, "GET", opinionsPath(conv.ID)+"?sort="+q, "", nil), http.StatusOK)
		}
		requireProblem(t, ts.do(t, "GET", opinionsPath(conv.ID)+"?sort=cluster&cluster=-1", "", nil), http.StatusBadRequest, "invalid_input")
		// A group the analysis does not have is not an empty list.
		requireProblem(t, ts.do(t, "GET", opinionsPath(conv.ID)+"?sort=cluster&cluster=99", "", nil), http.StatusBadRequest, "invalid_input")
	})
}
