package polismath

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"unsafe"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// PCA tuning.
//
// The components are the top eigenvectors of CᵀC for the sparse centered vote matrix
// C. Polis finds them by power iteration, which converges at the rate λ2/λ1 (and λ3/λ2
// for the second one); on real conversations the leading eigenvalues are close, so it
// needs hundreds of products. We use a block Krylov method instead (block Lanczos with
// full reorthogonalization and Rayleigh-Ritz on the whole basis, restarted with the
// best Ritz vectors when the basis is full), which reaches the same eigenvectors in a
// few dozen products, and far fewer when warm-started from the previous components.
const (
	// pcaGapTolerance bounds the residual ‖Au − θu‖ of each wanted Ritz pair relative
	// to its distance to the rest of the spectrum (estimated by the other Ritz values):
	// the angle between a Ritz vector and the exact eigenvector is at most
	// residual / gap, so every component is within about 1e-8 of the exact one, a
	// hundred times inside the 1e-6 of the Polis oracle, however close the eigenvalues.
	pcaGapTolerance = 1e-8
	// pcaFloor accepts any residual below this fraction of the largest eigenvalue:
	// rounding makes smaller residuals meaningless.
	pcaFloor = 1e-13
	// pcaBlock is the block size: two vectors per step, so that a doubled top
	// eigenvalue still yields two independent components, and one pass over the votes
	// serves both.
	pcaBlock = 2
	// pcaMaxBasis is the largest Krylov basis kept; when it is full the iteration
	// restarts from the pcaKeep best Ritz vectors. It bounds the memory (pcaMaxBasis
	// vectors of the smaller matrix dimension, twice) and the O(m³) Rayleigh-Ritz cost.
	// On a flat spectrum, where the iteration needs dozens of products, a basis of
	// 32 took about 5% less time than one of 48 for about as many products (the
	// orthogonalization against a larger basis cost more than it saved); 24 needed
	// more products.
	pcaMaxBasis = 32
	pcaKeep     = 10
	// pcaEveryStepUpTo is the basis size up to which convergence is checked after
	// every product; beyond it, after every other one.
	pcaEveryStepUpTo = 24
	// pcaMaxProducts only guards against pathological inputs.
	pcaMaxProducts = 5000
	// pcaSeed makes the start vectors of a cold run, and therefore the result, a pure
	// function of the input.
	pcaSeed = 0x5eed
)

// pcaResult holds the principal components of the centered matrix.
type pcaResult struct {
	comps      [][]float64 // nc unit vectors of length K (zero for a null eigenvalue)
	values     []float64   // eigenvalues of CᵀC, descending
	iterations int         // number of block products with CᵀC (or CCᵀ)
	converged  bool
	// proj, when not nil, holds every row's raw projection on the components
	// (C u, row i of d at proj[i], in the workspace), which the eigensolver gives
	// when it works on the rows' side; nil otherwise (projectParticipants
	// computes them).
	proj [][2]float64
}

// centered is the compact sparse form of the centered matrix used by the PCA: only the
// rows and columns that hold at least one centered entry (a moderated-out column, or a
// participant who only voted on moderated-out statements, contributes nothing), with
// int32 indices so that the products stream through as little memory as possible.
type centered struct {
	rows, cols int
	rowPtr     []int32
	col        []int32
	val        []float64
	colOf      []int32 // compact column -> voteData column
	rowOf      []int32 // compact row -> voteData row
}

func newCentered(d *voteData) *centered {
	if d.nModOut == 0 || sharesWithModeratedOut(d) {
		return sharedCentered(d)
	}
	return compactCentered(d)
}

