package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestComponentQuantiles checks that a component's draws have the p50 and
// p99 it was given: the model's only arithmetic between the sources and
// the table.
func TestComponentQuantiles(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range []component{{name: "dynamo", p50: 4, p99: 12}, {name: "sqs", p50: 16, p99: 105}} {
		t.Run(c.name, func(t *testing.T) {
			xs := make([]float64, 200000)
			for i := range xs {
				xs[i] = c.draw(r)
			}
			slices.Sort(xs)
			for _, q := range []struct{ p, want float64 }{{0.50, c.p50}, {0.99, c.p99}} {
				got := xs[int(q.p*float64(len(xs)-1))]
				if math.Abs(got-q.want)/q.want > 0.03 {
					t.Errorf("p%.0f = %.2f, want %.2f ± 3 %%", q.p*100, got, q.want)
				}
			}
		})
	}
}

// TestInlineRate checks the broadcast's pace: the slower of the CPU's and
// the workers' rates.
func TestInlineRate(t *testing.T) {
	m := defaults()
	for _, c := range []struct {
		name string
		vcpu float64
		want float64 // ms for the 100th post
	}{
		{"CPU-bound at 512 MB", 512.0 / 1769, 100 * m.cpuPerPost / (512.0 / 1769)},
		{"latency-bound at 8 vCPU", 8, 100 * m.post.p50 / float64(m.workers)},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := m.inline(100, c.vcpu); math.Abs(got-c.want) > 1e-9 {
				t.Errorf("inline(100) = %v, want %v", got, c.want)
			}
		})
	}
}
