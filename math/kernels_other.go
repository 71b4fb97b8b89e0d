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
