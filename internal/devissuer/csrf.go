package devissuer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
)

// Protections of the sign-in form, which signs anyone in: a code goes only
// to a redirect URI on the adapter's own origin (another would carry it
// away), the form's POST must carry the token of a form this browser was
// given (another site cannot post it on someone's behalf), and only the
// adapter's origin may read /token's answers.

// csrfCookie holds a browser's random value; the form carries its HMAC
// under the issuer's own key. A value set by another port of the same host
// (cookies are not isolated by port) is useless without its token, which
// only a page that can read the issuer's form has.
const csrfCookie = "devissuer_csrf"

// csrfToken is the form token bound to the cookie value c.
func (i *Issuer) csrfToken(c string) string {
	m := hmac.New(sha256.New, i.csrfKey)
	m.Write([]byte(c))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfCookieOf returns the browser's cookie value, setting a new one on w
// if it has none.
func (i *Issuer) csrfCookieOf(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	v := randomString(32)
	path := "/"
	if u, err := url.Parse(i.url); err == nil && u.Path != "" {
		path = u.Path
	}
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: path, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return v
}

// csrfValid reports whether the POSTed form carries the token of the
// browser's cookie.
func (i *Issuer) csrfValid(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	return hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(i.csrfToken(c.Value)))
}

// originOf is scheme://host of an absolute URL, "" if it has none.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// ownOrigin reports whether origin is one of the adapter's.
func (i *Issuer) ownOrigin(origin string) bool {
	return origin != "" && slices.Contains(i.origins, origin)
}
