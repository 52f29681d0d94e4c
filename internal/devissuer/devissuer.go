// Package devissuer is an OpenID Connect issuer for development: it signs
// in anyone under any name they type, so the chat's whole sign-in flow
// (the page's authorization code flow with PKCE, the $connect authorizer,
// the name from the token) runs on a laptop without Cognito. It must never
// face a network: the local adapter serves it on loopback only.
//
// It serves, under its issuer URL:
//
//	/.well-known/openid-configuration   discovery
//	/.well-known/jwks.json              its public keys
//	/authorize                          a form asking for a name (GET), then a redirect with a code (POST)
//	/token                              codes (with their PKCE verifier) and refresh tokens for tokens
package devissuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// DefaultTokenTTL is how long its tokens are valid.
const DefaultTokenTTL = 15 * time.Minute

// Issuer signs tokens and serves the endpoints above.
type Issuer struct {
	url      string
	clientID string
	ttl      time.Duration
	now      func() time.Time

	origins []string // the adapter's: redirect URIs and CORS (csrf.go)
	csrfKey []byte

	mu        sync.Mutex
	keys      []signingKey // the last one signs; all are published
	codes     map[string]grant
	refresh   map[string]grant
	nextPrune time.Time
}

type signingKey struct {
	id     string
	method jwt.SigningMethod
	key    crypto.Signer
}

// grant is what a code or a refresh token stands for.
type grant struct {
	name        string
	redirectURI string
	challenge   string // PKCE S256 code challenge
	expires     time.Time
}

// Options tune an Issuer; the zero value is fine.
type Options struct {
	TokenTTL time.Duration    // DefaultTokenTTL if 0
	Now      func() time.Time // time.Now if nil
	// Origins are the adapter's own origins (scheme://host:port): the only
	// ones redirect URIs may name and /token answers CORS for. The issuer
	// URL's origin if empty.
	Origins []string
}

// New returns an issuer whose iss is issuerURL (no trailing slash), whose
// tokens are for clientID, with one RS256 key.
func New(issuerURL, clientID string, opts Options) (*Issuer, error) {
	i := &Issuer{url: strings.TrimRight(issuerURL, "/"), clientID: clientID, ttl: opts.TokenTTL, now: opts.Now,
		codes: map[string]grant{}, refresh: map[string]grant{}, origins: opts.Origins, csrfKey: []byte(randomString(32))}
	if len(i.origins) == 0 {
		i.origins = []string{originOf(i.url)}
	}
	if i.ttl <= 0 {
		i.ttl = DefaultTokenTTL
	}
	if i.now == nil {
		i.now = time.Now
	}
	if _, err := i.AddKey("RS256"); err != nil {
		return nil, err
	}
	return i, nil
}

// URL returns the issuer identifier (the iss claim).
func (i *Issuer) URL() string { return i.url }

// ClientID returns the audience of its tokens.
func (i *Issuer) ClientID() string { return i.clientID }

// AddKey makes a new key of alg (RS256 or ES256) the signing key, keeps
// publishing the older ones, and returns its key ID: a key rotation.
func (i *Issuer) AddKey(alg string) (string, error) {
	var k signingKey
	var err error
	switch alg {
	case "RS256":
		k.method = jwt.SigningMethodRS256
		k.key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		k.method = jwt.SigningMethodES256
		k.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return "", fmt.Errorf("devissuer: unsupported algorithm %q", alg)
	}
	if err != nil {
		return "", fmt.Errorf("devissuer: generate %s key: %w", alg, err)
	}
	k.id = randomString(8)
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys = append(i.keys, k)
	return k.id, nil
}

// PublicKey returns the public key of the signing key (tests use it to try
// the key-confusion attack).
func (i *Issuer) PublicKey() crypto.PublicKey {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.keys[len(i.keys)-1].key.Public()
}

// JWKS returns the public key set, as served at /.well-known/jwks.json.
func (i *Issuer) JWKS() ([]byte, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	var set jwkset.JWKSMarshal
	for _, k := range i.keys {
		jwk, err := jwkset.NewJWKFromKey(k.key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
			KID: k.id, ALG: jwkset.ALG(k.method.Alg()), USE: jwkset.UseSig,
		}})
		if err != nil {
			return nil, fmt.Errorf("devissuer: key %s: %w", k.id, err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	return json.Marshal(set)
}

// Sign signs claims with the signing key, naming it in the kid header.
func (i *Issuer) Sign(claims jwt.Claims) (string, error) {
	i.mu.Lock()
	k := i.keys[len(i.keys)-1]
	i.mu.Unlock()
	t := jwt.NewWithClaims(k.method, claims)
	t.Header["kid"] = k.id
	s, err := t.SignedString(k.key)
	if err != nil {
		return "", fmt.Errorf("devissuer: sign: %w", err)
	}
	return s, nil
}

// Subject is the sub of the user who signs in as name: the same name is
// the same user.
func Subject(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "dev-" + hex.EncodeToString(sum[:8])
}

// IDToken returns an ID token for name, valid for the issuer's TTL.
func (i *Issuer) IDToken(name string) (string, error) {
	now := i.now()
	return i.Sign(jwt.MapClaims{
		"iss": i.url, "sub": Subject(name), "aud": i.clientID,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(i.ttl).Unix(),
		"name": name, "preferred_username": name, "token_use": "id",
	})
}

var errBadGrant = errors.New("invalid_grant")

// maxPendingCodes bounds the codes issued and not yet exchanged (each
// expires after codeTTL): a person signs in a few times a minute.
const maxPendingCodes = 1000

var errTooManyCodes = errors.New("too many sign-ins waiting for their code exchange: try again in a minute")

// addCode stores a code's grant, pruning expired codes and refresh tokens
// first (at most every few seconds, and whenever the codes are full).
func (i *Issuer) addCode(code string, g grant) error {
	now := i.now()
	i.mu.Lock()
	defer i.mu.Unlock()
	if now.After(i.nextPrune) || len(i.codes) >= maxPendingCodes {
		i.prune(now)
	}
	if len(i.codes) >= maxPendingCodes {
		return errTooManyCodes
	}
	i.codes[code] = g
	return nil
}

// prune deletes expired codes and refresh tokens. The caller holds mu.
func (i *Issuer) prune(now time.Time) {
	for k, g := range i.codes {
		if now.After(g.expires) {
			delete(i.codes, k)
		}
	}
	for k, g := range i.refresh {
		if now.After(g.expires) {
			delete(i.refresh, k)
		}
	}
	i.nextPrune = now.Add(codeTTL / 4)
}

// exchange redeems a code (once) for the name it was issued to, checking the
// redirect URI and the PKCE verifier.
func (i *Issuer) exchange(code, redirectURI, verifier string) (string, error) {
	i.mu.Lock()
	g, ok := i.codes[code]
	delete(i.codes, code)
	i.mu.Unlock()
	switch {
	case !ok || i.now().After(g.expires):
		return "", fmt.Errorf("%w: unknown or expired code", errBadGrant)
	case g.redirectURI != redirectURI:
		return "", fmt.Errorf("%w: redirect_uri differs from the authorization request's", errBadGrant)
	case pkceChallenge(verifier) != g.challenge:
		return "", fmt.Errorf("%w: code_verifier does not match the code_challenge", errBadGrant)
	}
	return g.name, nil
}

// pkceChallenge is the S256 code challenge of verifier (RFC 7636).
func pkceChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}
