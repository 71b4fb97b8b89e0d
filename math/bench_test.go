package polismath

import (
	"testing"
)

// Production size: the conversation the previous platform needed 50-85 s for.
const (
	prodParticipants = 6000
	prodStatements   = 19000
	prodVotes        = 113000
	prodGroups       = 4
)

// benchRun measures Run on all votes, cold (no State) and warm (the State of a run on
// all but the last 100 votes: the steady state of a live conversation, where the math
// reruns after every batch of votes, from the State of the run before).
//
// Each runs twice: with Input.Parallel, as `agora analyze` runs it, and on one core, as
// the server does (suffix "-1core").
func benchRun(b *testing.B, full, prefix Input) {
	for _, parallel := range []bool{true, false} {
		suffix := ""
		if !parallel {
			suffix = "-1core"
		}
		full.Parallel, prefix.Parallel = parallel, parallel
		b.Run("cold"+suffix, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Run(full, nil)
			}
		})
		b.Run("warm100"+suffix, func(b *testing.B) {
			_, st := Run(prefix, nil)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				// Each run takes over its State's statistics, as the server's
				// next run does: give every one its own copy, untimed.
				b.StopTimer()
				prev := st.Clone()
				b.StartTimer()
				Run(full, prev)
			}
		})
	}
}

func BenchmarkRunLargestFixture(b *testing.B) {
	f := loadPolisFixture(b, "above-100-ptpts")
	live := arrivalOrder(f)
	prefix := &polisFixture{name: f.name, votes: live.votes[:len(live.votes)-100], modOut: f.modOut, meta: f.meta}
	benchRun(b, live.input(b), prefix.input(b))
}

// BenchmarkRunAustria is the full cold pipeline on the largest open-data export
// (1,116 voters, 522 comments, 61,384 current votes; red-dwarf needs about 0.4 s).
func BenchmarkRunAustria(b *testing.B) {
	in, _ := loadOpenData(b, "austria-climate.5twd2jsnkf.2022-08-08")
	b.ReportAllocs()
	for b.Loop() {
		Run(in, nil)
	}
}

// BenchmarkRunProductionSize: 6,000 participants, 19,000 statements, 113,000 votes.
// The generator spreads the votes thinly (about 19 per participant over 16,000 voted
// statements), so the spectrum of CᵀC is nearly flat (top eigenvalues 62.74, 62.70,
// 62.12, 61.32): the hardest case for the eigensolver.
func BenchmarkRunProductionSize(b *testing.B) {
	votes := synthConversation(42, prodParticipants, prodStatements, prodVotes, prodGroups, 0.85)
	benchRun(b, Input{Votes: synthMatrix(votes, len(votes))}, Input{Votes: synthMatrix(votes, len(votes)-100)})
}

// BenchmarkRunProductionSizeRouted is BenchmarkRunProductionSize with the votes
// concentrated on the first statements (synthRouted): the eigensolver's hard case
// gone, what the rest of the pipeline costs.
func BenchmarkRunProductionSizeRouted(b *testing.B) {
	votes := synthRouted(42, prodParticipants, prodStatements, prodVotes, prodGroups, 0.85)
	benchRun(b, Input{Votes: synthMatrix(votes, len(votes))}, Input{Votes: synthMatrix(votes, len(votes)-100)})
}

// BenchmarkPCAProductionSize isolates the eigensolver, the part that scales with the
// number of votes, and reports how many block products it needed, cold and
// warm-started from the components of the run before the last 100 votes.
func BenchmarkPCAProductionSize(b *testing.B) {
	for _, routed := range []bool{false, true} {
		gen, suffix := synthConversation, ""
		if routed {
			gen, suffix = synthRouted, "-routed"
		}
		votes := gen(42, prodParticipants, prodStatements, prodVotes, prodGroups, 0.85)
		d := newVoteData(synthMatrix(votes, len(votes)), nil, nil)
		_, st := Run(Input{Votes: synthMatrix(votes, len(votes)-100)}, nil)
		for _, tc := range []struct {
			name string
			warm [][]float64
		}{
			{"cold", nil},
			{"warm100", alignComponents(nil, st, d.statements)},
		} {
			b.Run(tc.name+suffix, func(b *testing.B) {
				var iters int
				for b.Loop() {
					iters = powerPCA(d, 2, tc.warm).iterations
				}
				b.ReportMetric(float64(iters), "products")
			})
		}
	}
}

