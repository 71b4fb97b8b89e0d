package polismath

import "sort"

// In-conversation thresholds, as in Polis.
const (
	// inConvMinVotes is the number of votes that makes a participant count for the
	// clustering (fewer when the conversation has fewer statements).
	inConvMinVotes = 7
	// inConvMinSize is how many participants the clustering needs: below it the most
	// active voters are added even if they have voted less than the threshold.
	inConvMinSize = 15
)

// inConv decides which participants are clustered and feed the group statistics. The
// set is monotone: everyone in the previous set (wasIn[i] for row i) who still has a
// vote stays in, so a participant never drops out of the map because others joined.
// Then every participant with at least min(7, K) votes is added, and if fewer than 15
// are in, the most active remaining voters (ties in row order) fill it up to 15.
func inConv(d *voteData, wasIn []bool) []bool {
	n := d.numRows()
	in := make([]bool, n)
	threshold := min(inConvMinVotes, d.numCols())
	count := 0
	for i := range n {
		if wasIn[i] || d.voteCount[i] >= threshold {
			in[i] = true
			count++
		}
	}
	if count >= inConvMinSize {
		return in
	}
	rest := make([]int, 0, n-count)
	for i := range n {
		if !in[i] {
			rest = append(rest, i)
		}
	}
	sort.SliceStable(rest, func(a, b int) bool { return d.voteCount[rest[a]] > d.voteCount[rest[b]] })
	for _, i := range rest {
		if count >= inConvMinSize {
			break
		}
		in[i] = true
		count++
	}
	return in
}
