package runtimeapi_test

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/serverless-chat/chat/internal/gateway"
	"github.com/serverless-chat/chat/local/runtimeapi"
)

// A pool stands in for the Lambda client behind the gateway's Lambda
// integration: one pool per function of the template.
func ExampleStart() {
	ctx := context.Background()
	pool, err := runtimeapi.Start(ctx, runtimeapi.Function{
		Name:      "MessageFunction",
		Bootstrap: ".build/MessageFunction/bootstrap",
		Env:       map[string]string{"TABLE": "chat"},
		Timeout:   10 * time.Second,
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		slog.Error("start the function", slog.Any("error", err))
		return
	}
	defer pool.Close()

	// The pool bounds concurrency itself (MaxProcs), so the integration
	// needs no bound of its own.
	integration := gateway.NewLambda(pool, "MessageFunction", 0)
	_ = integration

	// After a rebuild of the bootstrap:
	pool.Restart()
}
