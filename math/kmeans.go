package polismath

import (
	"cmp"
	"math"
	"runtime"
	"slices"
	"sync"
)

// kmeansConvergence is Polis' stopping rule: the clustering is stable when every centre
// (paired after sorting) moved less than this distance in one step.
const kmeansConvergence = 0.01

// point is one item to cluster: a participant (id = row index) for the base clusters, a
// base cluster (id = base cluster id, weight = its size) for the group clusters.
type point struct {
	id     int
	pos    [2]float64
	weight float64
}

// kcluster is one k-means cluster; members are point ids in data order.
type kcluster struct {
	id      int
	members []int
	center  [2]float64
}

// kmeans runs Polis' variant of Lloyd's algorithm. It starts from last when given
// (recentred on the current positions, split until it has min(k, distinct points)
// clusters), which keeps cluster identities stable across updates of a conversation;
// otherwise from the first k distinct points in data order. Clusters that lose all
// their points are dropped, so fewer than k may come back. At most maxIters+1 steps
// are taken. The result is sorted by id.
func kmeans(points []point, k int, last []kcluster, maxIters int) []kcluster {
	return kmeansWith(nil, points, k, last, maxIters, false)
}

// kmeansWith is kmeans, its large steps' assignments in two goroutines when parallel,
// its per-point arrays taken from w (nil: allocated).
func kmeansWith(w *workspace, points []point, k int, last []kcluster, maxIters int, parallel bool) []kcluster {
	if len(points) == 0 || k <= 0 {
		return nil
	}
	var clusters []kcluster
	var at pointIndex
	if len(last) > 0 {
		at = newPointIndex(points)
		clusters = cleanStart(points, at, last, k)
	} else {
		clusters = initClusters(points, k)
	}
	l := newLloyd(w, points, clusters, at)
	l.parallel = parallel
	for iter := maxIters; ; iter-- {
		l.step()
		if iter <= 0 || l.stable() {
			return l.result()
		}
	}
}

// initClusters returns the first k distinct positions in data order as empty clusters
// with ids 0..k-1.
func initClusters(points []point, k int) []kcluster {
	var out []kcluster
	seen := map[[2]float64]bool{}
	for _, p := range points {
		if len(out) == k {
			break
		}
		if seen[p.pos] {
			continue
		}
		seen[p.pos] = true
		out = append(out, kcluster{id: len(out), center: p.pos})
	}
	return out
}

// lloyd holds the state of one k-means run over point indices. Every step assigns each
// point to its nearest centre (the lowest id on exact ties), drops the clusters left
// empty and moves each centre to the weighted mean of its members, exactly as a plain
// Lloyd step; but it keeps, per point, an upper bound on the distance to its own centre
// and a lower bound on the distance to any other one (Hamerly's bounds), so that a
// point whose centre is certainly still the nearest is not compared with all k
// centres again. With 100 base clusters that removes most of the work after the first
// few steps. A point that does need a search does not scan every centre either: the
// centres are kept sorted by x, and the search widens from the point's x until the
// strip holds no centre that could be nearer (sweep), which on 100 base clusters visits
// a tenth of them.
type lloyd struct {
	pts    []point
	ids    []int // cluster slots, in ascending id order
	center [][2]float64
	alive  []bool
	before [][2]float64 // live centres before the first step, for the stopping rule
	assign []int32      // slot of each point; -1 before the first step
	upper  []float64    // ≥ distance from the point to its centre
	lower  []float64    // ≤ distance from the point to every other live centre
	delta  []float64
	cc     []float64 // distances between centres, k x k (only when search does not sweep)
	half   []float64
	moved  []int32 // live slots whose centre moved in the last step
	// sortedBefore holds the live centres before the last step, sorted, once
	// stable has run; sortedSpare is a buffer for the next sort.
	sortedBefore, sortedSpare [][2]float64
	// nearMoved[c] is the distance from centre c to the nearest other centre
	// that moved in the last step (+Inf when none did).
	nearMoved []float64
	// nearestOf[c] is the nearest other live centre of c and near2[c] the squared
	// distance to it, kept from step to step (when search sweeps).
	nearestOf []int32
	near2     []float64
	changed   []bool // per slot: the last step changed its members
	// reach[c] is the largest upper + lower bound of slot c's points, and
	// settled[c] whether each point's upper bound is below its lower one, as the
	// last step that visited the slot left them (see quiet); a step that changes
	// the slot's members unsets settled.
	reach   []float64
	settled []bool
	// members[c] lists the points of slot c in point order (after the first step).
	members [][]int32
	// moves lists the points whose slot the last step changed, with the slot they
	// left, per half of both.
	moves [2][]move
	// fromBuf holds, per half of both, distancesFrom's result.
	// nbrs[a] lists the centres nearest to slot a's (nearestOfAll), for the
	// first step of a warm start; nil unless that step sweeps.
	nbrs     [][]neighbour
	fromBuf  [2][]float64
	byX      []int32   // live slots sorted by centre x (then slot), for sweep
	xs       []float64 // their centres' x
	stepped  bool
	guessed  bool // before the first step, assign holds each point's cluster in the start (-1: none)
	parallel bool // see both
}

