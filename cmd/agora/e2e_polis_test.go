package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/agora-dev/agora"
)

// WithImportMaxBytes sets the node's --import-max-bytes.
func WithImportMaxBytes(n int) ServerOption {
	return func(c *ServeConfig) { c.ImportMaxBytes = n }
}

// cli runs one agora command line against the server under test (with its
// admin token, without progress lines) and returns its stdout; a non-zero
// exit fails the test.
func (ts *TestServer) cli(tb testing.TB, args ...string) []byte {
	tb.Helper()
	if args[0] == "import" || args[0] == "export" || args[0] == "gen" {
		args = append(args, "--server", ts.URL, "--admin-token", testAdminToken, "--progress", "0")
	}
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 0 {
		tb.Fatalf("agora %s: exit %d: %s", strings.Join(args, " "), code, stderr.String())
	}
	return stdout.Bytes()
}

// importDir imports an export folder with `agora import polis` and returns
// the answer.
func (ts *TestServer) importDir(tb testing.TB, dir string) importResult {
	tb.Helper()
	var res importResult
	if err := json.Unmarshal(ts.cli(tb, "import", "polis", dir), &res); err != nil || res.ConversationID == "" {
		tb.Fatalf("import %s printed no conversation id: %v", dir, err)
	}
	return res
}

// csvRows reads a CSV file with a header into maps by column name.
func csvRows(tb testing.TB, name string) []map[string]string {
	tb.Helper()
	f, err := os.Open(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	var out []map[string]string
	for _, rec := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = rec[i]
		}
		out = append(out, m)
	}
	return out
}

// expectedCounts computes, from an export folder's files and independently
// of the server's reader, the counters of api.md: opinions are the comments
// not moderated out; votes are the latest votes (by timestamp, the later
// row on ties) on those; participants are the voters with one such vote.
func expectedCounts(tb testing.TB, dir string) counts {
	tb.Helper()
	counted := map[string]bool{}
	var c counts
	for _, r := range csvRows(tb, filepath.Join(dir, "comments.csv")) {
		if r["moderated"] != "-1" {
			counted[r["comment-id"]] = true
			c.opinions++
		}
	}
	type pair struct{ voter, comment string }
	latest := map[pair]int64{}
	for _, r := range csvRows(tb, filepath.Join(dir, "votes.csv")) {
		ts, err := strconv.ParseInt(r["timestamp"], 10, 64)
		if err != nil {
			tb.Fatal(err)
		}
		k := pair{r["voter-id"], r["comment-id"]}
		if old, ok := latest[k]; !ok || ts >= old {
			latest[k] = ts
		}
	}
	voters := map[string]bool{}
	for k := range latest {
		if counted[k.comment] {
			c.votes++
			voters[k.voter] = true
		}
	}
	c.participants = len(voters)
	return c
}

// TestE2EPolisImport imports every open-data folder through HTTP and checks
// the counters against the files, the moved opinions, the Polis ids kept as
// external ids, and that the imported participants cannot authenticate.
func TestE2EPolisImport(t *testing.T) {
	t.Parallel()
	ts := MustOpenServer(t)
	for _, name := range []string{"london.youth.policing", "scoop-hivemind.freshwater", "15-per-hour-seattle", "austria-climate.5twd2jsnkf.2022-08-08"} {
		t.Run(name, func(t *testing.T) {
			dir := openDataDir(t, name)
			want := expectedCounts(t, dir)
			res := ts.importDir(t, dir)
			if got := (counts{res.Opinions, res.Votes, res.Participants}); got != want {
				t.Fatalf("the import answered %v, want %v", got, want)
			}
			// The first request activates the conversation from the store.
			c := ts.requireCounters(t, res.ConversationID, want)
			if c.AuthorID != agora.AdminAuthorID || c.Title == "" {
				t.Fatalf("author %q, title %q: want the admin and summary.csv's topic", c.AuthorID, c.Title)
			}
			moved := 0
			for _, r := range csvRows(t, filepath.Join(dir, "comments.csv")) {
				if r["moderated"] == "-1" {
					moved++
				}
			}
			if got := len(ts.opinions(t, "", res.ConversationID, "moderated")); got != moved {
				t.Fatalf("%d moved opinions, want the %d moderated out", got, moved)
			}
			r := ts.do(t, "GET", opinionsPath(res.ConversationID)+"?limit=5", "", nil)
			page := expect[struct {
				Items []struct {
					ExternalID string `json:"external_id"`
					AuthorID   string `json:"author_id"`
				} `json:"items"`
			}](t, r, http.StatusOK)
			for _, o := range page.Items {
				if _, err := strconv.Atoi(o.ExternalID); err != nil {
					t.Fatalf("an opinion without its Polis comment-id as external_id: %s", r)
				}
				p, err := ts.Store.Participant(context.Background(), o.AuthorID)
				if err != nil || p.ExternalID == "" || p.TokenHash != ([32]byte{}) {
					t.Fatalf("author %s: %+v, %v; want an imported participant with its voter-id and no token", o.AuthorID, p, err)
				}
			}
		})
	}
}

