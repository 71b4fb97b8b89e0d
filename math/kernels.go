package polismath

// The sparse products on blocks of two vectors (pairs) are the inner loops of the
// PCA: a warm run of a production-size conversation spends a third of its time in
// them. On amd64 they run as assembly (kernels_amd64.s) that handles both vectors
// of a pair with one SSE2 multiply and one add, half the instructions of the
// compiled loops; elsewhere, and for the tests that hold the assembly to them,
// they run as the Go loops below. Both compute every sum in the same order with
// the same roundings (a multiply, then an add, never fused), so their results are
// equal bit for bit.
//
// So are the dense loops of the Gram-Schmidt passes (dot2, axpy2, axpy2x4), which
// the assembly runs two entries at a time: the even entries in one lane, the odd
// ones in the other, as the Go loops keep them.
//
// The assembly does not check bounds: it is only called on a matrix that
// checkedForKernels has validated, on rows in range (kernelRows) and vectors long
// enough.

// dot2Go returns v·a and v·b in one pass over v.
func dot2Go(v, a, b []float64) (float64, float64) {
	a, b = a[:len(v)], b[:len(v)]
	var s0, s1, t0, t1 float64
	i := 0
	for ; i+1 < len(v); i += 2 {
		s0 += float64(v[i] * a[i])
		t0 += float64(v[i] * b[i])
		s1 += float64(v[i+1] * a[i+1])
		t1 += float64(v[i+1] * b[i+1])
	}
	for ; i < len(v); i++ {
		s0 += float64(v[i] * a[i])
		t0 += float64(v[i] * b[i])
	}
	return s0 + s1, t0 + t1
}

// axpy2Go adds ca·v to a and cb·v to b in one pass over v.
func axpy2Go(a, b []float64, ca, cb float64, v []float64) {
	a, b = a[:len(v)], b[:len(v)]
	for i, x := range v {
		a[i] += float64(ca * x)
		b[i] += float64(cb * x)
	}
}

// axpy2x4Go is axpy2Go with coefficients −h[2c] and −h[2c+1] for v0, v1, v2, v3 in
// turn, in one pass.
func axpy2x4Go(a, b, h []float64, v0, v1, v2, v3 []float64) {
	n := len(v0)
	a, b, v1, v2, v3 = a[:n], b[:n], v1[:n], v2[:n], v3[:n]
	a0, b0, a1, b1 := -h[0], -h[1], -h[2], -h[3]
	a2, b2, a3, b3 := -h[4], -h[5], -h[6], -h[7]
	for i, x0 := range v0 {
		x1, x2, x3 := v1[i], v2[i], v3[i]
		s, t := a[i], b[i]
		s += float64(a0 * x0)
		t += float64(b0 * x0)
		s += float64(a1 * x1)
		t += float64(b1 * x1)
		s += float64(a2 * x2)
		t += float64(b2 * x2)
		s += float64(a3 * x3)
		t += float64(b3 * x3)
		a[i], b[i] = s, t
	}
}

// scatterPairsGo adds Σ_{lo<=i<hi} x[i] c_i to z (z = Cᵀx on pairs).
func scatterPairsGo(c *centered, x, z [][2]float64, lo, hi int) {
	for i := lo; i < hi; i++ {
		cols, vals := c.col[c.rowPtr[i]:c.rowPtr[i+1]], c.val[c.rowPtr[i]:c.rowPtr[i+1]]
		vals = vals[:len(cols)]
		x0, x1 := x[i][0], x[i][1]
		for p, cj := range cols {
			v, zq := vals[p], &z[cj]
			zq[0] += float64(v * x0) // the conversions forbid fusing into an FMA
			zq[1] += float64(v * x1)
		}
	}
}

// gatherPairsGo sets y[i] = c_i · z for lo <= i < hi (y = C z on pairs).
func gatherPairsGo(c *centered, z, y [][2]float64, lo, hi int) {
	for i := lo; i < hi; i++ {
		y[i] = rowDotGo(c.col[c.rowPtr[i]:c.rowPtr[i+1]], c.val[c.rowPtr[i]:c.rowPtr[i+1]], z)
	}
}

// rowDotGo returns a row's product with pairs, Σ_p vals[p]·z[cols[p]]: the even
// entries summed in one accumulator and the odd ones in another, the two added
// at the end. Two chains of additions instead of one: the assembly's gather then
// waits for an addition every other entry only, which made it 15% faster.
func rowDotGo(cols []int32, vals []float64, z [][2]float64) [2]float64 {
	vals = vals[:len(cols)]
	var s, t [2]float64
	p := 0
	for ; p+1 < len(cols); p += 2 {
		zq, zr := &z[cols[p]], &z[cols[p+1]]
		s[0] += float64(vals[p] * zq[0])
		s[1] += float64(vals[p] * zq[1])
		t[0] += float64(vals[p+1] * zr[0])
		t[1] += float64(vals[p+1] * zr[1])
	}
	if p < len(cols) {
		zq := &z[cols[p]]
		s[0] += float64(vals[p] * zq[0])
		s[1] += float64(vals[p] * zq[1])
	}
	return [2]float64{s[0] + t[0], s[1] + t[1]}
}

// gramPairsGo adds Σ_{lo<=i<hi} c_i (c_i · x) to y (y = CᵀC x on pairs).
func gramPairsGo(c *centered, x, y [][2]float64, lo, hi int) {
	for i := lo; i < hi; i++ {
		cols, vals := c.col[c.rowPtr[i]:c.rowPtr[i+1]], c.val[c.rowPtr[i]:c.rowPtr[i+1]]
		vals = vals[:len(cols)]
		t := rowDotGo(cols, vals, x)
		t0, t1 := t[0], t[1]
		for p, cj := range cols {
			v, yq := vals[p], &y[cj]
			yq[0] += float64(v * t0)
			yq[1] += float64(v * t1)
		}
	}
}

// checkedForKernels reports whether c's indices are all in range, so that the
// assembly may run on it: row offsets non-decreasing within the entries, every
// column index below c.cols. It reads every entry once, which costs about one
// tenth of one product.
func checkedForKernels(c *centered) bool {
	if len(c.rowPtr) != c.rows+1 || len(c.val) < len(c.col) || c.rowPtr[0] < 0 {
		return false
	}
	for i := range c.rows {
		if c.rowPtr[i+1] < c.rowPtr[i] {
			return false
		}
	}
	if int(c.rowPtr[c.rows]) > len(c.col) {
		return false
	}
	limit := uint32(c.cols)
	for _, j := range c.col[:c.rowPtr[c.rows]] {
		if uint32(j) >= limit {
			return false
		}
	}
	return true
}

// kernelRows reports whether rows lo..hi of c, a non-empty range, may run through
// the assembly: c has passed checkedForKernels (checked) and holds entries, and
// the range is within its rows.
func kernelRows(c *centered, checked bool, lo, hi int) bool {
	return checked && len(c.col) > 0 && 0 <= lo && lo < hi && hi <= c.rows
}
