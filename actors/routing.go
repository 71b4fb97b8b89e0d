package actors

import "math/bits"

// Polis routing draws a participant's next opinion among those they have
// not voted on, with probability proportional to the opinion's priority.
// A scan of every opinion per draw cost 0.3 ms on the actor at 19,000
// opinions and 8 ms at 270,000, for a request clients make after every
// vote. routing keeps the weights in a Fenwick tree instead: a draw is a
// descent of O(log n), and one that lands on an opinion the participant
// voted on is drawn again (rejection keeps the draw exactly proportional
// to the priorities of the unvoted ones). The tree follows the
// conversation: new opinions are appended to it; a new analysis or a
// change of an opinion's counted status rebuilds it at the next draw.

// routing is the Fenwick tree of the opinions' routing weights by Seq.
type routing struct {
	w     []float64 // the weights, by Seq
	tree  []float64 // tree[i] sums w over (i - lowbit(i), i], 1-based
	an    *analysis // the analysis the weights come from
	stale bool      // an opinion's counted status changed since the build
}

// routingWeight is an opinion's chance of being drawn: its priority when
// it is counted (at least a tiny positive weight), else none.
func (s *conversation) routingWeight(seq int) float64 {
	if !s.countedBySeq[seq] {
		return 0
	}
	return max(s.an.priority(seq), 1e-9)
}

// routingTree returns the tree, brought up to date with the conversation.
func (s *conversation) routingTree() *routing {
	r := &s.routing
	if r.stale || r.an != s.an || len(r.tree) == 0 {
		// A rebuild: every node from its leaf and its children, in O(n).
		n := len(s.opinions)
		r.w, r.tree = r.w[:0], append(r.tree[:0], 0)
		for seq := range n {
			w := s.routingWeight(seq)
			r.w, r.tree = append(r.w, w), append(r.tree, w)
		}
		for i := 1; i <= n; i++ {
			if j := i + i&-i; j <= n {
				r.tree[j] += r.tree[i]
			}
		}
		r.an, r.stale = s.an, false
	}
	for seq := len(r.w); seq < len(s.opinions); seq++ {
		r.push(s.routingWeight(seq))
	}
	return r
}

// push appends a weight: the new node sums it with the nodes that cover
// the rest of its range.
func (r *routing) push(w float64) {
	i := len(r.tree) // the new 1-based index
	sum := w
	for j := i - 1; j > i-(i&-i); j -= j & -j {
		sum += r.tree[j]
	}
	r.w = append(r.w, w)
	r.tree = append(r.tree, sum)
}

// total is the sum of all the weights.
func (r *routing) total() float64 {
	t := 0.0
	for i := len(r.w); i > 0; i -= i & -i {
		t += r.tree[i]
	}
	return t
}

// draw returns the Seq whose weight range holds u, for u uniform in
// [0, total): the first Seq whose running sum of weights exceeds u.
func (r *routing) draw(u float64) int {
	n := len(r.w)
	if n == 0 {
		return -1
	}
	pos := 0
	for step := 1 << (bits.Len(uint(n)) - 1); step > 0; step >>= 1 {
		if next := pos + step; next <= n && r.tree[next] <= u {
			pos = next
			u -= r.tree[next]
		}
	}
	return min(pos, n-1)
}