// TestE2EPolisRoundTrip exports imported conversations, one of them changed
// live (a new participant's votes, a change, a cancel, a new opinion, a
// moderation, a deletion), re-imports the export and checks that the copy
// has the same counters, opinions and current votes: its own export is the
// same files (but for the groups, which depend on the analysis' history).
// agora analyze reads the exported folder.
func TestE2EPolisRoundTrip(t *testing.T) {
	t.Parallel()
	ts := MustOpenServer(t)
	for _, name := range []string{"london.youth.policing", "15-per-hour-seattle"} {
		t.Run(name, func(t *testing.T) {
			res := ts.importDir(t, openDataDir(t, name))
			cid := res.ConversationID
			if name == "london.youth.policing" {
				ops := ts.opinions(t, "", cid, "new")
				_, token := ts.newParticipant(t)
				ts.vote(t, token, cid, ops[0].ID, "agree")
				ts.vote(t, token, cid, ops[1].ID, "agree")
				ts.vote(t, token, cid, ops[1].ID, "disagree")
				ts.vote(t, token, cid, ops[2].ID, "pass")
				ts.cancelVote(t, token, cid, ops[2].ID)
				ts.vote(t, token, cid, ops[3].ID, "agree")
				ts.cancelVote(t, token, cid, ops[3].ID)
				ts.vote(t, token, cid, ops[3].ID, "disagree")
				ts.createOpinion(t, token, cid, "A new opinion, with a comma and \"quotes\"")
				ts.moderate(t, testAdminToken, cid, ops[4].ID, "hide")
				requireStatus(t, ts.do(t, "DELETE", opinionPath(cid, ops[5].ID), testAdminToken, nil), http.StatusNoContent)
			}
			before := ts.conversation(t, cid)
			first := t.TempDir()
			ts.cli(t, "export", "polis", cid, first)
			for _, f := range exportFiles {
				if _, err := os.Stat(filepath.Join(first, f)); err != nil {
					t.Fatalf("the export lacks %s: %v", f, err)
				}
			}
			requireSameHeader(t, filepath.Join(first, "comments.csv"), filepath.Join(openDataDir(t, name), "comments.csv"))
			requireSameHeader(t, filepath.Join(first, "votes.csv"), filepath.Join(openDataDir(t, name), "votes.csv"))

			// agora analyze (offline) reads the exported folder.
			var out, errOut bytes.Buffer
			if code := run([]string{"analyze", first, "--json", filepath.Join(t.TempDir(), "a.json")}, &out, &errOut); code != 0 {
				t.Fatalf("agora analyze of the export: exit %d: %s", code, errOut.String())
			}

			copyRes := ts.importDir(t, first)
			after := ts.requireCounters(t, copyRes.ConversationID,
				counts{before.OpinionCount, before.VoteCount, before.ParticipantCount})
			if after.Title != before.Title || after.Body != before.Body {
				t.Fatalf("title/body %q/%q, want %q/%q", after.Title, after.Body, before.Title, before.Body)
			}
			if a, b := opinionDigest(ts.opinions(t, "", cid, "new")), opinionDigest(ts.opinions(t, "", copyRes.ConversationID, "new")); !slices.Equal(a, b) {
				t.Fatalf("visible opinions differ:\n%v\n%v", a, b)
			}
			// Hidden opinions are exported moderated out, so they come back moved.
			hidden := len(ts.opinions(t, testAdminToken, cid, "hidden"))
			if got := len(ts.opinions(t, testAdminToken, copyRes.ConversationID, "moderated")); got != len(ts.opinions(t, testAdminToken, cid, "moderated"))+hidden {
				t.Fatalf("%d moved opinions in the copy, want %d moved and hidden", got, hidden)
			}

			second := t.TempDir()
			ts.cli(t, "export", "polis", copyRes.ConversationID, second)
			for _, f := range []string{"comments.csv", "votes.csv"} {
				a, b := mustReadFile(t, filepath.Join(first, f)), mustReadFile(t, filepath.Join(second, f))
				if !bytes.Equal(a, b) {
					t.Fatalf("%s of the copy differs from the original's", f)
				}
			}
			if a, b := withoutGroups(t, filepath.Join(first, "participants-votes.csv")), withoutGroups(t, filepath.Join(second, "participants-votes.csv")); !slices.Equal(a, b) {
				t.Fatal("the current votes of the copy (participants-votes.csv) differ from the original's")
			}
		})
	}
}

