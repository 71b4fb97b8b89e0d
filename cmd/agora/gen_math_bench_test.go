package main

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	polismath "github.com/agora-dev/agora/math"
	"github.com/agora-dev/agora/polis"
)

// genExport generates a conversation with `agora gen`'s model and reads it back as an
// export, as `agora analyze` would.
func genExport(tb testing.TB, c genConfig) *polis.Export {
	tb.Helper()
	g, err := generate(c)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	for _, f := range g.files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.body, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	ex, err := polis.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return ex
}

// BenchmarkMathProductionSize is the full math pipeline on the conversation `agora gen`
// makes with its defaults (6,000 participants, 19,000 opinions, 113,000 votes, 4
// latent groups): cold; warm after the last 100 votes, from the State of a cold run
// on the others; and the same from the State of a live conversation (steady100:
// the State after ten more runs, each 100 votes later), whose math reruns after
// every batch of votes.
func BenchmarkMathProductionSize(b *testing.B) {
	ex := genExport(b, genDefaults())
	// firstVotes is the input of the conversation's first n votes.
	firstVotes := func(n int) polismath.Input {
		part := *ex
		part.Votes = ex.Votes[:n]
		in, err := polisInput(&part)
		if err != nil {
			b.Fatal(err)
		}
		return in
	}
	full, prefix := firstVotes(len(ex.Votes)), firstVotes(len(ex.Votes)-100)
	// The State a live conversation has when 100 more votes arrive: the math
	// has run after every batch of votes, so its clustering has followed them
	// (a State from a cold run on the prefix starts from a clustering the
	// next runs still move for many Lloyd steps).
	var steady *polismath.State
	const batches = 10
	for n := len(ex.Votes) - 100 - batches*100; n <= len(ex.Votes)-100; n += 100 {
		_, steady = polismath.Run(firstVotes(n), steady)
	}
	// As `agora analyze` runs it (two goroutines for large steps), and on one
	// core as the server does ("-1core").
	for _, parallel := range []bool{true, false} {
		suffix := ""
		if !parallel {
			suffix = "-1core"
		}
		full.Parallel, prefix.Parallel = parallel, parallel
		b.Run("cold"+suffix, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				polismath.Run(full, nil)
			}
		})
		// from runs full warm from st: each run takes over its State's
		// statistics, as the server's next run does, so every one gets its own
		// copy, untimed.
		from := func(st *polismath.State) func(b *testing.B) {
			return func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					b.StopTimer()
					prev := st.Clone()
					b.StartTimer()
					polismath.Run(full, prev)
				}
			}
		}
		_, cold := polismath.Run(prefix, nil)
		b.Run("warm100"+suffix, from(cold))
		b.Run("steady100"+suffix, from(steady))
	}
}

// genDefaults is `agora gen`'s configuration without flags.
func genDefaults() genConfig {
	var c genConfig
	bindGenFlags(flag.NewFlagSet("", flag.ContinueOnError), &c)
	return c
}
