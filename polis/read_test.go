package polis

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// openData returns ../../shared/fixtures/opendata/<name>. Without it the test fails
// when CI is set, and is skipped otherwise.
func openData(tb testing.TB, name string) string {
	tb.Helper()
	dir := filepath.Join("..", "..", "shared", "fixtures", "opendata", name)
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("fixtures folder %s is missing: %v", dir, err)
		}
		tb.Skipf("fixtures folder %s is missing (set CI to make this fatal)", dir)
	}
	return dir
}

var openDataFolders = []struct {
	name             string
	voters, comments int
	groups           int
}{
	{"london.youth.policing", 26, 39, 3},
	{"scoop-hivemind.freshwater", 117, 80, 2},
	{"15-per-hour-seattle", 339, 54, 2},
	{"austria-climate.5twd2jsnkf.2022-08-08", 1116, 522, 2},
}

func TestReadDir(t *testing.T) {
	for _, tc := range openDataFolders {
		t.Run(tc.name, func(t *testing.T) {
			ex, err := ReadDir(openData(t, tc.name))
			if err != nil {
				t.Fatal(err)
			}
			if len(ex.Comments) != tc.comments || ex.VotesSource != VotesFile {
				t.Fatalf("%d comments from %s, want %d from votes.csv", len(ex.Comments), ex.VotesSource, tc.comments)
			}
			voters := map[int]bool{}
			agrees := map[int]int{}
			disagrees := map[int]int{}
			type pair struct{ v, c int }
			seen := map[pair]bool{}
			for i, v := range ex.Votes {
				voters[v.VoterID] = true
				if seen[pair{v.VoterID, v.CommentID}] {
					t.Fatalf("voter %d has two votes on comment %d", v.VoterID, v.CommentID)
				}
				seen[pair{v.VoterID, v.CommentID}] = true
				if i > 0 && v.Timestamp < ex.Votes[i-1].Timestamp {
					t.Fatalf("votes are not in time order at %d", i)
				}
			}
			// Polis' own per-comment counts equal those of the rows of votes.csv
			// (re-votes included), which ReadVotes streams unfiltered.
			f, err := os.Open(filepath.Join(openData(t, tc.name), VotesFile))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rows := 0
			err = ReadVotes(f, VotesFile, func(v Vote) error {
				rows++
				switch v.Value {
				case 1:
					agrees[v.CommentID]++
				case -1:
					disagrees[v.CommentID]++
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if rows < len(ex.Votes) {
				t.Errorf("%d rows but %d current votes", rows, len(ex.Votes))
			}
			if len(voters) != tc.voters {
				t.Errorf("%d voters, want %d", len(voters), tc.voters)
			}
			for _, c := range ex.Comments {
				if agrees[c.CommentID] != c.Agrees || disagrees[c.CommentID] != c.Disagrees {
					t.Errorf("comment %d: %d/%d agree/disagree votes, comments.csv says %d/%d",
						c.CommentID, agrees[c.CommentID], disagrees[c.CommentID], c.Agrees, c.Disagrees)
				}
			}
			groups := map[int]bool{}
			for _, p := range ex.Participants {
				if p.HasGroup {
					groups[p.GroupID] = true
				}
			}
			if len(groups) != tc.groups {
				t.Errorf("%d Polis groups, want %d", len(groups), tc.groups)
			}
		})
	}
}

// TestReadDirFromParticipantsVotes: without votes.csv the votes come from the matrix
// of participants-votes.csv, which holds every voter's current vote.
func TestReadDirFromParticipantsVotes(t *testing.T) {
	src := openData(t, "london.youth.policing")
	dir := t.TempDir()
	for _, f := range []string{CommentsFile, ParticipantsVotesFile} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	if got.VotesSource != ParticipantsVotesFile {
		t.Fatalf("votes from %s", got.VotesSource)
	}
	type pair struct{ v, c int }
	index := func(vs []Vote) map[pair]int {
		m := map[pair]int{}
		for _, v := range vs {
			m[pair{v.VoterID, v.CommentID}] = v.Value
		}
		return m
	}
	g, w := index(got.Votes), index(want.Votes)
	if len(g) != len(w) {
		t.Fatalf("%d votes from participants-votes.csv, %d from votes.csv", len(g), len(w))
	}
	for k, v := range w {
		if g[k] != v {
			t.Errorf("voter %d comment %d: %d from participants-votes.csv, %d from votes.csv", k.v, k.c, g[k], v)
		}
	}
}

func TestReadDirRevotesKeepTheLatest(t *testing.T) {
	dir := writeFolder(t, map[string]string{
		CommentsFile: "timestamp,datetime,comment-id,author-id,agrees,disagrees,moderated,comment-body\n1,x,0,0,1,0,1,hello\n",
		VotesFile:    "timestamp,datetime,comment-id,voter-id,vote\n30,x,0,7,1\n10,x,0,7,-1\n20,x,0,8,0\n40,x,0,8,1\n",
	})
	ex, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Votes) != 2 || ex.Votes[0] != (Vote{30, 0, 7, 1}) || ex.Votes[1] != (Vote{40, 0, 8, 1}) {
		t.Fatalf("got %+v", ex.Votes)
	}
}

func writeFolder(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestReadDirErrors(t *testing.T) {
	const comments = "timestamp,datetime,comment-id,author-id,agrees,disagrees,moderated,comment-body\n1,x,0,0,1,0,1,hello\n2,x,1,0,0,0,-1,\"multi\nline\"\n"
	const votesHeader = "timestamp,datetime,comment-id,voter-id,vote\n"
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string // the error must contain this
	}{
		{"ErrNoVotes", map[string]string{CommentsFile: comments}, "votes.csv: missing, and there is no participants-votes.csv either"},
		{"ErrNoComments", map[string]string{VotesFile: votesHeader}, "comments.csv: open"},
		{"ErrEmptyComments", map[string]string{CommentsFile: "", VotesFile: votesHeader}, "comments.csv: empty file"},
		{"ErrMissingColumn", map[string]string{CommentsFile: "comment-id,body\n0,x\n", VotesFile: votesHeader}, `comments.csv:1: no "moderated" column`},
		{"ErrNonNumericCommentID", map[string]string{CommentsFile: comments + "3,x,abc,0,0,0,1,hi\n", VotesFile: votesHeader}, `comments.csv:5: comment-id "abc" is not an integer`},
		{"ErrDuplicateComment", map[string]string{CommentsFile: comments + "3,x,0,0,0,0,1,again\n", VotesFile: votesHeader}, "comments.csv:5: comment-id 0 appears twice"},
		{"ErrBadModeration", map[string]string{CommentsFile: comments + "3,x,2,0,0,0,5,hi\n", VotesFile: votesHeader}, "comments.csv:5: moderated 5"},
		{"ErrBrokenQuoting", map[string]string{CommentsFile: comments + "3,x,2,0,0,0,1,\"unterminated\n", VotesFile: votesHeader}, "comments.csv:5"},
		{"ErrFieldCount", map[string]string{CommentsFile: comments + "3,x,2\n", VotesFile: votesHeader}, "comments.csv:5: wrong number of fields"},
		{"ErrVoteOutOfRange", map[string]string{CommentsFile: comments, VotesFile: votesHeader + "1,x,0,1,1\n2,x,0,2,2\n"}, `votes.csv:3: vote "2" is not -1, 0 or 1`},
		{"ErrNonNumericVoter", map[string]string{CommentsFile: comments, VotesFile: votesHeader + "1,x,0,bob,1\n"}, `votes.csv:2: voter-id "bob" is not an integer`},
		{"ErrBadTimestamp", map[string]string{CommentsFile: comments, VotesFile: votesHeader + "soon,x,0,1,1\n"}, `votes.csv:2: timestamp "soon" is not a number`},
		{"ErrUnknownComment", map[string]string{CommentsFile: comments, VotesFile: votesHeader + "1,x,0,1,1\n2,x,9,1,1\n"}, "votes.csv:3: vote on comment-id 9, which comments.csv does not list"},
		{"ErrVotesHeader", map[string]string{CommentsFile: comments, VotesFile: "when,comment,voter,vote\n"}, `votes.csv:1: no "timestamp" column`},
		{"ErrParticipantsColumn", map[string]string{CommentsFile: comments, ParticipantsVotesFile: "participant,group-id,n-votes,zero\n1,0,1,1\n"}, `participants-votes.csv:1: column "zero" is neither a known column nor a comment id`},
		{"ErrParticipantsVote", map[string]string{CommentsFile: comments, ParticipantsVotesFile: "participant,group-id,0,1\n1,0,1,\n2,,-1,x\n"}, `participants-votes.csv:3: vote "x" is not -1, 0 or 1`},
		{"ErrParticipantsUnknownComment", map[string]string{CommentsFile: comments, ParticipantsVotesFile: "participant,group-id,0,7\n1,0,1,1\n"}, "participants-votes.csv:2: vote on comment-id 7"},
		{"ErrParticipantsGroup", map[string]string{CommentsFile: comments, ParticipantsVotesFile: "participant,group-id,0\n1,a,1\n"}, `participants-votes.csv:2: group-id "a" is not an integer`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadDir(writeFolder(t, tc.files))
			if err == nil {
				t.Fatalf("no error, want one containing %q", tc.want)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *ParseError", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestReadCommentsIsMeta(t *testing.T) {
	in := "comment-id,moderated,is-meta,comment-body\n0,1,true,I am 20\n1,1,false,Trains\n2,-1,,Spam\n"
	var got []Comment
	err := ReadComments(strings.NewReader(in), "comments.csv", func(c Comment) error {
		got = append(got, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !got[0].IsMeta || got[1].IsMeta || !got[2].ModeratedOut() || got[1].Body != "Trains" {
		t.Fatalf("got %+v", got)
	}
}

func BenchmarkReadDirAustria(b *testing.B) {
	dir := openData(b, "austria-climate.5twd2jsnkf.2022-08-08")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadDir(dir); err != nil {
			b.Fatal(err)
		}
	}
}
