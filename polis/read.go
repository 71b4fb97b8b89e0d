// Package polis reads the Polis open-data export format (github.com/compdemocracy/openData):
// the comments.csv, votes.csv and participants-votes.csv files that Polis writes for a
// conversation. It only parses and validates; what to do with the rows (run the math,
// import a conversation) is the caller's business, so that the offline analyser and the
// import endpoint share one reader with the same errors.
//
// Votes are in the export's own encoding, agree = +1, disagree = -1, pass = 0 (Polis'
// database uses the opposite sign for agree and disagree; its exporter flips them).
// Every error names the file and, where there is one, the line.
package polis

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// File names of an export folder.
const (
	CommentsFile          = "comments.csv"
	VotesFile             = "votes.csv"
	ParticipantsVotesFile = "participants-votes.csv"
)

// ParseError reports a malformed file. Line is the 1-based line of the record (the
// first line of a record whose quoted field spans several lines), 0 when the problem
// is not tied to a line (a missing file or column).
type ParseError struct {
	File string
	Line int
	Err  error
}

// Error returns "file:line: problem", the form editors and terminals recognise.
func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

// Unwrap returns the underlying problem, so that callers can test for io errors or
// *csv.ParseError with errors.As.
func (e *ParseError) Unwrap() error { return e.Err }

// Comment is one row of comments.csv.
type Comment struct {
	// Timestamp is when the comment was written, in milliseconds since the epoch.
	Timestamp int64
	// CommentID is Polis' statement id ("tid"), unique within the conversation.
	CommentID int
	// AuthorID is the voter id of the author.
	AuthorID int
	// Agrees and Disagrees are Polis' own counts, informative only: the analysis
	// recounts from the votes.
	Agrees, Disagrees int
	// Moderated is 1 (accepted), 0 (not moderated yet) or -1 (moderated out: its
	// votes are kept but it leaves the analysis).
	Moderated int
	// IsMeta marks a meta statement (a question about the participant), from an
	// optional is-meta column; the math treats it as moderated out.
	IsMeta bool
	// Body is the statement's text.
	Body string
}

// ModeratedOut reports whether the comment was rejected by a moderator.
func (c Comment) ModeratedOut() bool { return c.Moderated == -1 }

// Vote is one vote, from a row of votes.csv or a cell of participants-votes.csv.
type Vote struct {
	// Timestamp is in milliseconds since the epoch; 0 when the source has none
	// (participants-votes.csv holds only each voter's current vote).
	Timestamp int64
	CommentID int
	VoterID   int
	// Value is +1 (agree), -1 (disagree) or 0 (pass).
	Value int
}

// Participant is the clustering information of one row of participants-votes.csv.
type Participant struct {
	VoterID int
	// GroupID is Polis' opinion group of the voter; HasGroup is false when Polis did
	// not cluster them (an empty cell).
	GroupID  int
	HasGroup bool
}

// Export is one export folder, loaded and checked.
type Export struct {
	// Comments are in file order.
	Comments []Comment
	// Votes holds the current vote of every (voter, comment) pair: on re-votes the
	// latest timestamp wins (the later row on equal timestamps). They are ordered by
	// time, ties in file order, so that replaying them gives voters and comments in
	// order of arrival, the order a live conversation sees.
	Votes []Vote
	// VotesSource is the file the votes were read from: votes.csv when the folder has
	// one, else participants-votes.csv.
	VotesSource string
	// Participants holds Polis' group of each voter, from participants-votes.csv
	// (nil when the folder has no such file).
	Participants []Participant
}

