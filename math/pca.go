package polismath

import (
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/mat"
)

// PCA tuning. The tolerance bounds the Ritz residual ‖CᵀC u − λu‖ relative to the largest
// eigenvalue: at 1e-10 the components agree with Polis' converged power iteration to
// about 1e-11 on every fixture, far inside the 1e-6 the oracle allows. The iteration cap
// only guards against pathological inputs; real conversations converge in tens to a few
// hundred products.
const (
	pcaTolerance     = 1e-10
	pcaMaxIterations = 20000
	// pcaExtraVectors is how many vectors beyond the two wanted ones the block power
	// iteration carries: component c then converges at the rate λ(2+extra+1)/λc instead
	// of λ(c+1)/λc, which matters when the 2nd and 3rd eigenvalues are close. Two is the
	// fastest on the production-size benchmark: the noise spectrum of a sparse vote
	// matrix is flat, so wider blocks save few products and cost O(K·block²) each.
	pcaExtraVectors = 2
	// pcaSeed makes the start vectors of a cold run, and therefore the result, a pure
	// function of the input.
	pcaSeed = 0x5eed
)

// pcaResult holds the principal components of the centered matrix.
type pcaResult struct {
	comps      [][]float64 // nc unit vectors of length K
	values     []float64   // eigenvalues of CᵀC, descending
	iterations int         // number of CᵀC products
	converged  bool
}

// powerPCA computes the top nc eigenvectors of CᵀC for the sparse centered matrix of d
// by block power iteration (subspace iteration with Rayleigh-Ritz), which touches only
// the present cells: one product costs O(votes · block) and never materialises the
// dense participants x statements matrix. warm, when not nil, holds previous components
// aligned with d's columns; they start the iteration, so that a small change in the votes
// costs a few products. Each component is signed so that its largest-magnitude entry is
// positive (first one on ties), which makes the output deterministic.
func powerPCA(d *voteData, nc int, warm [][]float64) pcaResult {
	k := d.numCols()
	if nc <= 0 || k == 0 {
		return pcaResult{converged: true}
	}
	b := min(nc+pcaExtraVectors, k)
	nc = min(nc, b)
	rng := rand.New(rand.NewPCG(pcaSeed, uint64(k)))

	// Q is K x b, row-major: q[r*b+j] is entry r of vector j.
	q := make([]float64, k*b)
	for j := range b {
		if j < len(warm) && len(warm[j]) == k {
			for r := range k {
				q[r*b+j] = warm[j][r]
			}
		}
	}
	orthonormalize(q, k, b, rng)

	w := make([]float64, k*b)
	t := make([]float64, b)
	h := mat.NewSymDense(b, nil)
	var eig mat.EigenSym
	var vecs mat.Dense
	ritz := make([]float64, k*b)  // Q V
	aritz := make([]float64, k*b) // W V
	res := pcaResult{}
	order := make([]int, b)
	v := make([]float64, b*b)
	for it := 1; ; it++ {
		// W = CᵀC Q, accumulated row by row over the present cells only.
		clear(w)
		for i := range d.numRows() {
			lo, hi := d.cRowPtr[i], d.cRowPtr[i+1]
			if lo == hi {
				continue
			}
			clear(t)
			for p := lo; p < hi; p++ {
				v, qr := d.cVal[p], q[int(d.cCol[p])*b:]
				for j := range b {
					t[j] += v * qr[j]
				}
			}
			for p := lo; p < hi; p++ {
				v, wr := d.cVal[p], w[int(d.cCol[p])*b:]
				for j := range b {
					wr[j] += v * t[j]
				}
			}
		}
		// Rayleigh-Ritz on span(Q): H = QᵀW.
		for a := range b {
			for c := a; c < b; c++ {
				s := 0.0
				for r := range k {
					s += q[r*b+a] * w[r*b+c]
				}
				h.SetSym(a, c, s)
			}
		}
		if !eig.Factorize(h, true) {
			// Cannot happen for a finite symmetric matrix; stop with what we have.
			break
		}
		vals := eig.Values(nil)
		eig.VectorsTo(&vecs)
		for j := range order {
			order[j] = j
		}
		sort.SliceStable(order, func(x, y int) bool { return vals[order[x]] > vals[order[y]] })
		// v[j*b+a] is entry a of the j-th Ritz coefficient vector (descending order).
		for j, src := range order {
			for a := range b {
				v[j*b+a] = vecs.At(a, src)
			}
		}
		for r := range k {
			qr, wr := q[r*b:(r+1)*b], w[r*b:(r+1)*b]
			xr, axr := ritz[r*b:(r+1)*b], aritz[r*b:(r+1)*b]
			for j := range b {
				vj := v[j*b : (j+1)*b]
				sx, sw := 0.0, 0.0
				for a, c := range vj {
					sx += qr[a] * c
					sw += wr[a] * c
				}
				xr[j] = sx
				axr[j] = sw
			}
		}
		res.values = res.values[:0]
		for _, src := range order[:nc] {
			res.values = append(res.values, math.Max(vals[src], 0))
		}
		res.iterations = it
		top := res.values[0]
		converged := true
		for j := range nc {
			theta := vals[order[j]]
			s := 0.0
			for r := range k {
				e := aritz[r*b+j] - theta*ritz[r*b+j]
				s += e * e
			}
			if math.Sqrt(s) > pcaTolerance*top {
				converged = false
				break
			}
		}
		if converged || it >= pcaMaxIterations {
			res.converged = converged
			break
		}
		copy(q, aritz)
		orthonormalize(q, k, b, rng)
	}

	// Columns without centered entries (moderated out, or voted on by nobody) have
	// exactly zero loading in every eigenvector of positive eigenvalue; the Ritz vectors
	// only approximate that.
	hasEntry := make([]bool, k)
	for _, c := range d.cCol {
		hasEntry[c] = true
	}
	res.comps = make([][]float64, nc)
	for j := range nc {
		u := make([]float64, k)
		for r := range k {
			if hasEntry[r] {
				u[r] = ritz[r*b+j]
			}
		}
		normalize(u)
		fixSign(u)
		res.comps[j] = u
	}
	return res
}

