package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// openDataDir returns ../shared/fixtures/opendata/<name> relative to the project root
// (../../../shared from this package). Without it the test fails when CI is set, and
// is skipped otherwise.
func openDataDir(tb testing.TB, name string) string {
	tb.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "fixtures", "opendata", name)
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("fixtures folder %s is missing: %v", dir, err)
		}
		tb.Skipf("fixtures folder %s is missing (set CI to make this fatal)", dir)
	}
	return dir
}

func TestAnalyze(t *testing.T) {
	for _, tc := range []struct {
		name              string
		voters, comments  int
		wantAgreementLine bool
		minClustered      int
	}{
		{"15-per-hour-seattle", 339, 54, true, 100},
		{"austria-climate.5twd2jsnkf.2022-08-08", 1116, 522, true, 800},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "analysis.json")
			var stdout, stderr bytes.Buffer
			if code := run([]string{"analyze", openDataDir(t, tc.name), "--json", out}, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d, stderr %q", code, stderr.String())
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			var a map[string]any
			if err := json.Unmarshal(b, &a); err != nil {
				t.Fatal(err)
			}
			requireKeys(t, "analysis", a, "conversation_id", "computed_at", "votes_included", "participants_total",
				"participants_clustered", "k", "status", "clusters", "consensus", "opinions", "pca", "participants", "timings_ms")
			requireKeys(t, "timings_ms", a["timings_ms"].(map[string]any), "load", "math")
			requireKeys(t, "consensus", a["consensus"].(map[string]any), "agree", "disagree")
			requireKeys(t, "pca", a["pca"].(map[string]any), "opinion_ids", "center", "components")

			var typed struct {
				ConversationID        string `json:"conversation_id"`
				ParticipantsTotal     int    `json:"participants_total"`
				ParticipantsClustered int    `json:"participants_clustered"`
				K                     int    `json:"k"`
				Status                string `json:"status"`
				Clusters              []struct {
					ID             int              `json:"id"`
					Size           int              `json:"size"`
					Representative []map[string]any `json:"representative"`
				} `json:"clusters"`
				Opinions     []map[string]any `json:"opinions"`
				Participants []struct {
					ParticipantID string `json:"participant_id"`
					Cluster       *int   `json:"cluster"`
				} `json:"participants"`
			}
			if err := json.Unmarshal(b, &typed); err != nil {
				t.Fatal(err)
			}
			if typed.ConversationID != tc.name || typed.ParticipantsTotal != tc.voters || len(typed.Opinions) != tc.comments {
				t.Errorf("conversation %q with %d participants and %d opinions, want %q, %d, %d",
					typed.ConversationID, typed.ParticipantsTotal, len(typed.Opinions), tc.name, tc.voters, tc.comments)
			}
			if typed.Status != "ok" || typed.K < 2 || typed.K > 5 || len(typed.Clusters) != typed.K {
				t.Fatalf("status %s, k = %d, %d clusters", typed.Status, typed.K, len(typed.Clusters))
			}
			total := 0
			for _, c := range typed.Clusters {
				if c.Size < 1 || len(c.Representative) == 0 {
					t.Errorf("cluster %d: size %d, %d representative opinions", c.ID, c.Size, len(c.Representative))
				}
				requireKeys(t, "representative opinion", c.Representative[0], "opinion_id", "direction", "n_success",
					"n_trials", "p_success", "p_test", "repness", "repness_test", "best_agree")
				total += c.Size
			}
			if total != typed.ParticipantsClustered || total < tc.minClustered {
				t.Errorf("cluster sizes add up to %d, %d clustered (want at least %d)", total, typed.ParticipantsClustered, tc.minClustered)
			}
			requireKeys(t, "opinion", typed.Opinions[0], "opinion_id", "x", "y", "extremity", "priority", "gac_agree", "gac_disagree")
			inCluster := 0
			for _, p := range typed.Participants {
				if p.ParticipantID == "" {
					t.Fatal("participant without id")
				}
				if p.Cluster != nil {
					inCluster++
				}
			}
			if len(typed.Participants) != tc.voters || inCluster != total {
				t.Errorf("%d participants, %d in a cluster; want %d and %d", len(typed.Participants), inCluster, tc.voters, total)
			}
			summary := stdout.String()
			for _, want := range []string{tc.name, "k = ", "group ", "timings: load"} {
				if !strings.Contains(summary, want) {
					t.Errorf("summary lacks %q:\n%s", want, summary)
				}
			}
			if tc.wantAgreementLine && !strings.Contains(summary, "adjusted Rand index") {
				t.Errorf("summary lacks the comparison with Polis' groups:\n%s", summary)
			}
			if lines := strings.Count(summary, "\n"); lines > 30 {
				t.Errorf("summary has %d lines, want one screen", lines)
			}
		})
	}
}

func TestAnalyzeErrors(t *testing.T) {
	t.Run("ErrBrokenFolder", func(t *testing.T) {
		dir := t.TempDir()
		files := map[string]string{
			"comments.csv": "timestamp,datetime,comment-id,author-id,agrees,disagrees,moderated,comment-body\n1,x,0,0,1,0,1,hello\n",
			"votes.csv":    "timestamp,datetime,comment-id,voter-id,vote\n1,x,0,1,1\n2,x,0,2,7\n",
		}
		for name, body := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		var stdout, stderr bytes.Buffer
		code := run([]string{"analyze", dir, "--json", filepath.Join(dir, "out.json")}, &stdout, &stderr)
		msg := stderr.String()
		if code != 1 || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "votes.csv:3") || !strings.Contains(msg, `vote "7"`) {
			t.Fatalf("exit %d, stderr %q: want 1 and one line naming votes.csv:3", code, msg)
		}
		if _, err := os.Stat(filepath.Join(dir, "out.json")); err == nil {
			t.Error("a failed analysis wrote its JSON file")
		}
	})
	t.Run("ErrMissingFolder", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"analyze", filepath.Join(t.TempDir(), "nope")}, &stdout, &stderr); code != 1 {
			t.Fatalf("exit %d, stderr %q", code, stderr.String())
		}
	})
	for name, args := range map[string][]string{
		"ErrNoFolder":    {"analyze"},
		"ErrUnknownFlag": {"analyze", "dir", "--frobnicate"},
		"ErrTwoFolders":  {"analyze", "a", "b"},
		"ErrJSONNoValue": {"analyze", "dir", "--json"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(args, &stdout, &stderr); code != 2 || strings.Count(stderr.String(), "\n") != 1 {
				t.Fatalf("exit %d, stderr %q: want 2 and one line", code, stderr.String())
			}
		})
	}
}

// BenchmarkAnalyzeAustria measures `agora analyze` without the output: reading the
// export folder and the cold math.
func BenchmarkAnalyzeAustria(b *testing.B) {
	dir := openDataDir(b, "austria-climate.5twd2jsnkf.2022-08-08")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := analyzeDir(dir); err != nil {
			b.Fatal(err)
		}
	}
}
