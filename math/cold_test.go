package polismath

import (
	"testing"
)

// adjustedRand returns the adjusted Rand index of two labelings of the same items:
// 1 for identical partitions (whatever the labels), about 0 for unrelated ones.
func adjustedRand(a, b []int) float64 {
	type pair struct{ x, y int }
	n := len(a)
	joint := map[pair]int{}
	ca, cb := map[int]int{}, map[int]int{}
	for i := range a {
		joint[pair{a[i], b[i]}]++
		ca[a[i]]++
		cb[b[i]]++
	}
	c2 := func(k int) float64 { return float64(k) * float64(k-1) / 2 }
	var sj, sa, sb float64
	for _, v := range joint {
		sj += c2(v)
	}
	for _, v := range ca {
		sa += c2(v)
	}
	for _, v := range cb {
		sb += c2(v)
	}
	expected := sa * sb / c2(n)
	maxIdx := (sa + sb) / 2
	if maxIdx == expected {
		return 1
	}
	return (sj - expected) / (maxIdx - expected)
}

// polisGroupOf maps participant ids to their Polis group id.
func polisGroupOf(f *polisFixture) map[string]int {
	baseGroup := map[int]int{}
	for _, g := range f.polis.GroupClusters {
		for _, b := range g.Members {
			baseGroup[b] = g.ID
		}
	}
	out := map[string]int{}
	bc := f.polis.BaseClusters
	for i, id := range bc.ID {
		for _, pid := range bc.Members[i] {
			out[itoa(pid)] = baseGroup[id]
		}
	}
	return out
}

// groupAgreement returns the adjusted Rand index between our groups and Polis' over the
// participants both clustered, and how many those are.
func groupAgreement(res *Result, polis map[string]int) (float64, int) {
	var a, b []int
	for _, p := range res.Participants {
		g, ok := polis[p.ParticipantID]
		if !ok || p.Cluster == nil {
			continue
		}
		a = append(a, *p.Cluster)
		b = append(b, g)
	}
	return adjustedRand(a, b), len(a)
}

// TestColdStartAgainstPolis runs each fixture cold, as a restarted worker would. The
// groups then depend on the initialisation order and need not equal Polis' (which were
// warm-started through the conversation's history; TestPolisFixtures reproduces them
// exactly from Polis' state), so their agreement is logged as an adjusted Rand index.
func TestColdStartAgainstPolis(t *testing.T) {
	for _, name := range polisFixtureNames {
		t.Run(name, func(t *testing.T) {
			f := loadPolisFixture(t, name)
			polis := polisGroupOf(f)
			cold, coldState := Run(f.input(t), nil)
			if cold.Status != StatusOK || cold.K < 2 || cold.K > maxGroups {
				t.Fatalf("status %s with k = %d", cold.Status, cold.K)
			}
			if cold.ParticipantsClustered != len(coldState.InConv) {
				t.Errorf("%d participants clustered, %d in-conv", cold.ParticipantsClustered, len(coldState.InConv))
			}
			ariCold, nCold := groupAgreement(cold, polis)
			inConvOnly, _ := Run(f.input(t), &State{InConv: f.polisState().InConv})
			ariIn, nIn := groupAgreement(inConvOnly, polis)
			t.Logf("cold: k=%d ARI %.4f over %d; with Polis in-conv only: k=%d ARI %.4f over %d (Polis k=%d)",
				cold.K, ariCold, nCold, inConvOnly.K, ariIn, nIn, len(f.polis.GroupClusters))
		})
	}
}
