package apigw_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"

	"github.com/serverless-chat/chat/internal/apigw"
)

// answerOK is an HTTP client answering every request 200 at once, without
// a network: what is left of a post is the SDK client's own CPU
// (serializing, signing, the middleware stack, deserializing).
type answerOK struct{}

func (answerOK) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Length": {"0"}}, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
}

// BenchmarkPostClient measures the CPU of one post in the SDK client alone,
// its HTTP round trip replaced by an immediate 200: the part of a post that
// a Lambda pays whatever the network does. "sdk-stack" is the client
// without WithLeanStack (the SDK's whole middleware stack), "lean" is
// NewClient as the functions build it, and "lean/goroutine-per-post" makes
// each post from a new goroutine, as a broadcast's workers do, whose stack
// grows through the SDK's deep middleware chain every time.
//
//	go test -run '^$' -bench PostClient -benchmem -count 5 ./internal/apigw/
func BenchmarkPostClient(b *testing.B) {
	ctx := context.Background()
	data := []byte(`{"type":"chat message","id":"x","room":"general","from":"a","text":"hello","sentAt":"2026-11-24T15:00:00.000Z"}`)
	const endpoint = "https://abc123.execute-api.us-east-1.amazonaws.com/prod"
	noNetwork := func(o *apigatewaymanagementapi.Options) { o.HTTPClient = answerOK{} }
	sdkStack := apigatewaymanagementapi.NewFromConfig(testConfig(),
		apigw.WithRetry(apigw.DefaultMaxAttempts, apigw.DefaultMaxBackoff), noNetwork)
	lean := apigw.NewClient(testConfig(), noNetwork)
	for _, c := range []struct {
		name      string
		client    apigw.API
		goroutine bool
	}{
		{"sdk-stack", sdkStack, false},
		{"lean", lean, false},
		{"lean/goroutine-per-post", lean, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := &apigw.Sender{Client: c.client, Endpoint: endpoint}
			post := func() {
				if err := s.Post(ctx, "conn=", data); err != nil {
					b.Error(err)
				}
			}
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				if !c.goroutine {
					post()
					continue
				}
				done := make(chan struct{})
				go func() { post(); close(done) }()
				<-done
			}
			reportCPU(b, cpu)
		})
	}
}
