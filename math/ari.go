package polismath

// AdjustedRandIndex compares two labelings of the same items (a[i] and b[i] label item
// i): 1 for identical partitions, whatever the labels, and about 0 for unrelated
// ones. It is how a clustering is compared with Polis' groups.
func AdjustedRandIndex(a, b []int) float64 {
	type pair struct{ x, y int }
	joint := map[pair]int{}
	ca, cb := map[int]int{}, map[int]int{}
	for i := range a {
		joint[pair{a[i], b[i]}]++
		ca[a[i]]++
		cb[b[i]]++
	}
	c2 := func(k int) float64 { return float64(k) * float64(k-1) / 2 }
	sum := func(m map[int]int) float64 {
		s := 0.0
		for _, v := range m {
			s += c2(v)
		}
		return s
	}
	sa, sb := sum(ca), sum(cb)
	sj := 0.0
	for _, v := range joint {
		sj += c2(v)
	}
	expected := sa * sb / c2(len(a))
	maxIdx := (sa + sb) / 2
	if maxIdx == expected {
		return 1
	}
	return (sj - expected) / (maxIdx - expected)
}
