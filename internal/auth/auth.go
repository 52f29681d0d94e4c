// Package auth checks the JSON Web Tokens that sign users in to the chat,
// and answers API Gateway's REQUEST authorizer for $connect with them.
//
// Tokens are verified by golang-jwt against the issuer's JSON Web Key Set,
// which keyfunc fetches, caches across invocations and fetches again when a
// token names a key it does not know (the issuer rotated its keys).
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/serverless-chat/chat/internal/chat"
)

// Algorithms are the signatures accepted: those of Cognito (RS256) and of
// most OIDC issuers. Naming them refuses "none", and HS256 signed with the
// public key as its secret (the key-confusion attack).
var Algorithms = []string{"RS256", "ES256"}

// Leeway is the clock skew allowed on exp and nbf.
const Leeway = 30 * time.Second

var (
	// ErrNoToken means there was no token to check.
	ErrNoToken = errors.New("no token")
	// ErrInvalidToken means the token is not one of the issuer's, for the
	// audience, valid now.
	ErrInvalidToken = errors.New("invalid token")
)

// Config says whose tokens are accepted.
type Config struct {
	// Issuer is the iss claim tokens must carry, exactly.
	Issuer string
	// Audience is the client ID tokens must be for: in their aud claim (ID
	// tokens), or in client_id with token_use "access" (Cognito's access
	// tokens, which have no aud).
	Audience string
	// JWKSURL is the issuer's key set (Issuer + "/.well-known/jwks.json" if
	// empty).
	JWKSURL string
	// Client fetches the key set (http.DefaultClient if nil).
	Client *http.Client
	// RefreshEvery is the shortest time between two fetches of the key
	// set for tokens naming a key ID it lacks (DefaultRefreshEvery if 0):
	// tokens naming random keys cannot hammer the issuer, and a new key is
	// usable within RefreshEvery of its rotation (keys.go).
	RefreshEvery time.Duration
	Logger       *slog.Logger
}

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	keys     keyfunc.Keyfunc
	parser   *jwt.Parser
	audience string
}

// NewVerifier returns a Verifier for cfg. It fetches the key set once; a
// failure is logged, not returned (the issuer may be back by the first
// token), and the keys are fetched again on the first token.
func NewVerifier(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("auth: an issuer and an audience are required")
	}
	if cfg.JWKSURL == "" {
		cfg.JWKSURL = strings.TrimRight(cfg.Issuer, "/") + "/.well-known/jwks.json"
	}
	if cfg.RefreshEvery <= 0 {
		cfg.RefreshEvery = DefaultRefreshEvery
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	set := newKeySet(ctx, cfg.JWKSURL, cfg.Client, cfg.RefreshEvery, log)
	// The first fetch: a failure is logged, and the first token retries.
	if err := set.refreshAfter(ctx, time.Now()); err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("auth: key set %s: %w", cfg.JWKSURL, err)
	}
	go set.refreshPeriodically(ctx)
	keys, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: set})
	if err != nil {
		return nil, fmt.Errorf("auth: key set %s: %w", cfg.JWKSURL, err)
	}
	return &Verifier{
		keys: keys,
		parser: jwt.NewParser(
			jwt.WithValidMethods(Algorithms),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(Leeway),
		),
		audience: cfg.Audience,
	}, nil
}

// claims are the claims read from a token.
type claims struct {
	jwt.RegisteredClaims
	Name              string `json:"name"`
	PreferredUsername string `json:"preferred_username"`
	CognitoUsername   string `json:"cognito:username"`
	Email             string `json:"email"`
	ClientID          string `json:"client_id"`
	TokenUse          string `json:"token_use"`
}

// Verify checks token and returns its user: the sub claim, and the first of
// name, preferred_username, cognito:username and email as the name. An
// error wraps ErrNoToken or ErrInvalidToken.
func (v *Verifier) Verify(ctx context.Context, token string) (chat.User, error) {
	if token == "" {
		return chat.User{}, ErrNoToken
	}
	var c claims
	if _, err := v.parser.ParseWithClaims(token, &c, v.keys.KeyfuncCtx(ctx)); err != nil {
		return chat.User{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	switch {
	case slices.Contains(c.Audience, v.audience):
	case len(c.Audience) == 0 && c.TokenUse == "access" && c.ClientID == v.audience:
	default:
		return chat.User{}, fmt.Errorf("%w: not for audience %s", ErrInvalidToken, v.audience)
	}
	if c.Subject == "" {
		return chat.User{}, fmt.Errorf("%w: no sub claim", ErrInvalidToken)
	}
	name := c.Name
	for _, alt := range []string{c.PreferredUsername, c.CognitoUsername, c.Email} {
		if name == "" {
			name = alt
		}
	}
	return chat.User{ID: c.Subject, Issuer: c.Issuer, Name: name}, nil
}
