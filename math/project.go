package polismath

import "math"

// projectParticipants returns the position of every participant (row of d) in the plane
// of the components. The raw projection of a row is scaled by sqrt(K / n_i), n_i being
// the cells the participant has seen: otherwise someone who voted on a tenth of the
// statements would sit near the origin only because most of their centered row is zero.
// The positions live in d's workspace: callers copy what they keep.
func projectParticipants(d *voteData, comps [][]float64) [][2]float64 {
	out := pairs(d.w.floats(2 * d.numRows()))
	// Two components in the usual case, one pass for both; a missing one reads
	// zeros.
	var u0, u1 []float64
	if len(comps) > 0 {
		u0 = comps[0]
	}
	if len(comps) > 1 {
		u1 = comps[1]
	}
	if u0 == nil {
		u0 = make([]float64, d.numCols())
	}
	if u1 == nil {
		u1 = make([]float64, d.numCols())
	}
	u0, u1 = u0[:d.numCols()], u1[:d.numCols()]
	for i := range out {
		cols, vals := d.cCol[d.cRowPtr[i]:d.cRowPtr[i+1]], d.cVal[d.cRowPtr[i]:d.cRowPtr[i+1]]
		vals = vals[:len(cols)]
		var r0, r1 float64
		for p, j := range cols {
			v := vals[p]
			r0 += v * u0[j]
			r1 += v * u1[j]
		}
		out[i] = [2]float64{r0, r1}
	}
	return scaledPositions(d, out)
}

// scaledPositions scales every row's raw projection in proj, in place, by
// sqrt(K / n_i) (see projectParticipants), and returns proj.
func scaledPositions(d *voteData, proj [][2]float64) [][2]float64 {
	k := float64(d.numCols())
	for i := range proj {
		s := math.Sqrt(k / float64(max(1, d.seen[i])))
		proj[i] = [2]float64{s * proj[i][0], s * proj[i][1]}
	}
	return proj
}

// statementPosition returns the position of a virtual participant who agreed with
// statement j and saw nothing else, and the statement's extremity (distance from the
// origin). The extremity says how strongly a statement separates the opinion groups,
// and feeds the comment priority. A moderated-out statement sits at the origin.
func statementPosition(d *voteData, comps [][]float64, j int) (pos [2]float64, extremity float64) {
	if d.modOut[j] {
		return pos, 0
	}
	f := math.Sqrt(float64(d.numCols())) * (1 - d.mean[j])
	for c := range min(2, len(comps)) {
		pos[c] = f * comps[c][j]
	}
	return pos, math.Hypot(pos[0], pos[1])
}