// sharesWithModeratedOut reports whether d's own centered entries can serve the
// PCA although some columns are moderated out: they already leave those columns
// out, so when every row keeps an entry and the products run on the rows' side
// (fewer rows than remaining columns), the compact form would only renumber the
// columns. The scatter then puts the same sums in other places of the intermediate
// vector, and every vector the eigensolver keeps is the same, bit for bit.
func sharesWithModeratedOut(d *voteData) bool {
	n := d.numRows()
	if n >= d.numCols()-d.nModOut {
		return false
	}
	for i := range n {
		if d.cRowPtr[i] == d.cRowPtr[i+1] {
			return false
		}
	}
	return true
}

// sharedCentered is newCentered when nothing is moderated out (every cell is then
// a centered entry, so every row and column of d has one, and the compact form is
// d's own entries, shared, not copied, with identity maps), or when
// sharesWithModeratedOut.
func sharedCentered(d *voteData) *centered {
	n, k := d.numRows(), d.numCols()
	ident := d.w.identity(max(n, k))
	c := &centered{rows: n, cols: k, col: d.cCol, val: d.cVal, rowOf: ident[:n:n], colOf: ident[:k:k]}
	c.rowPtr = d.w.int32s(n + 1)
	for i, p := range d.cRowPtr {
		c.rowPtr[i] = int32(p)
	}
	return c
}

// compactCentered builds the compact form, leaving out the moderated-out columns
// and the rows left without an entry.
func compactCentered(d *voteData) *centered {
	c := &centered{}
	colAt := make([]int32, d.numCols())
	for j := range colAt {
		colAt[j] = -1
	}
	for _, j := range d.cCol {
		if colAt[j] < 0 {
			colAt[j] = 0
		}
	}
	for j := range colAt {
		if colAt[j] == 0 {
			colAt[j] = int32(len(c.colOf))
			c.colOf = append(c.colOf, int32(j))
		}
	}
	c.cols = len(c.colOf)
	c.rowPtr = make([]int32, 1, d.numRows()+1)
	c.col = make([]int32, 0, len(d.cCol))
	c.val = make([]float64, 0, len(d.cVal))
	for i := range d.numRows() {
		lo, hi := d.cRowPtr[i], d.cRowPtr[i+1]
		if lo == hi {
			continue
		}
		for p := lo; p < hi; p++ {
			c.col = append(c.col, colAt[d.cCol[p]])
			c.val = append(c.val, d.cVal[p])
		}
		c.rowOf = append(c.rowOf, int32(i))
		c.rowPtr = append(c.rowPtr, int32(len(c.col)))
	}
	c.rows = len(c.rowOf)
	return c
}

func identity(n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(i)
	}
	return out
}

// gramOp applies the Gram matrix of the smaller side: CᵀC (columns) when there are
// fewer statements than participants, CCᵀ (rows) otherwise. Both have the same nonzero
// eigenvalues, and working in the smaller dimension makes every vector operation of
// the Krylov method cheaper. Blocks are stored interleaved: x[r*b+j] is entry r of
// vector j, so that one pass over the votes serves the whole block.
//
// A large matrix is split into two halves of equal vote count, multiplied by two
// goroutines: that halves the latency of a big conversation's run, while a server
// running many conversations' math at once still gets its parallelism from running
// them side by side.
type gramOp struct {
	c      *centered
	w      *workspace
	onRows bool
	dim    int
	split  int // first row of the second half; 0 means no split
	// checked: c's indices passed checkedForKernels, so the products on pairs
	// may run as assembly.
	checked bool
	tmp     []float64 // cols*b: Cᵀx on the row side
	tmp2    []float64 // the second half's partial sums
}

// pcaParallelVotes is the number of centered entries from which a product is split
// over two goroutines: below it the goroutine hand-off costs more than it saves.
const pcaParallelVotes = 40000

func newGramOp(c *centered, w *workspace) *gramOp {
	g := &gramOp{c: c, w: w, onRows: c.rows < c.cols, dim: c.cols, checked: checkedForKernels(c)}
	if g.onRows {
		g.dim = c.rows
	}
	if len(c.val) >= pcaParallelVotes && runtime.GOMAXPROCS(0) >= 2 {
		half := int32(len(c.val) / 2)
		g.split = sort.Search(c.rows, func(i int) bool { return c.rowPtr[i] >= half })
	}
	return g
}

