package gateway

import (
	"sync"

	"golang.org/x/time/rate"
)

// Throttle is a stage's or a route's throttling target: a token bucket of
// RateLimit requests a second and BurstLimit at once, as API Gateway
// applies it to each route ($connect handshakes and messages alike). A
// negative limit means none is set.
type Throttle struct {
	RateLimit  float64
	BurstLimit int
}

// throttles holds one bucket per route key, made on first use.
type throttles struct {
	stage  Throttle            // DefaultRouteSettings
	routes map[string]Throttle // RouteSettings, by route key
	mu     sync.Mutex
	bucket map[string]*rate.Limiter
}

func newThrottles(stage *Throttle, routes map[string]Throttle) *throttles {
	t := &throttles{stage: Throttle{RateLimit: -1, BurstLimit: -1}, routes: routes, bucket: map[string]*rate.Limiter{}}
	if stage != nil {
		t.stage = *stage
	}
	return t
}

// allow takes a token from the route's bucket, and reports whether there
// was one. A route with no limit set is never throttled here (the account's
// limits are not emulated).
func (t *throttles) allow(routeKey string) bool {
	t.mu.Lock()
	b, ok := t.bucket[routeKey]
	if !ok {
		limit := t.stage
		if r, ok := t.routes[routeKey]; ok {
			if r.RateLimit >= 0 {
				limit.RateLimit = r.RateLimit
			}
			if r.BurstLimit >= 0 {
				limit.BurstLimit = r.BurstLimit
			}
		}
		if limit.RateLimit >= 0 || limit.BurstLimit >= 0 {
			// Only one of the two set: the other is unbounded.
			r, burst := rate.Limit(limit.RateLimit), limit.BurstLimit
			if limit.RateLimit < 0 {
				r = rate.Inf
			}
			if burst < 0 {
				burst = int(^uint(0) >> 1)
			}
			b = rate.NewLimiter(r, burst)
		}
		t.bucket[routeKey] = b
	}
	t.mu.Unlock()
	return b == nil || b.Allow()
}