// opinionDigest is what must survive a round trip of each opinion: its
// Polis id, text, status and tallies.
func opinionDigest(ops []opinionJSON) []string {
	out := make([]string, len(ops))
	for i, o := range ops {
		out[i] = fmt.Sprintf("%s|%s|%d/%d/%d", o.Text, o.Status, o.Agree, o.Disagree, o.Pass)
	}
	slices.Sort(out)
	return out
}

func mustReadFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// requireSameHeader checks that an exported file has the header of Polis'
// own file.
func requireSameHeader(tb testing.TB, got, want string) {
	tb.Helper()
	line := func(name string) string {
		b := mustReadFile(tb, name)
		h, _, _ := bytes.Cut(b, []byte("\n"))
		return string(h)
	}
	if g, w := line(got), line(want); g != w {
		tb.Fatalf("%s: header %q, want Polis' %q", got, g, w)
	}
}

// withoutGroups returns participants-votes.csv's rows without the group-id
// column.
func withoutGroups(tb testing.TB, name string) []string {
	tb.Helper()
	var out []string
	for i, line := range strings.Split(string(mustReadFile(tb, name)), "\n") {
		f := strings.Split(line, ",")
		if i > 0 && len(f) > 2 {
			f[2] = ""
		}
		out = append(out, strings.Join(f, ","))
	}
	return out
}

