// Command loadgen is the chat's load generator: it connects N WebSocket
// clients to one room of a chat server on this machine, has S of them send
// at a set rate, and checks and measures every delivery (each message must
// reach each other client exactly once, in its sender's order).
//
// It speaks the project's protocol (-proto apigw, against `go run ./local`)
// or Socket.IO v4 (-proto socketio, against bench/socketio/server.js), so
// the two servers can be compared under identical load; see bench/run.sh.
//
//	go run ./bench/loadgen -clients 1000 -senders 10 -rate 10 -duration 20s
//	go run ./bench/loadgen -proto socketio -clients 1000 -senders 10 -rate 10 -duration 20s -json
//
// Exit status: 0 when every delivery was exact, 3 when the run completed
// but deliveries were lost, duplicated or reordered, 1 when it could not run.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	var totalRate float64
	var asJSON, quiet bool
	fs.StringVar(&cfg.Proto, "proto", "apigw", "protocol: apigw (this project's, ./local), ceiling (bench/ceiling: the same protocol, the minimal Go server) or socketio (Socket.IO v4)")
	fs.BoolVar(&cfg.Acks, "acks", false, "apigw: send each message with a clientMsgId, so that the server stores it once and acks it")
	fs.StringVar(&cfg.URL, "url", "", "server WebSocket URL, loopback only (default ws://127.0.0.1:8080/local, or ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket for socketio)")
	fs.StringVar(&cfg.Room, "room", "loadgen", "room every client joins (apigw)")
	fs.IntVar(&cfg.Clients, "clients", 100, "N: connections in the room")
	fs.IntVar(&cfg.Senders, "senders", 10, "S: how many of the clients send")
	fs.Float64Var(&cfg.Rate, "rate", 10, "messages per second per sender (0: as fast as each sender can write)")
	fs.Float64Var(&totalRate, "total-rate", 0, "messages per second across all senders (overrides -rate)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to send")
	fs.IntVar(&cfg.Messages, "messages", 0, "messages per sender (overrides -duration)")
	fs.IntVar(&cfg.Size, "size", 64, "message text size in bytes")
	fs.IntVar(&cfg.ConnectConcurrency, "connect-concurrency", 32, "handshakes in flight at once while connecting")
	fs.IntVar(&cfg.Pollers, "pollers", 1, "epoll loops (goroutines) reading the connections: at most this many cores for reading")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 30*time.Second, "per connection")
	fs.DurationVar(&cfg.Settle, "settle", time.Second, "pause after connecting, before measuring memory and sending")
	fs.DurationVar(&cfg.Drain, "drain", 60*time.Second, "longest wait for deliveries after the last send")
	fs.DurationVar(&cfg.DrainIdle, "drain-idle", 5*time.Second, "stop draining after this long without a delivery")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "server process to read memory (VmRSS) of, from /proc")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON on stdout (the summary goes to stderr)")
	fs.BoolVar(&quiet, "quiet", false, "no progress lines")
	cpuProfile := fs.String("cpuprofile", "", "write the load generator's own CPU profile to this file")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadgen: unexpected arguments %q\n", fs.Args())
		return 1
	}
	if totalRate > 0 && cfg.Senders > 0 {
		cfg.Rate = totalRate / float64(cfg.Senders)
	}
	if !quiet {
		cfg.Progress = stderr
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Run(ctx, cfg)
	summaryTo := stdout
	if asJSON {
		summaryTo = stderr
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if encErr := enc.Encode(res); encErr != nil {
			fmt.Fprintf(stderr, "loadgen: %v\n", encErr)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 1
	}
	writeSummary(summaryTo, res)
	if !res.Exact {
		return 3
	}
	return 0
}

func writeSummary(w io.Writer, r Result) {
	rate := "unthrottled"
	if r.RatePerSender > 0 {
		rate = fmt.Sprintf("%g msg/s per sender = %g msg/s offered, %.0f deliveries/s offered",
			r.RatePerSender, r.OfferedMessagesSec, r.OfferedDelivSec)
	}
	fmt.Fprintf(w, "%s %s: %d clients, %d senders, %s, %d-byte texts\n", r.Proto, r.URL, r.Clients, r.Senders, rate, r.Size)
	fmt.Fprintf(w, "  connect    %d clients in %.2fs (NOFILE %d)\n", r.Connected, r.ConnectSeconds, r.NoFileLimit)
	fmt.Fprintf(w, "  sent       %d messages in %.2fs (%.1f msg/s); sender lag p99 %.2fms max %.2fms; longest write %.2fms; %d send errors %s\n",
		r.Sent, r.SendSeconds, r.SentMessagesSec, r.SenderLagP99Ms, r.SenderLagMaxMs, r.WriteMaxMs, r.SendErrors, r.SendError)
	fmt.Fprintf(w, "  delivered  %d of %d expected in %.2fs: %.0f deliveries/s; %d during the send window: %.0f deliveries/s; drain %s\n",
		r.Delivered, r.Expected, r.DeliverySeconds, r.DeliveriesSec, r.DeliveriesInSend, r.DeliveriesInSendSec, r.DrainEnd)
	fmt.Fprintf(w, "  checks     lost %d, duplicates %d, reordered %d, self-echoes %d, foreign %d, invalid %d, error frames %d, closed by server %d\n",
		r.Lost, r.Duplicates, r.Reordered, r.SelfEchoes, r.Foreign, r.Invalid, r.ErrorFrames, r.ClosedByServer)
	if r.ReadError != "" {
		fmt.Fprintf(w, "             first read error: %s\n", r.ReadError)
	}
	fmt.Fprintf(w, "  latency    p50 %.2fms  p90 %.2fms  p99 %.2fms  p99.9 %.2fms  max %.2fms  mean %.2fms (send to receive)\n",
		r.LatencyP50Ms, r.LatencyP90Ms, r.LatencyP99Ms, r.LatencyP999Ms, r.LatencyMaxMs, r.LatencyMeanMs)
	fmt.Fprintf(w, "             p50 %.2fms  p99 %.2fms  max %.2fms from the scheduled send (includes sender lag)\n",
		r.SchedLatencyP50Ms, r.SchedLatencyP99Ms, r.SchedLatencyMaxMs)
	if r.ServerPID > 0 {
		fmt.Fprintf(w, "  server     pid %d RSS %.1f MiB idle -> %.1f MiB with %d clients (%.1f KiB/connection); %.1f MiB after, peak %.1f MiB %s\n",
			r.ServerPID, kib2mib(r.ServerRSSBeforeKiB), kib2mib(r.ServerRSSConnected), r.Connected, r.ServerKiBPerConn,
			kib2mib(r.ServerRSSAfterKiB), kib2mib(r.ServerPeakRSSKiB), r.ServerMemoryErr)
	}
	fmt.Fprintf(w, "  cpu        over %.1fs of sending and draining: load generator %.1fs", r.MeasuredSeconds, r.LoadgenCPUSeconds)
	if r.ServerPID > 0 {
		fmt.Fprintf(w, ", server %.1fs", r.ServerCPUSeconds)
	}
	fmt.Fprintln(w, " (CPU seconds, user+system)")
	verdict := "EXACT: every message reached every other client once, in order"
	if !r.Exact {
		verdict = "NOT EXACT: see checks above"
	}
	if r.Interrupted {
		verdict += " (interrupted)"
	}
	fmt.Fprintf(w, "  %s; %s\n", verdict, r.LoadgenNote)
}

func kib2mib(k int64) float64 { return float64(k) / 1024 }