// ReadDir loads an export folder: comments.csv, then votes.csv or (without it)
// participants-votes.csv, and participants-votes.csv for Polis' groups when present.
// A vote on a comment that comments.csv does not list is an error.
func ReadDir(dir string) (*Export, error) {
	ex := &Export{}
	known := map[int]bool{}
	err := readFile(dir, CommentsFile, func(r io.Reader, name string) error {
		return ReadComments(r, name, func(c Comment) error {
			if known[c.CommentID] {
				return fmt.Errorf("comment-id %d appears twice", c.CommentID)
			}
			known[c.CommentID] = true
			ex.Comments = append(ex.Comments, c)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	checkComment := func(v Vote) error {
		if !known[v.CommentID] {
			return fmt.Errorf("vote on comment-id %d, which %s does not list", v.CommentID, CommentsFile)
		}
		return nil
	}

	_, statErr := os.Stat(filepath.Join(dir, VotesFile))
	haveVotes := statErr == nil
	_, statErr = os.Stat(filepath.Join(dir, ParticipantsVotesFile))
	haveParticipants := statErr == nil
	switch {
	case haveVotes:
		ex.VotesSource = VotesFile
		type pair struct{ voter, comment int }
		at := map[pair]int{}
		err = readFile(dir, VotesFile, func(r io.Reader, name string) error {
			return ReadVotes(r, name, func(v Vote) error {
				if err := checkComment(v); err != nil {
					return err
				}
				key := pair{v.VoterID, v.CommentID}
				if i, ok := at[key]; ok {
					if v.Timestamp >= ex.Votes[i].Timestamp {
						ex.Votes[i] = v
					}
					return nil
				}
				at[key] = len(ex.Votes)
				ex.Votes = append(ex.Votes, v)
				return nil
			})
		})
		if err != nil {
			return nil, err
		}
		sortByTime(ex.Votes)
	case !haveParticipants:
		return nil, &ParseError{File: filepath.Join(dir, VotesFile), Err: fmt.Errorf("missing, and there is no %s either", ParticipantsVotesFile)}
	}
	if haveParticipants {
		err = readFile(dir, ParticipantsVotesFile, func(r io.Reader, name string) error {
			return readParticipants(r, name, !haveVotes, func(p Participant, votes []Vote) error {
				ex.Participants = append(ex.Participants, p)
				if haveVotes {
					return nil
				}
				for _, v := range votes {
					if err := checkComment(v); err != nil {
						return err
					}
				}
				ex.Votes = append(ex.Votes, votes...)
				return nil
			})
		})
		if err != nil {
			return nil, err
		}
		if !haveVotes {
			ex.VotesSource = ParticipantsVotesFile
		}
	}
	return ex, nil
}

func readFile(dir, file string, read func(io.Reader, string) error) error {
	name := filepath.Join(dir, file)
	f, err := os.Open(name)
	if err != nil {
		return &ParseError{File: name, Err: err}
	}
	defer f.Close()
	return read(f, name)
}

// table streams a CSV file with a header line: columns are found by name, and each
// record is checked to have as many fields as the header.
type table struct {
	r      *csv.Reader
	file   string
	header []string
	line   int
	rec    []string
}

func newTable(r io.Reader, file string) (*table, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	t := &table{r: cr, file: file}
	h, err := cr.Read()
	if err == io.EOF {
		return nil, &ParseError{File: file, Err: errors.New("empty file, want a header line")}
	}
	if err != nil {
		return nil, t.wrap(err)
	}
	t.header = make([]string, len(h))
	for i, name := range h {
		t.header[i] = strings.TrimSpace(strings.TrimPrefix(name, "\ufeff"))
	}
	return t, nil
}

// wrap turns a reader error into a ParseError with the line it occurred on.
func (t *table) wrap(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ParseError{File: t.file, Line: pe.StartLine, Err: pe.Err}
	}
	return &ParseError{File: t.file, Line: t.line, Err: err}
}

// column returns the index of the named column, or -1 (an error when required).
func (t *table) column(name string, required bool) (int, error) {
	for i, h := range t.header {
		if h == name {
			return i, nil
		}
	}
	if required {
		return -1, &ParseError{File: t.file, Line: 1, Err: fmt.Errorf("no %q column in the header %q", name, strings.Join(t.header, ","))}
	}
	return -1, nil
}

// next reads the next record; it returns false at the end of the file.
func (t *table) next() (bool, error) {
	rec, err := t.r.Read()
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		return false, t.wrap(err)
	}
	t.line, _ = t.r.FieldPos(0)
	t.rec = rec
	return true, nil
}

func (t *table) errorf(format string, args ...any) error {
	return &ParseError{File: t.file, Line: t.line, Err: fmt.Errorf(format, args...)}
}

func (t *table) int(col int, name string) (int, error) {
	s := strings.TrimSpace(t.rec[col])
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, t.errorf("%s %q is not an integer", name, s)
	}
	return v, nil
}

func (t *table) optInt(col int, name string) (int, error) {
	if col < 0 || strings.TrimSpace(t.rec[col]) == "" {
		return 0, nil
	}
	return t.int(col, name)
}

func (t *table) int64(col int, name string) (int64, error) {
	s := strings.TrimSpace(t.rec[col])
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// Some exports write timestamps as floats ("1691740361800.0").
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != f || f > 9e18 || f < -9e18 {
			return 0, t.errorf("%s %q is not a number", name, s)
		}
		v = int64(f)
	}
	return v, nil
}

