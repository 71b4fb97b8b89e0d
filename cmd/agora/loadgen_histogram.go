package main

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// The latency latencyHistogram of `agora loadgen` is log-linear, like HDR
// histograms: values below 256 µs have a bucket each; above, every power of
// two is cut into 128 equal buckets, so a value read back is within 1/256 of
// the true one (about 0.4%). Recording is a few atomic adds, so every
// virtual user records into the same latencyHistogram without a lock.
const (
	histSubBuckets = 128                // buckets per power of two above histExact
	histExact      = 2 * histSubBuckets // values below this have a bucket each
	histMaxShift   = 32                 // 256 << 32 µs is about 13 days
	histBuckets    = histExact + histMaxShift*histSubBuckets
)

// latencyHistogram counts latencies in microseconds. The zero value is empty and
// ready; it is safe for concurrent use.
type latencyHistogram struct {
	counts [histBuckets]atomic.Int64
	total  atomic.Int64
	max    atomic.Int64 // exact, in µs
}

// histIndex returns the bucket of a value in µs.
func histIndex(us int64) int {
	if us < histExact {
		return int(max(us, 0))
	}
	shift := bits.Len64(uint64(us)) - 8 // us >> shift is in [128, 256)
	if shift > histMaxShift {
		return histBuckets - 1
	}
	return histExact + (shift-1)*histSubBuckets + int(us>>shift) - histSubBuckets
}

// histValue returns the value a bucket stands for: its midpoint.
func histValue(i int) int64 {
	if i < histExact {
		return int64(i)
	}
	shift := (i-histExact)/histSubBuckets + 1
	low := int64(histSubBuckets+(i-histExact)%histSubBuckets) << shift
	return low + (int64(1)<<shift)/2
}

// record adds one latency.
func (h *latencyHistogram) record(d time.Duration) {
	us := d.Microseconds()
	h.counts[histIndex(us)].Add(1)
	h.total.Add(1)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			return
		}
	}
}

// count returns the number of values recorded.
func (h *latencyHistogram) count() int64 { return h.total.Load() }

// quantile returns the latency below or at which a fraction q of the
// values lie (0 when empty). It never exceeds the exact maximum.
func (h *latencyHistogram) quantile(q float64) time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	rank := int64(q*float64(n) + 0.5)
	rank = min(max(rank, 1), n)
	var seen int64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return time.Duration(min(histValue(i), h.max.Load())) * time.Microsecond
		}
	}
	return h.maxLatency()
}

// maxLatency returns the largest value recorded.
func (h *latencyHistogram) maxLatency() time.Duration {
	return time.Duration(h.max.Load()) * time.Microsecond
}
