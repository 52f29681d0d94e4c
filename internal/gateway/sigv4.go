package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Signature checks of @connections requests (Config.RequireSignature): the
// request is signed again with the AWS SDK's own SigV4 signer, with the
// secret of the access key it names (Config.Credentials) and the date,
// region, service and signed headers it declares, and the two signatures
// are compared. No crypto is written here.

// maxSkew is how far a request's X-Amz-Date may be from the clock, as AWS
// allows.
const maxSkew = 15 * time.Minute

var (
	errNoSignature  = errors.New("Missing Authentication Token")
	errUnknownKey   = errors.New("The security token included in the request is invalid.")
	errBadSignature = errors.New("The request signature we calculated does not match the signature you provided.")
	errPayloadHash  = errors.New("The provided 'x-amz-content-sha256' header does not match what was computed.")
)

// sigv4Auth is the parsed Authorization header of a SigV4 request.
type sigv4Auth struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

func parseSigV4(header string) (sigv4Auth, bool) {
	rest, ok := strings.CutPrefix(header, "AWS4-HMAC-SHA256 ")
	if !ok {
		return sigv4Auth{}, false
	}
	var a sigv4Auth
	for part := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			scope := strings.Split(v, "/")
			if len(scope) != 5 || scope[4] != "aws4_request" {
				return sigv4Auth{}, false
			}
			a.accessKey, a.date, a.region, a.service = scope[0], scope[1], scope[2], scope[3]
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		}
	}
	return a, a.accessKey != "" && a.signature != "" && len(a.signedHeaders) > 0
}

// verifySignature checks r's SigV4 signature; body is r's body, already
// read (r.Body is replaced so that it can be read again).
func (g *Gateway) verifySignature(r *http.Request, body []byte) error {
	a, ok := parseSigV4(r.Header.Get("Authorization"))
	if !ok {
		return errNoSignature
	}
	// The scope names the service and region the key signed for: a
	// signature made for S3, or for another region, is not one for this API.
	if a.service != "execute-api" {
		return fmt.Errorf("Credential should be scoped to correct service: 'execute-api'. ")
	}
	if a.region != g.region {
		return fmt.Errorf("Credential should be scoped to a valid region, not '%s'. ", a.region)
	}
	secret, ok := g.creds[a.accessKey]
	if !ok {
		return errUnknownKey
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || !strings.HasPrefix(r.Header.Get("X-Amz-Date"), a.date) {
		return errBadSignature
	}
	if d := g.now().Sub(when); d > maxSkew || d < -maxSkew {
		return fmt.Errorf("Signature expired: %s is more than %v from now", r.Header.Get("X-Amz-Date"), maxSkew)
	}
	// The request as the client signed it: its method, path, query, and
	// only the headers it says it signed.
	u := *r.URL
	u.Scheme, u.Host = "http", r.Host
	again, _ := http.NewRequestWithContext(context.Background(), r.Method, u.String(), bytes.NewReader(body))
	again.URL.RawPath, again.URL.Path = r.URL.RawPath, r.URL.Path
	again.Host = r.Host
	// The SDK's signer signs Content-Length from ContentLength when it is
	// set: only if the client signed it (botocore does not).
	again.ContentLength = 0
	if slices.Contains(a.signedHeaders, "content-length") {
		again.ContentLength = r.ContentLength
	}
	again.Header = http.Header{}
	for _, h := range a.signedHeaders {
		if vs := r.Header.Values(h); len(vs) > 0 {
			again.Header[http.CanonicalHeaderKey(h)] = vs
		}
	}
	// The payload hash is always the body's own: a signed
	// X-Amz-Content-Sha256 must equal it (a swapped body is refused), and
	// UNSIGNED-PAYLOAD or a streaming payload, which leave the body
	// unsigned, are refused.
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && !strings.EqualFold(h, payload) {
		return errPayloadHash
	}
	creds := aws.Credentials{AccessKeyID: a.accessKey, SecretAccessKey: secret, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, payload, a.service, a.region, when); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	want, _ := parseSigV4(again.Header.Get("Authorization"))
	if subtle.ConstantTimeCompare([]byte(want.signature), []byte(a.signature)) != 1 {
		return errBadSignature
	}
	return nil
}

// readBody reads r's body (up to limit bytes, plus one to tell that it was
// over) and puts it back for the handler.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}
