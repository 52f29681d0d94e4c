// Command local runs the whole chat on one machine, without AWS: an
// emulated API Gateway WebSocket API (internal/gateway) in front of the same
// handlers the Lambda functions run, with connections in memory or in
// DynamoDB (Local), and the chat page. It runs any SAM template's
// WebSocket API too: its functions as built bootstraps, Node.js and Python
// natively (local/runtimeapi), or through a Lambda endpoint.
//
//	go run ./local                       # http://127.0.0.1:8080/
//	go run ./local -dynamodb-endpoint http://127.0.0.1:8000
//	go run ./local -template app/template.yaml -dynamodb-endpoint http://127.0.0.1:8000
//	go run ./local -template app/template.yaml -lambda-endpoint http://127.0.0.1:3001  # sam local start-lambda
//	go run ./local -lambda-route '$connect=http://127.0.0.1:9001'  # aws-lambda-rie, per route
//	go run ./local -cpuprofile local.pprof                         # profile until shutdown
//
// Run `go run ./local -h` for every flag, by group. SIGINT or SIGTERM closes every
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
	"runtime/pprof"
	"strconv"
	"syscall"
)

func main() { os.Exit(run()) }

// run runs the adapter until SIGINT or SIGTERM and returns the exit code.
func run() int {
	cfg, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "local: %v\n%s\n", err, flagHint)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	if cfg.cpuProfile != "" {
		ownPaths = append(ownPaths, cfg.cpuProfile)
		stop, err := startCPUProfile(cfg.cpuProfile)
		if err != nil {
			log.Error("cpu profile", slog.Any("error", err))
			return 1
		}
		defer func() {
			if err := stop(); err != nil {
				log.Error("cpu profile", slog.Any("error", err))
			}
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		log.Error("listen", slog.Any("error", err), slog.String("hint", listenHint(cfg.addr, err)))
		return 1
	}
	if err := serve(ctx, cfg, ln, os.Stdout, log); err != nil {
		log.Error("stopped", slog.Any("error", err))
		return 1
	}
	return 0
}

// startCPUProfile profiles the process into path until stop is called.
func startCPUProfile(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}, nil
}

// listenHint says how to get past a failed listen: another port when this
// one is taken.
func listenHint(addr string, err error) string {
	if !errors.Is(err, syscall.EADDRINUSE) {
		return "check -addr (env CHAT_ADDR): want host:port, e.g. 127.0.0.1:8080"
	}
	host, port, _ := net.SplitHostPort(addr)
	next := "8081"
	if p, perr := strconv.Atoi(port); perr == nil && p > 0 && p < 65535 {
		next = strconv.Itoa(p + 1)
	}
	return fmt.Sprintf("%s is in use by another program (another adapter?): choose another port with -addr %s or CHAT_ADDR=%s, or stop that program",
		addr, net.JoinHostPort(host, next), net.JoinHostPort(host, next))
}
