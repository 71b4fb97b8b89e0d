package polis

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// upload adds the named files of a folder in the given order.
func upload(t *testing.T, dir string, names ...string) (*Uploaded, error) {
	t.Helper()
	u := NewUpload()
	for _, name := range names {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		err = u.Add(name, f)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return u.Finish()
}

func TestUploadMatchesReadDir(t *testing.T) {
	for _, tc := range openDataFolders {
		dir := openData(t, tc.name)
		ex, err := ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, order := range [][]string{
			{CommentsFile, VotesFile, SummaryFile},
			{VotesFile, SummaryFile, ParticipantsVotesFile, CommentsFile},
		} {
			t.Run(tc.name+"/"+strings.Join(order, ","), func(t *testing.T) {
				up, err := upload(t, dir, order...)
				if err != nil {
					t.Fatal(err)
				}
				if up.VotesSource != VotesFile || len(up.Comments) != tc.comments {
					t.Fatalf("%d comments from %s", len(up.Comments), up.VotesSource)
				}
				if !slices.IsSortedFunc(up.Comments, func(a, b Comment) int { return a.CommentID - b.CommentID }) {
					t.Fatal("comments are not in id order")
				}
				byPair := func(a, b Vote) int {
					if a.VoterID != b.VoterID {
						return a.VoterID - b.VoterID
					}
					return a.CommentID - b.CommentID
				}
				if !slices.Equal(slices.SortedFunc(slices.Values(up.Votes), byPair), slices.SortedFunc(slices.Values(ex.Votes), byPair)) {
					t.Fatal("the current votes differ from ReadDir's")
				}
				lines := bytes.Count(mustRead(t, filepath.Join(dir, VotesFile)), []byte("\n")) - 1
				if len(up.History) != lines {
					t.Fatalf("%d history rows, votes.csv has %d", len(up.History), lines)
				}
				if up.SummaryValue("topic") == "" {
					t.Fatal("no topic read from summary.csv")
				}
			})
		}
		t.Run(tc.name+"/participants-votes.csv alone", func(t *testing.T) {
			up, err := upload(t, dir, ParticipantsVotesFile, CommentsFile)
			if err != nil {
				t.Fatal(err)
			}
			if up.VotesSource != ParticipantsVotesFile || len(up.Participants) != tc.voters || len(up.Votes) == 0 {
				t.Fatalf("%d participants and %d votes from %s", len(up.Participants), len(up.Votes), up.VotesSource)
			}
		})
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUploadErrors(t *testing.T) {
	const comments = "timestamp,datetime,comment-id,author-id,agrees,disagrees,moderated,comment-body\n" +
		"1,x,0,0,0,0,1,first\n" +
		"2,x,1,0,0,0,-1,\"second, quoted\"\n"
	const votes = "timestamp,datetime,comment-id,voter-id,vote\n1,x,0,5,1\n"
	type file struct{ name, body string }
	for _, tc := range []struct {
		name  string
		files []file
		want  string // the error's text, file:line: problem
	}{
		{"a missing column", []file{{CommentsFile, "comment-id,moderated\n0,1\n"}, {VotesFile, "timestamp,comment-id,vote\n1,0,1\n"}},
			`votes.csv:1: no "voter-id" column`},
		{"an empty comments file", []file{{CommentsFile, ""}}, "comments.csv: empty file"},
		{"a non-numeric comment id", []file{{CommentsFile, comments + "3,x,two,0,0,0,1,t\n"}}, `comments.csv:4: comment-id "two" is not an integer`},
		{"a non-numeric voter id", []file{{CommentsFile, comments}, {VotesFile, votes + "2,x,0,abc,1\n"}}, `votes.csv:3: voter-id "abc" is not an integer`},
		{"a vote outside -1, 0 and 1", []file{{CommentsFile, comments}, {VotesFile, votes + "2,x,0,6,2\n"}}, `votes.csv:3: vote "2" is not -1, 0 or 1`},
		{"a vote on an unknown comment", []file{{CommentsFile, comments}, {VotesFile, votes + "2,x,9,6,1\n"}}, "votes.csv:3: vote on comment-id 9"},
		{"a vote on an unknown comment, uploaded before the comments", []file{{VotesFile, votes + "2,x,9,6,1\n"}, {CommentsFile, comments}}, "votes.csv:3: vote on comment-id 9"},
		{"a cell on an unknown comment", []file{{CommentsFile, comments}, {ParticipantsVotesFile, "participant,group-id,0,7\n5,,1,\n6,0,,-1\n"}}, "participants-votes.csv:3: vote on comment-id 7"},
		{"broken quoting", []file{{CommentsFile, comments + "3,x,2,0,0,0,1,\"unterminated\n"}}, "comments.csv:4: extraneous or missing \" in quoted-field"},
		{"a repeated comment id", []file{{CommentsFile, comments + "3,x,1,0,0,0,1,again\n"}}, "comments.csv:4: comment-id 1 appears twice"},
		{"a repeated participant", []file{{CommentsFile, comments}, {ParticipantsVotesFile, "participant,group-id,0\n5,,1\n5,,0\n"}}, "participants-votes.csv:3: participant 5 appears twice"},
		{"a negative voter id", []file{{CommentsFile, comments}, {VotesFile, votes + "2,x,0,-3,1\n"}}, "votes.csv:3: voter-id -3 is negative"},
		{"a file uploaded twice", []file{{CommentsFile, comments}, {CommentsFile, comments}}, "comments.csv: uploaded twice"},
		{"an unknown file", []file{{"notes.txt", "hello"}}, "notes.txt: unexpected file"},
		{"no comments", []file{{VotesFile, votes}}, "comments.csv: missing"},
		{"no votes", []file{{CommentsFile, comments}}, "votes.csv: missing from the upload, and there is no participants-votes.csv either"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := NewUpload()
			var err error
			for _, f := range tc.files {
				if err = u.Add(f.name, strings.NewReader(f.body)); err != nil {
					break
				}
			}
			if err == nil {
				_, err = u.Finish()
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v, want a *ParseError", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to start with %q", err, tc.want)
			}
		})
	}
}

func TestUploadKeepsTheLatestVote(t *testing.T) {
	u := NewUpload()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(u.Add(CommentsFile, strings.NewReader("comment-id,moderated\n0,1\n1,1\n")))
	// Rows out of time order; the re-vote of voter 5 on comment 0 at t=30 wins, and
	// of two rows with one timestamp the later one wins.
	must(u.Add(VotesFile, strings.NewReader("timestamp,comment-id,voter-id,vote\n"+
		"30,0,5,-1\n10,0,5,1\n20,1,5,0\n40,1,6,1\n40,1,6,-1\n")))
	up, err := u.Finish()
	must(err)
	want := []Vote{{30, 0, 5, -1}, {20, 1, 5, 0}, {40, 1, 6, -1}}
	got := slices.Clone(up.Votes)
	slices.SortFunc(got, func(a, b Vote) int { return a.VoterID*100 + a.CommentID - b.VoterID*100 - b.CommentID })
	if !slices.Equal(got, want) {
		t.Fatalf("current votes %v, want %v", got, want)
	}
	if len(up.History) != 5 || up.History[0].Timestamp != 10 {
		t.Fatalf("history %v, want the 5 rows in time order", up.History)
	}
}

func TestWriterRoundTrip(t *testing.T) {
	comments := []Comment{
		{Timestamp: 1403054214196, CommentID: 0, AuthorID: 3, Agrees: 2, Disagrees: 1, Moderated: 1, Body: "plain"},
		{Timestamp: 1403054214197, CommentID: 4, AuthorID: 0, Moderated: -1, Body: "with \"quotes\", commas\nand a newline", IsMeta: true},
	}
	votes := []Vote{{1403054214196, 0, 3, 1}, {1403054214199, 4, 0, -1}, {1403054214200, 4, 3, 0}}
	for _, withMeta := range []bool{false, true} {
		var b bytes.Buffer
		w := NewWriter(&b)
		w.CommentsHeader(withMeta)
		for _, c := range comments {
			w.Comment(c, withMeta)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		var got []Comment
		if err := ReadComments(&b, CommentsFile, func(c Comment) error { got = append(got, c); return nil }); err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(comments)
		if !withMeta {
			want[1].IsMeta = false
		}
		if !slices.Equal(got, want) {
			t.Fatalf("withMeta=%v: read back %+v, want %+v", withMeta, got, want)
		}
	}

	var b bytes.Buffer
	w := NewWriter(&b)
	w.VotesHeader()
	for _, v := range votes {
		w.Vote(v)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "timestamp,datetime,comment-id,voter-id,vote\n1403054214196,Wed Jun 18 01:16:54 UTC 2014,0,3,1\n") {
		t.Fatalf("votes.csv starts %q", b.String()[:80])
	}
	var got []Vote
	if err := ReadVotes(&b, VotesFile, func(v Vote) error { got = append(got, v); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, votes) {
		t.Fatalf("read back %v, want %v", got, votes)
	}

	b.Reset()
	w = NewWriter(&b)
	ids := []int{0, 4}
	w.ParticipantsVotesHeader(ids)
	w.ParticipantVotes(ParticipantVotes{Participant: Participant{VoterID: 3, GroupID: 1, HasGroup: true}, Comments: 1,
		Votes: map[int]int{0: 1, 4: 0}}, ids)
	w.ParticipantVotes(ParticipantVotes{Participant: Participant{VoterID: 0}, Comments: 1, Votes: map[int]int{4: -1}}, ids)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	const want = "participant,xid,group-id,n-comments,n-votes,n-agree,n-disagree,0,4\n3,,1,1,2,1,0,1,0\n0,,,1,1,0,1,,-1\n"
	if b.String() != want {
		t.Fatalf("participants-votes.csv\n%s\nwant\n%s", b.String(), want)
	}
}
