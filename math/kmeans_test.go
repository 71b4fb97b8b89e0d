package polismath

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// plainKMeans is kmeans without any pruning: every step compares every point with
// every live centre (the first in id order on ties). The pruned one must return
// exactly the same clusters, bit for bit.
func plainKMeans(points []point, k int, last []kcluster, maxIters int) []kcluster {
	var clusters []kcluster
	if len(last) > 0 {
		clusters = cleanStart(points, newPointIndex(points), last, k)
	} else {
		clusters = initClusters(points, k)
	}
	slices.SortStableFunc(clusters, func(a, b kcluster) int { return a.id - b.id })
	centers := make([][2]float64, len(clusters))
	alive := make([]bool, len(clusters))
	for c, cl := range clusters {
		centers[c], alive[c] = cl.center, true
	}
	assign := make([]int, len(points))
	live := func() [][2]float64 {
		var out [][2]float64
		for c, ok := range alive {
			if ok {
				out = append(out, centers[c])
			}
		}
		return out
	}
	for iter := maxIters; ; iter-- {
		before := live()
		for i, p := range points {
			best, bestD := -1, math.Inf(1)
			for c, ok := range alive {
				if d := dist2(p.pos, centers[c]); ok && d < bestD {
					best, bestD = c, d
				}
			}
			assign[i] = best
		}
		sx := make([]float64, len(centers))
		sy := make([]float64, len(centers))
		sw := make([]float64, len(centers))
		count := make([]int, len(centers))
		for i, p := range points {
			a := assign[i]
			sx[a] += p.weight * p.pos[0]
			sy[a] += p.weight * p.pos[1]
			sw[a] += p.weight
			count[a]++
		}
		for c, ok := range alive {
			if !ok {
				continue
			}
			if count[c] == 0 {
				alive[c] = false
				continue
			}
			centers[c] = [2]float64{}
			if sw[c] != 0 {
				centers[c] = [2]float64{sx[c] / sw[c], sy[c] / sw[c]}
			}
		}
		stable := true
		ca, cb := sortCenters(before), sortCenters(live())
		for i := range min(len(ca), len(cb)) {
			if math.Sqrt(dist2(ca[i], cb[i])) >= kmeansConvergence {
				stable = false
			}
		}
		if iter <= 0 || stable {
			break
		}
	}
	var out []kcluster
	slot := make([]int, len(centers))
	for c, ok := range alive {
		slot[c] = -1
		if ok {
			slot[c] = len(out)
			out = append(out, kcluster{id: clusters[c].id, center: centers[c]})
		}
	}
	for i, p := range points {
		out[slot[assign[i]]].members = append(out[slot[assign[i]]].members, p.id)
	}
	return out
}

// TestKMeansEqualsPlainLloyd checks the pruned k-means (Hamerly's bounds, the x-sorted
// sweep, the two-goroutine assignment) against plainKMeans on data made to defeat
// pruning: points on a coarse grid (exact ties between centres, duplicate points),
// overlapping blobs, and warm starts from the clustering of slightly moved points,
// the way a conversation's base clusters are rerun after new votes.
func TestKMeansEqualsPlainLloyd(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for trial := range 40 {
		n := 50 + rng.IntN(3000)
		k := []int{2, 5, 12, 40, 100}[trial%5]
		grid := trial%3 == 0
		points := make([]point, n)
		for i := range points {
			var pos [2]float64
			if grid {
				pos = [2]float64{float64(rng.IntN(15)), float64(rng.IntN(15))}
			} else {
				blob := float64(rng.IntN(4))
				pos = [2]float64{blob*3 + rng.NormFloat64()*2, blob + rng.NormFloat64()*2}
			}
			points[i] = point{id: i * 2, pos: pos, weight: float64(1 + rng.IntN(3))}
		}
		same := func(what string, got, want []kcluster) {
			t.Helper()
			if len(got) != len(want) {
				t.Fatalf("trial %d (%s, n=%d, k=%d): %d clusters, plain Lloyd %d", trial, what, n, k, len(got), len(want))
			}
			for c := range got {
				if got[c].id != want[c].id || got[c].center != want[c].center || !slices.Equal(got[c].members, want[c].members) {
					t.Fatalf("trial %d (%s, n=%d, k=%d): cluster %d is %d at %v with %d members, plain Lloyd %d at %v with %d",
						trial, what, n, k, c, got[c].id, got[c].center, len(got[c].members), want[c].id, want[c].center, len(want[c].members))
				}
			}
		}
		cold := kmeansWith(nil, points, k, nil, baseMaxIters, trial%2 == 0)
		same("cold", cold, plainKMeans(points, k, nil, baseMaxIters))
		for i := range points {
			if rng.IntN(4) == 0 {
				points[i].pos[0] += rng.NormFloat64() * 0.3
				points[i].pos[1] += rng.NormFloat64() * 0.3
			}
		}
		same("warm", kmeansWith(nil, points, k, cold, baseMaxIters, trial%2 == 1), plainKMeans(points, k, cold, baseMaxIters))
	}
}

