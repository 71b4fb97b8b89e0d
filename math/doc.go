// Package polismath computes the Polis opinion map of a conversation: PCA of the
// participants x statements vote matrix, two-level k-means into opinion groups,
// representative statements per group, consensus statements, group-aware consensus
// and the comment priorities used to route statements to voters.
//
// Everything here is a pure function of its inputs: no I/O, no clock, and no goroutine
// outlives a call (a large conversation's PCA products are split over two goroutines).
// The conversation actor keeps a Matrix (or builds one per run from its integer-indexed
// rows with NewMatrixFromRows, which hashes no id per vote), hands an immutable snapshot
// to a math worker, and calls Run with the State returned by the previous Run so that the PCA,
// the clusterings and the in-conversation set evolve the way Polis' own math worker
// makes them evolve (warm starts), rather than being recomputed from scratch.
//
// Votes use agree = +1, disagree = -1, pass = 0. Polis stores agree as -1; every
// quantity that is linear in the votes therefore has the opposite sign in Polis'
// output (see ../shared/design/polis-math.md §1). The folder is named math/ but the
// package is polismath so that it never shadows the standard library's math.
package polismath
