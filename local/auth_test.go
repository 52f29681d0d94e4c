package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/testenv"
)

// devSignIn signs in as name through the adapter's development issuer, as
// the page does (authorization code with PKCE), and returns the ID token.
func devSignIn(t *testing.T, base, name string) string {
	t.Helper()
	var page struct {
		Auth struct{ Issuer, ClientID string }
	}
	getJSON(t, base+"/config.json", &page)
	if page.Auth.Issuer != base+devIssuerPath || page.Auth.ClientID != devClientID {
		t.Fatalf("config.json auth = %+v", page.Auth)
	}
	var disco struct {
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
	}
	getJSON(t, page.Auth.Issuer+"/.well-known/openid-configuration", &disco)
	verifier := strings.Repeat("x", 50)
	sum := sha256.Sum256([]byte(verifier))
	redirect := base + "/"
	form := url.Values{"name": {name}, "response_type": {"code"}, "client_id": {page.Auth.ClientID},
		"redirect_uri": {redirect}, "state": {"st"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}}
	// The form first, as a browser: its CSRF token is bound to a cookie.
	jar, _ := cookiejar.New(nil)
	noFollow := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{}
	for k, v := range form {
		if k != "name" {
			q[k] = v
		}
	}
	resp, err := noFollow.Get(disco.AuthorizationEndpoint + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	formPage, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	field := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(formPage)
	if field == nil {
		t.Fatalf("sign-in form: %d, no CSRF token: %s", resp.StatusCode, formPage)
	}
	form.Set("csrf", string(field[1]))
	resp, err = noFollow.PostForm(disco.AuthorizationEndpoint, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	resp, err = http.PostForm(disco.TokenEndpoint, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"client_id": {page.Auth.ClientID}, "redirect_uri": {redirect}, "code_verifier": {verifier}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tokens struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tokens); err != nil || tokens.IDToken == "" {
		t.Fatalf("token endpoint: %d %v", resp.StatusCode, err)
	}
	return tokens.IDToken
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
}

// signedInScenario: no token 401, a bad one 403, a good one joins under
// the token's name, whatever ?name= says, and cannot rename itself.
func signedInScenario(t *testing.T, wsURL, token, wantName string) {
	t.Helper()
	if got := handshake(t, wsURL+"?room=signed", nil); got != http.StatusUnauthorized {
		t.Errorf("no token: status %d, want 401", got)
	}
	if got := handshake(t, wsURL+"?room=signed&token=not.a.jwt", nil); got != http.StatusForbidden {
		t.Errorf("bad token: status %d, want 403", got)
	}
	parts := strings.Split(token, ".")
	if got := handshake(t, wsURL+"?room=signed&token="+parts[0]+"."+parts[1]+".AAAA", nil); got != http.StatusForbidden {
		t.Errorf("token with a wrong signature: status %d, want 403", got)
	}
	alice := dial(t, wsURL+"?token="+url.QueryEscape(token)+"&x=1", "mallory", "signed")
	bob := dial(t, wsURL+"?token="+url.QueryEscape(token)+"&x=2", "bob", "signed")
	_ = bob
	b, _ := json.Marshal(map[string]string{"action": chat.ActionWho})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := alice.ws.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	for {
		m := alice.nextAny()
		if m["type"] != chat.TypeMembers {
			continue
		}
		names := []string{}
		for _, mm := range m["members"].([]any) {
			names = append(names, mm.(map[string]any)["name"].(string))
		}
		// Two tabs of one person are one member.
		if strings.Join(names, ",") != wantName {
			t.Errorf("members = %v, want %s alone (the name from the token, not ?name=)", names, wantName)
		}
		break
	}
	if err := alice.ws.Write(ctx, websocket.MessageText, []byte(`{"action":"rename","name":"Mallory"}`)); err != nil {
		t.Fatal(err)
	}
	for {
		if m := alice.nextAny(); m["type"] == chat.TypeError {
			if m["code"] != chat.CodeNameFixed {
				t.Errorf("rename when signed in: %v, want name_fixed", m)
			}
			break
		}
	}
}

func TestSignInWithTheDevIssuer(t *testing.T) {
	s := start(t, "-auth", "dev")
	token := devSignIn(t, "http://"+s.addr, "Zoë")
	signedInScenario(t, "ws://"+s.addr+"/local", token, "Zoë")
}

func TestSignInWithAnIssuersJWKS(t *testing.T) {
	iss := testenv.Issuer(t, "my-client")
	s := start(t, "-auth", "jwt", "-jwt-issuer", iss.URL(), "-jwt-audience", "my-client")
	token, _ := iss.Sign(jwt.MapClaims{"iss": iss.URL(), "aud": "my-client", "sub": "u-7", "exp": time.Now().Add(time.Hour).Unix(),
		"cognito:username": "carol"})
	signedInScenario(t, "ws://"+s.addr+"/local", token, "carol")
	expired, _ := iss.Sign(jwt.MapClaims{"iss": iss.URL(), "aud": "my-client", "sub": "u-7", "exp": time.Now().Add(-time.Hour).Unix()})
	if got := handshake(t, "ws://"+s.addr+"/local?room=signed&token="+expired, nil); got != http.StatusForbidden {
		t.Errorf("expired token: status %d, want 403", got)
	}
	other, _ := iss.Sign(jwt.MapClaims{"iss": iss.URL(), "aud": "another-client", "sub": "u-7", "exp": time.Now().Add(time.Hour).Unix()})
	if got := handshake(t, "ws://"+s.addr+"/local?room=signed&token="+other, nil); got != http.StatusForbidden {
		t.Errorf("token for another audience: status %d, want 403", got)
	}
}

func TestDevIssuerOnlyOnLoopback(t *testing.T) {
	cfg, err := parseConfig([]string{"-auth", "dev"}, func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newSignIn(cfg, "0.0.0.0:8080", lambdaClient(cfg), nil); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("-auth dev on 0.0.0.0: err = %v, want a refusal naming loopback", err)
	}
	if _, err := newSignIn(cfg, "192.168.1.5:8080", lambdaClient(cfg), nil); err == nil {
		t.Error("-auth dev on a LAN address was accepted")
	}
}

// TestSignInFromTheTemplate: AuthMode=jwt in the template's parameters
// puts its authorizer on $connect locally too, with the issuer set there:
// configured once, as deployed.
func TestSignInFromTheTemplate(t *testing.T) {
	iss := testenv.Issuer(t, "my-client")
	s := start(t, "-template", "../template.yaml",
		"-parameter-overrides", "AuthMode=jwt JwtIssuer="+iss.URL()+" JwtAudience=my-client")
	token, _ := iss.Sign(jwt.MapClaims{"iss": iss.URL(), "aud": "my-client", "sub": "u-9", "exp": time.Now().Add(time.Hour).Unix(), "name": "Dana"})
	signedInScenario(t, "ws://"+s.addr+"/local", token, "Dana")
	var page struct {
		Auth struct{ Issuer, ClientID string }
	}
	getJSON(t, "http://"+s.addr+"/config.json", &page)
	if page.Auth.Issuer != iss.URL() || page.Auth.ClientID != "my-client" {
		t.Errorf("config.json auth = %+v, want the template's issuer and client", page.Auth)
	}
}