// movedScan is the largest number of centres that moved in a step for which a point
// whose bounds fail measures its distance to each of them instead of searching: after
// the first steps of a warm start only some of the clusters still move (4-8 of 100
// per step on the routed synthetic; on the conversation `agora gen` makes, 36-63 in
// the first steps, then 4-32). A sweep there cost about 290 ns in the profile, so
// measuring up to 64 costs less: the `agora gen` warm run took 13.4-15.0 ms with 64
// against 14.3-16.5 ms with 32; 100 measured no better.
const movedScan = 64

// boundSlack keeps the pruning exact despite rounding in the bounds: a point is only
// skipped when its centre is nearer than every other by a relative margin far above
// the accumulated rounding error.
const boundSlack = 1e-9

func newLloyd(w *workspace, points []point, clusters []kcluster, at pointIndex) *lloyd {
	n, k := len(points), len(clusters)
	var assign []int32
	if w != nil {
		assign = buffer(&w.assign, n)
		clear(assign)
	} else {
		assign = make([]int32, n)
	}
	l := &lloyd{
		pts:       points,
		ids:       make([]int, k),
		center:    make([][2]float64, k),
		alive:     make([]bool, k),
		assign:    assign,
		upper:     w.zeros(n),
		lower:     w.zeros(n),
		delta:     make([]float64, k),
		half:      make([]float64, k),
		changed:   make([]bool, k),
		reach:     make([]float64, k),
		settled:   make([]bool, k),
		nearMoved: make([]float64, k),
	}
	sorted := slices.Clone(clusters)
	slices.SortStableFunc(sorted, func(a, b kcluster) int { return a.id - b.id })
	for c, cl := range sorted {
		l.ids[c], l.center[c], l.alive[c] = cl.id, cl.center, true
	}
	l.guessMembers(sorted, at)
	return l
}

// guessMembers records, when the start clusters list members (a warm start), each
// point's start cluster: the first step then only confirms it for the points
// certainly nearest to it instead of searching every centre for every point.
func (l *lloyd) guessMembers(sorted []kcluster, at pointIndex) {
	if !slices.ContainsFunc(sorted, func(c kcluster) bool { return len(c.members) > 0 }) {
		return // a cold start
	}
	for i := range l.assign {
		l.assign[i] = -1
	}
	for c, cl := range sorted {
		for _, m := range cl.members {
			if i, ok := at.get(m); ok {
				l.assign[i] = int32(c)
				l.guessed = true
			}
		}
	}
}

// pointIndex finds a point by its id: through a table when the ids are dense (row
// indices, base cluster ids), else through a map.
type pointIndex struct {
	at []int32 // at[id]: index of the point, or -1
	m  map[int]int
}

func newPointIndex(points []point) pointIndex {
	maxID, minID := -1, 0
	for _, p := range points {
		maxID, minID = max(maxID, p.id), min(minID, p.id)
	}
	if minID < 0 || maxID > 64*len(points)+65536 {
		m := make(map[int]int, len(points))
		for i, p := range points {
			m[p.id] = i
		}
		return pointIndex{m: m}
	}
	at := make([]int32, maxID+1)
	for i := range at {
		at[i] = -1
	}
	for i, p := range points {
		at[p.id] = int32(i)
	}
	return pointIndex{at: at}
}

func (x pointIndex) get(id int) (int, bool) {
	if x.m != nil {
		i, ok := x.m[id]
		return i, ok
	}
	if id < 0 || id >= len(x.at) || x.at[id] < 0 {
		return 0, false
	}
	return int(x.at[id]), true
}

func (l *lloyd) liveCenters() [][2]float64 {
	return l.liveCentersInto(make([][2]float64, 0, len(l.center)))
}

// liveCentersInto is liveCenters appended to out[:0].
func (l *lloyd) liveCentersInto(out [][2]float64) [][2]float64 {
	out = out[:0]
	for c, ok := range l.alive {
		if ok {
			out = append(out, l.center[c])
		}
	}
	return out
}

// nearest scans every live centre for point p and returns the slot of the nearest (the
// first on ties) with the distances to the nearest and to the second nearest.
func (l *lloyd) nearest(pos [2]float64) (int, float64, float64) {
	best, bestD, secondD := -1, math.Inf(1), math.Inf(1)
	for c, ok := range l.alive {
		if !ok {
			continue
		}
		d := dist2(pos, l.center[c])
		if d < bestD {
			best, bestD, secondD = c, d, bestD
		} else if d < secondD {
			secondD = d
		}
	}
	return best, math.Sqrt(bestD), math.Sqrt(secondD)
}