// both runs f on the two halves of the rows, concurrently when the matrix is split.
func (g *gramOp) both(f func(lo, hi int, second bool)) {
	if g.split == 0 {
		f(0, g.c.rows, false)
		return
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f(g.split, g.c.rows, true)
	}()
	f(0, g.split, false)
	wg.Wait()
}

// apply sets y = G x for a block of b interleaved vectors.
func (g *gramOp) apply(x, y []float64, b int) {
	c := g.c
	if g.onRows {
		// CCᵀ x: z = Cᵀx (scatter), then y = C z (gather).
		z := g.grow(&g.tmp, c.cols*b)
		g.transMul(x, z, b)
		g.both(func(lo, hi int, _ bool) { g.mulRows(z, y, b, lo, hi) })
		return
	}
	// CᵀC x = Σ_i c_i (c_i · x), one gather and one scatter per row.
	n := g.dim * b
	y2 := g.grow(&g.tmp2, n)
	g.both(func(lo, hi int, second bool) {
		out := y[:n]
		if second {
			out = y2
		}
		clear(out)
		g.gramRows(x, out, b, lo, hi)
	})
	if g.split > 0 {
		floats.Add(y[:n], y2)
	}
}

// transMul sets z = Cᵀ x for a block of b interleaved row-side vectors.
func (g *gramOp) transMul(x, z []float64, b int) {
	z2 := g.grow(&g.tmp2, len(z))
	g.both(func(lo, hi int, second bool) {
		out := z
		if second {
			out = z2
		}
		clear(out)
		g.transMulRows(x, out, b, lo, hi)
	})
	if g.split > 0 {
		floats.Add(z, z2)
	}
}

// mul sets y = C z for a block of b interleaved column-side vectors.
func (g *gramOp) mul(z, y []float64, b int) {
	g.both(func(lo, hi int, _ bool) { g.mulRows(z, y, b, lo, hi) })
}

// grow returns (*buf)[:n], taking a longer one from the workspace when needed.
func (g *gramOp) grow(buf *[]float64, n int) []float64 {
	if cap(*buf) < n {
		*buf = g.w.floats(n)
	}
	return (*buf)[:n]
}

// gramRows adds Σ_{lo<=i<hi} c_i (c_i · x) to y.
func (g *gramOp) gramRows(x, y []float64, b, lo, hi int) {
	c := g.c
	if b == 2 {
		gramPairs(c, g.checked, pairs(x), pairs(y), lo, hi)
		return
	}
	t := make([]float64, b)
	for i := lo; i < hi; i++ {
		clear(t)
		for p := c.rowPtr[i]; p < c.rowPtr[i+1]; p++ {
			v, q := c.val[p], b*int(c.col[p])
			for j := range b {
				t[j] += v * x[q+j]
			}
		}
		for p := c.rowPtr[i]; p < c.rowPtr[i+1]; p++ {
			v, q := c.val[p], b*int(c.col[p])
			for j := range b {
				y[q+j] += v * t[j]
			}
		}
	}
}

// transMulRows adds Σ_{lo<=i<hi} x_i c_i to z.
func (g *gramOp) transMulRows(x, z []float64, b, lo, hi int) {
	c := g.c
	if b == 2 {
		scatterPairs(c, g.checked, pairs(x), pairs(z), lo, hi)
		return
	}
	for i := lo; i < hi; i++ {
		xi := x[i*b : i*b+b]
		for p := c.rowPtr[i]; p < c.rowPtr[i+1]; p++ {
			v, q := c.val[p], b*int(c.col[p])
			for j := range b {
				z[q+j] += v * xi[j]
			}
		}
	}
}

