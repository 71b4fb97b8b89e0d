package polismath

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// checkInvariants asserts what must hold for any input: every number is finite (the
// JSON encoder refuses NaN and Inf, so marshalling is the check), k is within bounds
// and consistent with the clusters, every participant's cluster exists, cluster sizes
// add up, and the State can be stored.
func checkInvariants(t *testing.T, in Input, res *Result, st *State) {
	t.Helper()
	if _, err := json.Marshal(res); err != nil {
		t.Fatalf("result does not marshal: %v", err)
	}
	if _, err := json.Marshal(st); err != nil {
		t.Fatalf("state does not marshal: %v", err)
	}
	if len(res.GroupVotes) != len(res.Opinions)*len(res.Clusters) {
		t.Fatalf("%d group votes for %d opinions and %d groups", len(res.GroupVotes), len(res.Opinions), len(res.Clusters))
	}
	for i := range res.Opinions {
		for _, g := range res.OpinionGroups(i) {
			if g.Agree < 0 || g.Disagree < 0 || g.Pass < 0 {
				t.Fatalf("negative counts %+v", g)
			}
		}
	}
	switch res.Status {
	case StatusOK:
		if res.K < 2 || res.K > maxGroups || len(res.Clusters) != res.K {
			t.Fatalf("status ok with k = %d and %d clusters", res.K, len(res.Clusters))
		}
	case StatusInsufficientData:
		if res.K != 0 || len(res.Clusters) != 0 {
			t.Fatalf("insufficient data with k = %d and %d clusters", res.K, len(res.Clusters))
		}
	default:
		t.Fatalf("status %q", res.Status)
	}
	sizes := map[int]int{}
	total := 0
	for _, c := range res.Clusters {
		if _, dup := sizes[c.ID]; dup {
			t.Fatalf("cluster id %d twice", c.ID)
		}
		sizes[c.ID] = 0
		if len(c.Representative) > maxRepresentative {
			t.Fatalf("cluster %d has %d representative statements", c.ID, len(c.Representative))
		}
		total += c.Size
	}
	if total != res.ParticipantsClustered {
		t.Fatalf("cluster sizes add up to %d, %d clustered", total, res.ParticipantsClustered)
	}
	for _, p := range res.Participants {
		if p.Cluster == nil {
			continue
		}
		if _, ok := sizes[*p.Cluster]; !ok {
			t.Fatalf("participant %s is in cluster %d, which does not exist", p.ParticipantID, *p.Cluster)
		}
		sizes[*p.Cluster]++
	}
	for _, c := range res.Clusters {
		if sizes[c.ID] != c.Size {
			t.Fatalf("cluster %d: size %d, %d participants point at it", c.ID, c.Size, sizes[c.ID])
		}
	}
	if in.Votes != nil && res.VotesIncluded != in.Votes.NumVotes() {
		t.Fatalf("votes included %d, matrix has %d", res.VotesIncluded, in.Votes.NumVotes())
	}
	if len(res.Consensus.Agree) > maxConsensus || len(res.Consensus.Disagree) > maxConsensus {
		t.Fatalf("consensus lists too long: %d, %d", len(res.Consensus.Agree), len(res.Consensus.Disagree))
	}
	for c, comp := range res.PCA.Components {
		n := 0.0
		for _, v := range comp {
			n += v * v
		}
		if n != 0 && math.Abs(n-1) > 1e-9 {
			t.Fatalf("component %d has squared norm %g", c, n)
		}
	}
}

// randomInput builds a random matrix: np participants, ns statements, each cell
// present with probability density, with a bias towards some kinds of votes.
func randomInput(rng *rand.Rand, np, ns int, density float64, votes []Vote) Input {
	m := NewMatrix()
	for p := range np {
		for s := range ns {
			if rng.Float64() < density {
				_ = m.Set("p"+strconv.Itoa(p), "s"+strconv.Itoa(s), votes[rng.IntN(len(votes))])
			}
		}
	}
	in := Input{Votes: m}
	for s := range ns {
		switch rng.IntN(8) {
		case 0:
			in.ModeratedOut = append(in.ModeratedOut, "s"+strconv.Itoa(s))
		case 1:
			in.Meta = append(in.Meta, "s"+strconv.Itoa(s))
		}
	}
	in.Statements = append(in.Statements, "unvoted", "s0")
	return in
}