// sweepFrom is the number of live centres from which a search sweeps the centres in x
// order instead of scanning them all.
const sweepFrom = 12

// search returns the nearest live centre to pos with the distances to it and to the
// second nearest (or a lower bound of the latter): by sweep among many centres,
// else by a scan, pruned by the centre-to-centre distances when the point is known
// to be at distance u from centre a (a < 0: not known).
func (l *lloyd) search(pos [2]float64, a int, u float64) (int, float64, float64) {
	switch {
	case len(l.byX) >= sweepFrom:
		return l.sweep(pos)
	case a >= 0:
		return l.nearestFrom(pos, a, u)
	default:
		return l.nearest(pos)
	}
}

// sortByX orders the live slots by their centres' x for sweep (only when there are
// enough of them for search to sweep).
func (l *lloyd) sortByX() {
	l.byX = l.byX[:0]
	for c, ok := range l.alive {
		if ok {
			l.byX = append(l.byX, int32(c))
		}
	}
	if len(l.byX) < sweepFrom {
		return
	}
	slices.SortFunc(l.byX, func(a, b int32) int {
		if d := cmp.Compare(l.center[a][0], l.center[b][0]); d != 0 {
			return d
		}
		return int(a - b)
	})
	l.xs = l.xs[:0]
	for _, c := range l.byX {
		l.xs = append(l.xs, l.center[c][0])
	}
}

// sweep is nearest by a search outwards in x: the centres are visited in order of
// their x distance to the point, and the search stops when that distance alone exceeds
// the second-nearest distance found, since every centre not visited is at least that
// far. It returns what nearest returns, the same distances bit for bit, and the same
// slot on ties (the lowest).
func (l *lloyd) sweep(pos [2]float64) (int, float64, float64) {
	xs, x := l.xs, pos[0]
	r, _ := slices.BinarySearch(xs, x)
	left := r - 1
	best, bestD, secondD := -1, math.Inf(1), math.Inf(1)
	for left >= 0 || r < len(xs) {
		var c int32
		var dx float64
		if r < len(xs) && (left < 0 || xs[r]-x <= x-xs[left]) {
			c, dx = l.byX[r], xs[r]-x
			r++
		} else {
			c, dx = l.byX[left], x-xs[left]
			left--
		}
		if dx*dx > secondD {
			break
		}
		d := dist2(pos, l.center[c])
		switch {
		case d < bestD || (d == bestD && int(c) < best):
			secondD = bestD
			best, bestD = int(c), d
		case d < secondD:
			secondD = d
		}
	}
	return best, math.Sqrt(bestD), math.Sqrt(secondD)
}

// nearestFrom is nearest for a point at distance u from centre a: a centre c with
// d(a, c) ≥ 2u cannot be nearer than a (triangle inequality), so its distance is not
// computed, and d(a, c) − u stands in for it in the second-nearest bound. On ties the
// first centre in id order still wins, as in nearest.
func (l *lloyd) nearestFrom(pos [2]float64, a int, u float64) (int, float64, float64) {
	k := len(l.center)
	row := l.cc[a*k : a*k+k]
	best, bestD, secondD := -1, math.Inf(1), math.Inf(1)
	for c, ok := range l.alive {
		if !ok {
			continue
		}
		if c != a && row[c] > 2*u*(1+boundSlack) {
			if v := row[c] - u; v < secondD {
				secondD = v
			}
			continue
		}
		d := dist2(pos, l.center[c])
		if d < bestD {
			if sb := math.Sqrt(bestD); sb < secondD {
				secondD = sb
			}
			best, bestD = c, d
		} else if sd := math.Sqrt(d); sd < secondD {
			secondD = sd
		}
	}
	return best, math.Sqrt(bestD), secondD
}