// pairs views an interleaved block of two vectors as pairs: pairs(x)[r] holds
// entry r of both. Indexing the pairs by a vote's column costs one bounds check
// and no index arithmetic per vote; on the routed production-size conversation
// that made the scatter Cᵀx 25% and the gather C z 10% faster than indexing x
// by 2*col and 2*col+1 (measured per pass: 187 → 140 µs and 175 → 160 µs). A
// [2]float64 has the size and alignment of two float64s, so the view is exact.
func pairs(x []float64) [][2]float64 {
	if len(x) < 2 {
		return nil
	}
	return unsafe.Slice((*[2]float64)(unsafe.Pointer(&x[0])), len(x)/2)
}

// mulRows sets rows lo..hi of y = C z.
func (g *gramOp) mulRows(z, y []float64, b, lo, hi int) {
	c := g.c
	if b == 2 {
		gatherPairs(c, g.checked, pairs(z), pairs(y), lo, hi)
		return
	}
	for i := lo; i < hi; i++ {
		yi := y[i*b : i*b+b]
		clear(yi)
		for p := c.rowPtr[i]; p < c.rowPtr[i+1]; p++ {
			v, q := c.val[p], b*int(c.col[p])
			for j := range b {
				yi[j] += v * z[q+j]
			}
		}
	}
}

// powerPCA computes the top nc eigenvectors of CᵀC for the sparse centered matrix of d
// without ever forming a dense matrix: every product costs O(votes). warm, when not
// nil, holds previous components aligned with d's columns; they start the iteration,
// so that a small change in the votes costs a few products. Each component is signed
// so that its largest-magnitude entry is positive (first one on ties), which makes the
// output a function of the data. A component whose eigenvalue is zero (the centered
// matrix has rank below nc) is the zero vector: any unit vector of the null space would
// do, and zero keeps every projection on it at the origin.
func powerPCA(d *voteData, nc int, warm [][]float64) pcaResult {
	if nc <= 0 || d.numCols() == 0 {
		return pcaResult{converged: true}
	}
	return powerPCAOn(d, newCentered(d), nc, warm)
}

// powerPCAOn is powerPCA on the given form of d's centered matrix.
func powerPCAOn(d *voteData, c *centered, nc int, warm [][]float64) pcaResult {
	k := d.numCols()
	res := pcaResult{converged: true}
	if nc <= 0 || k == 0 {
		return res
	}
	res.comps = make([][]float64, nc)
	res.values = make([]float64, nc)
	for j := range res.comps {
		res.comps[j] = make([]float64, k)
	}
	if c.rows == 0 || c.cols == 0 {
		return res
	}
	w := d.w
	g := newGramOp(c, w)
	if !d.parallel {
		g.split = 0
	}

	// Start block: the previous components, mapped to the row side if needed.
	var start [][]float64
	for _, prevComp := range warm {
		if len(prevComp) != k || len(start) == pcaBlock {
			continue
		}
		u := w.floats(c.cols)
		for cj, j := range c.colOf {
			u[cj] = prevComp[j]
		}
		start = append(start, u)
	}
	if g.onRows && len(start) > 0 {
		b := len(start)
		x, y := w.floats(c.cols*b), w.floats(c.rows*b)
		interleave(start, x, c.cols)
		g.mul(x, y, b)
		start = deinterleave(w, y, c.rows, b)
	}

	vals, vecs, images, products, ok := krylovEigen(g, min(nc, g.dim), start)
	res.iterations, res.converged = products, ok

	// Map row-side eigenvectors v to the statement side: u = Cᵀv / ‖Cᵀv‖.
	if g.onRows && len(vecs) > 0 {
		b := len(vecs)
		x, z := w.floats(c.rows*b), w.floats(c.cols*b)
		interleave(vecs, x, c.rows)
		g.transMul(x, z, b)
		vecs = deinterleave(w, z, c.cols, b)
	}
	if g.onRows && len(vecs) > 0 && len(vecs) <= 2 {
		res.proj = pairs(w.zeros(2 * d.numRows()))
	}
	for j := range vecs {
		res.values[j] = math.Max(vals[j], 0)
		if vals[j] <= 1e-12*vals[0] || vals[j] <= 0 {
			res.values[j] = 0
			continue // null eigenvalue: leave the zero vector
		}
		u := res.comps[j]
		for cj, col := range c.colOf {
			u[col] = vecs[j][cj]
		}
		n := normalize(u)
		f := 1 / n
		if fixSign(u) {
			f = -f
		}
		if res.proj != nil && n > 0 {
			// The row v's image A v = C Cᵀ v is the eigensolver's, so the rows'
			// projections on u = ±Cᵀv/‖Cᵀv‖, C u, need no pass over the votes.
			for ci, i := range c.rowOf {
				res.proj[i][j] = f * images[j][ci]
			}
		}
	}
	return res
}