func (t *table) vote(col int) (int, error) {
	s := strings.TrimSpace(t.rec[col])
	switch s {
	case "1", "+1":
		return 1, nil
	case "-1":
		return -1, nil
	case "0":
		return 0, nil
	}
	return 0, t.errorf("vote %q is not -1, 0 or 1", s)
}

// ReadComments streams comments.csv, calling fn for every row. The columns
// comment-id and moderated are required; timestamp, author-id, agrees, disagrees,
// comment-body and is-meta are read when present.
func ReadComments(r io.Reader, file string, fn func(Comment) error) error {
	t, err := newTable(r, file)
	if err != nil {
		return err
	}
	id, err := t.column("comment-id", true)
	if err != nil {
		return err
	}
	mod, err := t.column("moderated", true)
	if err != nil {
		return err
	}
	ts, _ := t.column("timestamp", false)
	author, _ := t.column("author-id", false)
	agrees, _ := t.column("agrees", false)
	disagrees, _ := t.column("disagrees", false)
	body, _ := t.column("comment-body", false)
	meta, _ := t.column("is-meta", false)
	for {
		ok, err := t.next()
		if err != nil || !ok {
			return err
		}
		var c Comment
		if c.CommentID, err = t.int(id, "comment-id"); err != nil {
			return err
		}
		if c.Moderated, err = t.int(mod, "moderated"); err != nil {
			return err
		}
		if c.Moderated < -1 || c.Moderated > 1 {
			return t.errorf("moderated %d is not -1, 0 or 1", c.Moderated)
		}
		if ts >= 0 && strings.TrimSpace(t.rec[ts]) != "" {
			if c.Timestamp, err = t.int64(ts, "timestamp"); err != nil {
				return err
			}
		}
		if c.AuthorID, err = t.optInt(author, "author-id"); err != nil {
			return err
		}
		if c.Agrees, err = t.optInt(agrees, "agrees"); err != nil {
			return err
		}
		if c.Disagrees, err = t.optInt(disagrees, "disagrees"); err != nil {
			return err
		}
		if body >= 0 {
			c.Body = t.rec[body]
		}
		if meta >= 0 {
			switch strings.ToLower(strings.TrimSpace(t.rec[meta])) {
			case "", "0", "false", "f":
			case "1", "true", "t":
				c.IsMeta = true
			default:
				return t.errorf("is-meta %q is not a boolean", t.rec[meta])
			}
		}
		if err := fn(c); err != nil {
			return t.wrapCallback(err)
		}
	}
}

// wrapCallback attaches the file and line to an error returned by a callback.
func (t *table) wrapCallback(err error) error {
	var pe *ParseError
	if errors.As(err, &pe) {
		return err
	}
	return &ParseError{File: t.file, Line: t.line, Err: err}
}