func (l *lloyd) step() {
	if l.sortedBefore == nil {
		l.before = l.liveCenters() // later steps' are kept sorted by stable
	}
	// Bounds move by at most the largest centre shift (the second largest for the
	// points of the cluster that moved most).
	max1, max2, arg1 := 0.0, 0.0, -1
	l.moved = l.moved[:0]
	if l.stepped {
		for c, ok := range l.alive {
			if !ok {
				continue
			}
			if l.delta[c] > 0 {
				l.moved = append(l.moved, int32(c))
			}
			if d := l.delta[c]; d > max1 {
				max1, max2, arg1 = d, max1, c
			} else if d > max2 {
				max2 = d
			}
		}
	}
	// half[c]: half the distance from centre c to the nearest other centre; a point
	// within it of its own centre cannot be nearer to another one.
	l.sortByX()
	k := len(l.center)
	nearMovedDone := false
	if len(l.byX) >= sweepFrom {
		// search sweeps, so only the nearest other centre of each is needed (the
		// square root of the least squared distance is the least distance).
		// Keeping the nearest centres pays while few centres move: it measures
		// k distances per moved centre, twice; all pairs are k²/2.
		if l.stepped && l.nearestOf != nil && 4*len(l.moved) < len(l.byX) {
			l.nearestAfterMoves()
			nearMovedDone = true
		} else {
			// The first step of a warm start also lists each centre's nearest.
			l.nearestOfAll(!l.stepped && l.guessed)
		}
		for a := range k {
			l.half[a] = 0.5 * math.Sqrt(l.near2[a])
		}
	} else {
		// nearestFrom prunes with every centre-to-centre distance.
		if cap(l.cc) < k*k {
			l.cc = make([]float64, k*k)
		}
		cc := l.cc[:k*k]
		for a := range k {
			cc[a*k+a] = math.Inf(1)
			for c := a + 1; c < k; c++ {
				d := math.Inf(1)
				if l.alive[a] && l.alive[c] {
					d = math.Sqrt(dist2(l.center[a], l.center[c]))
				}
				cc[a*k+c], cc[c*k+a] = d, d
			}
		}
		l.cc = cc
		for a := range k {
			l.half[a] = 0.5 * slices.Min(cc[a*k:a*k+k])
		}
	}
	if l.stepped && !nearMovedDone {
		for a, ok := range l.alive {
			m := math.Inf(1)
			if ok {
				m, _ = l.nearestMoved(a)
			}
			l.nearMoved[a] = math.Sqrt(m)
		}
	}
	first := !l.stepped
	l.moves[0], l.moves[1] = l.moves[0][:0], l.moves[1][:0]
	if first {
		l.both(len(l.pts), l.assignFirst)
	} else {
		l.both(len(l.center), func(lo, hi int) { l.assignSlots(lo, hi, max1, max2, arg1) })
	}
	l.stepped = true

	// A cluster keeps its members, summed in the same order, so its centre, unless
	// a point joined or left it: only those clusters are summed again (after the
	// first step, which places every centre on its members). The members of each
	// cluster are kept in point order, which is the order of the sums, and updated
	// with the points that moved instead of found by a pass over every point.
	changed := l.changed
	for c := range changed {
		changed[c] = first
	}
	moves := len(l.moves[0]) + len(l.moves[1])
	if first || moves > len(l.pts)/16 {
		for _, half := range l.moves {
			for _, mv := range half {
				changed[mv.from], changed[l.assign[mv.point]] = true, true
			}
		}
		l.membersFromAssign()
	} else {
		for _, half := range l.moves {
			for _, mv := range half {
				to := l.assign[mv.point]
				changed[mv.from], changed[to] = true, true
				l.members[mv.from] = removeSorted(l.members[mv.from], mv.point)
				l.members[to] = insertSorted(l.members[to], mv.point)
			}
		}
	}
	for c := range l.center {
		if !changed[c] {
			l.delta[c] = 0
			continue
		}
		l.settled[c] = false
		if !l.alive[c] {
			continue
		}
		if len(l.members[c]) == 0 {
			l.alive[c] = false
			continue
		}
		var sx, sy, sw float64
		for _, i := range l.members[c] {
			p := &l.pts[i]
			sx += p.weight * p.pos[0]
			sy += p.weight * p.pos[1]
			sw += p.weight
		}
		next := [2]float64{}
		if sw != 0 {
			next = [2]float64{sx / sw, sy / sw}
		}
		l.delta[c] = math.Sqrt(dist2(next, l.center[c]))
		l.center[c] = next
	}
}

// move is a point's change of cluster slot in a step.
type move struct{ point, from int32 }

// membersFromAssign sets every slot's members from the assignments, in one pass.
func (l *lloyd) membersFromAssign() {
	if l.members == nil {
		l.members = make([][]int32, len(l.center))
	}
	for c := range l.members {
		l.members[c] = l.members[c][:0]
	}
	for i, a := range l.assign {
		l.members[a] = append(l.members[a], int32(i))
	}
}

// insertSorted inserts x into the ascending list s; removeSorted removes it.
func insertSorted(s []int32, x int32) []int32 {
	at, _ := slices.BinarySearch(s, x)
	return slices.Insert(s, at, x)
}

func removeSorted(s []int32, x int32) []int32 {
	at, found := slices.BinarySearch(s, x)
	if !found {
		panic("polismath: k-means member list lost a point") // cannot happen
	}
	return slices.Delete(s, at, at+1)
}

