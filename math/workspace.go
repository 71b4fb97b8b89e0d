package polismath

import (
	"runtime"
	"slices"
	"unsafe"
)

// workspace holds the large temporary arrays of one Run (the compressed votes, the
// tallies, the eigensolver's vectors), so that the next run reuses them
// instead of allocating and zeroing megabytes again: at production size a warm run
// allocated 17 MB, and the garbage collector and the zeroing of new memory took about
// a sixth of its time. Nothing in a workspace outlives the Run that holds it; what
// the Result and the State keep is copied out.
type workspace struct {
	// col, vote and rowPtr are the compressed raw votes readRows writes. When the
	// run keeps them in its State, the workspace takes the previous run's kept
	// arrays in their place (newVoteDataIn), which talliesAfter still reads:
	// nothing else in a run writes these three.
	col      []int32
	vote     []Vote
	dcol     []int32 // the columns renumbered, when some have no vote
	dRowPtr  []int   // the rows' offsets, when some have no vote
	cVal     []float64
	cCol     []int32
	cRowPtr  []int
	keep     []int32
	rowPtr   []int
	counts   []int
	sum      []float64
	cnt      []int32
	colMap   []int32
	matCol   []int32
	tallies  []tally
	touched  []bool  // per column: its tallies changed since the run before
	points   []point // the base k-means' points
	assign   []int32 // and their slots
	ident    []int32 // ident[i] = i, kept from run to run
	rowPtr32 []int32
	member   []int
	flags    []bool
	ids      []string // a run's participants with a vote, then its unvoted statements

	// slab serves floats; used counts what this run asked for, so that the next run
	// gets one slab large enough for all of it.
	slab []float64
	off  int
	used int
}

// workspaces keeps up to GOMAXPROCS idle workspaces (as many as runs can usefully
// go on at once). Unlike a sync.Pool it is not emptied by the garbage collector: a
// server analysing a large conversation allocates enough to start a collection
// every run or two, which emptied the pool as fast as runs filled it.
var workspaces = make(chan *workspace, runtime.GOMAXPROCS(0))

// getWorkspace takes an idle workspace, or a new one; putWorkspace returns it once
// nothing of the run reads it any more.
func getWorkspace() *workspace {
	var w *workspace
	select {
	case w = <-workspaces:
	default:
		w = new(workspace)
	}
	if len(w.slab) < w.used {
		w.slab = make([]float64, roomFor(w.used))
	}
	w.off, w.used = 0, 0
	return w
}

func putWorkspace(w *workspace) {
	if w.bytes() > maxIdleWorkspace {
		return // a very large conversation's: not kept idle
	}
	select {
	case workspaces <- w:
	default: // enough idle ones: let this one go
	}
}

// maxIdleWorkspace bounds what an idle workspace may hold, so that the free list
// never keeps more than GOMAXPROCS times this much memory: the workspace of a
// conversation of 19,000 opinions and 113,000 votes holds about 7 MB, that of
// one of 270,000 opinions and 700,000 votes about 90 MB, which its runs allocate
// afresh instead.
const maxIdleWorkspace = 32 << 20

// bytes returns the memory w holds.
func (w *workspace) bytes() int {
	n := 4*cap(w.col) + cap(w.vote) + 4*cap(w.dcol) + 8*cap(w.dRowPtr) + 8*cap(w.cVal) + 4*cap(w.cCol) + 8*cap(w.cRowPtr) + 4*cap(w.keep) + 8*cap(w.rowPtr) + 8*cap(w.counts) +
		8*cap(w.sum) + 4*cap(w.cnt) + 4*cap(w.colMap) + 4*cap(w.matCol) + 12*cap(w.tallies) + cap(w.touched) +
		int(unsafe.Sizeof(point{}))*cap(w.points) + 4*cap(w.assign) +
		4*cap(w.ident) + 4*cap(w.rowPtr32) + 8*cap(w.member) + cap(w.flags) + 16*cap(w.ids) + 8*cap(w.slab)
	return n
}

// buffer returns (*buf)[:n], reallocated when too short. The contents are whatever
// the previous run left: the caller overwrites or clears them.
func buffer[T any](buf *[]T, n int) []T {
	if cap(*buf) < n {
		*buf = make([]T, roomFor(n))
	}
	return (*buf)[:n]
}

// roomFor is the size to allocate for a buffer that must hold n now: an eighth
// more, since a live conversation's next run needs a little more (its votes,
// opinions and participants only grow). Allocated at the exact size, the
// buffers of the server's warm runs were all reallocated, and zeroed, at every
// run: about a tenth of a run at 19,000 opinions, in zeroing and collection.
func roomFor(n int) int { return n + n/8 + 64 }

// identity returns the identity map of 0..n-1 (a nil workspace allocates). The
// values a workspace holds stay valid, so a run only writes the new ones.
func (w *workspace) identity(n int) []int32 {
	if w == nil {
		return identity(n)
	}
	have := len(w.ident)
	if n > cap(w.ident) {
		w.ident = slices.Grow(w.ident, roomFor(n)-have)
	}
	if n > have {
		w.ident = w.ident[:n]
		for i := have; i < n; i++ {
			w.ident[i] = int32(i)
		}
	}
	return w.ident[:n:n]
}

// int32s returns n int32s for sharedCentered's row offsets (nil workspace: allocated).
func (w *workspace) int32s(n int) []int32 {
	if w == nil {
		return make([]int32, n)
	}
	return buffer(&w.rowPtr32, n)
}

// floats returns n float64s from the slab, not cleared (a nil workspace allocates).
func (w *workspace) floats(n int) []float64 {
	if w == nil {
		return make([]float64, n)
	}
	w.used += n
	if w.off+n > len(w.slab) {
		return make([]float64, n)
	}
	out := w.slab[w.off : w.off+n : w.off+n]
	w.off += n
	return out
}

// zeros returns n zeroed float64s from the slab.
func (w *workspace) zeros(n int) []float64 {
	out := w.floats(n)
	clear(out)
	return out
}
