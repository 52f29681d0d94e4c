package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	// Every value falls in a bucket whose upper bound is at or above it
	// and within 1/128 of it; indices never go backwards.
	prev := -1
	for _, v := range []uint64{0, 1, 2, 255, 256, 257, 511, 512, 513, 1000, 4095, 4096, 123456, 1 << 30, 1<<40 + 12345, 1<<63 - 1} {
		i := histIndex(v)
		if i < prev {
			t.Errorf("histIndex(%d) = %d, below the previous value's %d", v, i, prev)
		}
		prev = i
		up := histUpper(i)
		if up < v {
			t.Errorf("histUpper(histIndex(%d)) = %d, below the value", v, up)
		}
		if float64(up-v) > float64(v)/histSub+1 {
			t.Errorf("histUpper(histIndex(%d)) = %d: more than 1/%d above", v, up, histSub)
		}
		if i > 0 && histUpper(i-1) >= v {
			t.Errorf("value %d: previous bucket %d already reaches %d", v, i-1, histUpper(i-1))
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name   string
		values []time.Duration
		q      float64
		want   time.Duration // exact nearest-rank answer
	}{
		{"single", []time.Duration{5 * time.Millisecond}, 0.5, 5 * time.Millisecond},
		{"median of 1..100ms", rangeMs(1, 100), 0.50, 50 * time.Millisecond},
		{"p99 of 1..100ms", rangeMs(1, 100), 0.99, 99 * time.Millisecond},
		{"p100 is the max", rangeMs(1, 100), 1, 100 * time.Millisecond},
		{"p0 is the min", rangeMs(1, 100), 0, time.Millisecond},
		{"p99 of 1..1000ms", rangeMs(1, 1000), 0.99, 990 * time.Millisecond},
		{"sub-millisecond", []time.Duration{100 * time.Microsecond, 200 * time.Microsecond, 300 * time.Microsecond}, 0.5, 200 * time.Microsecond},
		{"negative counts as zero", []time.Duration{-time.Second, 0, 0}, 0.5, 0},
		{"outlier shows in max only", append(rangeMs(1, 999), 60*time.Second), 0.99, 990 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram
			for _, v := range tt.values {
				h.Record(v)
			}
			got := h.Quantile(tt.q)
			// Bucketed: never below the exact answer, at most 1/128 (+1µs) above it.
			limit := tt.want + tt.want/histSub + time.Microsecond
			if got < tt.want || got > limit {
				t.Errorf("Quantile(%v) = %v, want %v (up to %v)", tt.q, got, tt.want, limit)
			}
			if got := h.Count(); got != uint64(len(tt.values)) {
				t.Errorf("Count() = %d, want %d", got, len(tt.values))
			}
		})
	}
}

func TestHistogramMergeMatchesOne(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var all, a, b Histogram
	var values []time.Duration
	for i := range 10000 {
		v := time.Duration(r.ExpFloat64() * float64(3*time.Millisecond))
		values = append(values, v)
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	var merged Histogram
	merged.Merge(&a)
	merged.Merge(&b)
	merged.Merge(&Histogram{}) // empty: no effect
	slices.Sort(values)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		if got, want := merged.Quantile(q), all.Quantile(q); got != want {
			t.Errorf("merged Quantile(%v) = %v, want %v", q, got, want)
		}
		exact := values[int(q*float64(len(values)))-1]
		if got := merged.Quantile(q); got < exact || got > exact+exact/histSub+time.Microsecond {
			t.Errorf("Quantile(%v) = %v, exact %v", q, got, exact)
		}
	}
	if got, want := merged.Max(), values[len(values)-1]; got != want {
		t.Errorf("Max() = %v, want %v", got, want)
	}
	if got, want := merged.Mean(), all.Mean(); got != want {
		t.Errorf("Mean() = %v, want %v", got, want)
	}
}

func TestHistogramEmpty(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Max() != 0 || h.Mean() != 0 || h.Count() != 0 {
		t.Errorf("empty histogram: got q99 %v max %v mean %v count %d, want zeros", h.Quantile(0.99), h.Max(), h.Mean(), h.Count())
	}
}

func rangeMs(from, to int) []time.Duration {
	var out []time.Duration
	for i := from; i <= to; i++ {
		out = append(out, time.Duration(i)*time.Millisecond)
	}
	return out
}

func TestSeqTracker(t *testing.T) {
	type obs struct {
		sender int
		seq    int64
	}
	tests := []struct {
		name                     string
		senders                  int
		seen                     []obs
		wantDup, wantReord, wInv int64
		wantDistinct             []int64
	}{
		{"in order", 2, []obs{{0, 0}, {1, 0}, {0, 1}, {1, 1}, {0, 2}}, 0, 0, 0, []int64{3, 2}},
		{"gap is not a reorder", 1, []obs{{0, 0}, {0, 2}, {0, 5}}, 0, 0, 0, []int64{3}},
		{"duplicate", 1, []obs{{0, 0}, {0, 1}, {0, 1}, {0, 0}}, 2, 0, 0, []int64{2}},
		{"late arrival is a reorder", 1, []obs{{0, 0}, {0, 2}, {0, 1}, {0, 3}}, 0, 1, 0, []int64{4}},
		{"senders are independent", 2, []obs{{0, 5}, {1, 0}, {1, 1}}, 0, 0, 0, []int64{1, 2}},
		{"out of range", 2, []obs{{2, 0}, {-1, 0}, {0, -1}, {0, maxSeq}}, 0, 0, 4, []int64{0, 0}},
		{"beyond the first bitset word", 1, []obs{{0, 1000}, {0, 64}, {0, 1000}}, 1, 1, 0, []int64{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewSeqTracker(tt.senders)
			for _, o := range tt.seen {
				tr.Observe(o.sender, o.seq)
			}
			if tr.Duplicates != tt.wantDup || tr.Reorders != tt.wantReord || tr.Invalid != tt.wInv {
				t.Errorf("duplicates, reorders, invalid = %d, %d, %d; want %d, %d, %d",
					tr.Duplicates, tr.Reorders, tr.Invalid, tt.wantDup, tt.wantReord, tt.wInv)
			}
			for s, want := range tt.wantDistinct {
				if got := tr.Distinct(s); got != want {
					t.Errorf("Distinct(%d) = %d, want %d", s, got, want)
				}
			}
		})
	}
}

func TestSeqTrackerObserveReportsNew(t *testing.T) {
	tr := NewSeqTracker(1)
	if !tr.Observe(0, 7) {
		t.Error("first Observe(0, 7) = false, want true")
	}
	if tr.Observe(0, 7) {
		t.Error("second Observe(0, 7) = true, want false")
	}
}
