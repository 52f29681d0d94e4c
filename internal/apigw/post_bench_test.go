package apigw_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"

	"github.com/serverless-chat/chat/internal/apigw"
)

// BenchmarkPost measures one post's round trip to a local server answering
// at once: the CPU cost of the SDK client (and of the test server), with the
// endpoint given per call as Sender does, or set once in the client.
// cpu-µs/op is the CPU of the whole process, client and server.
func BenchmarkPost(b *testing.B) {
	g := newGateway(b)
	ctx := context.Background()
	data := []byte(`{"type":"chat message","id":"x","room":"general","from":"a","text":"hello","sentAt":"2026-11-24T15:00:00.000Z"}`)
	b.Run("endpoint-per-call", func(b *testing.B) {
		s := &apigw.Sender{Client: apigw.NewClient(testConfig()), Endpoint: g.endpoint("bench")}
		b.ReportAllocs()
		cpu := processCPU()
		for b.Loop() {
			if err := s.Post(ctx, "conn=", data); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu)
	})
	b.Run("endpoint-in-client", func(b *testing.B) {
		ep := g.endpoint("bench")
		s := &apigw.Sender{Client: apigw.NewClient(testConfig(), func(o *apigatewaymanagementapi.Options) { o.BaseEndpoint = &ep })}
		b.ReportAllocs()
		cpu := processCPU()
		for b.Loop() {
			if err := s.Post(ctx, "conn=", data); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu)
	})
}
