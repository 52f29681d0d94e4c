package devissuer_test

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/serverless-chat/chat/internal/devissuer"
)

// issuerServer serves an issuer at /issuer of a test server, whose origin
// is the adapter's.
func issuerServer(t *testing.T) (*httptest.Server, *devissuer.Issuer) {
	t.Helper()
	var iss *devissuer.Issuer
	srv := httptest.NewServer(http.StripPrefix("/issuer", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		iss.Handler().ServeHTTP(w, r)
	})))
	t.Cleanup(srv.Close)
	var err error
	if iss, err = devissuer.New(srv.URL+"/issuer", "chat-local", devissuer.Options{}); err != nil {
		t.Fatal(err)
	}
	return srv, iss
}

func authParams(redirect string) url.Values {
	sum := sha256.Sum256([]byte(strings.Repeat("v", 43)))
	return url.Values{"response_type": {"code"}, "client_id": {"chat-local"}, "redirect_uri": {redirect},
		"state": {"s1"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// formToken GETs the form with client (and its cookie jar) and returns the
// CSRF token it carries ("" if none).
func formToken(t *testing.T, client *http.Client, srvURL string, params url.Values) string {
	t.Helper()
	resp, err := client.Get(srvURL + "/issuer/authorize?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("form: %d %s", resp.StatusCode, page)
	}
	if m := csrfField.FindSubmatch(page); m != nil {
		return string(m[1])
	}
	return ""
}

func newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Only redirect URIs on the adapter's own origin get a code: another would
// carry the code away (an open redirect).
func TestRedirectURIOnTheAdaptersOrigin(t *testing.T) {
	srv, _ := issuerServer(t)
	client := newClient()
	for _, redirect := range []string{"http://evil.example/", "https://127.0.0.1:1/", "http://127.0.0.2" + strings.TrimPrefix(srv.URL, "http://127.0.0.1") + "/"} {
		t.Run(redirect, func(t *testing.T) {
			params := authParams(redirect)
			resp, err := client.Get(srv.URL + "/issuer/authorize?" + params.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("form for %s: %d, want 400", redirect, resp.StatusCode)
			}
			// The POST is checked as well, with a token from a good form.
			token := formToken(t, client, srv.URL, authParams(srv.URL+"/"))
			form := authParams(redirect)
			form.Set("name", "alice")
			form.Set("csrf", token)
			resp, err = client.PostForm(srv.URL+"/issuer/authorize", form)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Errorf("post for %s: %d to %q, want 400 and no redirect", redirect, resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
	if token := formToken(t, client, srv.URL, authParams(srv.URL+"/")); token == "" {
		t.Error("the adapter's own origin: no form")
	}
}

// POST /authorize needs the token of the form the browser was given, bound
// to its cookie: another site cannot sign someone in behind their back.
func TestAuthorizeNeedsTheFormsToken(t *testing.T) {
	srv, _ := issuerServer(t)
	redirect := srv.URL + "/"
	alice := newClient()
	token := formToken(t, alice, srv.URL, authParams(redirect))
	if token == "" {
		t.Fatal("the form carries no CSRF token")
	}
	post := func(client *http.Client, token string) int {
		t.Helper()
		form := authParams(redirect)
		form.Set("name", "mallory")
		if token != "" {
			form.Set("csrf", token)
		}
		resp, err := client.PostForm(srv.URL+"/issuer/authorize", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(alice, ""); got != http.StatusForbidden {
		t.Errorf("no token: %d, want 403", got)
	}
	if got := post(newClient(), token); got != http.StatusForbidden {
		t.Errorf("a token without its cookie: %d, want 403", got)
	}
	mallory := newClient()
	formToken(t, mallory, srv.URL, authParams(redirect))
	if got := post(mallory, token); got != http.StatusForbidden {
		t.Errorf("another browser's token: %d, want 403", got)
	}
	if got := post(alice, token); got != http.StatusSeeOther {
		t.Errorf("the form's own token: %d, want 303", got)
	}
}

// /token answers CORS for the adapter's origin only.
func TestTokenCORSOnlyForTheAdaptersOrigin(t *testing.T) {
	srv, _ := issuerServer(t)
	for _, tt := range []struct{ origin, want string }{
		{srv.URL, srv.URL},
		{"http://evil.example", ""},
		{"null", ""},
	} {
		for _, method := range []string{http.MethodOptions, http.MethodPost} {
			req, _ := http.NewRequest(method, srv.URL+"/issuer/token", strings.NewReader("grant_type=x"))
			req.Header.Set("Origin", tt.origin)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.want {
				t.Errorf("%s from %s: Access-Control-Allow-Origin %q, want %q", method, tt.origin, got, tt.want)
			}
		}
	}
}
