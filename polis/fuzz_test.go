package polis

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzReadVotes feeds arbitrary CSV to the votes reader: it must never
// panic, every failure must be a *ParseError naming the file and a line,
// and every vote it yields must be -1, 0 or 1.
func FuzzReadVotes(f *testing.F) {
	f.Add([]byte("timestamp,datetime,comment-id,voter-id,vote\n1,x,0,1,1\n2,y,0,1,-1\n"))
	f.Add([]byte("timestamp,datetime,comment-id,voter-id,vote\n1,x,a,1,7\n"))
	f.Add([]byte("\"unterminated\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		err := ReadVotes(bytes.NewReader(data), "votes.csv", func(v Vote) error {
			if v.Value < -1 || v.Value > 1 {
				t.Fatalf("vote %d yielded", v.Value)
			}
			return nil
		})
		checkParseError(t, err)
	})
}

// FuzzReadComments does the same for comments.csv.
func FuzzReadComments(f *testing.F) {
	f.Add([]byte("timestamp,datetime,comment-id,author-id,agrees,disagrees,moderated,comment-body\n1,x,0,1,2,3,1,hello\n"))
	f.Add([]byte("timestamp,datetime,comment-id,author-id,agrees,disagrees,moderated,comment-body\n1,x,0,1,2,3,-1,\"a\"\"b\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParseError(t, ReadComments(bytes.NewReader(data), "comments.csv", func(Comment) error { return nil }))
	})
}

func checkParseError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var pe *ParseError
	if !errors.As(err, &pe) || pe.File == "" {
		t.Fatalf("error without a file and line: %v", err)
	}
}