func TestRunInvariants(t *testing.T) {
	all := []Vote{Agree, Disagree, Pass}
	t.Run("EdgeCases", func(t *testing.T) {
		one := func(fill func(m *Matrix)) Input {
			m := NewMatrix()
			fill(m)
			return Input{Votes: m}
		}
		cases := map[string]Input{
			"Empty":          {},
			"EmptyMatrix":    {Votes: NewMatrix()},
			"OneParticipant": one(func(m *Matrix) { _ = m.Set("p", "a", Agree); _ = m.Set("p", "b", Disagree) }),
			"OneStatement": one(func(m *Matrix) {
				for p := range 40 {
					_ = m.Set(strconv.Itoa(p), "a", all[p%3])
				}
			}),
			"AllPasses": one(func(m *Matrix) {
				for p := range 30 {
					for s := range 10 {
						_ = m.Set(strconv.Itoa(p), strconv.Itoa(s), Pass)
					}
				}
			}),
			"AllAgree": one(func(m *Matrix) {
				for p := range 30 {
					for s := range 10 {
						_ = m.Set(strconv.Itoa(p), strconv.Itoa(s), Agree)
					}
				}
			}),
			"OneVoterOnEverything": one(func(m *Matrix) {
				for s := range 50 {
					_ = m.Set("all", strconv.Itoa(s), all[s%3])
				}
				for p := range 20 {
					_ = m.Set(strconv.Itoa(p), strconv.Itoa(p%50), Agree)
				}
			}),
			"DuplicateVotes": one(func(m *Matrix) {
				for p := range 20 {
					for s := range 8 {
						_ = m.Set(strconv.Itoa(p), strconv.Itoa(s), Agree)
						_ = m.Set(strconv.Itoa(p), strconv.Itoa(s), all[(p+s)%3])
					}
				}
			}),
		}
		allOut := randomInput(rand.New(rand.NewPCG(1, 2)), 40, 12, 0.7, all)
		allOut.ModeratedOut = allOut.Votes.Statements()
		cases["AllModeratedOut"] = allOut
		allMeta := randomInput(rand.New(rand.NewPCG(3, 4)), 40, 12, 0.7, all)
		allMeta.Meta = allMeta.Votes.Statements()
		cases["AllMeta"] = allMeta
		for name, in := range cases {
			t.Run(name, func(t *testing.T) {
				res, st := Run(in, nil)
				checkInvariants(t, in, res, st)
				res2, st2 := Run(in, st)
				checkInvariants(t, in, res2, st2)
			})
		}
	})
	t.Run("Random", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(20260101, 7))
		kinds := [][]Vote{all, {Agree, Disagree}, {Pass}, {Agree}, {Agree, Pass}}
		for i := range 300 {
			np, ns := 1+rng.IntN(60), 1+rng.IntN(30)
			density := 0.05 + 0.95*rng.Float64()
			in := randomInput(rng, np, ns, density, kinds[rng.IntN(len(kinds))])
			res, st := Run(in, nil)
			checkInvariants(t, in, res, st)
			// Warm start on more votes must also hold the invariants.
			more := in.Votes.Clone()
			for range 1 + rng.IntN(20) {
				_ = more.Set("p"+strconv.Itoa(rng.IntN(np+3)), "s"+strconv.Itoa(rng.IntN(ns+2)), all[rng.IntN(3)])
			}
			in2 := in
			in2.Votes = more
			res2, st2 := Run(in2, st)
			checkInvariants(t, in2, res2, st2)
			if t.Failed() {
				t.Fatalf("case %d: %d x %d, density %.2f", i, np, ns, density)
			}
		}
	})
}

// TestWarmEqualsColdOnRandomLatentGroups: on conversations with latent groups of random
// sizes, a run warm-started from the State of a run on 90% of the votes equals a cold
// run on all of them in the PCA, positions, statement projections and consensus, within
// the oracle's tolerance.
func TestWarmEqualsColdOnRandomLatentGroups(t *testing.T) {
	rng := rand.New(rand.NewPCG(99, 1))
	for i := range 12 {
		np, ns := 50+rng.IntN(300), 10+rng.IntN(60)
		votes := synthConversation(uint64(i), np, ns, np*ns/3, 2+rng.IntN(3), 0.9)
		_, st := Run(Input{Votes: synthMatrix(votes, len(votes)*9/10)}, nil)
		warm, _ := Run(Input{Votes: synthMatrix(votes, len(votes))}, st)
		cold, _ := Run(Input{Votes: synthMatrix(votes, len(votes))}, nil)
		compareAnalysesTol(t, warm, cold, 1e-6)
		if warm.K < 2 || warm.K > maxGroups {
			t.Errorf("case %d: warm k = %d", i, warm.K)
		}
	}
}

