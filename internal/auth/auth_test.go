package auth_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"

	"github.com/serverless-chat/chat/internal/auth"
	"github.com/serverless-chat/chat/internal/devissuer"
)

const audience = "chat-test"

// issuerServer serves a devissuer's endpoints and counts the key set's
// fetches.
type issuerServer struct {
	*devissuer.Issuer
	jwksFetches atomic.Int64
}

func newIssuer(t *testing.T) *issuerServer {
	t.Helper()
	s := &issuerServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/jwks.json") {
			s.jwksFetches.Add(1)
		}
		s.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	iss, err := devissuer.New(srv.URL, audience, devissuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Issuer = iss
	return s
}

func newVerifier(t *testing.T, iss *issuerServer) *auth.Verifier {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := auth.NewVerifier(ctx, auth.Config{Issuer: iss.URL(), Audience: audience,
		RefreshEvery: time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// claims returns valid ID token claims, changed by edit.
func claims(iss string, edit func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"iss": iss, "sub": "user-1", "aud": audience, "iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(), "name": "Alice", "token_use": "id"}
	if edit != nil {
		edit(c)
	}
	return c
}

func TestVerify(t *testing.T) {
	iss := newIssuer(t)
	v := newVerifier(t, iss)
	sign := func(c jwt.MapClaims) string {
		s, err := iss.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hs256 := func() string {
		// Key confusion: HS256 "signed" with the issuer's public key (PEM)
		// as the HMAC secret, which a verifier taking the algorithm from
		// the token would check with that same public key.
		der, err := x509.MarshalPKIXPublicKey(iss.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(iss.URL(), nil))
		tok.Header["kid"] = kidOf(t, sign(claims(iss.URL(), nil)))
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	none := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, claims(iss.URL(), nil))
		s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tampered := func() string {
		parts := strings.Split(sign(claims(iss.URL(), nil)), ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		payload = []byte(strings.Replace(string(payload), `"Alice"`, `"Admin"`, 1))
		parts[1] = base64.RawURLEncoding.EncodeToString(payload)
		return strings.Join(parts, ".")
	}
	tests := []struct {
		name     string
		token    string
		wantErr  error
		wantName string
	}{
		{"valid", sign(claims(iss.URL(), nil)), nil, "Alice"},
		{"name from preferred_username", sign(claims(iss.URL(), func(c jwt.MapClaims) {
			delete(c, "name")
			c["preferred_username"] = "al"
		})), nil, "al"},
		{"name from cognito:username", sign(claims(iss.URL(), func(c jwt.MapClaims) {
			delete(c, "name")
			c["cognito:username"] = "alice01"
			c["email"] = "a@example.com"
		})), nil, "alice01"},
		{"name from email", sign(claims(iss.URL(), func(c jwt.MapClaims) { delete(c, "name"); c["email"] = "a@example.com" })), nil, "a@example.com"},
		{"Cognito access token (client_id, no aud)", sign(claims(iss.URL(), func(c jwt.MapClaims) {
			delete(c, "aud")
			c["client_id"] = audience
			c["token_use"] = "access"
		})), nil, "Alice"},
		{"access token of another client", sign(claims(iss.URL(), func(c jwt.MapClaims) {
			delete(c, "aud")
			c["client_id"] = "other"
			c["token_use"] = "access"
		})), auth.ErrInvalidToken, ""},
		{"client_id on an ID token does not stand for aud", sign(claims(iss.URL(), func(c jwt.MapClaims) {
			delete(c, "aud")
			c["client_id"] = audience
		})), auth.ErrInvalidToken, ""},
		{"expired", sign(claims(iss.URL(), func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })), auth.ErrInvalidToken, ""},
		{"no exp", sign(claims(iss.URL(), func(c jwt.MapClaims) { delete(c, "exp") })), auth.ErrInvalidToken, ""},
		{"not yet valid", sign(claims(iss.URL(), func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() })), auth.ErrInvalidToken, ""},
		{"wrong issuer", sign(claims("https://evil.example", nil)), auth.ErrInvalidToken, ""},
		{"wrong audience", sign(claims(iss.URL(), func(c jwt.MapClaims) { c["aud"] = "someone-else" })), auth.ErrInvalidToken, ""},
		{"no sub", sign(claims(iss.URL(), func(c jwt.MapClaims) { delete(c, "sub") })), auth.ErrInvalidToken, ""},
		{"alg none", none(), auth.ErrInvalidToken, ""},
		{"HS256 with the public key as secret", hs256(), auth.ErrInvalidToken, ""},
		{"tampered payload", tampered(), auth.ErrInvalidToken, ""},
		{"garbage", "not.a.token", auth.ErrInvalidToken, ""},
		{"no token", "", auth.ErrNoToken, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := v.Verify(context.Background(), tt.token)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Verify: err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (u.Name != tt.wantName || u.ID != "user-1") {
				t.Errorf("user = %+v, want %q (user-1)", u, tt.wantName)
			}
		})
	}
}

func kidOf(t *testing.T, token string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Header["kid"].(string)
}

// TestKeyRotation: a token signed by a key the verifier has not seen makes
// it fetch the key set again, once; keys of both algorithms work.
func TestKeyRotation(t *testing.T) {
	iss := newIssuer(t)
	v := newVerifier(t, iss)
	ctx := context.Background()
	first, _ := iss.Sign(claims(iss.URL(), nil))
	if _, err := v.Verify(ctx, first); err != nil {
		t.Fatal(err)
	}
	before := iss.jwksFetches.Load()
	if _, err := iss.AddKey("ES256"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // past the refresh limiter (RefreshEvery 1 ms)
	rotated, _ := iss.Sign(claims(iss.URL(), nil))
	if _, err := v.Verify(ctx, rotated); err != nil {
		t.Fatalf("token of the new ES256 key: %v", err)
	}
	if got := iss.jwksFetches.Load() - before; got != 1 {
		t.Errorf("key set fetched %d times for the new key, want 1", got)
	}
	// Cached now: no fetch for either key.
	before = iss.jwksFetches.Load()
	for _, tok := range []string{first, rotated} {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Error(err)
		}
	}
	if got := iss.jwksFetches.Load() - before; got != 0 {
		t.Errorf("key set fetched %d times for known keys, want 0", got)
	}
}

func TestAuthorizer(t *testing.T) {
	iss := newIssuer(t)
	a := &auth.Authorizer{Verifier: newVerifier(t, iss), Logger: slog.New(slog.DiscardHandler)}
	const arn = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/$connect"
	req := func(token string) events.APIGatewayCustomAuthorizerRequestTypeRequest {
		r := events.APIGatewayCustomAuthorizerRequestTypeRequest{Type: "REQUEST", MethodArn: arn}
		if token != "" {
			r.QueryStringParameters = map[string]string{"token": token, "room": "general"}
		}
		return r
	}
	good, _ := iss.Sign(claims(iss.URL(), nil))
	resp, err := a.Authorize(context.Background(), req(good))
	if err != nil {
		t.Fatal(err)
	}
	st := resp.PolicyDocument.Statement
	if resp.PrincipalID != "user-1" || len(st) != 1 || st[0].Effect != "Allow" || st[0].Resource[0] != arn ||
		st[0].Action[0] != "execute-api:Invoke" || resp.Context["sub"] != "user-1" || resp.Context["name"] != "Alice" {
		t.Errorf("valid token: %+v, want Allow on %s with sub and name", resp, arn)
	}
	expired, _ := iss.Sign(claims(iss.URL(), func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() }))
	resp, err = a.Authorize(context.Background(), req(expired))
	if err != nil || resp.PolicyDocument.Statement[0].Effect != "Deny" || resp.Context != nil {
		t.Errorf("expired token: %+v, %v; want a Deny (403) without context", resp, err)
	}
	if _, err := a.Authorize(context.Background(), req("")); err == nil || err.Error() != "Unauthorized" {
		t.Errorf("no token: err = %v, want exactly \"Unauthorized\" (API Gateway's 401)", err)
	}
}
