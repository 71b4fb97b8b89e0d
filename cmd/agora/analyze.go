package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	polismath "github.com/agora-dev/agora/math"
	"github.com/agora-dev/agora/polis"
)

// analysisFile is what `agora analyze --json` writes: the API's analysis object with
// participants, plus how long loading and the math took, so that an export can be
// compared with other analysers (red-dwarf, Polis) on both results and speed.
type analysisFile struct {
	*polismath.Result
	TimingsMS timings `json:"timings_ms"`
}

type timings struct {
	Load float64 `json:"load"`
	Math float64 `json:"math"`
}

// analyzed is one offline analysis with what the summary needs.
type analyzed struct {
	dir      string
	export   *polis.Export
	result   *polismath.Result
	load     time.Duration
	math     time.Duration
	comments map[string]polis.Comment
}

// runAnalyze implements `agora analyze DIR [--json FILE]`: the math on a Polis
// export folder, without a server or a store.
func runAnalyze(args []string, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("analyze", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	jsonPath := fs.String("json", "", "write the analysis object (with participants and timings) to this file")
	var dir string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		dir, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "usage: agora analyze DIR [--json FILE]")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
		}
		return err
	}
	if dir == "" {
		return fmt.Errorf("%w: want a Polis export folder: agora analyze DIR [--json FILE]", errUsage)
	}
	a, err := analyzeDir(dir)
	if err != nil {
		return err
	}
	if *jsonPath != "" {
		if err := a.writeJSON(*jsonPath); err != nil {
			return err
		}
	}
	a.summary(stdout)
	return nil
}

// analyzeDir loads a Polis export folder and runs the math cold on it.
func analyzeDir(dir string) (*analyzed, error) {
	start := time.Now()
	ex, err := polis.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	in, err := polisInput(ex)
	if err != nil {
		return nil, err
	}
	loaded := time.Now()
	in.Parallel = true // offline: the run may take both halves of the machine
	res, _ := polismath.Run(in, nil)
	done := time.Now()
	res.ConversationID = filepath.Base(filepath.Clean(dir))
	res.ComputedAt = done.UTC().Truncate(time.Microsecond)
	// The votes on moderated-out comments are zeroed columns of the math,
	// and the server, whose votes_included is its conversation's vote
	// count, leaves them out: count as it does, so that both report the
	// same number for one export.
	out := map[int]bool{}
	for _, c := range ex.Comments {
		if c.ModeratedOut() && !c.IsMeta {
			out[c.CommentID] = true
		}
	}
	res.VotesIncluded = 0
	for _, v := range ex.Votes {
		if !out[v.CommentID] {
			res.VotesIncluded++
		}
	}
	a := &analyzed{dir: dir, export: ex, result: res, load: loaded.Sub(start), math: done.Sub(loaded),
		comments: make(map[string]polis.Comment, len(ex.Comments))}
	for _, c := range ex.Comments {
		a.comments[strconv.Itoa(c.CommentID)] = c
	}
	return a, nil
}

// polisInput turns an export into the math's input, ids as decimal strings: voters in
// order of first vote (the export's current votes are in time order, so this is the
// order a live conversation would have seen them in, and the order a conversation
// imported from the same folder activates with), comments in comment-id order (the
// order they were written in, and an import's seq order, which the server's math
// follows: the columns' order decides ties between statements and the PCA's start).
func polisInput(ex *polis.Export) (polismath.Input, error) {
	voterAt := map[int]int{}
	commentAt := make(map[int]int, len(ex.Comments))
	var voters []string
	comments := make([]string, 0, len(ex.Comments))
	byID := slices.SortedFunc(slices.Values(ex.Comments), func(a, b polis.Comment) int { return cmp.Compare(a.CommentID, b.CommentID) })
	for _, c := range byID {
		commentAt[c.CommentID] = len(comments)
		comments = append(comments, strconv.Itoa(c.CommentID))
	}
	var rows [][]polismath.Cell
	for _, v := range ex.Votes {
		r, ok := voterAt[v.VoterID]
		if !ok {
			r = len(voters)
			voterAt[v.VoterID] = r
			voters = append(voters, strconv.Itoa(v.VoterID))
			rows = append(rows, nil)
		}
		c, ok := commentAt[v.CommentID]
		if !ok {
			return polismath.Input{}, fmt.Errorf("a vote on comment-id %d, which %s does not list", v.CommentID, polis.CommentsFile)
		}
		rows[r] = append(rows[r], polismath.Cell{Statement: int32(c), Vote: polismath.Vote(v.Value)})
	}
	rowPtr := make([]int, 1, len(rows)+1)
	cells := make([]polismath.Cell, 0, len(ex.Votes))
	for _, row := range rows {
		cells = append(cells, row...)
		rowPtr = append(rowPtr, len(cells))
	}
	m, err := polismath.NewMatrixFromRows(voters, comments, rowPtr, cells)
	if err != nil {
		return polismath.Input{}, err
	}
	in := polismath.Input{Votes: m}
	for _, c := range ex.Comments {
		id := strconv.Itoa(c.CommentID)
		switch {
		case c.IsMeta:
			in.Meta = append(in.Meta, id)
		case c.ModeratedOut():
			in.ModeratedOut = append(in.ModeratedOut, id)
		}
		in.Statements = append(in.Statements, id)
	}
	return in, nil
}

