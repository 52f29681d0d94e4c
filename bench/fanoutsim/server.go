package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// apiGateway is the @connections API under load, as the simulation sees it:
// every post waits a latency drawn from a log-normal distribution, the
// account's throttle is a token bucket shared by every post (429
// LimitExceededException when empty), and stale connections answer 410.
type apiGateway struct {
	median time.Duration
	sigma  float64

	mu        sync.Mutex
	rate      float64 // tokens a second
	burst     float64
	tokens    float64
	refilled  time.Time
	first     map[string]time.Time // connection -> first delivery
	delivered int
	dupes     int
	throttled int
	gone      int
}

func newAPIGateway(rate, burst float64, median time.Duration, sigma float64) *apiGateway {
	return &apiGateway{rate: rate, burst: burst, tokens: burst, refilled: time.Now(),
		median: median, sigma: sigma, first: map[string]time.Time{}}
}

// take reports whether the bucket had a token for a request now.
func (g *apiGateway) take(now time.Time) bool {
	g.tokens = math.Min(g.burst, g.tokens+now.Sub(g.refilled).Seconds()*g.rate)
	g.refilled = now
	if g.tokens < 1 {
		return false
	}
	g.tokens--
	return true
}

func (g *apiGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/stats":
		g.stats(w, r)
		return
	case r.Method == http.MethodPost && r.URL.Path == "/reset":
		g.mu.Lock()
		g.first, g.delivered, g.dupes, g.throttled, g.gone = map[string]time.Time{}, 0, 0, 0, 0
		g.tokens, g.refilled = g.burst, time.Now()
		g.mu.Unlock()
		return
	}
	_, id, ok := strings.Cut(r.URL.Path, "/@connections/")
	if !ok || r.Method != http.MethodPost {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	g.mu.Lock()
	allowed := g.take(time.Now())
	if !allowed {
		g.throttled++
	}
	g.mu.Unlock()
	if !allowed {
		w.Header().Set("X-Amzn-ErrorType", "LimitExceededException")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"message":"Rate exceeded"}`))
		return
	}
	time.Sleep(time.Duration(float64(g.median) * math.Exp(g.sigma*rand.NormFloat64())))
	if strings.Contains(id, "stale-") {
		g.mu.Lock()
		g.gone++
		g.mu.Unlock()
		w.Header().Set("X-Amzn-ErrorType", "GoneException")
		w.WriteHeader(http.StatusGone)
		_, _ = w.Write([]byte(`{"message":"Gone"}`))
		return
	}
	now := time.Now()
	g.mu.Lock()
	g.delivered++
	if _, seen := g.first[id]; seen {
		g.dupes++
	} else {
		g.first[id] = now
	}
	g.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// stats is what the simulation reads: deliveries and their times after
// the send at ?since=<unix nanoseconds>.
type stats struct {
	Unique    int     `json:"unique"`
	Delivered int     `json:"delivered"`
	Dupes     int     `json:"dupes"`
	Throttled int     `json:"throttled"`
	Gone      int     `json:"gone"`
	LastMs    float64 `json:"lastMs"`
	P50Ms     float64 `json:"p50Ms"`
	P99Ms     float64 `json:"p99Ms"`
}

func (g *apiGateway) stats(w http.ResponseWriter, r *http.Request) {
	var since int64
	_, _ = fmt.Sscan(r.URL.Query().Get("since"), &since)
	t0 := time.Unix(0, since)
	prefix := r.URL.Query().Get("prefix") // this run's members
	g.mu.Lock()
	s := stats{Delivered: g.delivered, Dupes: g.dupes, Throttled: g.throttled, Gone: g.gone}
	lat := make([]float64, 0, len(g.first))
	for id, at := range g.first {
		if strings.HasPrefix(id, prefix) {
			lat = append(lat, float64(at.Sub(t0))/float64(time.Millisecond))
		}
	}
	s.Unique = len(lat)
	g.mu.Unlock()
	if len(lat) > 0 {
		slices.Sort(lat)
		s.LastMs = lat[len(lat)-1]
		s.P50Ms = lat[len(lat)/2]
		s.P99Ms = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	_ = json.NewEncoder(w).Encode(s)
}
