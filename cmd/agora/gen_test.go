package main

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agora-dev/agora/polis"
)

func defaultGenConfig(t *testing.T) genConfig {
	t.Helper()
	var c genConfig
	bindGenFlags(flag.NewFlagSet("", flag.ContinueOnError), &c)
	return c
}

// uploadGenerated reads generated files back through the import's reader.
func uploadGenerated(t *testing.T, g *generated) *polis.Uploaded {
	t.Helper()
	u := polis.NewUpload()
	for _, f := range g.files {
		if err := u.Add(f.name, bytes.NewReader(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	up, err := u.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return up
}

func TestGenDefaultsReproduceTheLargestConversation(t *testing.T) {
	c := defaultGenConfig(t)
	if c.Participants != 6000 || c.Opinions != 19000 || c.Votes != 113000 {
		t.Fatalf("defaults %+v, want 6000 participants, 19000 opinions, 113000 votes", c)
	}
	g, err := generate(c)
	if err != nil {
		t.Fatal(err)
	}
	up := uploadGenerated(t, g)
	moderated := map[int]bool{}
	for _, cm := range up.Comments {
		if cm.ModeratedOut() {
			moderated[cm.CommentID] = true
		}
	}
	if n := len(up.Comments) - len(moderated); n != 19000 || len(moderated) != 570 {
		t.Fatalf("%d visible and %d moderated comments, want 19000 and 570", n, len(moderated))
	}
	votes, voters := 0, map[int]bool{}
	perVoter := map[int]int{}
	for _, v := range up.Votes {
		if !moderated[v.CommentID] {
			votes++
			voters[v.VoterID] = true
			perVoter[v.VoterID]++
		}
	}
	if votes != 113000 || len(voters) != 6000 {
		t.Fatalf("%d counted votes by %d voters, want 113000 by 6000", votes, len(voters))
	}
	if len(up.History) <= len(up.Votes) {
		t.Fatal("the history has no changed votes")
	}
	// Heavy tail: the median voter casts a few votes, the busiest hundreds.
	most, few := 0, 0
	for _, n := range perVoter {
		most = max(most, n)
		if n <= 10 {
			few++
		}
	}
	if most < 200 || few < 3000 {
		t.Fatalf("busiest voter %d votes, %d voters with at most 10: want a heavy tail", most, few)
	}
}

func TestGenIsDeterministic(t *testing.T) {
	c := genConfig{Participants: 200, Opinions: 300, Votes: 2500, Groups: 3, Seed: 11, Moderated: 0.03, Revotes: 0.02}
	a, err := generate(c)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := generate(c)
	c.Seed = 12
	other, _ := generate(c)
	for i := range a.files {
		if !bytes.Equal(a.files[i].body, b.files[i].body) {
			t.Fatalf("%s differs between two runs with one seed", a.files[i].name)
		}
	}
	if bytes.Equal(a.files[1].body, other.files[1].body) {
		t.Fatal("two seeds gave the same votes.csv")
	}
}

func TestHeavyTailedCountsAddUp(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ participants, opinions, votes int }{
		{1, 1, 1}, {10, 3, 30}, {100, 50, 101}, {6000, 19000, 113000}, {50, 40, 1999},
	} {
		counts := heavyTailedCounts(rng, tc.participants, tc.opinions, tc.votes)
		sum := 0
		for _, n := range counts {
			if n < 1 || n > tc.opinions {
				t.Fatalf("%+v: a count of %d", tc, n)
			}
			sum += n
		}
		if sum != tc.votes {
			t.Fatalf("%+v: counts add up to %d", tc, sum)
		}
	}
}

func TestAdminCommandsUsage(t *testing.T) {
	t.Setenv("AGORA_ADMIN_TOKEN", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"import"}, "want agora import polis DIR"},
		{[]string{"import", "polis"}, "want DIR"},
		{[]string{"import", "polis", "dir"}, "--server is required"},
		{[]string{"import", "polis", "dir", "--server", "http://x"}, "the admin token is required"},
		{[]string{"import", "polis", "a", "b", "--server", "http://x"}, "want DIR"},
		{[]string{"export", "polis", "cid"}, "want CID DIR"},
		{[]string{"export", "polis", "bad id", "dir", "--server", "http://x", "--admin-token", "t"}, "is not a conversation id"},
		{[]string{"gen"}, "--server is required"},
		{[]string{"gen", "--votes", "10", "--participants", "20", "--server", "http://x"}, "--votes must be at least --participants"},
		{[]string{"gen", "--opinions", "2", "--participants", "3", "--votes", "7", "--server", "http://x"}, "more than --participants x --opinions"},
		{[]string{"gen", "extra", "--server", "http://x"}, `unexpected argument "extra"`},
		{[]string{"gen", "--server", "notaurl", "--admin-token", "t"}, "the scheme must be http or https"},
		{[]string{"gen", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"import", "polis", "dir", "--bogus"}, "flag provided but not defined: -bogus"},
	} {
		// One line: the error, without the flags' list (nor, for gen, the
		// generation's report: a bad --server is refused before it).
		requireUsageError(t, tc.args, tc.want)
	}
}

// requireUsageError runs agora with args and requires exit status 2 and
// one line on stderr that contains want.
func requireUsageError(t *testing.T, args []string, want string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), want) || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("agora %s: exit %d, stderr %q; want 2 and one line with %q", strings.Join(args, " "), code, stderr.String(), want)
	}
}

// TestServeUsage: values no node can run with, and flags that need others,
// are one line and exit 2 before anything opens (no store, no generated
// admin token in the log).
func TestServeUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"--rate-limit", "-5"}, "--rate-limit -5"},
		{[]string{"--max-conns", "-1"}, "--max-conns -1: want 1 or more"},
		{[]string{"--flush-max", "0"}, "--flush-max 0: want 1 or more"},
		{[]string{"--max-streams", "0"}, "--max-streams 0: want 1 or more"},
		{[]string{"--math-interval", "-1s"}, "--math-interval -1s: want a positive duration"},
		{[]string{"--math-interval", "0"}, "--math-interval 0s: want a positive duration"},
		{[]string{"--rate-limit", "0.2"}, "--rate-limit 0.2: want 0.5 writes per second or more"},
		{[]string{"--idle-timeout", "0"}, "--idle-timeout 0s: want a positive duration"},
		{[]string{"--commit-timeout", "-2s"}, "--commit-timeout -2s: want a positive duration"},
		{[]string{"--ack", "later"}, "--ack must be committed or applied"},
		{[]string{"--gossip-addr", "127.0.0.1:0"}, "requires --postgres"},
		{[]string{"--join", "127.0.0.1:7946"}, "--join needs --gossip-addr"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		requireUsageError(t, append([]string{"serve", "--data-dir", filepath.Join(dir, "never"), "--http-addr", "127.0.0.1:0"}, tc.args...), tc.want)
	}
	if _, err := os.Stat(filepath.Join(dir, "never")); err == nil {
		t.Error("a refused command line created the data folder")
	}
}

func TestGenWritesFilesThatAnalyzeReads(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"gen", "--participants", "120", "--opinions", "80", "--votes", "2000", "--groups", "2", "--write", dir}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("gen --write: exit %d: %s", code, stderr.String())
	}
	if code := run([]string{"analyze", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("analyze: exit %d: %s", code, stderr.String())
	}
}