func (a *analyzed) writeJSON(path string) error {
	out := analysisFile{Result: a.result, TimingsMS: timings{Load: ms(a.load), Math: ms(a.math)}}
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		return fmt.Errorf("encoding the analysis: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// summary prints one screen: counts, groups, their most representative statements,
// consensus, and how the groups compare with Polis' own.
func (a *analyzed) summary(w io.Writer) {
	r, ex := a.result, a.export
	modOut, meta := 0, 0
	for _, c := range ex.Comments {
		switch {
		case c.IsMeta:
			meta++
		case c.ModeratedOut():
			modOut++
		}
	}
	fmt.Fprintf(w, "%s: %d voters, %d comments (%d moderated out, %d meta), %d votes from %s (%d on comments not moderated out)\n",
		r.ConversationID, r.ParticipantsTotal, len(ex.Comments), modOut, meta, len(ex.Votes), ex.VotesSource, r.VotesIncluded)
	sizes := make([]string, len(r.Clusters))
	for i, c := range r.Clusters {
		sizes[i] = fmt.Sprintf("%d: %d", c.ID, c.Size)
	}
	fmt.Fprintf(w, "k = %d (%s), %d participants clustered; group sizes {%s}\n", r.K, r.Status, r.ParticipantsClustered, strings.Join(sizes, ", "))
	fmt.Fprintf(w, "timings: load %.1f ms, math %.1f ms\n", ms(a.load), ms(a.math))
	for _, c := range r.Clusters {
		fmt.Fprintf(w, "group %d (%d):\n", c.ID, c.Size)
		for i, rep := range c.Representative {
			if i == 3 {
				break
			}
			fmt.Fprintf(w, "  %-8s #%-5s %3.0f%%  %s\n", rep.Direction, rep.OpinionID, 100*rep.PSuccess, a.text(rep.OpinionID))
		}
	}
	for _, l := range []struct {
		name string
		ops  []polismath.ConsensusOpinion
	}{{"agree", r.Consensus.Agree}, {"disagree", r.Consensus.Disagree}} {
		if len(l.ops) == 0 {
			continue
		}
		fmt.Fprintf(w, "consensus (%s):\n", l.name)
		for i, o := range l.ops {
			if i == 3 {
				break
			}
			fmt.Fprintf(w, "  #%-5s %3.0f%%  %s\n", o.OpinionID, 100*o.PSuccess, a.text(o.OpinionID))
		}
	}
	if ari, n, k, ok := a.polisAgreement(); ok {
		fmt.Fprintf(w, "vs Polis group-id (k = %d): adjusted Rand index %.3f over %d participants\n", k, ari, n)
	}
}

// text returns a comment's body on one line, truncated to fit the summary.
func (a *analyzed) text(id string) string {
	const width = 60
	s := strings.Join(strings.Fields(a.comments[id].Body), " ")
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	return string([]rune(s)[:width-1]) + "…"
}

// polisAgreement compares our groups with the group-id column of
// participants-votes.csv over the participants both clustered.
func (a *analyzed) polisAgreement() (ari float64, n, k int, ok bool) {
	polisGroup := map[string]int{}
	ks := map[int]bool{}
	for _, p := range a.export.Participants {
		if p.HasGroup {
			polisGroup[strconv.Itoa(p.VoterID)] = p.GroupID
			ks[p.GroupID] = true
		}
	}
	if len(polisGroup) == 0 {
		return 0, 0, 0, false
	}
	var ours, theirs []int
	for _, p := range a.result.Participants {
		g, ok := polisGroup[p.ParticipantID]
		if !ok || p.Cluster == nil {
			continue
		}
		ours = append(ours, *p.Cluster)
		theirs = append(theirs, g)
	}
	if len(ours) < 2 {
		return 0, len(ours), len(ks), false
	}
	return polismath.AdjustedRandIndex(ours, theirs), len(ours), len(ks), true
}
