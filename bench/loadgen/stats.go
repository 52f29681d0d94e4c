package main

import (
	"math/bits"
	"time"
)

// Histogram counts durations in log-linear buckets of microseconds: exact
// below 256µs, then 128 buckets per power of two, so a reported percentile
// is at most 1/128 (0.8%) above the true value. The zero value is ready to
// use; it is not safe for concurrent use (each client owns one, merged at
// the end).
type Histogram struct {
	counts []uint64
	n      uint64
	sum    time.Duration
	min    time.Duration
	max    time.Duration
}

const (
	histSubBits = 7 // 128 buckets per power of two
	histSub     = 1 << histSubBits
	histExact   = 2 * histSub // values below this many µs have their own bucket
)

// histIndex returns the bucket of v microseconds.
func histIndex(v uint64) int {
	if v < histExact {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits - 1 // >= 1
	top := v >> shift                        // in [histSub, 2*histSub)
	return histExact + (shift-1)*histSub + int(top-histSub)
}

// histUpper returns the largest value (µs) that falls in bucket i.
func histUpper(i int) uint64 {
	if i < histExact {
		return uint64(i)
	}
	shift := (i-histExact)/histSub + 1
	top := uint64((i-histExact)%histSub + histSub)
	return (top+1)<<shift - 1
}

// Record adds one observation. Negative durations (clock steps) count as 0.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	i := histIndex(uint64(d / time.Microsecond))
	if i >= len(h.counts) {
		grown := make([]uint64, i+1+histSub)
		copy(grown, h.counts)
		h.counts = grown
	}
	h.counts[i]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += d
}

// Merge adds o's observations to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		grown := make([]uint64, len(o.counts))
		copy(grown, h.counts)
		h.counts = grown
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

// Count is the number of observations.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest observation (exact).
func (h *Histogram) Max() time.Duration { return h.max }

// Mean is the exact mean, 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the smallest bucket bound at or below which a fraction q
// (0 < q <= 1) of the observations lie: the nearest-rank percentile, rounded
// up to its bucket's upper bound and never above the exact maximum nor below
// the exact minimum. It is 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	switch {
	case q <= 0:
		return h.min
	case q >= 1:
		return h.max
	}
	rank := uint64(q*float64(h.n) + 0.999999999) // ceil without float surprises at exact ranks
	if rank < 1 {
		rank = 1
	}
	if rank > h.n {
		rank = h.n
	}
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			d := time.Duration(histUpper(i)) * time.Microsecond
			d += time.Microsecond - 1 // the bucket holds whole µs; include the sub-µs remainder
			return min(max(d, h.min), h.max)
		}
	}
	return h.max
}

// maxSeq bounds the sequence numbers a tracker accepts, so a corrupt frame
// cannot make it allocate without limit.
const maxSeq = 1 << 26

// senderSeq is what one receiver has seen from one sender.
type senderSeq struct {
	seen     []uint64 // bitset of sequence numbers received
	highest  int64    // highest sequence number received, -1 before any
	distinct int64
}

// SeqTracker checks, for one receiver, that each sender's messages arrive
// exactly once and in the order they were sent. Sequence numbers start at 0.
// Not safe for concurrent use.
type SeqTracker struct {
	senders    []senderSeq
	Duplicates int64 // a sequence number received again
	Reorders   int64 // a sequence number received after a higher one
	Invalid    int64 // sender or sequence number out of range
}

// NewSeqTracker tracks messages from senders 0..senders-1.
func NewSeqTracker(senders int) *SeqTracker {
	t := &SeqTracker{senders: make([]senderSeq, senders)}
	for i := range t.senders {
		t.senders[i].highest = -1
	}
	return t
}

// Observe records message seq of sender and reports whether it was new.
func (t *SeqTracker) Observe(sender int, seq int64) bool {
	if sender < 0 || sender >= len(t.senders) || seq < 0 || seq >= maxSeq {
		t.Invalid++
		return false
	}
	s := &t.senders[sender]
	word, bit := int(seq/64), uint64(1)<<(seq%64)
	if word >= len(s.seen) {
		grown := make([]uint64, max(word+1, 2*len(s.seen)))
		copy(grown, s.seen)
		s.seen = grown
	}
	if s.seen[word]&bit != 0 {
		t.Duplicates++
		return false
	}
	s.seen[word] |= bit
	s.distinct++
	if seq < s.highest {
		t.Reorders++
	} else {
		s.highest = seq
	}
	return true
}

// Distinct is how many different messages of sender were received.
func (t *SeqTracker) Distinct(sender int) int64 {
	if sender < 0 || sender >= len(t.senders) {
		return 0
	}
	return t.senders[sender].distinct
}
