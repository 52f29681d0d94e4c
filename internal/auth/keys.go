package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
)

// How the issuer's key set is fetched again when a token names a key the
// verifier does not know. A rate limiter with a budget (one refresh a
// minute) let one token with a made-up kid, sent just before a rotation,
// spend the budget: tokens of the new key were then refused for ~55 s.
// Here nothing is spent: a token with an unknown kid waits for the next
// refresh, which starts at once if none started in the last interval
// (RefreshEvery, a few seconds), else when the interval is over; every token
// waiting then shares it. A new key is thus usable within an interval of
// its rotation whatever came before, and unknown kids cost the issuer at
// most one fetch per interval. A kid still unknown after a refresh is
// refused without waiting, and without a fetch, for unknownKIDTTL.

const (
	// DefaultRefreshEvery is the shortest time between two fetches of the
	// key set for unknown kids.
	DefaultRefreshEvery = 3 * time.Second
	// unknownKIDTTL is how long a kid that a refresh did not find is
	// refused at once.
	unknownKIDTTL = time.Minute
	// maxUnknownKIDs bounds the kids remembered as unknown.
	maxUnknownKIDs = 10_000
	// periodicRefresh fetches the set now and then even without unknown
	// kids, so that a revoked key stops being accepted (keyfunc's default).
	periodicRefresh = time.Hour
)

// keySet is a jwkset.Storage (for keyfunc) of the issuer's keys, refreshed
// as described above. Only KeyRead differs from the memory storage it
// embeds.
type keySet struct {
	jwkset.Storage // the keys, replaced whole by each successful fetch
	url            string
	opts           jwkset.HTTPClientStorageOptions
	every          time.Duration
	log            *slog.Logger

	mu        sync.Mutex
	lastStart time.Time     // when the last refresh started
	running   chan struct{} // closed when the refresh in flight ends; nil if none
	unknown   map[string]time.Time
}

func newKeySet(ctx context.Context, url string, client *http.Client, every time.Duration, log *slog.Logger) *keySet {
	k := &keySet{Storage: jwkset.NewMemoryStorage(), url: url, every: every, log: log, unknown: map[string]time.Time{}}
	k.opts = jwkset.HTTPClientStorageOptions{Client: client, Ctx: ctx, HTTPTimeout: 5 * time.Second, Storage: k.Storage}
	return k
}

// fetch fetches the key set into the storage (jwkset's own fetch, into our
// storage: the keys are replaced only if it succeeds).
func (k *keySet) fetch() error {
	_, err := jwkset.NewStorageFromHTTP(k.url, k.opts)
	return err
}

// refreshAfter waits for a refresh that starts at or after since, starting
// one when the interval allows, until ctx ends.
func (k *keySet) refreshAfter(ctx context.Context, since time.Time) error {
	for {
		k.mu.Lock()
		if running := k.running; running != nil {
			started := k.lastStart
			k.mu.Unlock()
			select {
			case <-running:
			case <-ctx.Done():
				return ctx.Err()
			}
			if !started.Before(since) {
				return nil // a refresh that started after we asked: ours
			}
			continue
		}
		if !k.lastStart.Before(since) {
			k.mu.Unlock()
			return nil // one started (and ended) after we asked
		}
		if wait := time.Until(k.lastStart.Add(k.every)); wait > 0 {
			k.mu.Unlock()
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
			continue
		}
		done := make(chan struct{})
		k.running, k.lastStart = done, time.Now()
		k.mu.Unlock()
		err := k.fetch()
		k.mu.Lock()
		k.running = nil
		if err == nil {
			clear(k.unknown) // the set changed: every kid may be looked for again
		}
		k.mu.Unlock()
		close(done)
		if err != nil {
			k.log.WarnContext(ctx, "cannot fetch the issuer's keys", slog.String("url", k.url), slog.Any("error", err))
		}
		return err
	}
}

// KeyRead returns the key kid, refreshing the set for a kid it lacks.
func (k *keySet) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	asked := time.Now()
	jwk, err := k.Storage.KeyRead(ctx, kid)
	if !errors.Is(err, jwkset.ErrKeyNotFound) {
		return jwk, err
	}
	k.mu.Lock()
	until, known := k.unknown[kid]
	k.mu.Unlock()
	if known && asked.Before(until) {
		return jwkset.JWK{}, fmt.Errorf("%w %q (not in the issuer's key set)", jwkset.ErrKeyNotFound, kid)
	}
	// Wait for the next refresh: at most an interval and a fetch, well
	// within API Gateway's 29 s.
	wctx, cancel := context.WithTimeout(ctx, k.every+k.opts.HTTPTimeout)
	defer cancel()
	if err := k.refreshAfter(wctx, asked); err != nil {
		return jwkset.JWK{}, fmt.Errorf("%w %q: refreshing the key set: %w", jwkset.ErrKeyNotFound, kid, err)
	}
	jwk, err = k.Storage.KeyRead(ctx, kid)
	if errors.Is(err, jwkset.ErrKeyNotFound) {
		k.mu.Lock()
		if len(k.unknown) >= maxUnknownKIDs {
			clear(k.unknown)
		}
		k.unknown[kid] = time.Now().Add(unknownKIDTTL)
		k.mu.Unlock()
	}
	return jwk, err
}

// refreshPeriodically fetches the set every periodicRefresh until ctx ends.
func (k *keySet) refreshPeriodically(ctx context.Context) {
	t := time.NewTicker(periodicRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = k.refreshAfter(ctx, time.Now())
		}
	}
}