// FuzzRun builds a small matrix from the fuzz bytes (participants, statements, then two
// bits per cell: missing, agree, disagree, pass; then a moderation mask) and checks the
// invariants, cold and warm-started.
func FuzzRun(f *testing.F) {
	f.Add([]byte{3, 3, 0x1b, 0x6c, 0xff, 0})
	f.Add([]byte{20, 6, 0x55, 0xaa, 0x11, 0x22, 0x33, 0x44, 0x99, 0x10, 0x01, 0xfe, 0x7f, 0x3c, 0xc3, 0x5a, 0xa5, 0x0f, 0xf0, 0x66, 0x99, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x02})
	f.Add([]byte{1, 1, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			Run(Input{}, nil)
			return
		}
		np, ns := 1+int(data[0])%40, 1+int(data[1])%16
		cells := data[2:]
		m := NewMatrix()
		bit := 0
		for p := range np {
			for s := range ns {
				if bit/8 >= len(cells) {
					break
				}
				code := (cells[bit/8] >> (bit % 8)) & 3
				bit += 2
				if code == 0 {
					continue
				}
				v := []Vote{Agree, Disagree, Pass}[code-1]
				_ = m.Set(strconv.Itoa(p), strconv.Itoa(s), v)
			}
		}
		in := Input{Votes: m}
		if len(cells) > 0 {
			mask := cells[len(cells)-1]
			for s := range min(ns, 8) {
				if mask&(1<<s) != 0 {
					in.ModeratedOut = append(in.ModeratedOut, strconv.Itoa(s))
				}
			}
		}
		res, st := Run(in, nil)
		checkInvariants(t, in, res, st)
		// A warm run after participant 0 turned their votes around (and statement
		// 0 changed moderation), which updates the cached statistics, equals one
		// computing them.
		in2 := Input{Votes: m.Clone(), ModeratedOut: in.ModeratedOut}
		for s := range ns {
			if v, ok := m.Get("0", strconv.Itoa(s)); ok {
				_ = in2.Votes.Set("0", strconv.Itoa(s), -v)
			}
		}
		if len(in.ModeratedOut) > 0 && in.ModeratedOut[0] == "0" {
			in2.ModeratedOut = in.ModeratedOut[1:]
		} else {
			in2.ModeratedOut = append([]string{"0"}, in.ModeratedOut...)
		}
		bare := st.Clone()
		bare.stats.Store(nil)
		res2, st2 := Run(in2, st)
		checkInvariants(t, in2, res2, st2)
		fresh, _ := Run(in2, bare)
		if j2, jf := mustJSON(t, res2), mustJSON(t, fresh); j2 != jf {
			t.Fatalf("a warm run with cached statistics differs from one without:\n%s\n%s", j2, jf)
		}

		// The same two snapshots as an actor hands them over (the second built
		// after the first, participant 0's row a new array, the others shared),
		// whose second run copies the unchanged rows and counts the tallies
		// from the first run's: the same analyses.
		rows1 := make([][]Cell, len(m.rows))
		for i, r := range m.rows {
			rows1[i] = slices.Clone(r)
		}
		m1, err := NewMatrixFromSortedRowsAfter(nil, m.participants, m.statements, rows1)
		if err != nil {
			t.Fatal(err)
		}
		rows2 := slices.Clone(rows1)
		if i, ok := m.pIndex["0"]; ok {
			rows2[i] = slices.Clone(in2.Votes.rows[i])
		}
		m2, err := NewMatrixFromSortedRowsAfter(m1, m.participants, m.statements, rows2)
		if err != nil {
			t.Fatal(err)
		}
		resA, stA := Run(Input{Votes: m1, ModeratedOut: in.ModeratedOut}, nil)
		bareA := stA.Clone()
		resA2, stA2 := Run(Input{Votes: m2, ModeratedOut: in2.ModeratedOut}, stA)
		freshA2, _ := Run(Input{Votes: m2, ModeratedOut: in2.ModeratedOut}, bareA)
		if ja, j1 := mustJSON(t, resA), mustJSON(t, res); ja != j1 {
			t.Fatalf("the actor's first snapshot gives another analysis than the Matrix's:\n%s\n%s", ja, j1)
		}
		if ja, j2, jf := mustJSON(t, resA2), mustJSON(t, res2), mustJSON(t, freshA2); ja != j2 || ja != jf {
			t.Fatalf("the warm run on the actor's second snapshot differs:\n%s\n%s\n%s", ja, j2, jf)
		}
		if !slices.Equal(resA2.GroupVotes, res2.GroupVotes) || !slices.Equal(resA2.GroupVotes, freshA2.GroupVotes) {
			t.Fatal("the warm run on the actor's second snapshot has other group votes")
		}

		// A third snapshot after statement 0's deletion (its id "" in a new
		// list, its votes still in the rows): the same analysis as on a Matrix
		// that copies the rows without it.
		if j, ok := m.sIndex["0"]; ok {
			deleted := slices.Clone(m.statements)
			deleted[j] = ""
			m3, err := NewMatrixFromSortedRowsAfter(m2, m.participants, deleted, rows2)
			if err != nil {
				t.Fatal(err)
			}
			flat, err := NewMatrixFromUniqueRows(m.participants, deleted, rowOffsets(rows2), slices.Concat(rows2...))
			if err != nil {
				t.Fatal(err)
			}
			bare3 := stA2.Clone()
			in3 := Input{Votes: m3, ModeratedOut: in2.ModeratedOut, Statements: deleted}
			res3, _ := Run(in3, stA2)
			in3.Votes = flat
			flat3, _ := Run(in3, bare3)
			if j3, jf := mustJSON(t, res3), mustJSON(t, flat3); j3 != jf || m3.NumVotes() != flat.NumVotes() {
				t.Fatalf("after a deletion, %d votes and the analysis\n%s\nagainst the copying Matrix's %d and\n%s", m3.NumVotes(), j3, flat.NumVotes(), jf)
			}
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
