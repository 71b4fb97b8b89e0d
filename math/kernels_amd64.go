package polismath

// The assembly of kernels_amd64.s: the loops of scatterPairsGo, gatherPairsGo and
// gramPairsGo over raw pointers, without bounds checks.

//go:noescape
func scatterPairsAsm(rowPtr, col *int32, val *float64, x, z *[2]float64, lo, hi int)

//go:noescape
func gatherPairsAsm(rowPtr, col *int32, val *float64, z, y *[2]float64, lo, hi int)

//go:noescape
func gramPairsAsm(rowPtr, col *int32, val *float64, x, y *[2]float64, lo, hi int)

//go:noescape
func dot2Pairs(v, a, b *float64, n int, out *[4]float64)

//go:noescape
func axpy2Pairs(a, b *float64, ca, cb float64, v *float64, n int)

//go:noescape
func axpy2x4Pairs(a, b *float64, c *[8]float64, v0, v1, v2, v3 *float64, n int)

// dot2 returns v·a and v·b in one pass over v (dot2Go).
func dot2(v, a, b []float64) (float64, float64) {
	n := len(v)
	if n < 2 {
		return dot2Go(v, a, b)
	}
	a, b = a[:n], b[:n]
	var out [4]float64 // v·a over the even entries, the odd ones, then v·b's
	dot2Pairs(&v[0], &a[0], &b[0], n/2, &out)
	if n%2 == 1 {
		out[0] += float64(v[n-1] * a[n-1])
		out[2] += float64(v[n-1] * b[n-1])
	}
	return out[0] + out[1], out[2] + out[3]
}

// axpy2 adds ca·v to a and cb·v to b in one pass over v (axpy2Go).
func axpy2(a, b []float64, ca, cb float64, v []float64) {
	n := len(v)
	if n < 2 {
		axpy2Go(a, b, ca, cb, v)
		return
	}
	a, b = a[:n], b[:n]
	axpy2Pairs(&a[0], &b[0], ca, cb, &v[0], n/2)
	if n%2 == 1 {
		a[n-1] += float64(ca * v[n-1])
		b[n-1] += float64(cb * v[n-1])
	}
}

// axpy2x4 is axpy2 with coefficients −h[2c] and −h[2c+1] for v0, v1, v2, v3 in
// turn, in one pass (axpy2x4Go).
func axpy2x4(a, b, h []float64, v0, v1, v2, v3 []float64) {
	n := len(v0)
	if n < 2 {
		axpy2x4Go(a, b, h, v0, v1, v2, v3)
		return
	}
	a, b, v1, v2, v3 = a[:n], b[:n], v1[:n], v2[:n], v3[:n]
	c := [8]float64{-h[0], -h[1], -h[2], -h[3], -h[4], -h[5], -h[6], -h[7]}
	axpy2x4Pairs(&a[0], &b[0], &c, &v0[0], &v1[0], &v2[0], &v3[0], n/2)
	if i := n - 1; n%2 == 1 {
		s, t := a[i], b[i]
		for k, x := range [4]float64{v0[i], v1[i], v2[i], v3[i]} {
			s += float64(c[2*k] * x)
			t += float64(c[2*k+1] * x)
		}
		a[i], b[i] = s, t
	}
}

// scatterPairs is scatterPairsGo, through the assembly when checked (c has passed
// checkedForKernels) and the vectors are long enough.
func scatterPairs(c *centered, checked bool, x, z [][2]float64, lo, hi int) {
	if !kernelRows(c, checked, lo, hi) || len(x) < hi || len(z) < c.cols {
		scatterPairsGo(c, x, z, lo, hi)
		return
	}
	scatterPairsAsm(&c.rowPtr[0], &c.col[0], &c.val[0], &x[0], &z[0], lo, hi)
}

// gatherPairs is gatherPairsGo, through the assembly when it may.
func gatherPairs(c *centered, checked bool, z, y [][2]float64, lo, hi int) {
	if !kernelRows(c, checked, lo, hi) || len(y) < hi || len(z) < c.cols {
		gatherPairsGo(c, z, y, lo, hi)
		return
	}
	gatherPairsAsm(&c.rowPtr[0], &c.col[0], &c.val[0], &z[0], &y[0], lo, hi)
}

// gramPairs is gramPairsGo, through the assembly when it may.
func gramPairs(c *centered, checked bool, x, y [][2]float64, lo, hi int) {
	if !kernelRows(c, checked, lo, hi) || len(x) < c.cols || len(y) < c.cols {
		gramPairsGo(c, x, y, lo, hi)
		return
	}
	gramPairsAsm(&c.rowPtr[0], &c.col[0], &c.val[0], &x[0], &y[0], lo, hi)
}
