package polismath

// The assembly of kernels_amd64.s: the loops of scatterPairsGo, gatherPairsGo and
// gramPairsGo over raw pointers, without bounds checks.

//go:noescape
func scatterPairsAsm(rowPtr, col *int32, val *float64, x, z *[2]float64, lo, hi int)

//go:noescape
func gatherPairsAsm(rowPtr, col *int32, val *float64, z, y *[2]float64, lo, hi int)

//go:noescape
func gramPairsAsm(rowPtr, col *int32, val *float64, x, y *[2]float64, lo, hi int)

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