// BenchmarkBaseKMeansProductionSize isolates the base k-means of a warm run on
// the routed production-size conversation: the participants' positions after the
// last 100 votes, clustered from the base clusters of the run before them (the
// clusters creep for about 19 Lloyd steps under Polis' stopping rule).
func BenchmarkBaseKMeansProductionSize(b *testing.B) {
	votes := synthRouted(42, prodParticipants, prodStatements, prodVotes, prodGroups, 0.85)
	_, prev := Run(Input{Votes: synthMatrix(votes, len(votes)-100)}, nil)
	d := newVoteData(synthMatrix(votes, len(votes)), nil, nil)
	pos := projectParticipants(d, powerPCA(d, 2, alignComponents(nil, prev, d.statements)).comps)
	rowOf := make(map[string]int, d.numRows())
	for i, id := range d.participants {
		rowOf[id] = i
	}
	var pts []point
	for i, in := range inConvByID(d, toSet(prev.InConv)) {
		if in {
			pts = append(pts, point{id: i, pos: pos[i], weight: 1})
		}
	}
	start := baseFromState(prev.BaseClusters, rowOf)
	b.ReportAllocs()
	for b.Loop() {
		kmeans(pts, baseK, start, baseMaxIters)
	}
}

// BenchmarkStagesProductionSize isolates the linear stages of a run on the routed
// production-size conversation: compressing the Matrix, counting the tallies, and
// selecting every group's representative statements (with and without the figures
// of a previous run), for four groups taking every fourth participant (so that every
// statement has votes in every group, the selection's heaviest case).
func BenchmarkStagesProductionSize(b *testing.B) {
	votes := synthRouted(42, prodParticipants, prodStatements, prodVotes, prodGroups, 0.85)
	m := synthMatrix(votes, len(votes))
	d := newVoteData(m, nil, nil)
	const groups = 4
	member := make([]int, d.numRows())
	clusterable := make([]bool, d.numRows())
	for i := range member {
		member[i], clusterable[i] = i%groups, true
	}
	b.Run("voteData", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			newVoteData(m, nil, nil)
		}
	})
	b.Run("tallies", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tallies(d.w, d, clusterable, member, groups)
		}
	})
	_, _, grouped, per := tallies(d.w, d, clusterable, member, groups)
	b.Run("representatives", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			(*statCache)(nil).ready(groups, d.numCols()).groupStats(d, per, grouped, nil)
		}
	})
	// The same with the figures of the run before, every column's tallies
	// unchanged: a warm run's cost for the columns without a new vote.
	b.Run("representatives-cached", func(b *testing.B) {
		c := (*statCache)(nil).ready(groups, d.numCols())
		c.groupStats(d, per, grouped, nil)
		b.ReportAllocs()
		for b.Loop() {
			c.groupStats(d, per, grouped, nil)
		}
	})
}

// BenchmarkPairKernels isolates one pass of each sparse product on pairs over the
// routed production-size matrix (113,000 votes), its data in the caches: the
// scatter Cᵀx and the gather C z of the eigensolver's products on the rows' side.
func BenchmarkPairKernels(b *testing.B) {
	votes := synthRouted(42, prodParticipants, prodStatements, prodVotes, prodGroups, 0.85)
	d := newVoteData(synthMatrix(votes, len(votes)), nil, nil)
	c := newCentered(d)
	checked := checkedForKernels(c)
	x, y := make([][2]float64, c.rows), make([][2]float64, c.rows)
	z := make([][2]float64, c.cols)
	for i := range x {
		x[i] = [2]float64{float64(i%5) - 2, float64(i%3) - 1}
	}
	for i := range z {
		z[i] = [2]float64{float64(i%7) - 3, float64(i%5) - 2}
	}
	b.Run("scatter", func(b *testing.B) {
		for b.Loop() {
			clear(z)
			scatterPairs(c, checked, x, z, 0, c.rows)
		}
	})
	b.Run("gather", func(b *testing.B) {
		for b.Loop() {
			gatherPairs(c, checked, z, y, 0, c.rows)
		}
	})
}
