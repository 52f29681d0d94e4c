package testenv

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/serverless-chat/chat/internal/devissuer"
)

// Issuer serves a development OpenID issuer for clientID on a test server
// until the test ends; its URL is the issuer's URL (the iss claim).
func Issuer(t testing.TB, clientID string) *devissuer.Issuer {
	t.Helper()
	var iss *devissuer.Issuer
	// The issuer needs its URL, which the server gives: the handler looks
	// the issuer up when called.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { iss.Handler().ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	var err error
	if iss, err = devissuer.New(srv.URL, clientID, devissuer.Options{}); err != nil {
		t.Fatal(err)
	}
	return iss
}
