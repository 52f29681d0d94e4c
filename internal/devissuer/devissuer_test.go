package devissuer_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/serverless-chat/chat/internal/devissuer"
)

// TestCodeFlowWithPKCE walks the flow the page takes: the form, the
// redirect with a code, the exchange with the verifier, a refresh.
func TestCodeFlowWithPKCE(t *testing.T) {
	var iss *devissuer.Issuer
	srv := httptest.NewServer(http.StripPrefix("/issuer", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		iss.Handler().ServeHTTP(w, r)
	})))
	defer srv.Close()
	var err error
	if iss, err = devissuer.New(srv.URL+"/issuer", "chat-local", devissuer.Options{}); err != nil {
		t.Fatal(err)
	}
	client := newClient()
	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	params := url.Values{"response_type": {"code"}, "client_id": {"chat-local"}, "redirect_uri": {srv.URL + "/"},
		"state": {"s1"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}

	resp, err := client.Get(srv.URL + "/issuer/authorize?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `name="name"`) {
		t.Fatalf("form: %d %s", resp.StatusCode, page)
	}
	plain := url.Values{}
	for k, v := range params {
		plain[k] = v
	}
	plain.Set("code_challenge_method", "plain")
	if resp, _ := client.Get(srv.URL + "/issuer/authorize?" + plain.Encode()); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain PKCE: status %d, want 400", resp.StatusCode)
	}

	field := csrfField.FindSubmatch(page)
	if field == nil {
		t.Fatalf("the form carries no CSRF token: %s", page)
	}
	form := url.Values{"name": {"Zoë"}, "csrf": {string(field[1])}}
	for k, v := range params {
		form[k] = v
	}
	resp, err = client.PostForm(srv.URL+"/issuer/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if resp.StatusCode != http.StatusSeeOther || loc.Query().Get("state") != "s1" || code == "" {
		t.Fatalf("redirect: %d %s", resp.StatusCode, loc)
	}

	token := func(v url.Values) (int, map[string]any) {
		resp, err := client.PostForm(srv.URL+"/issuer/token", v)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {"chat-local"},
		"redirect_uri": {srv.URL + "/"}, "code_verifier": {strings.Repeat("w", 43)}}
	if status, m := token(exchange); status != 400 || m["error"] != "invalid_grant" {
		t.Errorf("wrong verifier: %d %v, want invalid_grant", status, m)
	}
	// The failed attempt spent the code, as it must (a code is good once).
	exchange.Set("code_verifier", verifier)
	if status, _ := token(exchange); status != 400 {
		t.Errorf("a spent code: status %d, want 400", status)
	}

	// Again, rightly this time.
	resp, _ = client.PostForm(srv.URL+"/issuer/authorize", form)
	loc, _ = url.Parse(resp.Header.Get("Location"))
	exchange.Set("code", loc.Query().Get("code"))
	status, m := token(exchange)
	if status != 200 {
		t.Fatalf("exchange: %d %v", status, m)
	}
	idToken, _ := m["id_token"].(string)
	c := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(idToken, c); err != nil {
		t.Fatal(err)
	}
	if c["iss"] != iss.URL() || c["aud"] != "chat-local" || c["name"] != "Zoë" || c["sub"] != devissuer.Subject("Zoë") {
		t.Errorf("claims = %v", c)
	}
	status, m2 := token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}, "client_id": {"chat-local"}})
	if status != 200 || m2["id_token"] == "" {
		t.Errorf("refresh: %d %v", status, m2)
	}
	if status, _ := token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}, "client_id": {"chat-local"}}); status != 400 {
		t.Errorf("a used refresh token: status %d, want 400 (rotated)", status)
	}
}
