package polismath

import "sync/atomic"

// State is what one Run hands to the next one of the same conversation, so that the
// analysis evolves smoothly instead of being recomputed from scratch: the PCA restarts
// from the previous components (a few products instead of hundreds), the clusterings
// restart from the previous clusters (group ids stay stable), the in-conversation set
// only grows, and the number of groups changes only when a new k has won several
// updates in a row. Run never changes what a State's fields hold; callers may share
// it freely, and treat its fields as read-only (a different warm start is a new State,
// as the fixture tests build from Polis' clusters). The zero State (or nil) means a
// cold start.
//
// A State also caches per-statement statistics of its run, and (when its Matrix was
// built by NewMatrixFromSortedRowsAfter) its compressed votes and tallies, which the next run
// updates in place instead of copying megabytes: the first Run given a State takes
// them over. Another Run from the same State computes them afresh, with the same
// result, more slowly; Clone gives each of several runs its own copy of the
// statistics.
type State struct {
	// StatementIDs are the columns the Components are aligned with.
	StatementIDs []string `json:"statement_ids"`
	// Components are the previous principal components (unit vectors), the warm start
	// of the power iteration.
	Components [][]float64 `json:"components"`
	// InConv are the participants already clustered; Polis never removes one.
	InConv []string `json:"in_conv"`
	// BaseClusters are the previous fine-grained clusters of participants (at most
	// 100), the warm start of the base k-means.
	BaseClusters []BaseCluster `json:"base_clusters"`
	// GroupClusterings holds, for every k tried, the previous clustering of the base
	// clusters into k groups, the warm start of the group k-means.
	GroupClusterings map[int][]GroupCluster `json:"group_clusterings"`
	// Smoother is the state of the k-smoother.
	Smoother KSmoother `json:"smoother"`

	// baseAt[c] lists the members of BaseClusters[c] as positions in InConv, so
	// that the next Run finds them without hashing their ids (a State made
	// otherwise, without it, is read by id).
	baseAt [][]int32

	// stats is the statistics cache, until a Run takes it.
	stats atomic.Pointer[statCache]
	// rows is the run's compressed votes, and tallies its tallies, until a Run
	// takes them.
	rows    atomic.Pointer[rowsCache]
	tallies atomic.Pointer[tallyCache]
}

// Clone returns a State equal to s, with its own copy of the statistics cache, so
// that it can start a run of its own (the fields, read-only, are shared). Clone
// before starting runs from s: a run in progress updates the cache it took.
func (s *State) Clone() *State {
	c := &State{
		StatementIDs:     s.StatementIDs,
		Components:       s.Components,
		InConv:           s.InConv,
		BaseClusters:     s.BaseClusters,
		GroupClusterings: s.GroupClusterings,
		Smoother:         s.Smoother,
		baseAt:           s.baseAt,
	}
	c.stats.Store(s.stats.Load().clone())
	return c
}

// BaseCluster is one fine-grained cluster of participants. Polis first condenses the
// in-conversation participants into at most 100 of these, then groups them; only the
// member lists matter for a warm start, the centre is informative.
type BaseCluster struct {
	// ID is stable across warm-started updates; new clusters take the next free id.
	ID int `json:"id"`
	// Members are participant ids.
	Members []string `json:"members"`
	// Center is the mean position of the members when the cluster was computed.
	Center [2]float64 `json:"center"`
}

// GroupCluster is one opinion group, as a set of base cluster ids.
type GroupCluster struct {
	// ID is the group id published in Result.Clusters.
	ID int `json:"id"`
	// Members are base cluster ids.
	Members []int `json:"members"`
	// Center is the size-weighted mean of the members' centres.
	Center [2]float64 `json:"center"`
}

// KSmoother damps changes of the number of groups: a new best k is published only
// after it has been the best for groupKBuffer consecutive updates, so the map does not
// flicker between 2 and 3 groups as votes trickle in.
type KSmoother struct {
	// LastK is the best k of the previous update (0 before the first one).
	LastK int `json:"last_k"`
	// LastKCount is for how many consecutive updates LastK has been the best k.
	LastKCount int `json:"last_k_count"`
	// SmoothedK is the k that was published last (0 before the first one).
	SmoothedK int `json:"smoothed_k"`
}