// nearestOfAll sets, for every live centre, its nearest other live centre and
// their squared distance (+Inf, -1 when it has none; dead slots too). With
// neighbours (the first step of a warm start), the same pass over the pairs also
// sets l.nbrs[a] to the firstNeighbours live centres nearest to a's centre (all of
// them if fewer), nearest first, with their distances from it (nearestByList).
func (l *lloyd) nearestOfAll(neighbours bool) {
	k := len(l.center)
	if l.nearestOf == nil {
		l.nearestOf, l.near2 = make([]int32, k), make([]float64, k)
	}
	for a := range k {
		l.nearestOf[a], l.near2[a] = -1, math.Inf(1)
	}
	if neighbours {
		if l.nbrs == nil {
			l.nbrs = make([][]neighbour, k)
		}
		for a := range k {
			l.nbrs[a] = l.nbrs[a][:0]
		}
	}
	for a := range k {
		if !l.alive[a] {
			continue
		}
		for c := a + 1; c < k; c++ {
			if !l.alive[c] {
				continue
			}
			d := dist2(l.center[a], l.center[c])
			if d < l.near2[a] {
				l.nearestOf[a], l.near2[a] = int32(c), d
			}
			if d < l.near2[c] {
				l.nearestOf[c], l.near2[c] = int32(a), d
			}
			if neighbours {
				r := math.Sqrt(d)
				l.nbrs[a] = keepNearest(l.nbrs[a], neighbour{r, int32(c)})
				l.nbrs[c] = keepNearest(l.nbrs[c], neighbour{r, int32(a)})
			}
		}
	}
}

// nearestAfterMoves is nearestOfAll after a step, from its values before it,
// when only the centres in l.moved moved (and some may have died). A centre that
// did not move, and whose nearest did not move or die, is still as far from the
// others that did not move: its nearest is that one or the nearest of the moved
// ones, the only distances measured. A centre that moved, or lost its nearest,
// measures every other. The least squared distance is the same value either way,
// so half is bit for bit what nearestOfAll gives. It also sets nearMoved.
func (l *lloyd) nearestAfterMoves() {
	for a, ok := range l.alive {
		if !ok {
			l.nearestOf[a], l.near2[a], l.nearMoved[a] = -1, math.Inf(1), math.Inf(1)
			continue
		}
		mm, marg := l.nearestMoved(a)
		l.nearMoved[a] = math.Sqrt(mm)
		if n := l.nearestOf[a]; l.delta[a] == 0 && n >= 0 && l.alive[n] && l.delta[n] == 0 {
			if mm < l.near2[a] {
				l.nearestOf[a], l.near2[a] = marg, mm
			}
			continue
		}
		n2, narg := math.Inf(1), int32(-1)
		for c, live := range l.alive {
			if live && c != a {
				if d := dist2(l.center[a], l.center[c]); d < n2 {
					n2, narg = d, int32(c)
				}
			}
		}
		l.nearestOf[a], l.near2[a] = narg, n2
	}
}

// nearestMoved returns the squared distance from centre a to the nearest other
// centre that moved in the last step, and that centre (+Inf, -1 when none did).
func (l *lloyd) nearestMoved(a int) (float64, int32) {
	mm, marg := math.Inf(1), int32(-1)
	for _, c := range l.moved {
		if int(c) != a {
			if d := dist2(l.center[a], l.center[c]); d < mm {
				mm, marg = d, c
			}
		}
	}
	return mm, marg
}

// kmeansParallelPoints is the number of points from which a step's assignment is
// split over two goroutines (the first step's by points, the others' by slots).
// Each point's assignment only reads the centres and writes its own bounds (and a
// slot's visit its own reach and settled), so the halves are independent and the
// result is the same; the centres are still summed in point order, so they are bit
// for bit the same.
const kmeansParallelPoints = 2000

// both runs f on 0..n (the points, or the slots), in two concurrent halves when
// there are many points.
func (l *lloyd) both(n int, f func(lo, hi int)) {
	if !l.parallel || len(l.pts) < kmeansParallelPoints || runtime.GOMAXPROCS(0) < 2 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f(n/2, n)
	}()
	f(0, n/2)
	wg.Wait()
}

// assignFirst assigns points lo..hi to their nearest centres in the first step,
// setting their bounds.
func (l *lloyd) assignFirst(lo, hi int) {
	for i := lo; i < hi; i++ {
		p := l.pts[i]
		if a := l.assign[i]; l.guessed && a >= 0 {
			// The start cluster is the nearest when the point is within half
			// the distance from its centre to any other: then every other
			// centre is at least 2·half − u away.
			ua2 := dist2(p.pos, l.center[a])
			u := math.Sqrt(ua2)
			if u*(1+boundSlack) < l.half[a] {
				l.upper[i], l.lower[i] = u, 2*l.half[a]-u
				continue
			}
			if l.nbrs != nil {
				if c, d1, d2, ok := l.nearestByList(p.pos, int(a), u, ua2); ok {
					l.assign[i], l.upper[i], l.lower[i] = int32(c), d1, d2
					continue
				}
			}
		}
		c, d1, d2 := l.search(p.pos, -1, 0)
		l.assign[i], l.upper[i], l.lower[i] = int32(c), d1, d2
	}
}

// neighbour is centre c at distance d from another slot's centre.
type neighbour struct {
	d float64
	c int32
}

// firstNeighbours is how many of the nearest other centres the first step of a
// warm start keeps per slot (nearestOfAll).
const firstNeighbours = 12

