package polismath

import (
	"sort"
	"testing"
)

// Production size: the conversation the previous platform needed 50-85 s for.
const (
	prodParticipants = 5000
	prodStatements   = 19000
	prodVotes        = 113000
	prodGroups       = 4
)

// benchRun measures Run on all votes, cold (no State) and warm (the State of a run on
// the first 99% of the votes, i.e. the steady state of a live conversation).
func benchRun(b *testing.B, full, prefix Input) {
	b.Run("cold", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Run(full, nil)
		}
	})
	b.Run("warm", func(b *testing.B) {
		_, st := Run(prefix, nil)
		b.ReportAllocs()
		for b.Loop() {
			Run(full, st)
		}
	})
}

func BenchmarkRunLargestFixture(b *testing.B) {
	f := loadPolisFixture(b, "above-100-ptpts")
	byTime := append([]fixtureVoteRow(nil), f.votes...)
	sort.SliceStable(byTime, func(x, y int) bool { return byTime[x].modified < byTime[y].modified })
	prefix := &polisFixture{name: f.name, votes: byTime[:len(byTime)*99/100], modOut: f.modOut, meta: f.meta}
	benchRun(b, f.input(b), prefix.input(b))
}

func BenchmarkRunProductionSize(b *testing.B) {
	votes := synthConversation(42, prodParticipants, prodStatements, prodVotes, prodGroups, 0.85)
	benchRun(b, Input{Votes: synthMatrix(votes, len(votes))}, Input{Votes: synthMatrix(votes, len(votes)*99/100)})
}

// BenchmarkPCAProductionSize isolates the power iteration, the part that scales with
// the number of statements, and reports how many CᵀC products it needed, cold and
// warm-started from the components of the first 99% of the votes.
func BenchmarkPCAProductionSize(b *testing.B) {
	votes := synthConversation(42, prodParticipants, prodStatements, prodVotes, prodGroups, 0.85)
	d := newVoteData(synthMatrix(votes, len(votes)), nil, nil)
	_, st := Run(Input{Votes: synthMatrix(votes, len(votes)*99/100)}, nil)
	for _, tc := range []struct {
		name string
		warm [][]float64
	}{
		{"cold", nil},
		{"warm", alignComponents(st, d.statements)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var iters int
			for b.Loop() {
				iters = powerPCA(d, 2, tc.warm).iterations
			}
			b.ReportMetric(float64(iters), "products")
		})
	}
}
