package cluster

import "hash/fnv"

// score is the rendezvous weight of (node, conversation): a fixed-seed
// 64-bit hash every node computes alike. FNV-1a alone mixes short inputs
// poorly in its high bits, so its result goes through the splitmix64
// finalizer.
func score(node, cid string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(node))
	h.Write([]byte{0})
	h.Write([]byte(cid))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// owner returns the index of the member that owns cid among candidates
// (rendezvous hashing: the highest score wins, ties to the smaller name),
// or -1 when there is none. When a member leaves, only the conversations
// it owned move; when one joins, it takes about 1/n of each other's.
func owner(names []string, cid string) int {
	best, bestScore := -1, uint64(0)
	for i, n := range names {
		s := score(n, cid)
		if best < 0 || s > bestScore || (s == bestScore && n < names[best]) {
			best, bestScore = i, s
		}
	}
	return best
}
