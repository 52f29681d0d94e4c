package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"

	"github.com/serverless-chat/chat/web"
)

// The page's files go out compressed in the encoding the client prefers,
// and decompress to the files themselves; the page keeps its CSP.
func TestCompressedStaticFiles(t *testing.T) {
	srv := httptest.NewServer(newMux("local", http.NotFoundHandler(), "127.0.0.1:1", &signIn{}, newInvokeAPI()))
	defer srv.Close()
	files := map[string]string{"/": "index.html", "/app.js": "app.js", "/style.css": "style.css", "/client.js": "client.js"}
	tests := []struct {
		name, accept, want string
	}{
		{"br first", "gzip, deflate, br, zstd", "br"},
		{"gzip only", "gzip", "gzip"},
		{"none", "", ""},
		{"identity", "identity", ""},
		{"br refused", "br;q=0, gzip;q=0.5", "gzip"},
		{"both refused", "br;q=0, gzip;q=0", ""},
		{"any", "*", "br"},
		{"any but br", "*, br;q=0", "gzip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for urlPath, name := range files {
				want, err := fs.ReadFile(web.FS, name)
				if err != nil {
					t.Fatal(err)
				}
				req, _ := http.NewRequest(http.MethodGet, srv.URL+urlPath, nil)
				// Set by hand, so that the client does not decompress.
				req.Header.Set("Accept-Encoding", tt.accept)
				res, err := srv.Client().Transport.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					t.Fatalf("%s: status %d", urlPath, res.StatusCode)
				}
				if got := res.Header.Get("Content-Encoding"); got != tt.want {
					t.Errorf("%s: Content-Encoding %q, want %q", urlPath, got, tt.want)
				}
				if v := res.Header.Get("Vary"); !strings.Contains(v, "Accept-Encoding") {
					t.Errorf("%s: Vary %q, want Accept-Encoding", urlPath, v)
				}
				if res.Header.Get("Content-Security-Policy") == "" {
					t.Errorf("%s: no Content-Security-Policy", urlPath)
				}
				var r io.Reader = bytes.NewReader(body)
				switch tt.want {
				case "gzip":
					zr, err := gzip.NewReader(r)
					if err != nil {
						t.Fatalf("%s: %v", urlPath, err)
					}
					r = zr
				case "br":
					r = brotli.NewReader(r)
				}
				got, err := io.ReadAll(r)
				if err != nil {
					t.Fatalf("%s: decompress: %v", urlPath, err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: the body is not %s", urlPath, name)
				}
				if tt.want != "" && len(body) >= len(want) {
					t.Errorf("%s: %s body %d bytes, not smaller than %d", urlPath, tt.want, len(body), len(want))
				}
			}
		})
	}
}

// A client that asks for a file it already has gets 304 in the encoding's
// ETag; another encoding has another ETag.
func TestCompressedStaticETag(t *testing.T) {
	srv := httptest.NewServer(newMux("local", http.NotFoundHandler(), "127.0.0.1:1", &signIn{}, newInvokeAPI()))
	defer srv.Close()
	get := func(accept, etag string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/app.js", nil)
		req.Header.Set("Accept-Encoding", accept)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		res, err := srv.Client().Transport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	gz, br := get("gzip", "").Header.Get("ETag"), get("br", "").Header.Get("ETag")
	if gz == "" || br == "" || gz == br {
		t.Fatalf("ETags gzip %q, br %q: want two different ones", gz, br)
	}
	if res := get("gzip", gz); res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match %s: status %d, want 304", gz, res.StatusCode)
	}
	// Missing files are still the file server's 404.
	res, err := srv.Client().Get(srv.URL + "/no-such-file.js")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("a missing file: status %d, want 404", res.StatusCode)
	}
}
