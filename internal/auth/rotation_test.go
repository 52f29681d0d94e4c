package auth_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/serverless-chat/chat/internal/auth"
	"github.com/serverless-chat/chat/internal/devissuer"
)

// A token naming an unknown key just before the issuer rotates its keys
// used up the refresh budget: tokens of the new key were refused for ~55 s.
// With the default configuration, the new key is usable within seconds of
// its rotation whatever unknown kids came before, and unknown kids cost
// the issuer at most one fetch per interval, a repeated one none.
func TestNewKeyUsableSoonAfterUnknownKIDs(t *testing.T) {
	iss := newIssuer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v, err := auth.NewVerifier(ctx, auth.Config{Issuer: iss.URL(), Audience: audience, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	// Tokens of keys the issuer never published, as an attacker sends.
	forger, err := devissuer.New(iss.URL(), audience, devissuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bogus, _ := forger.Sign(claims(iss.URL(), nil))
	before := iss.jwksFetches.Load()
	for range 20 {
		if _, err := v.Verify(ctx, bogus); err == nil {
			t.Fatal("a token of an unpublished key was accepted")
		}
	}
	if got := iss.jwksFetches.Load() - before; got > 1 {
		t.Errorf("one unknown kid 20 times fetched the key set %d times, want at most 1", got)
	}
	// Many different unknown kids, for a second: fetches stay bounded.
	before = iss.jwksFetches.Load()
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
		if _, err := forger.AddKey("ES256"); err != nil {
			t.Fatal(err)
		}
		tok, _ := forger.Sign(claims(iss.URL(), nil))
		if _, err := v.Verify(ctx, tok); err == nil {
			t.Fatal("a token of an unpublished key was accepted")
		}
	}
	if got := iss.jwksFetches.Load() - before; got > 2 {
		t.Errorf("random unknown kids for 1 s fetched the key set %d times, want at most 2", got)
	}

	// The issuer rotates; its new key's tokens are accepted within seconds.
	if _, err := iss.AddKey("RS256"); err != nil {
		t.Fatal(err)
	}
	rotated, _ := iss.Sign(claims(iss.URL(), nil))
	start := time.Now()
	for {
		_, err := v.Verify(ctx, rotated)
		if err == nil {
			break
		}
		if time.Since(start) > 15*time.Second {
			t.Fatalf("the new key's token still refused %v after the rotation: %v", time.Since(start), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the new key was usable %v after its rotation", time.Since(start).Round(time.Millisecond))
}
