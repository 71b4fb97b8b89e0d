package polismath

import (
	"math"
	"slices"
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
	if len(points) == 0 || k <= 0 {
		return nil
	}
	var clusters []kcluster
	if len(last) > 0 {
		clusters = cleanStart(points, last, k)
	} else {
		clusters = initClusters(points, k)
	}
	for iter := maxIters; ; iter-- {
		next := clusterStep(points, clusters)
		if iter <= 0 || sameClustering(clusters, next) {
			return next
		}
		clusters = next
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

// clusterStep assigns every point to its nearest centre (the lowest id on exact ties),
// drops the clusters left empty and moves each centre to the weighted mean of its
// members.
func clusterStep(points []point, clusters []kcluster) []kcluster {
	next := make([]kcluster, len(clusters))
	for c := range clusters {
		next[c] = kcluster{id: clusters[c].id, center: clusters[c].center}
	}
	byID := make(map[int]int, len(points))
	for i, p := range points {
		byID[p.id] = i
	}
	for _, p := range points {
		best, bestD := -1, math.Inf(1)
		for c := range next {
			if d := dist2(p.pos, next[c].center); d < bestD {
				best, bestD = c, d
			}
		}
		next[best].members = append(next[best].members, p.id)
	}
	out := next[:0]
	for _, c := range next {
		if len(c.members) == 0 {
			continue
		}
		c.center = weightedMean(points, byID, c.members)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b kcluster) int { return a.id - b.id })
	return out
}

// sameClustering reports whether the sorted centres of a and b pair up within
// kmeansConvergence. Like Polis it compares only as many pairs as the shorter list has.
func sameClustering(a, b []kcluster) bool {
	ca, cb := sortedCenters(a), sortedCenters(b)
	for i := range min(len(ca), len(cb)) {
		if math.Sqrt(dist2(ca[i], cb[i])) >= kmeansConvergence {
			return false
		}
	}
	return true
}

func sortedCenters(cs []kcluster) [][2]float64 {
	out := make([][2]float64, len(cs))
	for i, c := range cs {
		out[i] = c.center
	}
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
func cleanStart(points []point, last []kcluster, k int) []kcluster {
	byID := make(map[int]int, len(points))
	for i, p := range points {
		byID[p.id] = i
	}
	maxID := -1
	var clusters []kcluster
	for _, c := range last {
		maxID = max(maxID, c.id)
		var members []int
		for _, m := range c.members {
			if _, ok := byID[m]; ok {
				members = append(members, m)
			}
		}
		if len(members) == 0 {
			continue
		}
		clusters = append(clusters, kcluster{id: c.id, members: members, center: weightedMean(points, byID, members)})
	}
	if len(clusters) == 0 {
		all := make([]int, len(points))
		for i, p := range points {
			all[i] = p.id
		}
		clusters = []kcluster{{id: maxID + 1, members: all, center: weightedMean(points, byID, all)}}
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

	distinct := map[[2]float64]bool{}
	for _, p := range points {
		distinct[p.pos] = true
	}
	target := min(k, len(distinct))
	for {
		for c := range clusters {
			clusters[c].center = weightedMean(points, byID, clusters[c].members)
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
func weightedMean(points []point, byID map[int]int, members []int) [2]float64 {
	var sx, sy, sw float64
	for _, m := range members {
		p := points[byID[m]]
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

// silhouette returns the mean silhouette coefficient of the clustering of points
// (unweighted, Euclidean), Polis' criterion for the number of groups. A point alone in
// its cluster scores 0.
func silhouette(points []point, clusters []kcluster) float64 {
	byID := make(map[int]int, len(points))
	for i, p := range points {
		byID[p.id] = i
	}
	total, n := 0.0, 0
	for ci, c := range clusters {
		for _, m := range c.members {
			n++
			if len(c.members) == 1 || len(clusters) < 2 {
				continue
			}
			pm := points[byID[m]].pos
			meanDist := func(members []int) float64 {
				s, cnt := 0.0, 0
				for _, o := range members {
					if o == m {
						continue
					}
					s += math.Sqrt(dist2(pm, points[byID[o]].pos))
					cnt++
				}
				return s / float64(cnt)
			}
			a := meanDist(c.members)
			b := math.Inf(1)
			for cj, o := range clusters {
				if cj != ci {
					b = math.Min(b, meanDist(o.members))
				}
			}
			if den := math.Max(a, b); den > 0 {
				total += (b - a) / den
			}
		}
	}
	if n == 0 {
		return 0
	}
	return total / float64(n)
}