func interleave(vs [][]float64, x []float64, n int) {
	b := len(vs)
	if b == 2 {
		// Both vectors in one pass, a pair at a time: half the passes of the
		// general loop, and no strided stores.
		v0, v1, xp := vs[0][:n], vs[1][:n], pairs(x[:2*n])
		for r := range xp {
			xp[r] = [2]float64{v0[r], v1[r]}
		}
		return
	}
	for j, v := range vs {
		for r := range n {
			x[r*b+j] = v[r]
		}
	}
}

func deinterleave(w *workspace, x []float64, n, b int) [][]float64 {
	out := make([][]float64, b)
	if b == 2 {
		v0, v1, xp := w.floats(n), w.floats(n), pairs(x[:2*n])
		v0, v1 = v0[:len(xp)], v1[:len(xp)]
		for r, q := range xp {
			v0[r], v1[r] = q[0], q[1]
		}
		out[0], out[1] = v0, v1
		return out
	}
	for j := range out {
		v := w.floats(n)
		for r := range n {
			v[r] = x[r*b+j]
		}
		out[j] = v
	}
	return out
}

// krylovEigen returns the nWant largest eigenpairs of the symmetric positive
// semi-definite operator g (descending), the number of block products, and whether the
// residual tolerance was met. start holds up to pcaBlock start vectors (the previous
// components); missing ones are seeded pseudo-random vectors.
//
// The basis V grows by one block per step: the new block is A times the previous one,
// orthogonalized against all of V twice (classical Gram-Schmidt, twice, is as accurate
// as modified Gram-Schmidt and runs as fused passes over contiguous vectors; the
// coefficients of the first pass are the new column of H = VᵀAV). H is kept in full,
// so Rayleigh-Ritz needs no Lanczos recurrence to be exact, and the residual of a
// Ritz pair (θ, Vs) is R s_last, R being the orthogonalized next block before
// normalization: the iteration knows its accuracy without extra products. (The
// second pass only subtracts the components rounding made larger than reorthTol.)
func krylovEigen(g *gramOp, nWant int, start [][]float64) ([]float64, [][]float64, [][]float64, int, bool) {
	dim := g.dim
	b := min(pcaBlock, dim)
	nWant = min(nWant, b)
	maxBasis := min(dim, pcaMaxBasis) + b // storage; a restart keeps m <= pcaMaxBasis
	rng := rand.New(rand.NewPCG(pcaSeed, uint64(dim)))

	w := g.w
	V := make([][]float64, 0, maxBasis) // orthonormal basis
	W := make([][]float64, 0, maxBasis) // A V
	H := w.zeros(maxBasis * maxBasis)
	x := w.floats(dim * b)
	y := w.floats(dim * b)
	h := w.zeros(maxBasis * b)
	symBuf := w.floats(maxBasis * maxBasis) // Rayleigh-Ritz's matrix, every step

	block := make([][]float64, b)
	for j := range block {
		block[j] = w.zeros(dim)
		if j < len(start) {
			copy(block[j], start[j])
		} else {
			randomize(block[j], rng)
		}
	}
	orthonormalizeBlock(block, V, rng, true)

	var (
		products int
		steps    int
		theta    []float64
		order    []int
		sym      *mat.SymDense
		eig      mat.EigenSym
		vecs     mat.Dense
		ritz     = func(i, j int) float64 { return vecs.At(i, order[j]) }
	)
	for {
		// W_block = A block.
		interleave(block, x, dim)
		g.apply(x, y, b)
		products++
		wb := deinterleave(w, y, dim, b)
		m0 := len(V)
		V = append(V, block...)
		W = append(W, wb...)
		m := len(V)

		// next = W_block orthogonalized against V. In exact arithmetic A V_last only has
		// components on the last two blocks (the Lanczos recurrence), so the first
		// pass projects on those only; the second pass, over the whole basis, restores
		// the orthogonality that rounding erodes. The coefficients of both passes
		// together are the new columns of H.
		next := make([][]float64, b)
		for j := range next {
			next[j] = w.floats(dim)
			copy(next[j], wb[j])
		}
		local := max(0, m0-b)
		project(V[local:], next, h)
		for j := range b {
			for i := range m {
				v := 0.0
				if i >= local {
					v = h[(i-local)*b+j]
				}
				H[i*maxBasis+m0+j] = v
			}
		}
		reproject(V, next, h)
		for j := range b {
			for i := range m {
				v := H[i*maxBasis+m0+j] + h[i*b+j]
				if i >= m0 && i < m0+j {
					v = 0.5 * (v + H[(m0+j)*maxBasis+i]) // symmetrize inside the new block
				}
				H[i*maxBasis+m0+j] = v
				H[(m0+j)*maxBasis+i] = v
			}
		}
		steps++
		if m > pcaEveryStepUpTo && steps%2 == 1 && m < dim && m+b <= pcaMaxBasis && products < pcaMaxProducts {
			// Rayleigh-Ritz costs O(m³): on a large basis, check every other step.
			orthonormalizeBlock(next, V, rng, false)
			block = next
			continue
		}

		// Rayleigh-Ritz on span(V).
		sym = mat.NewSymDense(m, symBuf[:m*m])
		for i := range m {
			for j := i; j < m; j++ {
				sym.SetSym(i, j, H[i*maxBasis+j])
			}
		}
		if !eig.Factorize(sym, true) {
			return nil, nil, nil, products, false // cannot happen for a finite symmetric matrix
		}
		ev := eig.Values(nil)
		vecs.Reset()
		eig.VectorsTo(&vecs)
		order = make([]int, m)
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(p, q int) bool { return ev[order[p]] > ev[order[q]] })
		theta = make([]float64, m)
		for jj, src := range order {
			theta[jj] = ev[src]
		}

		// Residual of Ritz pair j: ‖Σ_c s_j[m0+c] next_c‖ (see ritzConverged).
		gram := make([]float64, b*b)
		for p := range b {
			for q := p; q < b; q++ {
				gram[p*b+q] = floats.Dot(next[p], next[q])
				gram[q*b+p] = gram[p*b+q]
			}
		}
		res := make([]float64, nWant)
		for j := range nWant {
			s2 := 0.0
			for p := range b {
				for q := range b {
					s2 += ritz(m0+p, j) * ritz(m0+q, j) * gram[p*b+q]
				}
			}
			res[j] = math.Sqrt(math.Max(s2, 0))
		}
		converged := ritzConverged(theta[:m], res)
		if converged || m >= dim || products >= pcaMaxProducts {
			out, images := make([][]float64, nWant), make([][]float64, nWant)
			for j := range nWant {
				u, au := w.zeros(dim), w.zeros(dim)
				for i := range m {
					floats.AddScaled(u, ritz(i, j), V[i])
					floats.AddScaled(au, ritz(i, j), W[i])
				}
				out[j], images[j] = u, au
			}
			return theta[:nWant], out, images, products, converged || m >= dim
		}

		if m+b > pcaMaxBasis {
			// Thick restart: keep the best Ritz vectors (and their images, exactly:
			// A(Vs) = Ws); next stays orthogonal to them.
			keep := min(pcaKeep, m)
			nv := make([][]float64, keep)
			nw := make([][]float64, keep)
			for j := range keep {
				nv[j] = w.zeros(dim)
				nw[j] = w.zeros(dim)
				for i := range m {
					s := ritz(i, j)
					floats.AddScaled(nv[j], s, V[i])
					floats.AddScaled(nw[j], s, W[i])
				}
			}
			V = append(V[:0], nv...)
			W = append(W[:0], nw...)
			for i := range keep {
				for j := range keep {
					H[i*maxBasis+j] = 0
				}
				H[i*maxBasis+i] = theta[i]
			}
		}
		orthonormalizeBlock(next, V, rng, false)
		block = next
	}
}

