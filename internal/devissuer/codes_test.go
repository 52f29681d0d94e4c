package devissuer

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Codes that are never exchanged expire and are pruned, and the pending
// ones are bounded: 102,000 POSTs grew the adapter from 21 to 102 MB.
func TestCodesArePrunedAndBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	iss, err := New("http://127.0.0.1:9/issuer", "chat-local", Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	h := iss.Handler()
	// The form gives a cookie and its token.
	params := url.Values{"response_type": {"code"}, "client_id": {"chat-local"}, "redirect_uri": {"http://127.0.0.1:9/"},
		"code_challenge": {strings.Repeat("c", 43)}, "code_challenge_method": {"S256"}}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/authorize?"+params.Encode(), nil))
	cookies := rec.Result().Cookies()
	token := iss.csrfToken(cookieValue(cookies))
	post := func() int {
		form := url.Values{"name": {"x"}, "csrf": {token}}
		for k, v := range params {
			form[k] = v
		}
		req := httptest.NewRequest(http.MethodPost, "/authorize", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	pending := func() int {
		iss.mu.Lock()
		defer iss.mu.Unlock()
		return len(iss.codes)
	}
	for range maxPendingCodes {
		if got := post(); got != http.StatusSeeOther {
			t.Fatalf("post: %d, want 303", got)
		}
	}
	if got := post(); got != http.StatusTooManyRequests {
		t.Errorf("post past %d pending codes: %d, want 429", maxPendingCodes, got)
	}
	if got := pending(); got != maxPendingCodes {
		t.Errorf("%d pending codes, want %d", got, maxPendingCodes)
	}
	now = now.Add(codeTTL + time.Second)
	if got := post(); got != http.StatusSeeOther {
		t.Errorf("post once the others expired: %d, want 303", got)
	}
	if got := pending(); got != 1 {
		t.Errorf("%d pending codes after they expired, want 1 (pruned)", got)
	}
}

func cookieValue(cs []*http.Cookie) string {
	for _, c := range cs {
		if c.Name == csrfCookie {
			return c.Value
		}
	}
	return ""
}