// creepingLloyd is a warm start of the base k-means where few centres move per
// step: 500-3,500 points in four blobs clustered, then a quarter of them nudged.
func creepingLloyd(rng *rand.Rand) *lloyd {
	n := 500 + rng.IntN(3000)
	points := make([]point, n)
	for i := range points {
		blob := float64(rng.IntN(4))
		points[i] = point{id: i, pos: [2]float64{blob*3 + rng.NormFloat64()*2, blob + rng.NormFloat64()*2}, weight: 1}
	}
	last := kmeans(points, baseK, nil, baseMaxIters)
	for i := range points {
		if rng.IntN(4) == 0 {
			points[i].pos[0] += rng.NormFloat64() * 0.3
		}
	}
	at := newPointIndex(points)
	return newLloyd(nil, points, cleanStart(points, at, last, baseK), at)
}

// TestNearestAfterMovesEqualsFull checks that the centres' nearest-neighbour
// distances a step keeps from the step before (nearestAfterMoves) are, bit for
// bit, those measured afresh over every pair, through the warm runs of
// TestKMeansEqualsPlainLloyd's kind where few centres move per step.
func TestNearestAfterMovesEqualsFull(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	steps := 0
	for trial := range 30 {
		l := creepingLloyd(rng)
		for range 30 {
			centers, alive := slices.Clone(l.center), slices.Clone(l.alive)
			kept := l.stepped && l.nearestOf != nil
			l.step()
			if !kept || 4*len(l.moved) >= len(l.byX) {
				continue // measured afresh, not kept
			}
			steps++
			for a := range centers {
				want := math.Inf(1)
				for c := range centers {
					if c != a && alive[a] && alive[c] {
						want = min(want, dist2(centers[a], centers[c]))
					}
				}
				if l.near2[a] != want {
					t.Fatalf("trial %d, centre %d: kept squared distance to the nearest %v, measured %v", trial, a, l.near2[a], want)
				}
			}
			if l.stable() {
				break
			}
		}
	}
	if steps == 0 {
		t.Fatal("no step kept its neighbours' distances")
	}
}

// TestQuietSlotsHoldTheirBounds checks the invariant behind lloyd.quiet through
// warm runs where few centres move per step: after every step, a slot marked
// settled has, for each of its current points, an upper bound below the lower one,
// and its reach is at least every point's upper + lower bound. A slot whose
// members changed must not keep a mark computed before the change.
func TestQuietSlotsHoldTheirBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 9))
	checked := 0
	for trial := range 30 {
		l := creepingLloyd(rng)
		for range 30 {
			l.step()
			for c, ok := range l.alive {
				if !ok || !l.settled[c] {
					continue
				}
				checked++
				for _, i := range l.members[c] {
					if !(l.upper[i]*(1+boundSlack) < l.lower[i]) || l.upper[i]+l.lower[i] > l.reach[c] {
						t.Fatalf("trial %d, slot %d marked settled with reach %v: point %d has bounds %v, %v",
							trial, c, l.reach[c], i, l.upper[i], l.lower[i])
					}
				}
			}
			if l.stable() {
				break
			}
		}
	}
	if checked == 0 {
		t.Fatal("no slot was marked settled: the runs did not exercise the rule")
	}
}

// TestNearestByListEqualsSweep checks the first step of a warm start: for every
// point of a start slot, searching the slot's list of nearest centres gives the
// sweep's nearest centre, distance and second distance bit for bit, whenever the
// list suffices (points moved onto a grid, far from their start slots, often
// leave it to the sweep).
func TestNearestByListEqualsSweep(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 21))
	byList, swept := 0, 0
	for trial := range 30 {
		l := creepingLloyd(rng)
		if trial%3 == 0 {
			// Grid positions: many exact ties between centres' distances.
			for i := range l.pts {
				l.pts[i].pos = [2]float64{float64(rng.IntN(12)), float64(rng.IntN(12))}
			}
		}
		l.sortByX()
		if len(l.byX) < sweepFrom {
			continue
		}
		l.nearestOfAll(true)
		for i, p := range l.pts {
			a := l.assign[i]
			if a < 0 {
				continue
			}
			ua2 := dist2(p.pos, l.center[a])
			c, d1, d2, ok := l.nearestByList(p.pos, int(a), math.Sqrt(ua2), ua2)
			if !ok {
				swept++
				continue
			}
			byList++
			wc, w1, w2 := l.sweep(p.pos)
			if c != wc || math.Float64bits(d1) != math.Float64bits(w1) || math.Float64bits(d2) != math.Float64bits(w2) {
				t.Fatalf("trial %d, point %d of slot %d: list gives %d at %v (second %v), sweep %d at %v (second %v)", trial, i, a, c, d1, d2, wc, w1, w2)
			}
		}
	}
	if byList == 0 || swept == 0 {
		t.Fatalf("the list decided %d points and left %d to the sweep: both paths must be exercised", byList, swept)
	}
}