// orthonormalize makes the b columns of the K x b row-major matrix q orthonormal by
// modified Gram-Schmidt, applied twice for accuracy. A column that is (numerically) in
// the span of the previous ones is replaced by a random vector, so the block keeps its
// full width even when the matrix has rank below b.
func orthonormalize(q []float64, k, b int, rng *rand.Rand) {
	for j := range b {
		for attempt := 0; ; attempt++ {
			before := colNorm(q, k, b, j)
			for pass := 0; pass < 2; pass++ {
				for a := range j {
					dot := 0.0
					for r := range k {
						dot += q[r*b+a] * q[r*b+j]
					}
					for r := range k {
						q[r*b+j] -= dot * q[r*b+a]
					}
				}
			}
			n := colNorm(q, k, b, j)
			if n > 1e-10*before && n > 1e-300 && attempt < 8 {
				for r := range k {
					q[r*b+j] /= n
				}
				break
			}
			if attempt >= 8 {
				// k < b cannot happen (b <= K); give up on this column gracefully.
				for r := range k {
					q[r*b+j] = 0
				}
				break
			}
			for r := range k {
				q[r*b+j] = rng.Float64()*2 - 1
			}
		}
	}
}

func colNorm(q []float64, k, b, j int) float64 {
	s := 0.0
	for r := range k {
		s += q[r*b+j] * q[r*b+j]
	}
	return math.Sqrt(s)
}

// normalize scales u to unit length; a zero vector stays zero.
func normalize(u []float64) {
	s := 0.0
	for _, v := range u {
		s += v * v
	}
	if s == 0 {
		return
	}
	n := math.Sqrt(s)
	for i := range u {
		u[i] /= n
	}
}

// fixSign flips u so that its entry of largest magnitude (the first one on ties) is
// positive: power iteration leaves the sign arbitrary, and a caller comparing two
// analyses needs it to be a function of the data.
func fixSign(u []float64) {
	best, at := -1.0, -1
	for i, v := range u {
		if a := math.Abs(v); a > best {
			best, at = a, i
		}
	}
	if at >= 0 && u[at] < 0 {
		for i := range u {
			u[i] = -u[i]
		}
	}
}
