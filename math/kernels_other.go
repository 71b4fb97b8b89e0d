//go:build !amd64

package polismath

// Without the assembly, the products on pairs are the Go loops of kernels.go.

func scatterPairs(c *centered, _ bool, x, z [][2]float64, lo, hi int) {
	scatterPairsGo(c, x, z, lo, hi)
}

func gatherPairs(c *centered, _ bool, z, y [][2]float64, lo, hi int) {
	gatherPairsGo(c, z, y, lo, hi)
}

func gramPairs(c *centered, _ bool, x, y [][2]float64, lo, hi int) {
	gramPairsGo(c, x, y, lo, hi)
}

func dot2(v, a, b []float64) (float64, float64) { return dot2Go(v, a, b) }

func axpy2(a, b []float64, ca, cb float64, v []float64) { axpy2Go(a, b, ca, cb, v) }

func axpy2x4(a, b, h []float64, v0, v1, v2, v3 []float64) { axpy2x4Go(a, b, h, v0, v1, v2, v3) }