// ritzConverged reports whether every wanted Ritz vector (one per residual norm in
// res, for the largest Ritz values theta, descending) is within pcaGapTolerance of
// its eigenvector in angle, by the better of two bounds (the eigenvalues beyond the
// Ritz values are estimated by them, as a Krylov method must):
//
//   - alone: the angle is at most ‖r_j‖ / gap_j, gap_j the distance from θ_j to
//     the other Ritz values;
//   - as a cluster: the wanted Ritz vectors span a subspace within
//     s = ‖R‖ / δ of the wanted eigenvectors' (R the residuals together, δ the
//     distance from the smallest wanted Ritz value to the next one: the
//     sin Θ theorem), and since their Rayleigh quotient is diagonal, each is
//     within s + (1 + 2·θ_1/gap_in,j)·s² of its eigenvector, gap_in,j the
//     distance to the other wanted Ritz values (the second-order term is the
//     rotation inside the subspace that an error s can cause).
//
// The second bound is the sharp one when the two leading eigenvalues are close to
// each other and far from the rest: a 19,000-opinion conversation with eigenvalues
// 93.6, 92.3 and 57 needed 14 products for ‖r_j‖ ≤ 1e-8·1.36 and needs 11 for the
// same 1e-8 angle. A residual below pcaFloor of the largest Ritz value passes.
func ritzConverged(theta, res []float64) bool {
	nWant := len(res)
	top := math.Max(theta[0], 0)
	total := 0.0
	for _, r := range res {
		total += r * r
	}
	out := math.Inf(1)
	if len(theta) > nWant {
		out = theta[nWant-1] - theta[nWant]
	}
	s := math.Sqrt(total) / math.Min(out, top)
	for j, r := range res {
		if r <= pcaFloor*top {
			continue
		}
		gap, in := math.Inf(1), math.Inf(1)
		for i, t := range theta {
			if i == j {
				continue
			}
			d := math.Abs(theta[j] - t)
			gap = math.Min(gap, d)
			if i < nWant {
				in = math.Min(in, d)
			}
		}
		alone := r / math.Min(gap, top)
		cluster := s + (1+2*top/in)*s*s
		if !(math.Min(alone, cluster) <= pcaGapTolerance) { // a NaN fails too
			return false
		}
	}
	return true
}

