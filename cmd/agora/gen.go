package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/agora-dev/agora/polis"
)

// `agora gen` creates a synthetic conversation with latent opinion groups
// through the bulk path: it builds a Polis export (comments.csv, votes.csv,
// summary.csv) in memory and uploads it to the import endpoint, exactly as
// `agora import polis` would. The defaults reproduce the largest
// production conversation: 113,000 votes on 19,000 opinions by 6,000
// participants.
//
// The model, deterministic for a seed:
//   - every participant belongs to one of --groups latent groups, of
//     uneven sizes;
//   - every opinion has, per group, its own agree / disagree / pass
//     propensities: a pass rate of the opinion, and a stance that mixes a
//     leaning shared by all groups with one of the group's own, so that
//     some opinions divide the groups and others unite them;
//   - participants vote on heavy-tailed numbers of opinions (Pareto
//     weights: most cast a few votes, a few cast hundreds), chosen with a
//     preference for early opinions, as Polis' routing shows them longer;
//   - about --revotes of the votes were changed: the history (votes.csv)
//     has an earlier, different vote before the current one;
//   - --moderated (a fraction of --opinions) opinions more are moderated out,
//     with a few votes each.
//
// The counters of the created conversation are exactly the flags:
// opinion_count = --opinions, vote_count = --votes and participant_count =
// --participants (every participant casts at least one counted vote); the
// moderated opinions and their votes come on top, as the counters leave
// them out.

// genConfig is the configuration of `agora gen`.
type genConfig struct {
	Participants int
	Opinions     int
	Votes        int
	Groups       int
	Seed         uint64
	Moderated    float64
	Revotes      float64
	Title        string
	Write        string
}

// Bounds of the sizes, so that a typo cannot ask for terabytes.
const (
	maxGenParticipants = 10_000_000
	maxGenOpinions     = 1_000_000
	maxGenVotes        = 100_000_000
)

func bindGenFlags(fs *flag.FlagSet, c *genConfig) {
	fs.IntVar(&c.Participants, "participants", 6000, "participants, each with at least one counted vote")
	fs.IntVar(&c.Opinions, "opinions", 19000, "counted (visible) opinions")
	fs.IntVar(&c.Votes, "votes", 113000, "current votes on the counted opinions")
	fs.IntVar(&c.Groups, "groups", 4, "latent opinion groups")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed: one seed, one conversation")
	fs.Float64Var(&c.Moderated, "moderated", 0.03, "moderated-out opinions added, as a fraction of --opinions")
	fs.Float64Var(&c.Revotes, "revotes", 0.02, "fraction of votes changed once (an earlier, different vote in the history)")
	fs.StringVar(&c.Title, "title", "", "title (default: one that states the parameters)")
	fs.StringVar(&c.Write, "write", "", "also write the generated files into this folder")
}

func (c *genConfig) validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
	}
	switch {
	case c.Participants < 1 || c.Participants > maxGenParticipants:
		return bad("--participants must be from 1 to %d", maxGenParticipants)
	case c.Opinions < 1 || c.Opinions > maxGenOpinions:
		return bad("--opinions must be from 1 to %d", maxGenOpinions)
	case c.Votes < c.Participants || c.Votes > maxGenVotes:
		return bad("--votes must be at least --participants (each votes once at least) and at most %d", maxGenVotes)
	case int64(c.Votes) > int64(c.Participants)*int64(c.Opinions):
		return bad("--votes %d is more than --participants x --opinions", c.Votes)
	case c.Groups < 1 || c.Groups > c.Participants:
		return bad("--groups must be from 1 to --participants")
	case c.Moderated < 0 || c.Moderated > 1:
		return bad("--moderated must be a fraction from 0 to 1")
	case c.Revotes < 0 || c.Revotes > 1:
		return bad("--revotes must be a fraction from 0 to 1")
	}
	return nil
}

// genVote is one row of the generated votes.csv.
type genVote struct {
	comment, voter int32
	value          int8
	ms             int64
}

// generated is a synthetic conversation as Polis export files.
type generated struct {
	files                  []uploadFile
	comments, moderated    int
	historyRows            int
	countedVotes, allVotes int
}

// genStart is the time of the first opinion: a fixed date, so that the
// files depend on the seed alone.
var genStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

// genSpan is how long the synthetic conversation ran.
const genSpan = 30 * 24 * time.Hour

