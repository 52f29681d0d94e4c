package devissuer

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// codeTTL is how long an authorization code may wait for its exchange.
const codeTTL = time.Minute

// Handler serves the issuer's endpoints. Mount it where its URL's path
// points, with that prefix stripped (http.StripPrefix).
func (i *Issuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", i.discovery)
	mux.HandleFunc("GET /.well-known/jwks.json", i.jwks)
	mux.HandleFunc("GET /authorize", i.authorizeForm)
	mux.HandleFunc("POST /authorize", i.authorize)
	mux.HandleFunc("POST /token", i.token)
	mux.HandleFunc("OPTIONS /token", i.token)
	return mux
}

func (i *Issuer) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                i.url,
		"authorization_endpoint":                i.url + "/authorize",
		"token_endpoint":                        i.url + "/token",
		"jwks_uri":                              i.url + "/.well-known/jwks.json",
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token"},
		"code_challenge_methods_supported":      []string{"S256"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		"token_endpoint_auth_methods_supported": []string{"none"},
		"scopes_supported":                      []string{"openid", "profile"},
	})
}

func (i *Issuer) jwks(w http.ResponseWriter, _ *http.Request) {
	b, err := i.JWKS()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(b)
}

// authRequest is an authorization request's parameters, checked.
type authRequest struct {
	ClientID, RedirectURI, State, Challenge string
}

// parseAuthRequest checks what OAuth 2.0 and PKCE require of a public
// client: the code response type, this issuer's client, a redirect URI,
// and an S256 challenge (plain is refused: it protects nothing).
func (i *Issuer) parseAuthRequest(v url.Values) (authRequest, error) {
	r := authRequest{ClientID: v.Get("client_id"), RedirectURI: v.Get("redirect_uri"), State: v.Get("state"),
		Challenge: v.Get("code_challenge")}
	u, err := url.Parse(r.RedirectURI)
	switch {
	case v.Get("response_type") != "code":
		return r, errors.New("response_type must be code")
	case r.ClientID != i.clientID:
		return r, errors.New("unknown client_id")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" || u.User != nil:
		return r, errors.New("redirect_uri must be an absolute http(s) URL without a fragment")
	case !i.ownOrigin(u.Scheme + "://" + u.Host):
		return r, errors.New("redirect_uri must be on the adapter's own origin")
	case v.Get("code_challenge_method") != "S256" || len(r.Challenge) != 43:
		return r, errors.New("a PKCE code_challenge with code_challenge_method S256 is required")
	}
	return r, nil
}

var formPage = template.Must(template.New("form").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in (development issuer)</title>
<style>body{font:16px system-ui,sans-serif;max-width:24rem;margin:4rem auto;padding:0 1rem}
input,button{font:inherit;padding:.5rem;width:100%;box-sizing:border-box;margin:.25rem 0}</style></head>
<body><h1>Sign in</h1>
<p>Development issuer: any name signs in. Never use it outside your machine.</p>
<form method="post" action="authorize">
<label for="name">Name</label>
<input id="name" name="name" required maxlength="32" autofocus autocomplete="username">
{{range $k, $v := .}}<input type="hidden" name="{{$k}}" value="{{index $v 0}}">{{end}}
<button type="submit" id="sign-in">Sign in</button>
</form></body></html>`))

func (i *Issuer) authorizeForm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if _, err := i.parseAuthRequest(q); err != nil {
		http.Error(w, "invalid authorization request: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	kept := url.Values{"csrf": {i.csrfToken(i.csrfCookieOf(w, r))}}
	for _, k := range []string{"response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method"} {
		kept[k] = []string{q.Get(k)}
	}
	_ = formPage.Execute(w, kept)
}

func (i *Issuer) authorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, err := i.parseAuthRequest(r.PostForm)
	if err != nil {
		http.Error(w, "invalid authorization request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if !i.csrfValid(r) {
		http.Error(w, "the form's token is missing or not this browser's: open the sign-in page again", http.StatusForbidden)
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > 32 {
		http.Error(w, "a name of 1 to 32 characters is required", http.StatusBadRequest)
		return
	}
	code := randomString(24)
	if err := i.addCode(code, grant{name: name, redirectURI: req.RedirectURI, challenge: req.Challenge, expires: i.now().Add(codeTTL)}); err != nil {
		http.Error(w, err.Error(), http.StatusTooManyRequests)
		return
	}
	back, _ := url.Parse(req.RedirectURI)
	q := back.Query()
	q.Set("code", code)
	if req.State != "" {
		q.Set("state", req.State)
	}
	back.RawQuery = q.Encode()
	http.Redirect(w, r, back.String(), http.StatusSeeOther)
}

// token serves the token endpoint. The page calls it with fetch; it
// answers CORS for the adapter's own origins only.
func (i *Issuer) token(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Origin")
	if o := r.Header.Get("Origin"); i.ownOrigin(o) {
		w.Header().Set("Access-Control-Allow-Origin", o)
	}
	if r.Method == http.MethodOptions {
		w.Header().Set("Access-Control-Allow-Methods", "POST")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if err := r.ParseForm(); err != nil {
		oauthError(w, "invalid_request", err.Error())
		return
	}
	f := r.PostForm
	if f.Get("client_id") != i.clientID {
		oauthError(w, "invalid_client", "unknown client_id")
		return
	}
	var name string
	var err error
	switch f.Get("grant_type") {
	case "authorization_code":
		name, err = i.exchange(f.Get("code"), f.Get("redirect_uri"), f.Get("code_verifier"))
	case "refresh_token":
		i.mu.Lock()
		g, ok := i.refresh[f.Get("refresh_token")]
		delete(i.refresh, f.Get("refresh_token")) // rotated: each is good once
		i.mu.Unlock()
		if !ok || i.now().After(g.expires) {
			err = errBadGrant
		}
		name = g.name
	default:
		oauthError(w, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
		return
	}
	if err != nil {
		oauthError(w, "invalid_grant", err.Error())
		return
	}
	idToken, err := i.IDToken(name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	refresh := randomString(24)
	i.mu.Lock()
	if i.now().After(i.nextPrune) {
		i.prune(i.now())
	}
	i.refresh[refresh] = grant{name: name, expires: i.now().Add(24 * time.Hour)}
	i.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"id_token": idToken, "access_token": idToken, "token_type": "Bearer",
		"expires_in": int(i.ttl.Seconds()), "refresh_token": refresh,
	})
}

func oauthError(w http.ResponseWriter, code, description string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