// project removes from each vector of r its components along the orthonormal basis V
// (one classical Gram-Schmidt pass) and leaves the coefficients in h[i*len(r)+j]. The
// passes over V serve every vector of r at once.
func project(V, r [][]float64, h []float64) {
	b := len(r)
	if b == 2 {
		r0, r1 := r[0], r[1]
		for i, v := range V {
			h[2*i], h[2*i+1] = dot2(v, r0, r1)
		}
		// Four basis vectors per pass over r0 and r1: each entry still takes
		// the same subtractions in the same order, so the result is the same
		// as one pass per basis vector, for a third of the memory traffic.
		i := 0
		for ; i+4 <= len(V); i += 4 {
			axpy2x4(r0, r1, h[2*i:2*i+8], V[i], V[i+1], V[i+2], V[i+3])
		}
		for ; i < len(V); i++ {
			axpy2(r0, r1, -h[2*i], -h[2*i+1], V[i])
		}
		return
	}
	for i, v := range V {
		for j := range b {
			h[i*b+j] = floats.Dot(v, r[j])
		}
	}
	for i, v := range V {
		for j := range b {
			floats.AddScaled(r[j], -h[i*b+j], v)
		}
	}
}

// reorthTol is the size, relative to the vector, below which the second
// Gram-Schmidt pass leaves a component along an older basis vector alone: rounding
// leaves components of about 1e-15 there (what the second pass is for), and
// subtracting those changes nothing that matters at the eigensolver's 1e-8, while it
// cost half the pass. Components that rounding made larger, as it does over long
// runs, are removed.
const reorthTol = 1e-13