// keepNearest inserts m into list, sorted by distance and at most firstNeighbours
// long: what it leaves out is at least as far as the last it keeps.
func keepNearest(list []neighbour, m neighbour) []neighbour {
	n := len(list)
	if n == firstNeighbours {
		if m.d >= list[n-1].d {
			return list
		}
		n--
		list = list[:n]
	}
	i := n
	for i > 0 && list[i-1].d > m.d {
		i--
	}
	list = append(list, neighbour{})
	copy(list[i+1:], list[i:n])
	list[i] = m
	return list
}

// nearestByList is search for a point at distance u from the centre of its start
// slot a (ua2 its square), in the first step of a warm start, by a's list of
// nearest centres instead of a sweep: a centre at distance D from a's centre is at
// least D − u from the point, so once D exceeds u plus the second-nearest distance
// found (by a margin that dwarfs every rounding), no centre from there on can be
// nearer than the two found. Nearest, distance and second distance are then the
// sweep's, bit for bit (the same distances, the same rule on ties). It reports
// false when the list runs out before that, and the caller sweeps. In the server's
// benchmark conversation about 2,000 of 6,000 points fail the first step's half
// test, and 1,900 of them keep their start slot: a few distances each instead of a
// sweep.
func (l *lloyd) nearestByList(pos [2]float64, a int, u, ua2 float64) (int, float64, float64, bool) {
	best, bestD, secondD := a, ua2, math.Inf(1)
	list := l.nbrs[a]
	for _, nb := range list {
		if nb.d >= (u+math.Sqrt(secondD))*(1+1e-9) {
			return best, math.Sqrt(bestD), math.Sqrt(secondD), true
		}
		c := int(nb.c)
		d := dist2(pos, l.center[c])
		switch {
		case d < bestD || (d == bestD && c < best):
			secondD = bestD
			best, bestD = c, d
		case d < secondD:
			secondD = d
		}
	}
	if len(list) < firstNeighbours {
		// The list holds every other live centre: all were measured.
		return best, math.Sqrt(bestD), math.Sqrt(secondD), true
	}
	return 0, 0, 0, false
}

// settledSlack keeps quiet's test exact despite the rounding of reach and of the
// subtraction in assignSlots' lower bound (both below 2⁻⁵² relative).
const settledSlack = 1e-12

// quiet reports whether no point of slot a can change in this step, so that
// assignSlots may leave its points alone: its centre did not move, every point's
// bounds already settle it (settled), and the nearest centre that moved is so far
// that the bounds do not decay (nearMoved − upper ≥ lower for every point, which
// reach, the largest upper + lower, tells at once). Each point's upper and lower
// bounds would then be written back unchanged. After a warm start, when only a
// few centres still creep, that leaves about half of the points untouched in
// most steps (routed production-size synthetic: 3,000-3,600 of 6,000).
func (l *lloyd) quiet(a int) bool {
	return l.settled[a] && l.delta[a] == 0 && l.nearMoved[a] >= l.reach[a]*(1+settledSlack)
}

// assignSlots assigns the points of slots lo..hi (their members) to their nearest
// centres after the first step, using and updating their bounds; max1 and max2 are
// the largest centre shifts of the last step, arg1 the cluster that moved most. It
// records each visited slot's reach and settled for the next step's quiet.
func (l *lloyd) assignSlots(lo, hi int, max1, max2 float64, arg1 int) {
	half := 0 // which of both's halves, for the moves
	if lo > 0 {
		half = 1
	}
	// Locals: the stores to the bounds cannot then make the compiler reload the
	// slices through l.
	upper, lower, pts, assign := l.upper, l.lower, l.pts, l.assign
	for a := lo; a < hi; a++ {
		if !l.alive[a] || l.quiet(a) {
			continue
		}
		reach, settled := 0.0, true
		shift := max1
		if a == arg1 {
			shift = max2
		}
		delta, nearMoved, halfA, centre := l.delta[a], l.nearMoved[a], l.half[a], l.center[a]
		var fromA []float64 // distances from a's centre to the moved ones, once needed
		for _, i := range l.members[a] {
			u := upper[i] + delta
			// Two lower bounds on the distance to every other centre: the last
			// one less the largest shift (Hamerly's), and the last one itself
			// for the centres that did not move, with, for those that did, their
			// distance from a less u (triangle inequality). The second keeps a
			// point near an unmoved neighbour settled while other centres creep.
			li := lower[i]
			lo := max(li-shift, min(li, nearMoved-u))
			bound := max(lo, halfA) // the builtin is inlined; no NaN can occur
			if u*(1+boundSlack) < bound {
				upper[i], lower[i] = u, lo
				reach, settled = max(reach, u+lo), settled && u*(1+boundSlack) < lo
				continue
			}
			pos := pts[i].pos
			u = math.Sqrt(dist2(pos, centre))
			if u*(1+boundSlack) < bound {
				upper[i], lower[i] = u, lo
				reach, settled = max(reach, u+lo), settled && u*(1+boundSlack) < lo
				continue
			}
			if len(l.moved) <= movedScan {
				// The centres that did not move are as far as they were, at least
				// the undecayed bound lb: only the moved ones need measuring, and
				// not those whose distance from a's centre exceeds u + lb by a
				// margin that dwarfs every rounding: they are farther than lb
				// from the point, so the minimum is the one measuring all of
				// them would give, bit for bit.
				if fromA == nil {
					fromA = l.distancesFrom(a, half)
				}
				lb := max(li, 0) // a decayed bound may be negative
				near, far := lb*lb, (u+lb)*(1+1e-9)
				for m, c := range l.moved {
					if fromA[m] < far && int(c) != a {
						near = min(near, dist2(pos, l.center[c]))
					}
				}
				if lw := math.Sqrt(near); u*(1+boundSlack) < max(lw, halfA) {
					upper[i], lower[i] = u, lw
					reach, settled = max(reach, u+lw), settled && u*(1+boundSlack) < lw
					continue
				}
			}
			c, d1, d2 := l.search(pos, a, u)
			if c != a {
				l.moves[half] = append(l.moves[half], move{int32(i), int32(a)})
			}
			assign[i], upper[i], lower[i] = int32(c), d1, d2
			reach, settled = max(reach, d1+d2), settled && d1*(1+boundSlack) < d2
		}
		l.reach[a], l.settled[a] = reach, settled
	}
}