// multipartBody builds an import body from name/content pairs (a "title"
// name is a plain field).
func multipartBody(tb testing.TB, parts ...string) ([]byte, string) {
	tb.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for i := 0; i < len(parts); i += 2 {
		var w io.Writer
		var err error
		if parts[i] == "title" {
			w, err = mw.CreateFormField("title")
		} else {
			w, err = mw.CreateFormFile(parts[i], parts[i])
		}
		if err != nil {
			tb.Fatal(err)
		}
		io.WriteString(w, parts[i+1])
	}
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

// TestE2EPolisImportErrors sends malformed imports: each gets a 400 naming
// the file and line (or the status of api.md), and nothing is imported.
func TestE2EPolisImportErrors(t *testing.T) {
	t.Parallel()
	ts := MustOpenServer(t, WithImportMaxBytes(1<<20))
	const comments = "timestamp,datetime,comment-id,author-id,agrees,disagrees,moderated,comment-body\n" +
		"1,x,0,0,0,0,1,first\n2,x,1,0,0,0,-1,second\n"
	const votes = "timestamp,datetime,comment-id,voter-id,vote\n1,x,0,5,1\n2,x,1,6,-1\n"
	for _, tc := range []struct {
		name   string
		parts  []string
		status int
		code   string
		detail string
	}{
		{"a votes.csv without its voter-id column", []string{"comments.csv", comments, "votes.csv", "timestamp,comment-id,vote\n1,0,1\n"},
			400, "invalid_input", `votes.csv:1: no "voter-id" column`},
		{"a comments.csv without its moderated column", []string{"comments.csv", "comment-id,comment-body\n0,a\n", "votes.csv", votes},
			400, "invalid_input", `comments.csv:1: no "moderated" column`},
		{"no comments.csv", []string{"votes.csv", votes}, 400, "invalid_input", "comments.csv: missing"},
		{"no votes", []string{"comments.csv", comments}, 400, "invalid_input", "votes.csv: missing"},
		{"a non-numeric comment id", []string{"comments.csv", comments + "3,x,three,0,0,0,1,t\n", "votes.csv", votes},
			400, "invalid_input", `comments.csv:4: comment-id "three" is not an integer`},
		{"a non-numeric voter id", []string{"comments.csv", comments, "votes.csv", votes + "3,x,0,seven,1\n"},
			400, "invalid_input", `votes.csv:4: voter-id "seven" is not an integer`},
		{"a vote outside -1, 0 and 1", []string{"comments.csv", comments, "votes.csv", votes + "3,x,0,7,2\n"},
			400, "invalid_input", `votes.csv:4: vote "2" is not -1, 0 or 1`},
		{"a vote on an unknown comment", []string{"comments.csv", comments, "votes.csv", votes + "3,x,9,7,1\n"},
			400, "invalid_input", "votes.csv:4: vote on comment-id 9"},
		{"a vote on an unknown comment, sent before comments.csv", []string{"votes.csv", votes + "3,x,9,7,1\n", "comments.csv", comments},
			400, "invalid_input", "votes.csv:4: vote on comment-id 9"},
		{"a participants-votes.csv cell outside -1, 0 and 1", []string{"comments.csv", comments, "participants-votes.csv", "participant,group-id,0,1\n5,0,1,\n6,,x,1\n"},
			400, "invalid_input", `participants-votes.csv:3: vote "x" is not -1, 0 or 1`},
		{"broken quoting", []string{"comments.csv", comments + "3,x,2,0,0,0,1,\"never closed\n", "votes.csv", votes},
			400, "invalid_input", "comments.csv:4:"},
		{"a title over 140 characters", []string{"title", strings.Repeat("t", 141), "comments.csv", comments, "votes.csv", votes},
			400, "invalid_input", "title must have at most 140 characters"},
		{"a file over the import limit", []string{"comments.csv", comments, "votes.csv", votes + strings.Repeat("3,x,0,7,1\n", 120_000)},
			413, "too_large", "over the limit of 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, ct := multipartBody(t, tc.parts...)
			r := ts.send(t, request{method: "POST", path: "/admin/import/polis", token: testAdminToken, body: body, contentType: ct})
			requireProblem(t, r, tc.status, tc.code)
			if detail := r.object(t)["detail"].(string); !strings.Contains(detail, tc.detail) {
				t.Fatalf("detail %q, want it to contain %q", detail, tc.detail)
			}
			requireNoConversation(t, ts)
		})
	}

	t.Run("refuses an upload over the limit before its body is sent", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "comments.csv"), []byte(comments), 0o644)
		os.WriteFile(filepath.Join(dir, "votes.csv"), []byte(votes+strings.Repeat("3,x,0,7,1\n", 500_000)), 0o644)
		var stdout, stderr bytes.Buffer
		code := run([]string{"import", "polis", dir, "--server", ts.URL, "--admin-token", testAdminToken, "--progress", "0"}, &stdout, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), "413 too_large") || !strings.Contains(stderr.String(), "1048576") {
			t.Fatalf("agora import of 5 MB with a 1 MiB limit: exit %d, stderr %q", code, stderr.String())
		}
		requireNoConversation(t, ts)
	})
	t.Run("needs the admin token", func(t *testing.T) {
		body, ct := multipartBody(t, "comments.csv", comments, "votes.csv", votes)
		requireProblem(t, ts.send(t, request{method: "POST", path: "/admin/import/polis", body: body, contentType: ct}), 401, "unauthenticated")
		_, token := ts.newParticipant(t)
		requireProblem(t, ts.send(t, request{method: "POST", path: "/admin/import/polis", token: token, body: body, contentType: ct}), 403, "forbidden")
		requireNoConversation(t, ts)
	})
	t.Run("needs a multipart body", func(t *testing.T) {
		requireProblem(t, ts.send(t, request{method: "POST", path: "/admin/import/polis", token: testAdminToken, body: comments, contentType: "text/csv"}), 415, "unsupported_media_type")
		requireNoConversation(t, ts)
	})
	t.Run("keeps the JSON endpoints' 64 KiB limit", func(t *testing.T) {
		_, token := ts.newParticipant(t)
		r := ts.do(t, "POST", "/v1/conversations", token, map[string]string{"title": "t", "body": strings.Repeat("b", 200<<10)})
		requireProblem(t, r, 413, "too_large")
		if detail := r.object(t)["detail"].(string); !strings.Contains(detail, "65536") {
			t.Fatalf("detail %q, want the 64 KiB limit", detail)
		}
	})
	t.Run("imports the same files once they are right", func(t *testing.T) {
		body, ct := multipartBody(t, "title", "Fixed", "comments.csv", comments, "votes.csv", votes)
		res := expect[importResult](t, ts.send(t, request{method: "POST", path: "/admin/import/polis", token: testAdminToken, body: body, contentType: ct}), http.StatusCreated)
		requireKeys(t, "import answer", ts.send(t, request{method: "POST", path: "/admin/import/polis", token: testAdminToken, body: body, contentType: ct}).object(t),
			"conversation_id", "opinions", "participants", "votes")
		if c := ts.requireCounters(t, res.ConversationID, counts{1, 1, 1}); c.Title != "Fixed" {
			t.Fatalf("title %q, want the title field", c.Title)
		}
	})
}

