package polis

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// SummaryFile is the headerless key,value file of an export folder.
const SummaryFile = "summary.csv"

// Upload assembles an export from files that arrive one at a time, in any order, as
// the parts of an HTTP upload do. Rows are checked as they stream in; a votes file
// that arrives before comments.csv is kept as it is and read once the comments are
// known, so that every error still names the file and line of the row. Unlike
// ReadDir, it keeps every row of votes.csv (re-votes included) as the vote history.
type Upload struct {
	have     map[string]bool
	comments []Comment
	known    map[int]bool
	// pending holds votes files that arrived before comments.csv, by name.
	pending map[string][]byte

	history      []Vote // votes.csv rows in file order
	pvVotes      []Vote // participants-votes.csv cells
	participants []Participant
	pvSeen       map[int]bool
	summary      [][2]string
}

// NewUpload returns an empty upload.
func NewUpload() *Upload {
	return &Upload{have: map[string]bool{}, known: map[int]bool{}, pending: map[string][]byte{}, pvSeen: map[int]bool{}}
}

// Uploaded is a checked upload.
type Uploaded struct {
	// Comments are ordered by comment id (the order Polis created them in).
	Comments []Comment
	// History holds every vote row of votes.csv ordered by time, ties in file order;
	// from participants-votes.csv alone, the current votes, without timestamps.
	History []Vote
	// Votes holds the current vote of every (voter, comment) pair, in the order of
	// History: on re-votes the latest timestamp wins (the later row on equal ones).
	Votes []Vote
	// VotesSource is the file the votes come from: votes.csv when the upload has one,
	// else participants-votes.csv.
	VotesSource string
	// Participants holds Polis' group of each voter when participants-votes.csv was
	// uploaded.
	Participants []Participant
	// Summary holds the key,value rows of summary.csv, in file order (nil without it).
	Summary [][2]string
}

// SummaryValue returns the value of a summary key, or "".
func (u *Uploaded) SummaryValue(key string) string {
	for _, kv := range u.Summary {
		if kv[0] == key {
			return kv[1]
		}
	}
	return ""
}

// Add reads one file of the upload: comments.csv, votes.csv, participants-votes.csv or
// summary.csv. A file uploaded twice or under another name is an error.
func (u *Upload) Add(name string, r io.Reader) error {
	switch name {
	case CommentsFile, VotesFile, ParticipantsVotesFile, SummaryFile:
	default:
		return &ParseError{File: name, Err: fmt.Errorf("unexpected file: want %s, %s, %s or %s",
			CommentsFile, VotesFile, ParticipantsVotesFile, SummaryFile)}
	}
	if u.have[name] {
		return &ParseError{File: name, Err: errors.New("uploaded twice")}
	}
	u.have[name] = true
	switch name {
	case CommentsFile:
		if err := u.readComments(r); err != nil {
			return err
		}
		for _, file := range []string{VotesFile, ParticipantsVotesFile} {
			if b, ok := u.pending[file]; ok {
				delete(u.pending, file)
				if err := u.readVotes(file, bytes.NewReader(b)); err != nil {
					return err
				}
			}
		}
		return nil
	case SummaryFile:
		return u.readSummary(r)
	}
	if !u.have[CommentsFile] {
		b, err := io.ReadAll(r)
		if err != nil {
			return &ParseError{File: name, Err: err}
		}
		u.pending[name] = b
		return nil
	}
	return u.readVotes(name, r)
}

func (u *Upload) readComments(r io.Reader) error {
	return ReadComments(r, CommentsFile, func(c Comment) error {
		if c.CommentID < 0 {
			return fmt.Errorf("comment-id %d is negative", c.CommentID)
		}
		if c.AuthorID < 0 {
			return fmt.Errorf("author-id %d is negative", c.AuthorID)
		}
		if u.known[c.CommentID] {
			return fmt.Errorf("comment-id %d appears twice", c.CommentID)
		}
		if !utf8.ValidString(c.Body) {
			return fmt.Errorf("comment-body of comment-id %d is not valid UTF-8", c.CommentID)
		}
		u.known[c.CommentID] = true
		u.comments = append(u.comments, c)
		return nil
	})
}

// checkVote rejects a vote on a comment comments.csv does not list, or by a negative
// voter id.
func (u *Upload) checkVote(v Vote) error {
	if v.VoterID < 0 {
		return fmt.Errorf("voter-id %d is negative", v.VoterID)
	}
	if !u.known[v.CommentID] {
		return fmt.Errorf("vote on comment-id %d, which %s does not list", v.CommentID, CommentsFile)
	}
	return nil
}

func (u *Upload) readVotes(name string, r io.Reader) error {
	if name == VotesFile {
		return ReadVotes(r, name, func(v Vote) error {
			if err := u.checkVote(v); err != nil {
				return err
			}
			u.history = append(u.history, v)
			return nil
		})
	}
	return ReadParticipantsVotes(r, name, func(p Participant, votes []Vote) error {
		if p.VoterID < 0 {
			return fmt.Errorf("participant %d is negative", p.VoterID)
		}
		if u.pvSeen[p.VoterID] {
			return fmt.Errorf("participant %d appears twice", p.VoterID)
		}
		u.pvSeen[p.VoterID] = true
		for _, v := range votes {
			if err := u.checkVote(v); err != nil {
				return err
			}
		}
		u.participants = append(u.participants, p)
		u.pvVotes = append(u.pvVotes, votes...)
		return nil
	})
}

// readSummary reads the headerless key,value rows; rows of one field are skipped.
func (u *Upload) readSummary(r io.Reader) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return &ParseError{File: SummaryFile, Line: pe.StartLine, Err: pe.Err}
			}
			return &ParseError{File: SummaryFile, Err: err}
		}
		if len(rec) >= 2 {
			u.summary = append(u.summary, [2]string{strings.TrimSpace(rec[0]), rec[1]})
		}
	}
}

// Finish checks that the upload is complete and returns it: comments.csv with
// votes.csv or participants-votes.csv.
func (u *Upload) Finish() (*Uploaded, error) {
	if !u.have[CommentsFile] {
		return nil, &ParseError{File: CommentsFile, Err: errors.New("missing from the upload")}
	}
	out := &Uploaded{Participants: u.participants, Summary: u.summary}
	out.Comments = slices.SortedFunc(slices.Values(u.comments), func(a, b Comment) int { return cmp.Compare(a.CommentID, b.CommentID) })
	switch {
	case u.have[VotesFile]:
		out.VotesSource = VotesFile
		out.History = u.history
		sortByTime(out.History)
		type pair struct{ voter, comment int }
		at := make(map[pair]int, len(out.History))
		for _, v := range out.History {
			k := pair{v.VoterID, v.CommentID}
			if i, ok := at[k]; ok {
				// History is in time order: a later row is the later vote.
				out.Votes[i] = v
				continue
			}
			at[k] = len(out.Votes)
			out.Votes = append(out.Votes, v)
		}
	case u.have[ParticipantsVotesFile]:
		out.VotesSource = ParticipantsVotesFile
		out.History, out.Votes = u.pvVotes, slices.Clone(u.pvVotes)
	default:
		return nil, &ParseError{File: VotesFile, Err: fmt.Errorf("missing from the upload, and there is no %s either", ParticipantsVotesFile)}
	}
	return out, nil
}
