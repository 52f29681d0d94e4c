package apigw_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/serverless-chat/chat/internal/apigw"
)

// TestLeanStack checks that the trimmed client (NewClient's WithLeanStack)
// still sends what API Gateway checks: the path with the stage and the
// escaped connection ID, and a SigV4 signature that verifies, while the
// telemetry headers are gone.
func TestLeanStack(t *testing.T) {
	g := newGateway(t)
	ctx := withTimeout(t)
	id := "Ab=+/cD1="
	data := []byte(`{"text":"lean"}`)
	s := &apigw.Sender{Client: testClient(), Endpoint: g.endpoint("prod")}
	for range 2 { // the second with the endpoint already parsed
		if err := s.Post(ctx, id, data); err != nil {
			t.Fatalf("Post() = %v", err)
		}
	}
	posts := g.received()
	if len(posts) != 2 {
		t.Fatalf("received %d posts, want 2", len(posts))
	}
	for _, p := range posts {
		if p.Stage != "prod" || p.ConnectionID != id || !bytes.Equal(p.Body, data) {
			t.Errorf("post to stage %q connection %q body %q; want prod, %q, %q", p.Stage, p.ConnectionID, p.Body, id, data)
		}
		for _, h := range []string{"Amz-Sdk-Invocation-Id", "X-Amz-User-Agent"} {
			if v := p.Header.Get(h); v != "" {
				t.Errorf("%s = %q, want none", h, v)
			}
		}
		if err := verifySigV4(p, "secret"); err != nil {
			t.Errorf("signature: %v", err)
		}
	}

	t.Run("an endpoint that is not a URL", func(t *testing.T) {
		s := &apigw.Sender{Client: testClient(), Endpoint: "not a url"}
		if err := s.Post(ctx, id, data); err == nil {
			t.Error("Post() = nil, want an error")
		}
	})
}

// verifySigV4 signs the received request again with the SDK's signer, the
// secret, and the date and headers it says it signed, and compares.
func verifySigV4(p post, secret string) error {
	auth := p.Authorization
	_, signed, _ := strings.Cut(auth, "SignedHeaders=")
	signed, _, _ = strings.Cut(signed, ",")
	_, want, _ := strings.Cut(auth, "Signature=")
	when, err := time.Parse("20060102T150405Z", p.Header.Get("X-Amz-Date"))
	if err != nil {
		return err
	}
	r, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+p.Host+p.EscapedPath, bytes.NewReader(p.Body))
	r.Header = http.Header{}
	for _, h := range strings.Split(signed, ";") {
		switch h {
		case "host":
		case "content-length":
			r.ContentLength = int64(len(p.Body))
		default:
			r.Header[http.CanonicalHeaderKey(h)] = p.Header.Values(h)
		}
	}
	sum := sha256.Sum256(p.Body)
	cfg := testConfig()
	creds, _ := cfg.Credentials.Retrieve(context.Background())
	creds.SecretAccessKey = secret
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "execute-api", cfg.Region, when); err != nil {
		return err
	}
	_, got, _ := strings.Cut(r.Header.Get("Authorization"), "Signature=")
	if got != want {
		return &signatureError{got: got, want: want}
	}
	return nil
}

type signatureError struct{ got, want string }

func (e *signatureError) Error() string { return "signature " + e.want + ", computed " + e.got }