// distancesFrom returns the distances from slot a's centre to each centre that
// moved in the last step, in l.moved's order, in the buffer of half of both.
func (l *lloyd) distancesFrom(a, half int) []float64 {
	d := l.fromBuf[half][:0]
	for _, c := range l.moved {
		d = append(d, math.Sqrt(dist2(l.center[a], l.center[c])))
	}
	l.fromBuf[half] = d
	return d
}

// stable is Polis' stopping rule: the sorted centres before and after the last step
// pair up within kmeansConvergence (only as many pairs as the shorter list has).
//
// It is called after every step: the centres it sorts are the next step's
// centres before, so the next call reuses them instead of sorting them again.
func (l *lloyd) stable() bool {
	ca := l.sortedBefore
	if ca == nil {
		ca = sortCenters(l.before)
	}
	cb := sortCenters(l.liveCentersInto(l.sortedSpare))
	l.sortedBefore, l.sortedSpare = cb, ca[:0]
	for i := range min(len(ca), len(cb)) {
		if math.Sqrt(dist2(ca[i], cb[i])) >= kmeansConvergence {
			return false
		}
	}
	return true
}

// result returns the live clusters, sorted by id, with their members (point ids, in
// data order) from the last assignment.
func (l *lloyd) result() []kcluster {
	slot := make([]int, len(l.center))
	var out []kcluster
	for c, ok := range l.alive {
		slot[c] = -1
		if ok {
			slot[c] = len(out)
			out = append(out, kcluster{id: l.ids[c], center: l.center[c]})
		}
	}
	// The members of every cluster share one array, each cluster's at its
	// final length (counted first).
	size := make([]int, len(out))
	total := 0
	for i := range l.pts {
		if s := slot[l.assign[i]]; s >= 0 {
			size[s]++
			total++
		}
	}
	all := make([]int, 0, total)
	for s, n := range size {
		out[s].members = all[len(all) : len(all) : len(all)+n]
		all = all[:len(all)+n]
	}
	for i, p := range l.pts {
		if s := slot[l.assign[i]]; s >= 0 {
			out[s].members = append(out[s].members, p.id)
		}
	}
	return out
}

func sortCenters(out [][2]float64) [][2]float64 {
	slices.SortFunc(out, func(a, b [2]float64) int {
		for d := range 2 {
			if a[d] < b[d] {
				return -1
			}
			if a[d] > b[d] {
				return 1
			}
		}
		return 0
	})
	return out
}

