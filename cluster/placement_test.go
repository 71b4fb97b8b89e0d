package cluster

import (
	"fmt"
	"math"
	"testing"
)

func cids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("conv%06d", i)
	}
	return out
}

func TestOwnerSpreadsConversationsEvenly(t *testing.T) {
	for _, nodes := range []int{2, 3, 5, 10} {
		t.Run(fmt.Sprint(nodes, " nodes"), func(t *testing.T) {
			var names []string
			for i := range nodes {
				names = append(names, fmt.Sprintf("node-%d", i))
			}
			const n = 60000
			count := make([]int, nodes)
			for _, c := range cids(n) {
				count[owner(names, c)]++
			}
			want := float64(n) / float64(nodes)
			for i, c := range count {
				// 5 standard deviations of a binomial count.
				if dev := math.Abs(float64(c) - want); dev > 5*math.Sqrt(want) {
					t.Errorf("node %d owns %d conversations, expected %.0f ± %.0f", i, c, want, 5*math.Sqrt(want))
				}
			}
		})
	}
}

func TestOwnerMovesOnlyWhatItMust(t *testing.T) {
	names := []string{"a", "b", "c", "d"}
	all := cids(20000)
	before := map[string]string{}
	for _, c := range all {
		before[c] = names[owner(names, c)]
	}
	t.Run("a leaving member's conversations move, no other", func(t *testing.T) {
		left := []string{"a", "b", "d"}
		for _, c := range all {
			now := left[owner(left, c)]
			if before[c] != "c" && now != before[c] {
				t.Fatalf("%s moved from %s to %s though %s stayed", c, before[c], now, before[c])
			}
		}
	})
	t.Run("a joining member takes conversations only for itself", func(t *testing.T) {
		joined := []string{"a", "b", "c", "d", "e"}
		moved := 0
		for _, c := range all {
			now := joined[owner(joined, c)]
			if now != before[c] {
				if now != "e" {
					t.Fatalf("%s moved from %s to %s, not to the new member", c, before[c], now)
				}
				moved++
			}
		}
		if want := len(all) / 5; math.Abs(float64(moved-want)) > 5*math.Sqrt(float64(want)) {
			t.Errorf("%d conversations moved to the new member, expected about %d", moved, want)
		}
	})
	t.Run("the order of members does not matter", func(t *testing.T) {
		shuffled := []string{"d", "b", "a", "c"}
		for _, c := range all {
			if got := shuffled[owner(shuffled, c)]; got != before[c] {
				t.Fatalf("%s: %s in one order, %s in another", c, before[c], got)
			}
		}
	})
	if owner(nil, "x") != -1 {
		t.Error("no members must own nothing")
	}
}