// reproject is project's second pass: the components of each vector of r along V,
// in h, but only those above reorthTol subtracted (the others are left in r and
// reported as 0).
func reproject(V, r [][]float64, h []float64) {
	if len(r) != 2 {
		project(V, r, h)
		return
	}
	r0, r1 := r[0], r[1]
	t0 := reorthTol * math.Sqrt(floats.Dot(r0, r0))
	t1 := reorthTol * math.Sqrt(floats.Dot(r1, r1))
	for i, v := range V {
		h0, h1 := dot2(v, r0, r1)
		if math.Abs(h0) <= t0 && math.Abs(h1) <= t1 {
			h[2*i], h[2*i+1] = 0, 0
			continue
		}
		h[2*i], h[2*i+1] = h0, h1
		axpy2(r0, r1, -h0, -h1, v)
	}
}

// orthonormalizeBlock makes the vectors of block orthonormal and, when againstBasis is
// set (or a vector has to be replaced), orthogonal to basis (classical Gram-Schmidt,
// twice). A vector that is numerically in the span of the others is replaced by a
// pseudo-random one, so the basis keeps growing when the Krylov space is invariant
// (a matrix of low rank).
func orthonormalizeBlock(block, basis [][]float64, rng *rand.Rand, againstBasis bool) {
	for j, v := range block {
		for attempt := 0; ; attempt++ {
			before := math.Sqrt(floats.Dot(v, v))
			for range 2 {
				if againstBasis || attempt > 0 {
					for _, q := range basis {
						if h := floats.Dot(q, v); h != 0 {
							floats.AddScaled(v, -h, q)
						}
					}
				}
				for _, q := range block[:j] {
					if h := floats.Dot(q, v); h != 0 {
						floats.AddScaled(v, -h, q)
					}
				}
			}
			n := math.Sqrt(floats.Dot(v, v))
			if n > 1e-8*before && n > 1e-300 {
				floats.Scale(1/n, v)
				break
			}
			if attempt >= 8 {
				clear(v) // the space is exhausted (cannot happen while the basis is smaller than dim)
				break
			}
			randomize(v, rng)
		}
	}
}

func randomize(v []float64, rng *rand.Rand) {
	for i := range v {
		v[i] = rng.Float64()*2 - 1
	}
}

// normalize scales u to unit length and returns the length it had; a zero vector
// stays zero.
func normalize(u []float64) float64 {
	s := 0.0
	for _, v := range u {
		s += v * v
	}
	if s == 0 {
		return 0
	}
	n := math.Sqrt(s)
	for i := range u {
		u[i] /= n
	}
	return n
}

// fixSign flips u so that its entry of largest magnitude (the first one on ties) is
// positive: power iteration leaves the sign arbitrary, and a caller comparing two
// analyses needs it to be a function of the data. It reports whether it flipped u.
func fixSign(u []float64) bool {
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
		return true
	}
	return false
}
