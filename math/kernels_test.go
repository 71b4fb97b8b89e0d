package polismath

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestPairKernelsEqualGo holds the products on pairs (the assembly on amd64) to the
// Go loops, bit for bit, on random sparse matrices with empty rows and columns,
// entries of every sign and magnitude, and every row range, including the halves
// the PCA splits a large matrix into.
func TestPairKernelsEqualGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 29))
	for trial := range 300 {
		rows, cols := 1+rng.IntN(60), 1+rng.IntN(60)
		c := &centered{rows: rows, cols: cols, rowPtr: []int32{0}}
		for range rows {
			if rng.IntN(5) > 0 {
				for _, j := range rng.Perm(cols)[:rng.IntN(cols+1)] {
					c.col = append(c.col, int32(j))
					c.val = append(c.val, randomEntry(rng))
				}
			}
			c.rowPtr = append(c.rowPtr, int32(len(c.col)))
		}
		if !checkedForKernels(c) {
			t.Fatalf("trial %d: a valid matrix failed the check", trial)
		}
		rowVec := func() [][2]float64 { return randomPairs(rng, rows) }
		colVec := func() [][2]float64 { return randomPairs(rng, cols) }
		lo := rng.IntN(rows + 1)
		hi := lo + rng.IntN(rows-lo+1)

		x, z0 := rowVec(), colVec()
		want, got := clonePairs(z0), clonePairs(z0)
		scatterPairsGo(c, x, want, lo, hi)
		scatterPairs(c, true, x, got, lo, hi)
		samePairs(t, trial, "scatter", got, want)

		z, y0 := colVec(), rowVec()
		want, got = clonePairs(y0), clonePairs(y0)
		gatherPairsGo(c, z, want, lo, hi)
		gatherPairs(c, true, z, got, lo, hi)
		samePairs(t, trial, "gather", got, want)

		xc, y1 := colVec(), colVec()
		want, got = clonePairs(y1), clonePairs(y1)
		gramPairsGo(c, xc, want, lo, hi)
		gramPairs(c, true, xc, got, lo, hi)
		samePairs(t, trial, "gram", got, want)
	}
}

// TestPairKernelsRefuseBadMatrices checks that a matrix whose indices would take
// the assembly out of its vectors is not handed to it.
func TestPairKernelsRefuseBadMatrices(t *testing.T) {
	good := func() *centered {
		return &centered{rows: 2, cols: 3, rowPtr: []int32{0, 2, 3}, col: []int32{0, 2, 1}, val: []float64{1, 2, 3}}
	}
	if !checkedForKernels(good()) {
		t.Fatal("the valid matrix failed the check")
	}
	for name, spoil := range map[string]func(c *centered){
		"column index = cols":       func(c *centered) { c.col[1] = 3 },
		"negative column index":     func(c *centered) { c.col[0] = -1 },
		"decreasing row offsets":    func(c *centered) { c.rowPtr[1] = 4; c.rowPtr[2] = 3 },
		"offsets beyond entries":    func(c *centered) { c.rowPtr[2] = 4 },
		"negative first offset":     func(c *centered) { c.rowPtr[0] = -1 },
		"fewer values than cols":    func(c *centered) { c.val = c.val[:2] },
		"offsets shorter than rows": func(c *centered) { c.rowPtr = c.rowPtr[:2] },
	} {
		c := good()
		spoil(c)
		if checkedForKernels(c) {
			t.Errorf("%s: passed the check", name)
		}
	}
}

func randomEntry(rng *rand.Rand) float64 {
	switch rng.IntN(6) {
	case 0:
		return 0
	case 1:
		return math.Copysign(0, -1)
	case 2:
		return rng.NormFloat64() * 1e-300
	case 3:
		return rng.NormFloat64() * 1e150
	}
	return rng.Float64()*2 - 1 - rng.Float64()*0.3
}

func randomPairs(rng *rand.Rand, n int) [][2]float64 {
	p := make([][2]float64, n)
	for i := range p {
		p[i] = [2]float64{randomEntry(rng), randomEntry(rng)}
	}
	return p
}

func clonePairs(p [][2]float64) [][2]float64 { return append([][2]float64(nil), p...) }

func samePairs(t *testing.T, trial int, what string, got, want [][2]float64) {
	t.Helper()
	for i := range want {
		for l := range 2 {
			if math.Float64bits(got[i][l]) != math.Float64bits(want[i][l]) && !(math.IsNaN(got[i][l]) && math.IsNaN(want[i][l])) {
				t.Fatalf("trial %d, %s: entry %d lane %d is %v, the Go loop gives %v", trial, what, i, l, got[i][l], want[i][l])
			}
		}
	}
}

// TestDenseKernelsEqualGo holds dot2, axpy2 and axpy2x4 (the assembly on amd64) to
// their Go loops, bit for bit, for every length from 0 to 41 (odd lengths leave
// one entry to the Go tail) and on slices that start at odd offsets.
func TestDenseKernelsEqualGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 31))
	vec := func(n int) []float64 {
		off := rng.IntN(2) // an unaligned start
		v := make([]float64, n+off)
		for i := range v {
			v[i] = randomEntry(rng)
		}
		return v[off:]
	}
	same := func(n int, what string, got, want []float64) {
		t.Helper()
		for i := range want {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) && !(math.IsNaN(got[i]) && math.IsNaN(want[i])) {
				t.Fatalf("n=%d, %s: entry %d is %v, the Go loop gives %v", n, what, i, got[i], want[i])
			}
		}
	}
	for n := range 42 {
		for range 20 {
			v, a, b := vec(n), vec(n), vec(n)
			g0, g1 := dot2(v, a, b)
			w0, w1 := dot2Go(v, a, b)
			same(n, "dot2", []float64{g0, g1}, []float64{w0, w1})

			ca, cb := randomEntry(rng), randomEntry(rng)
			ga, gb := append([]float64(nil), a...), append([]float64(nil), b...)
			axpy2(ga, gb, ca, cb, v)
			axpy2Go(a, b, ca, cb, v)
			same(n, "axpy2 a", ga, a)
			same(n, "axpy2 b", gb, b)

			h := vec(8)
			v1, v2, v3 := vec(n), vec(n), vec(n)
			ga, gb = append([]float64(nil), a...), append([]float64(nil), b...)
			axpy2x4(ga, gb, h, v, v1, v2, v3)
			axpy2x4Go(a, b, h, v, v1, v2, v3)
			same(n, "axpy2x4 a", ga, a)
			same(n, "axpy2x4 b", gb, b)
		}
	}
}
