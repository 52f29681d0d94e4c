package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Deployed function code commonly builds its @connections client from the
// event: https://{requestContext.domainName}/{stage}. The domainName the
// adapter's events carry is its own address, so it serves TLS there too,
// on the same port as plain HTTP (the first byte of a connection tells a
// TLS handshake apart), with a certificate from a CA it creates at start.
// Function processes trust that CA through NODE_EXTRA_CA_CERTS (Node.js),
// AWS_CA_BUNDLE (the AWS SDKs, boto3) and SSL_CERT_FILE (Go, OpenSSL,
// Python's ssl); the last two hold the system's roots too, so the
// functions still reach real HTTPS services.

// localTLS is the adapter's CA and server certificate.
type localTLS struct {
	config *tls.Config
	// caFile holds the CA alone; bundleFile the CA and the system's roots.
	caFile, bundleFile string
	dir                string
}

// systemRoots are where Debian, Fedora and Alpine keep their CA bundle.
var systemRoots = []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"}

// newLocalTLS creates a CA and a certificate for host (the listen
// address's host), localhost and the loopback addresses, valid a day, and
// writes the CA's files to a temporary directory (close removes it).
func newLocalTLS(host string) (*localTLS, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "serverless-chat local adapter CA", Organization: []string{"serverless-chat local"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano() + 1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost", "host.docker.internal"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		leaf.IPAddresses = append(leaf.IPAddresses, ip)
	} else if host != "" && ip == nil {
		leaf.DNSNames = append(leaf.DNSNames, host)
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "local-adapter-ca-")
	if err != nil {
		return nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	bundle := bytes.Clone(caPEM)
	for _, f := range systemRoots {
		if b, err := os.ReadFile(f); err == nil {
			bundle = append(append(bundle, '\n'), b...)
			break
		}
	}
	t := &localTLS{dir: dir, caFile: filepath.Join(dir, "ca.pem"), bundleFile: filepath.Join(dir, "ca-bundle.pem")}
	if err := errors.Join(os.WriteFile(t.caFile, caPEM, 0o644), os.WriteFile(t.bundleFile, bundle, 0o644)); err != nil {
		t.close()
		return nil, err
	}
	t.config = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER, caDER}, PrivateKey: key}},
		// HTTP/1.1 only: WebSocket upgrades are HTTP/1.1.
		NextProtos: []string{"http/1.1"},
		MinVersion: tls.VersionTLS12,
	}
	return t, nil
}

// env is what function processes need to trust the CA.
func (t *localTLS) env() map[string]string {
	return map[string]string{"NODE_EXTRA_CA_CERTS": t.caFile, "AWS_CA_BUNDLE": t.bundleFile, "SSL_CERT_FILE": t.bundleFile}
}

func (t *localTLS) close() { _ = os.RemoveAll(t.dir) }

// sniffListener serves TLS and plain connections on one listener: a
// connection whose first byte is a TLS handshake record (22) is wrapped in
// tls.Server; any other is served as it is.
//
// Connections still to send their first byte are capped (pending): past
// it, new ones are closed at once, as the HTTP server's cap does
// (-max-http-conns), so connections that send nothing cannot pile up here.
type sniffListener struct {
	net.Listener
	config  *tls.Config
	pending chan struct{}
	conns   chan net.Conn
	errs    chan error
	done    chan struct{}
	once    sync.Once
}

// sniffTimeout bounds the wait for a new connection's first byte.
const sniffTimeout = 10 * time.Second

func newSniffListener(ln net.Listener, config *tls.Config, maxPending int) *sniffListener {
	l := &sniffListener{Listener: ln, config: config, pending: make(chan struct{}, maxPending),
		conns: make(chan net.Conn), errs: make(chan error, 1), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

func (l *sniffListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			select {
			case l.errs <- err:
			case <-l.done:
			}
			return
		}
		select {
		case l.pending <- struct{}{}:
			go l.sniff(c)
		default:
			_ = c.Close()
		}
	}
}

func (l *sniffListener) sniff(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(sniffTimeout))
	br := bufio.NewReader(c)
	first, err := br.Peek(1)
	_ = c.SetReadDeadline(time.Time{})
	<-l.pending
	if err != nil {
		_ = c.Close()
		return
	}
	var out net.Conn = &peekedConn{Conn: c, r: br}
	if first[0] == 22 {
		out = tls.Server(out, l.config)
	}
	select {
	case l.conns <- out:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *sniffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *sniffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// peekedConn reads through the reader that peeked at its first byte.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
