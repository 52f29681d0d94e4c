package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/serverless-chat/chat/internal/auth"
	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/devissuer"
	"github.com/serverless-chat/chat/internal/gateway"
	"github.com/serverless-chat/chat/local/samtemplate"
)

// Sign-in modes (-auth).
const (
	authNone = "none"
	authDev  = "dev" // the built-in development issuer, on loopback only
	authJWT  = "jwt" // a real issuer: -jwt-issuer, -jwt-audience
)

// devIssuerPath is where -auth dev serves its issuer.
const devIssuerPath = "/dev-issuer"

// devClientID is the development issuer's one client: the page.
const devClientID = "chat-local"

// signIn is the adapter's sign-in: the authorizer the gateway runs before
// $connect, what the page is told in config.json, and in dev mode the
// issuer's endpoints.
type signIn struct {
	authorizer *gateway.Authorizer
	page       *pageAuth    // nil: anonymous
	issuer     http.Handler // dev mode only, at devIssuerPath
}

// pageAuth is config.json's "auth": what the page needs for the OIDC
// authorization code flow with PKCE.
type pageAuth struct {
	Issuer   string `json:"issuer"`
	ClientID string `json:"clientId"`
}

// newSignIn sets up -auth for an adapter listening on addr. The authorizer
// is the same Go code as the Lambda authorizer, in process, or the
// function itself through -lambda-endpoint (AuthorizerFunction).
func newSignIn(cfg config, addr string, lambdaClient func(endpoint string) *lambda.Client, log *slog.Logger) (*signIn, error) {
	s := &signIn{}
	var issuer, audience, jwksURL string
	switch cfg.auth {
	case authNone, "":
		return s, nil
	case authDev:
		host, port, _ := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("-auth dev signs anyone in under any name: it only listens on a loopback address (-addr 127.0.0.1:PORT), not %s", addr)
		}
		issuer, audience = "http://"+addr+devIssuerPath, devClientID
		// Codes go, and /token answers CORS, only to the adapter's own
		// page, by either of the names a loopback address goes by.
		dev, err := devissuer.New(issuer, audience, devissuer.Options{TokenTTL: cfg.devTokenTTL,
			Origins: []string{"http://" + addr, "http://localhost:" + port}})
		if err != nil {
			return nil, err
		}
		s.issuer = http.StripPrefix(devIssuerPath, dev.Handler())
	case authJWT:
		issuer, audience, jwksURL = cfg.jwtIssuer, cfg.jwtAudience, cfg.jwksURL
	default:
		return nil, fmt.Errorf("-auth %q: want none, dev or jwt", cfg.auth)
	}
	s.page = &pageAuth{Issuer: issuer, ClientID: audience}
	var fn gateway.AuthorizerFunction
	if cfg.lambdaEndpoint != "" {
		fn = gateway.NewLambda(lambdaClient(cfg.lambdaEndpoint), "AuthorizerFunction", 0)
	} else {
		v := &lazyVerifier{cfg: auth.Config{Issuer: issuer, Audience: audience, JWKSURL: jwksURL, Logger: log}}
		fn = gateway.InProcessAuthorizer((&auth.Authorizer{Verifier: v, Logger: log}).Authorize)
	}
	s.authorizer = &gateway.Authorizer{
		IdentitySource: []string{"route.request.querystring." + auth.TokenParameter},
		Function:       fn,
	}
	return s, nil
}

// lazyVerifier makes its auth.Verifier on the first token: the development
// issuer's key set is served by this same adapter, which does not answer
// before it has started.
type lazyVerifier struct {
	cfg  auth.Config
	once sync.Once
	v    *auth.Verifier
	err  error
}

func (l *lazyVerifier) Verify(ctx context.Context, token string) (chat.User, error) {
	// No token needs no keys: the issuer is not asked for them.
	if token == "" {
		return chat.User{}, auth.ErrNoToken
	}
	l.once.Do(func() { l.v, l.err = auth.NewVerifier(context.Background(), l.cfg) })
	if l.err != nil {
		return chat.User{}, l.err
	}
	return l.v.Verify(ctx, token)
}

// checkAuthFlags reports what is wrong with the sign-in flags.
func checkAuthFlags(cfg config) error {
	switch cfg.auth {
	case authNone, authDev:
		if cfg.jwtIssuer != "" || cfg.jwtAudience != "" || cfg.jwksURL != "" {
			return errors.New("-jwt-issuer, -jwt-audience and -jwks-url go with -auth jwt")
		}
	case authJWT:
		if cfg.jwtIssuer == "" || cfg.jwtAudience == "" {
			return errors.New("-auth jwt needs -jwt-issuer and -jwt-audience")
		}
		for _, u := range []string{cfg.jwtIssuer, cfg.jwksURL} {
			if u != "" {
				if err := checkURL(u); err != nil {
					return fmt.Errorf("-auth jwt: %w", err)
				}
			}
		}
	default:
		return fmt.Errorf("-auth %q: want none, dev or jwt", cfg.auth)
	}
	return nil
}

// originOf returns the scheme://host of a URL, for the page's CSP.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme) + "://" + u.Host
}

// templateSignIn is the sign-in of a template whose $connect authorizer is
// this project's AuthorizerFunction, run in process with the issuer of its
// environment (JWT_ISSUER, JWT_AUDIENCE, JWKS_URL).
func templateSignIn(a *samtemplate.Authorizer, fn *samtemplate.Function, log *slog.Logger) (*signIn, error) {
	if fn == nil || fn.LogicalID != "AuthorizerFunction" {
		return nil, fmt.Errorf("the template's $connect authorizer %s has no in-process handler: run it with -functions bootstrap", a.Name)
	}
	cfg := auth.Config{Issuer: fn.Env["JWT_ISSUER"], Audience: fn.Env["JWT_AUDIENCE"], JWKSURL: fn.Env["JWKS_URL"], Logger: log}
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("the template's authorizer needs JwtIssuer and JwtAudience (-parameter-overrides)")
	}
	v := &lazyVerifier{cfg: cfg}
	return &signIn{
		authorizer: &gateway.Authorizer{
			IdentitySource: a.IdentitySource,
			Function:       gateway.InProcessAuthorizer((&auth.Authorizer{Verifier: v, Logger: log}).Authorize),
		},
		page: &pageAuth{Issuer: cfg.Issuer, ClientID: cfg.Audience},
	}, nil
}
