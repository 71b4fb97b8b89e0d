package polismath

// Clustering constants, as in Polis.
const (
	// baseK is the number of base clusters: participants are first condensed into at
	// most this many clusters, so that grouping costs the same for any crowd size.
	baseK = 100
	// baseMaxIters bounds the base k-means.
	baseMaxIters = 100
	// groupMaxIters bounds the group k-means. Polis configures 100 but, through a quirk,
	// runs its default of 20; we keep 20 to publish the same groups.
	groupMaxIters = 20
	// maxGroups is the largest number of opinion groups ever published.
	maxGroups = 5
	// groupKBuffer is how many consecutive updates a new best k must win before the
	// k-smoother publishes it.
	groupKBuffer = 4
)

// clustering is the outcome of the two-level k-means.
type clustering struct {
	base   []kcluster         // members are row indices of voteData
	byK    map[int][]kcluster // group clusterings tried; members are base ids
	groups []kcluster         // the published one
	k      int                // the best k of this update (before smoothing)
	smooth KSmoother
}

// clusterParticipants condenses the in-conversation participants into base clusters,
// then groups the base clusters for every k from 2 to min(5, 2 + n_base/12), picks the
// k with the best silhouette (the largest k on ties) and lets the k-smoother decide
// which clustering is published. prevBase has row indices as members.
//
// The base k-means and the silhouettes take their arrays from w, the run's workspace.
func clusterParticipants(w *workspace, pos [][2]float64, in []bool, prevBase []kcluster, prevGroups map[int][]kcluster, smoother KSmoother, parallel bool) clustering {
	n := 0
	for _, ok := range in {
		if ok {
			n++
		}
	}
	pts := buffer(&w.points, n)[:0]
	for i, ok := range in {
		if ok {
			pts = append(pts, point{id: i, pos: pos[i], weight: 1})
		}
	}
	out := clustering{byK: map[int][]kcluster{}, smooth: smoother}
	out.base = kmeansWith(w, pts, baseK, prevBase, baseMaxIters, parallel)
	if len(out.base) < 2 {
		return out
	}
	gpts := make([]point, len(out.base))
	for i, b := range out.base {
		gpts[i] = point{id: b.id, pos: b.center, weight: float64(len(b.members))}
	}
	maxK := min(maxGroups, 2+len(out.base)/12)
	bestScore := 0.0
	dist := pairDistances(w, gpts)
	for k := 2; k <= maxK; k++ {
		cl := kmeans(gpts, k, prevGroups[k], groupMaxIters)
		out.byK[k] = cl
		score := silhouette(gpts, cl, dist)
		if out.k == 0 || score >= bestScore {
			out.k, bestScore = k, score
		}
	}

	count := 1
	if out.k == smoother.LastK {
		count = smoother.LastKCount + 1
	}
	smoothed := smoother.SmoothedK
	if count >= groupKBuffer || smoothed == 0 {
		smoothed = out.k
	}
	if _, ok := out.byK[smoothed]; !ok {
		// The smoothed k is no longer allowed (fewer base clusters than before).
		smoothed = out.k
	}
	out.smooth = KSmoother{LastK: out.k, LastKCount: count, SmoothedK: smoothed}
	out.groups = out.byK[smoothed]
	return out
}
