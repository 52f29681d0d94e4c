package apigw_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"

	"github.com/serverless-chat/chat/internal/apigw"
	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/memstore"
)

// postLatency is how long the fake @connections API takes to answer a post.
const postLatency = 5 * time.Millisecond

// BenchmarkBroadcast measures one chat.Service.Send to N recipients through
// the production @connections client (NewClient: retryer, pooled transport)
// against a server taking postLatency per post, with memstore as the store.
// It reports ms/op and bound-ms, the goal 1.5 x ceil(N/workers) x postLatency.
//
//	go test -run '^$' -bench Broadcast -benchtime 20x ./internal/apigw/
func BenchmarkBroadcast(b *testing.B) {
	cases := []struct {
		n, workers int
		// sdkTransport uses the SDK's default HTTP client (10 idle
		// connections per host) instead of NewClient's, for comparison.
		sdkTransport bool
	}{
		{n: 10, workers: 1}, {n: 100, workers: 1}, // sequential baseline
		{n: 10, workers: 32}, {n: 100, workers: 32}, {n: 1000, workers: 32}, // the default
		{n: 100, workers: 8}, {n: 1000, workers: 8},
		{n: 1000, workers: 64},
		{n: 1000, workers: 128},
		{n: 1000, workers: 32, sdkTransport: true},
	}
	for _, c := range cases {
		name := fmt.Sprintf("N=%d/workers=%d", c.n, c.workers)
		if c.sdkTransport {
			name += "/sdk-transport"
		}
		b.Run(name, func(b *testing.B) {
			benchmarkBroadcast(b, c.n, c.workers, c.sdkTransport)
		})
	}
}

func benchmarkBroadcast(b *testing.B, n, workers int, sdkTransport bool) {
	ctx := context.Background()
	g := newGateway(b)
	g.delay = postLatency
	store := memstore.New()
	now := time.Now()
	for i := 0; i <= n; i++ { // the sender and n recipients
		c := chat.Connection{ID: fmt.Sprintf("conn-%04d=", i), Room: "general", Name: fmt.Sprintf("user%d", i),
			ConnectedAt: now, ExpiresAt: now.Add(chat.TTL)}
		if err := store.Put(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	var opts []func(*apigatewaymanagementapi.Options)
	if sdkTransport {
		opts = append(opts, func(o *apigatewaymanagementapi.Options) { o.HTTPClient = awshttp.NewBuildableClient() })
	}
	svc := &chat.Service{
		Store:   store,
		History: memstore.NewHistory(),
		// The broadcast alone: no "left" notices for the gone.
		PresenceLimit: -1,
		Sender:        &apigw.Sender{Client: apigw.NewClient(testConfig(), opts...), Endpoint: g.endpoint("bench")},
		Workers:       workers,
		Logger:        slog.New(slog.DiscardHandler),
	}
	body := []byte(`{"action":"chat message","text":"hello, everyone"}`)
	// One send to open the connections, as a warm Lambda has them.
	if _, err := svc.Send(ctx, "conn-0000=", body); err != nil {
		b.Fatal(err)
	}

	conns := g.conns.Load()
	start := time.Now()
	for b.Loop() {
		d, err := svc.Send(ctx, "conn-0000=", body)
		if err != nil {
			b.Fatal(err)
		}
		if d.Delivered != n {
			b.Fatalf("delivered %d of %d: %+v", d.Delivered, n, d)
		}
	}
	elapsed := time.Since(start)
	rounds := (n + workers - 1) / workers
	bound := 1.5 * float64(rounds) * float64(postLatency) / float64(time.Millisecond)
	b.ReportMetric(float64(elapsed)/float64(b.N)/float64(time.Millisecond), "ms/op")
	b.ReportMetric(bound, "bound-ms")
	// Connections dialed per send: 0 when the pool keeps them all.
	b.ReportMetric(float64(g.conns.Load()-conns)/float64(b.N), "new-conns/op")
}