// cleanStart turns the previous clustering into the starting point for the current
// data: clusters are recentred on their members' current positions (members who left
// are forgotten, clusters without members dropped), clusters with identical centres are
// merged, and while there are fewer clusters than min(k, distinct points) the point
// farthest from every centre is split off into a new cluster with the next free id.
func cleanStart(points []point, at pointIndex, last []kcluster, k int) []kcluster {
	maxID := -1
	var clusters []kcluster
	for _, c := range last {
		maxID = max(maxID, c.id)
		members := make([]int, 0, len(c.members))
		for _, m := range c.members {
			if _, ok := at.get(m); ok {
				members = append(members, m)
			}
		}
		if len(members) == 0 {
			continue
		}
		clusters = append(clusters, kcluster{id: c.id, members: members})
	}
	if len(clusters) == 0 {
		all := make([]int, len(points))
		for i, p := range points {
			all[i] = p.id
		}
		clusters = []kcluster{{id: maxID + 1, members: all}}
	}
	for c := range clusters {
		clusters[c].center = weightedMean(points, at, clusters[c].members)
	}

	// Merge clusters whose centres coincide exactly: the survivor keeps the id of the
	// larger one (the later one on equal sizes).
	var uniq []kcluster
	for _, c := range clusters {
		merged := false
		for u := range uniq {
			if uniq[u].center != c.center {
				continue
			}
			a, b := uniq[u], c
			id := b.id
			if len(a.members) > len(b.members) {
				id = a.id
			}
			na, nb := float64(len(a.members)), float64(len(b.members))
			uniq[u] = kcluster{
				id:      id,
				members: append(slices.Clone(a.members), b.members...),
				center: [2]float64{
					(na*a.center[0] + nb*b.center[0]) / (na + nb),
					(na*a.center[1] + nb*b.center[1]) / (na + nb),
				},
			}
			merged = true
			break
		}
		if !merged {
			uniq = append(uniq, c)
		}
	}
	clusters = uniq

	// min(k, distinct positions): counting stops at k.
	distinct := make(map[[2]float64]bool, min(k, len(points)))
	for _, p := range points {
		if len(distinct) == k {
			break
		}
		distinct[p.pos] = true
	}
	target := len(distinct)
	for {
		for c := range clusters {
			clusters[c].center = weightedMean(points, at, clusters[c].members)
		}
		if len(clusters) >= target {
			return clusters
		}
		// The most distal point: largest distance to its nearest centre (the last one on
		// ties, as Polis' max-key).
		far, farD := -1, -1.0
		for i, p := range points {
			nearest := math.Inf(1)
			for _, c := range clusters {
				nearest = math.Min(nearest, dist2(p.pos, c.center))
			}
			if nearest >= farD {
				far, farD = i, nearest
			}
		}
		if farD <= 0 {
			return clusters
		}
		id := points[far].id
		next := clusters[:0]
		top := -1
		for _, c := range clusters {
			top = max(top, c.id)
			c.members = slices.DeleteFunc(c.members, func(m int) bool { return m == id })
			if len(c.members) > 0 {
				next = append(next, c)
			}
		}
		clusters = append(next, kcluster{id: top + 1, members: []int{id}, center: points[far].pos})
	}
}

// weightedMean returns the mean position of the given point ids, weighted by the
// points' weights (a base cluster counts as many participants as it holds).
func weightedMean(points []point, at pointIndex, members []int) [2]float64 {
	var sx, sy, sw float64
	for _, m := range members {
		i, _ := at.get(m)
		p := points[i]
		sx += p.weight * p.pos[0]
		sy += p.weight * p.pos[1]
		sw += p.weight
	}
	if sw == 0 {
		return [2]float64{}
	}
	return [2]float64{sx / sw, sy / sw}
}

func dist2(a, b [2]float64) float64 {
	dx, dy := a[0]-b[0], a[1]-b[1]
	return dx*dx + dy*dy
}

// pairDistances returns the distances between the points, dist[i*n+j] for points i
// and j, computed once for the silhouettes of every k (in an array from w).
func pairDistances(w *workspace, points []point) []float64 {
	n := len(points)
	dist := w.floats(n * n) // a nil workspace allocates
	for i := range n {
		dist[i*n+i] = 0
	}
	for i := range n {
		for j := i + 1; j < n; j++ {
			d := math.Sqrt(dist2(points[i].pos, points[j].pos))
			dist[i*n+j], dist[j*n+i] = d, d
		}
	}
	return dist
}

// silhouette returns the mean silhouette coefficient of the clustering of points
// (unweighted, Euclidean), Polis' criterion for the number of groups, from the
// distances between the points (pairDistances). A point alone in its cluster
// scores 0.
func silhouette(points []point, clusters []kcluster, dist []float64) float64 {
	at := newPointIndex(points)
	n := len(points)
	members := make([][]int, len(clusters))
	for c, cl := range clusters {
		members[c] = make([]int, len(cl.members))
		for m, id := range cl.members {
			members[c][m], _ = at.get(id)
		}
	}
	total, count := 0.0, 0
	for ci, own := range members {
		for _, m := range own {
			count++
			if len(own) == 1 || len(clusters) < 2 {
				continue
			}
			row := dist[m*n : m*n+n]
			meanDist := func(others []int) float64 {
				s, cnt := 0.0, 0
				for _, o := range others {
					if o == m {
						continue
					}
					s += row[o]
					cnt++
				}
				return s / float64(cnt)
			}
			a := meanDist(own)
			b := math.Inf(1)
			for cj, o := range members {
				if cj != ci {
					b = math.Min(b, meanDist(o))
				}
			}
			if den := math.Max(a, b); den > 0 {
				total += (b - a) / den
			}
		}
	}
	if count == 0 {
		return 0
	}
	return total / float64(count)
}