func generate(c genConfig) (*generated, error) {
	rng := rand.New(rand.NewPCG(c.Seed, 0x9e3779b97f4a7c15))
	P, O, G := c.Participants, c.Opinions, c.Groups
	M := int(math.Round(float64(O) * c.Moderated))
	N := O + M
	span := genSpan.Milliseconds()

	// Which comment ids are moderated out, and the counted ones in order.
	moderated := make([]bool, N)
	for _, i := range rng.Perm(N)[:M] {
		moderated[i] = true
	}
	visible := make([]int32, 0, O)
	for i := range N {
		if !moderated[i] {
			visible = append(visible, int32(i))
		}
	}

	// Latent groups of uneven sizes.
	weights := make([]float64, G)
	for g := range weights {
		weights[g] = 0.5 + rng.Float64()
	}
	group := make([]int, P)
	for i := range group {
		group[i] = pick(rng, weights)
	}
	// Propensities: pass[c], and agree[c*G+g] = P(agree | not pass).
	pass := make([]float32, N)
	agree := make([]float32, N*G)
	for i := range N {
		pass[i] = float32(0.05 + 0.25*rng.Float64())
		shared := rng.NormFloat64() * 0.6
		for g := range G {
			agree[i*G+g] = float32((1 + math.Tanh(shared+rng.NormFloat64())) / 2)
		}
	}
	castVote := func(i, comment int) int8 {
		u := rng.Float32()
		switch {
		case u < pass[comment]:
			return 0
		case u < pass[comment]+(1-pass[comment])*agree[comment*G+group[i]]:
			return 1
		}
		return -1
	}

	counts := heavyTailedCounts(rng, P, O, c.Votes)
	joined := make([]int64, P)
	for i := range joined {
		joined[i] = genStart + rng.Int64N(span)
	}
	created := func(comment int) int64 { return genStart + int64(comment)*span/int64(2*N) }
	voteTime := func(i, comment int) int64 {
		return max(joined[i], created(comment)) + 1000 + rng.Int64N(72*3600*1000)
	}

	// Early opinions are shown longer: opinion j of the counted ones is
	// chosen with weight 1/(1+j/100).
	cum := make([]float64, O)
	total := 0.0
	for j := range O {
		total += 1 / (1 + float64(j)/100)
		cum[j] = total
	}
	var votes []genVote
	chosen := map[int]bool{}
	for i, k := range counts {
		clear(chosen)
		var picks []int
		if k > O/4 {
			picks = rng.Perm(O)[:k]
		} else {
			for len(picks) < k {
				j, _ := slices.BinarySearch(cum, rng.Float64()*total)
				if !chosen[j] {
					chosen[j] = true
					picks = append(picks, j)
				}
			}
		}
		for _, j := range picks {
			comment := int(visible[j])
			votes = append(votes, genVote{int32(comment), int32(i), castVote(i, comment), voteTime(i, comment)})
		}
	}
	counted := len(votes)
	// The moderated opinions get a few votes each, on top of the counters.
	perOpinion := max(1, c.Votes/O)
	for comment := range N {
		if !moderated[comment] {
			continue
		}
		clear(chosen)
		for range rng.IntN(2*perOpinion + 1) {
			i := rng.IntN(P)
			if !chosen[i] {
				chosen[i] = true
				votes = append(votes, genVote{int32(comment), int32(i), castVote(i, comment), voteTime(i, comment)})
			}
		}
	}
	// Changed votes: an earlier, different vote in the history.
	current := len(votes)
	for _, v := range votes[:current] {
		if rng.Float64() < c.Revotes {
			// Another of -1, 0 and 1: shift v.value+1 (in 0..2) by 1 or 2, mod 3.
			old := (v.value+1+1+int8(rng.IntN(2)))%3 - 1
			votes = append(votes, genVote{v.comment, v.voter, old, v.ms - 1 - rng.Int64N(3600*1000)})
		}
	}

	// Authors: a fifth of the participants write.
	writers := max(1, P/5)
	var b bytes.Buffer
	w := polis.NewWriter(&b)
	agrees, disagrees := make([]int, N), make([]int, N)
	for _, v := range votes[:current] {
		switch v.value {
		case 1:
			agrees[v.comment]++
		case -1:
			disagrees[v.comment]++
		}
	}
	w.CommentsHeader(false)
	for comment := range N {
		mod := 1
		if moderated[comment] {
			mod = -1
		}
		w.Comment(polis.Comment{Timestamp: created(comment), CommentID: comment, AuthorID: rng.IntN(writers),
			Agrees: agrees[comment], Disagrees: disagrees[comment], Moderated: mod,
			Body: fmt.Sprintf("Synthetic opinion %d (seed %d).", comment, c.Seed)}, false)
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	commentsCSV := slices.Clone(b.Bytes())

	b.Reset()
	slices.SortStableFunc(votes, func(x, y genVote) int {
		return cmp.Or(cmp.Compare(x.comment, y.comment), cmp.Compare(x.voter, y.voter), cmp.Compare(x.ms, y.ms))
	})
	w = polis.NewWriter(&b)
	w.VotesHeader()
	for _, v := range votes {
		w.Vote(polis.Vote{Timestamp: v.ms, CommentID: int(v.comment), VoterID: int(v.voter), Value: int(v.value)})
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	votesCSV := slices.Clone(b.Bytes())

	title := c.Title
	if title == "" {
		title = fmt.Sprintf("Synthetic: %d participants, %d opinions, %d votes, %d groups (seed %d)", P, O, c.Votes, G, c.Seed)
	}
	b.Reset()
	w = polis.NewWriter(&b)
	w.Summary([][2]string{
		{"topic", title},
		{"url", ""},
		{"views", ""},
		{"voters", fmt.Sprint(P)},
		{"voters-in-conv", ""},
		{"commenters", fmt.Sprint(min(writers, N))},
		{"comments", fmt.Sprint(N)},
		{"groups", fmt.Sprint(G)},
		{"conversation-description", fmt.Sprintf("Generated by agora gen --participants %d --opinions %d --votes %d --groups %d --seed %d --moderated %g --revotes %g.",
			P, O, c.Votes, G, c.Seed, c.Moderated, c.Revotes)},
	})
	if err := w.Flush(); err != nil {
		return nil, err
	}
	return &generated{
		files: []uploadFile{{polis.CommentsFile, commentsCSV}, {polis.VotesFile, votesCSV},
			{polis.SummaryFile, slices.Clone(b.Bytes())}},
		comments: N, moderated: M, historyRows: len(votes), countedVotes: counted, allVotes: current,
	}, nil
}

// pick draws an index with probability proportional to its weight.
func pick(rng *rand.Rand, weights []float64) int {
	total := 0.0
	for _, w := range weights {
		total += w
	}
	u := rng.Float64() * total
	for i, w := range weights {
		if u < w {
			return i
		}
		u -= w
	}
	return len(weights) - 1
}

// heavyTailedCounts splits votes among participants: at least one each, at
// most opinions each, the rest by Pareto weights (shape 1.2: most
// participants vote a few times, a few vote very often). The counts add
// up to votes exactly.
func heavyTailedCounts(rng *rand.Rand, participants, opinions, votes int) []int {
	w := make([]float64, participants)
	total := 0.0
	for i := range w {
		w[i] = math.Pow(1-rng.Float64(), -1/1.2)
		total += w[i]
	}
	counts := make([]int, participants)
	sum := 0
	extra := float64(votes - participants)
	for i := range counts {
		counts[i] = min(opinions, 1+int(extra*w[i]/total))
		sum += counts[i]
	}
	// Rounding down and the cap leave some votes: hand them out round-robin
	// from a random participant, to those with room.
	for i := rng.IntN(participants); sum < votes; i = (i + 1) % participants {
		if counts[i] < opinions {
			counts[i]++
			sum++
		}
	}
	return counts
}

func runGen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("agora gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var af adminFlags
	bindAdminFlags(fs, &af)
	var c genConfig
	bindGenFlags(fs, &c)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	if af.server == "" && c.Write == "" {
		return fmt.Errorf("%w: --server is required (or --write DIR to only write the files)", errUsage)
	}
	var client *adminClient
	if af.server != "" {
		// Checked before the generation, which takes a while.
		var err error
		if client, err = af.client(stderr); err != nil {
			return err
		}
	}
	start := time.Now()
	g, err := generate(c)
	if err != nil {
		return err
	}
	size := 0
	for _, f := range g.files {
		size += len(f.body)
	}
	fmt.Fprintf(stderr, "gen: %d comments (%d moderated out), %d vote rows (%d current, %d of them counted) by %d participants in %d groups: %s built in %.2fs\n",
		g.comments, g.moderated, g.historyRows, g.allVotes, g.countedVotes, c.Participants, c.Groups, mb(int64(size)), time.Since(start).Seconds())
	if c.Write != "" {
		if err := os.MkdirAll(c.Write, 0o755); err != nil {
			return err
		}
		for _, f := range g.files {
			if err := os.WriteFile(filepath.Join(c.Write, f.name), f.body, 0o644); err != nil {
				return err
			}
		}
		fmt.Fprintf(stderr, "gen: files written to %s\n", c.Write)
	}
	if client == nil {
		return nil
	}
	res, err := client.importPolis(ctx, "", g.files)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "gen: done in %.2fs (generation and import)\n", time.Since(start).Seconds())
	return json.NewEncoder(stdout).Encode(res)
}
