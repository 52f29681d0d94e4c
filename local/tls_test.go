package main

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestTLSAndPlainOnOnePort: the listener serves https (with the adapter's
// CA, trusted through the file functions are given) and plain http on one
// port, as @connections is reached both ways.
func TestTLSAndPlainOnOnePort(t *testing.T) {
	certs, err := newLocalTLS("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer certs.close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, map[bool]string{true: "tls", false: "plain"}[r.TLS != nil])
	})}
	go func() { _ = srv.Serve(newSniffListener(ln, certs.config, 16)) }()
	defer srv.Close()

	for _, file := range []string{certs.caFile, certs.bundleFile} {
		pem, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			t.Fatalf("%s holds no certificate", file)
		}
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		for url, want := range map[string]string{
			"https://" + ln.Addr().String() + "/":                   "tls",
			"https://localhost:" + portOf(ln.Addr().String()) + "/": "tls",
			"http://" + ln.Addr().String() + "/":                    "plain",
		} {
			resp, err := client.Get(url)
			if err != nil {
				t.Fatalf("%s (trusting %s): %v", url, file, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != want {
				t.Errorf("%s: %q, want %q", url, body, want)
			}
		}
	}
	if env := certs.env(); env["NODE_EXTRA_CA_CERTS"] != certs.caFile || !strings.HasSuffix(env["AWS_CA_BUNDLE"], "ca-bundle.pem") || env["SSL_CERT_FILE"] != env["AWS_CA_BUNDLE"] {
		t.Errorf("env %v", env)
	}
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
