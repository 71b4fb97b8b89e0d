package polismath

import "math"

// projectParticipants returns the position of every participant (row of d) in the plane
// of the components. The raw projection of a row is scaled by sqrt(K / n_i), n_i being
// the cells the participant has seen: otherwise someone who voted on a tenth of the
// statements would sit near the origin only because most of their centered row is zero.
func projectParticipants(d *voteData, comps [][]float64) [][2]float64 {
	k := float64(d.numCols())
	out := make([][2]float64, d.numRows())
	for i := range out {
		var raw [2]float64
		for p := d.cRowPtr[i]; p < d.cRowPtr[i+1]; p++ {
			j, v := d.cCol[p], d.cVal[p]
			for c := range min(2, len(comps)) {
				raw[c] += v * comps[c][j]
			}
		}
		s := math.Sqrt(k / float64(max(1, d.seen[i])))
		out[i] = [2]float64{s * raw[0], s * raw[1]}
	}
	return out
}

// projectStatements returns, for each statement, the position of a virtual participant
// who agreed with it and saw nothing else, and its extremity (distance from the origin).
// The extremity says how strongly a statement separates the opinion groups, and feeds
// the comment priority.
func projectStatements(d *voteData, comps [][]float64) (pos [][2]float64, extremity []float64) {
	k := d.numCols()
	scale := math.Sqrt(float64(k))
	pos = make([][2]float64, k)
	extremity = make([]float64, k)
	for j := range k {
		if d.modOut[j] {
			continue
		}
		f := scale * (1 - d.mean[j])
		for c := range min(2, len(comps)) {
			pos[j][c] = f * comps[c][j]
		}
		extremity[j] = math.Hypot(pos[j][0], pos[j][1])
	}
	return pos, extremity
}
