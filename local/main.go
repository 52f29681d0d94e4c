// Command local runs the whole chat on one machine, without AWS: an
// emulated API Gateway WebSocket API (internal/gateway) in front of the same
// handlers the Lambda functions run, with connections in memory or in
// DynamoDB (Local), and the chat page.
//
//	go run ./local                       # http://127.0.0.1:8080/
//	go run ./local -dynamodb-endpoint http://127.0.0.1:8000
//	go run ./local -lambda-endpoint http://127.0.0.1:3001          # sam local start-lambda
//	go run ./local -lambda-route '$connect=http://127.0.0.1:9001'  # aws-lambda-rie, per route
//
// Run `go run ./local -h` for every flag. SIGINT or SIGTERM closes every
// connection with 1001, runs each $disconnect, and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		log.Error("listen", slog.Any("error", err))
		os.Exit(1)
	}
	if err := serve(ctx, cfg, ln, os.Stdout, log); err != nil {
		log.Error("stopped", slog.Any("error", err))
		os.Exit(1)
	}
}