// requireNoConversation checks in the store that no conversation exists.
func requireNoConversation(tb testing.TB, ts *TestServer) {
	tb.Helper()
	page, err := ts.Store.ListConversations(context.Background(), agora.ConversationQuery{Limit: 1})
	if err != nil {
		tb.Fatal(err)
	}
	if len(page.Items) != 0 {
		tb.Fatalf("the store holds conversation %s after a refused import", page.Items[0].ID)
	}
}

// TestE2EPolisExport checks the export endpoint's answers: text/csv with
// Polis' headers, the groups of the latest analysis, and problems for a bad
// file name, an unknown conversation and a caller without the admin token.
func TestE2EPolisExport(t *testing.T) {
	t.Parallel()
	ts := MustOpenServer(t)
	dir := openDataDir(t, "scoop-hivemind.freshwater")
	cid := ts.importDir(t, dir).ConversationID
	path := "/admin/conversations/" + cid + "/export/polis/"
	for _, f := range exportFiles {
		r := ts.do(t, "GET", path+f, testAdminToken, nil)
		requireStatus(t, r, http.StatusOK)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			t.Fatalf("%s: Content-Type %q", f, ct)
		}
	}
	pv := string(ts.do(t, "GET", path+"participants-votes.csv", testAdminToken, nil).Body)
	if !strings.HasPrefix(pv, "participant,xid,group-id,n-comments,n-votes,n-agree,n-disagree,0,1,2,") {
		t.Fatalf("participants-votes.csv starts %q", pv[:100])
	}
	grouped := 0
	for _, line := range strings.Split(pv, "\n")[1:] {
		if f := strings.Split(line, ","); len(f) > 2 && f[2] != "" {
			grouped++
		}
	}
	if grouped == 0 {
		t.Fatal("participants-votes.csv has no group-id: the analysis' groups are missing")
	}
	summary := string(ts.do(t, "GET", path+"summary.csv", testAdminToken, nil).Body)
	if !strings.HasPrefix(summary, "topic,HiveMind - Freshwater Quality in NZ\n") || !strings.Contains(summary, "\nvoters,117\n") {
		t.Fatalf("summary.csv:\n%s", summary)
	}
	requireProblem(t, ts.do(t, "GET", path+"stats-history.csv", testAdminToken, nil), 400, "invalid_input")
	requireProblem(t, ts.do(t, "GET", "/admin/conversations/nothing/export/polis/votes.csv", testAdminToken, nil), 404, "not_found")
	requireProblem(t, ts.do(t, "GET", path+"votes.csv", "", nil), 401, "unauthenticated")

	// A failed export leaves no folder behind.
	out := filepath.Join(t.TempDir(), "export")
	var stdout, stderr bytes.Buffer
	args := []string{"export", "polis", "nothing", out, "--server", ts.URL, "--admin-token", testAdminToken, "--progress", "0"}
	if code := run(args, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "not_found") {
		t.Fatalf("export of an unknown conversation: exit %d, %s", code, stderr.String())
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a failed export left its folder behind")
	}
}

// TestE2EPolisGen creates synthetic conversations with agora gen: the
// counters are exactly the flags, and the groups are found.
func TestE2EPolisGen(t *testing.T) {
	t.Parallel()
	ts := MustOpenServer(t)
	var res importResult
	out := ts.cli(t, "gen", "--participants", "300", "--opinions", "400", "--votes", "4000", "--groups", "3", "--seed", "7")
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("gen printed %q: %v", out, err)
	}
	ts.requireCounters(t, res.ConversationID, counts{400, 4000, 300})
	if n := len(ts.opinions(t, "", res.ConversationID, "moderated")); n != 12 {
		t.Fatalf("%d moderated opinions, want 3%% of 400", n)
	}
	an := expect[struct {
		K      int    `json:"k"`
		Status string `json:"status"`
	}](t, ts.do(t, "GET", convPath(res.ConversationID)+"/analysis", "", nil), http.StatusOK)
	if an.Status != "ok" || an.K < 2 {
		t.Fatalf("analysis status %s with k=%d, want groups", an.Status, an.K)
	}
}
