package polis

import (
	"encoding/csv"
	"io"
	"strconv"
	"time"
)

// The headers Polis writes, column for column (see the open-data exports in
// github.com/compdemocracy/openData).
var (
	commentsHeader          = []string{"timestamp", "datetime", "comment-id", "author-id", "agrees", "disagrees", "moderated", "comment-body"}
	votesHeader             = []string{"timestamp", "datetime", "comment-id", "voter-id", "vote"}
	participantsVotesHeader = []string{"participant", "xid", "group-id", "n-comments", "n-votes", "n-agree", "n-disagree"}
)

// Datetime formats a timestamp in milliseconds as the datetime column of Polis' files
// does (Java's Date.toString), in UTC: "Wed Jun 18 01:16:54 UTC 2014".
func Datetime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("Mon Jan 02 15:04:05 MST 2006")
}

// Writer writes one file of an export: a CSV writer with Polis' conventions (comma,
// LF line ends, quotes only where needed) whose first error sticks.
type Writer struct {
	w   *csv.Writer
	rec []string
	err error
}

// NewWriter returns a Writer on w. Call Flush at the end.
func NewWriter(w io.Writer) *Writer { return &Writer{w: csv.NewWriter(w)} }

func (w *Writer) write(rec []string) {
	if w.err == nil {
		w.err = w.w.Write(rec)
	}
}

// Flush writes what is buffered and returns the first error met.
func (w *Writer) Flush() error {
	w.w.Flush()
	if w.err == nil {
		w.err = w.w.Error()
	}
	return w.err
}

func itoa(n int) string { return strconv.Itoa(n) }

// CommentsHeader writes the header of comments.csv. withMeta appends an is-meta
// column, which Polis' own files lack and ReadComments reads: an export writes it
// only when a comment is a meta statement, so that re-importing keeps the flag.
func (w *Writer) CommentsHeader(withMeta bool) {
	h := commentsHeader
	if withMeta {
		h = append(h[:len(h):len(h)], "is-meta")
	}
	w.write(h)
}

// Comment writes one row of comments.csv; withMeta must be the header's.
func (w *Writer) Comment(c Comment, withMeta bool) {
	w.rec = append(w.rec[:0], strconv.FormatInt(c.Timestamp, 10), Datetime(c.Timestamp), itoa(c.CommentID),
		itoa(c.AuthorID), itoa(c.Agrees), itoa(c.Disagrees), itoa(c.Moderated), c.Body)
	if withMeta {
		meta := "0"
		if c.IsMeta {
			meta = "1"
		}
		w.rec = append(w.rec, meta)
	}
	w.write(w.rec)
}

// VotesHeader writes the header of votes.csv.
func (w *Writer) VotesHeader() { w.write(votesHeader) }

// Vote writes one row of votes.csv.
func (w *Writer) Vote(v Vote) {
	w.rec = append(w.rec[:0], strconv.FormatInt(v.Timestamp, 10), Datetime(v.Timestamp), itoa(v.CommentID),
		itoa(v.VoterID), itoa(v.Value))
	w.write(w.rec)
}

// ParticipantsVotesHeader writes the header of participants-votes.csv: the voter
// columns, then one column per comment id, in the order given.
func (w *Writer) ParticipantsVotesHeader(commentIDs []int) {
	w.rec = append(w.rec[:0], participantsVotesHeader...)
	for _, id := range commentIDs {
		w.rec = append(w.rec, itoa(id))
	}
	w.write(w.rec)
}

// ParticipantVotes is one row of participants-votes.csv.
type ParticipantVotes struct {
	Participant
	// XID is the voter's external id in the embedding site, empty when none.
	XID string
	// Comments is the number of comments the voter wrote.
	Comments int
	// Votes are the voter's current votes, by comment id.
	Votes map[int]int
}

// ParticipantVotes writes one row of participants-votes.csv, with a cell per comment
// of the header (empty where the voter did not vote) and the vote counts Polis
// shows: n-votes counts passes too.
func (w *Writer) ParticipantVotes(p ParticipantVotes, commentIDs []int) {
	group := ""
	if p.HasGroup {
		group = itoa(p.GroupID)
	}
	agree, disagree := 0, 0
	for _, v := range p.Votes {
		switch v {
		case 1:
			agree++
		case -1:
			disagree++
		}
	}
	w.rec = append(w.rec[:0], itoa(p.VoterID), p.XID, group, itoa(p.Comments), itoa(len(p.Votes)), itoa(agree), itoa(disagree))
	for _, id := range commentIDs {
		if v, ok := p.Votes[id]; ok {
			w.rec = append(w.rec, itoa(v))
		} else {
			w.rec = append(w.rec, "")
		}
	}
	w.write(w.rec)
}

// Summary writes the rows of summary.csv, which has no header.
func (w *Writer) Summary(rows [][2]string) {
	for _, kv := range rows {
		w.write(kv[:])
	}
}
