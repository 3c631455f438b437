package bench

import (
	"math/bits"
	"time"
)

// histogram records durations in log-linear buckets: exact below 32 ns,
// then 32 buckets per power of two, so a quantile is within about 3% of the
// true value. Its size is fixed (16 KiB) whatever the number of samples.
// It is not safe for concurrent use: each worker has its own, merged at the
// end.
type histogram struct {
	counts   [64 << subBits]uint64
	n        uint64
	sum      time.Duration
	min, max time.Duration
}

const subBits = 5

func bucketOf(v time.Duration) int {
	if v < 1<<subBits {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	n := bits.Len64(uint64(v))
	shift := n - 1 - subBits
	mant := int(uint64(v) >> shift) // in [32, 64)
	return (shift+1)<<subBits + mant - 1<<subBits
}

// bucketRange returns the smallest value of bucket i and its width.
func bucketRange(i int) (low, width time.Duration) {
	if i < 1<<subBits {
		return time.Duration(i), 1
	}
	shift := i>>subBits - 1
	mant := i&(1<<subBits-1) + 1<<subBits
	return time.Duration(mant) << shift, time.Duration(1) << shift
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(d)]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += d
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// quantile returns the q-quantile (0 < q <= 1): the middle of the bucket
// holding the sample of rank ceil(q·n), clamped to [min, max]. Zero without
// samples.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.999999)
	rank = max(1, min(rank, h.n))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			low, w := bucketRange(i)
			return min(max(low+w/2, h.min), h.max)
		}
	}
	return h.max
}

func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}