// ReadVotes streams votes.csv, calling fn for every row in file order (re-votes
// included: deciding which one counts is the caller's choice). The columns
// timestamp, comment-id, voter-id and vote are required.
func ReadVotes(r io.Reader, file string, fn func(Vote) error) error {
	t, err := newTable(r, file)
	if err != nil {
		return err
	}
	var cols [4]int
	for i, name := range []string{"timestamp", "comment-id", "voter-id", "vote"} {
		if cols[i], err = t.column(name, true); err != nil {
			return err
		}
	}
	for {
		ok, err := t.next()
		if err != nil || !ok {
			return err
		}
		var v Vote
		if v.Timestamp, err = t.int64(cols[0], "timestamp"); err != nil {
			return err
		}
		if v.CommentID, err = t.int(cols[1], "comment-id"); err != nil {
			return err
		}
		if v.VoterID, err = t.int(cols[2], "voter-id"); err != nil {
			return err
		}
		if v.Value, err = t.vote(cols[3]); err != nil {
			return err
		}
		if err := fn(v); err != nil {
			return t.wrapCallback(err)
		}
	}
}

// participantsFixed are the per-voter columns of participants-votes.csv; every other
// column must be a comment id.
var participantsFixed = map[string]bool{
	"participant": true, "xid": true, "group-id": true, "n-comments": true,
	"n-votes": true, "n-agree": true, "n-disagree": true,
}

// ReadParticipantsVotes streams participants-votes.csv, calling fn for every row with
// the voter's group and current votes (one per non-empty comment cell, without
// timestamps; the slice is reused between calls). The participant and group-id
// columns are required, and every column not in the fixed set must be named by an
// integer comment id.
func ReadParticipantsVotes(r io.Reader, file string, fn func(Participant, []Vote) error) error {
	return readParticipants(r, file, true, fn)
}

// readParticipants is ReadParticipantsVotes; without withVotes it skips the vote
// cells (when votes.csv provides the votes, only the groups are needed).
func readParticipants(r io.Reader, file string, withVotes bool, fn func(Participant, []Vote) error) error {
	t, err := newTable(r, file)
	if err != nil {
		return err
	}
	pid, err := t.column("participant", true)
	if err != nil {
		return err
	}
	gid, err := t.column("group-id", true)
	if err != nil {
		return err
	}
	type commentCol struct{ col, id int }
	var comments []commentCol
	for i, h := range t.header {
		if participantsFixed[h] {
			continue
		}
		id, err := strconv.Atoi(h)
		if err != nil {
			return &ParseError{File: file, Line: 1, Err: fmt.Errorf("column %q is neither a known column nor a comment id", h)}
		}
		comments = append(comments, commentCol{i, id})
	}
	var votes []Vote
	for {
		ok, err := t.next()
		if err != nil || !ok {
			return err
		}
		var p Participant
		if p.VoterID, err = t.int(pid, "participant"); err != nil {
			return err
		}
		if strings.TrimSpace(t.rec[gid]) != "" {
			if p.GroupID, err = t.int(gid, "group-id"); err != nil {
				return err
			}
			p.HasGroup = true
		}
		votes = votes[:0]
		for _, c := range comments {
			if !withVotes {
				break
			}
			if strings.TrimSpace(t.rec[c.col]) == "" {
				continue
			}
			v, err := t.vote(c.col)
			if err != nil {
				return err
			}
			votes = append(votes, Vote{CommentID: c.id, VoterID: p.VoterID, Value: v})
		}
		if err := fn(p, votes); err != nil {
			return t.wrapCallback(err)
		}
	}
}

// sortByTime orders votes by timestamp, keeping the file's order among equal ones
// (it decides the matrix's row and column order, which a cold clustering follows).
// A stable sort (insertion sort and in-place merges) took 13 ms on the 61,936 votes
// of the austria export, which lists them by comment; sorting (timestamp, position)
// pairs is a quarter of that, and it gives the same order.
func sortByTime(votes []Vote) {
	byTime := func(a, b Vote) int { return cmp.Compare(a.Timestamp, b.Timestamp) }
	if slices.IsSortedFunc(votes, byTime) {
		return
	}
	type key struct {
		ts  int64
		pos int
	}
	keys := make([]key, len(votes))
	for i, v := range votes {
		keys[i] = key{v.Timestamp, i}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := cmp.Compare(a.ts, b.ts); c != 0 {
			return c
		}
		return cmp.Compare(a.pos, b.pos)
	})
	sorted := make([]Vote, len(votes))
	for i, k := range keys {
		sorted[i] = votes[k.pos]
	}
	copy(votes, sorted)
}
