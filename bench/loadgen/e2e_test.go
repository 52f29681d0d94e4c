package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/serverless-chat/chat/internal/testenv"
)

func TestMain(m *testing.M) {
	code := testenv.Run(m)
	if sioDir != "" {
		os.RemoveAll(sioDir)
	}
	os.Exit(code)
}

// TestAgainstLocalAdapter runs the load generator against the real local
// adapter (`go run ./local`), built and started on a free port.
func TestAgainstLocalAdapter(t *testing.T) {
	addr := startLocalAdapter(t)
	cfg := Config{
		Proto: "apigw", URL: "ws://" + addr + "/local", Room: "e2e",
		Clients: 12, Senders: 3, Rate: 50, Messages: 20, Size: 100,
		Drain: time.Minute, DrainIdle: 20 * time.Second,
	}
	res := runOK(t, cfg)
	if got, want := res.Expected, int64(3*20*11); got != want {
		t.Errorf("expected deliveries = %d, want %d", got, want)
	}

	// A room the server refuses ($connect answers 400): the run does not start.
	cfg.Room = "Not A Room"
	_, err := Run(context.Background(), cfg)
	var he *handshakeError
	if !errors.As(err, &he) || he.status != 400 {
		t.Errorf("Run with an invalid room: error %v, want a refused handshake with HTTP 400", err)
	}
}

// TestAgainstSocketIO runs the load generator against the real Socket.IO
// tutorial server of bench/socketio (its locked dependencies installed with
// npm ci into a temporary directory), through the command's flags.
func TestAgainstSocketIO(t *testing.T) {
	addr := startSocketIO(t)
	var stdout, stderr bytes.Buffer
	code := run([]string{
		"-proto", "socketio", "-url", "ws://" + addr + "/socket.io/?EIO=4&transport=websocket",
		"-clients", "12", "-senders", "3", "-rate", "50", "-messages", "20",
		"-drain-idle", "20s", "-settle", "0", "-json", "-quiet",
	}, &stdout, &stderr)
	var res Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("decode -json output: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	if code != 0 || !res.Exact {
		t.Fatalf("exit %d, exact %v; want 0, true\nstderr: %s", code, res.Exact, stderr.String())
	}
	if got, want := res.Delivered, int64(3*20*11); got != want {
		t.Errorf("delivered = %d, want %d", got, want)
	}
}

// TestServerMemory reads the memory of the server process from /proc.
func TestServerMemory(t *testing.T) {
	addr, pid := startSocketIOWithPID(t)
	cfg := Config{
		Proto: "socketio", URL: "ws://" + addr + "/socket.io/?EIO=4&transport=websocket",
		Clients: 10, Senders: 1, Messages: 1, ServerPID: pid, DrainIdle: 20 * time.Second,
	}
	res := runOK(t, cfg)
	if res.ServerRSSBeforeKiB <= 0 || res.ServerRSSConnected <= 0 || res.ServerPeakRSSKiB <= 0 {
		t.Errorf("server memory not read: %+v", res)
	}
}

func TestRefusesWhenServerIsDown(t *testing.T) {
	port := testenv.FreePort(t)
	cfg := Config{
		Proto: "apigw", URL: fmt.Sprintf("ws://127.0.0.1:%d/local", port),
		Clients: 3, Senders: 1, Messages: 1, ConnectTimeout: 10 * time.Second,
	}
	res, err := Run(context.Background(), cfg)
	if err == nil {
		t.Fatalf("Run against a closed port: no error; result %+v", res)
	}
	if res.ConnectFailures == 0 {
		t.Errorf("connect failures = 0, want some (error %v)", err)
	}
}

func runOK(t *testing.T, cfg Config) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var summary bytes.Buffer
	writeSummary(&summary, res)
	t.Log("\n" + summary.String())
	if !res.Exact || res.Lost != 0 || res.Delivered != res.Expected || res.Sent != int64(cfg.Senders*cfg.Messages) {
		t.Errorf("sent %d, delivered %d of %d, exact %v; want every message delivered once, in order",
			res.Sent, res.Delivered, res.Expected, res.Exact)
	}
	if res.LatencyMaxMs <= 0 {
		t.Errorf("max latency = %v, want > 0", res.LatencyMaxMs)
	}
	return res
}

// startLocalAdapter builds ./local and starts it on a free port.
func startLocalAdapter(t *testing.T) string {
	t.Helper()
	root := testenv.RepoRoot()
	if _, err := os.Stat(filepath.Join(root, "local", "main.go")); err != nil {
		t.Fatalf("local/main.go: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "local")
	build := exec.Command("go", "build", "-o", bin, "./local")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./local: %v\n%s", err, out)
	}
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	logPath := filepath.Join(t.TempDir(), "local.log")
	if err := testenv.Start(exec.Command(bin, "-addr", addr, "-send-burst", "0"), logPath); err != nil {
		t.Fatalf("start ./local: %v", err)
	}
	if err := testenv.WaitHTTP("http://"+addr+"/", time.Minute); err != nil {
		t.Fatalf("%v\n%s", err, testenv.ReadLog(logPath))
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("./local log:\n%s", testenv.ReadLog(logPath))
		}
	})
	return addr
}

func startSocketIO(t *testing.T) string {
	t.Helper()
	addr, _ := startSocketIOWithPID(t)
	return addr
}

// The Socket.IO server is started once and shared by the tests.
var (
	sioOnce sync.Once
	sioDir  string
	sioAddr string
	sioPID  int
	sioErr  error
)

// startSocketIOWithPID installs bench/socketio's locked dependencies into a
// temporary directory (npm ci) and starts its server there on a free port.
func startSocketIOWithPID(t *testing.T) (string, int) {
	t.Helper()
	node := testenv.Tool(t, "node", "install Node.js 18 or later (`apt-get install -y nodejs npm`)")
	npm := testenv.Tool(t, "npm", "install npm (`apt-get install -y npm`)")
	sioOnce.Do(func() { sioAddr, sioPID, sioErr = startSocketIOServer(t, node, npm) })
	if sioErr != nil {
		t.Fatal(sioErr)
	}
	return sioAddr, sioPID
}

func startSocketIOServer(t *testing.T, node, npm string) (string, int, error) {
	src := filepath.Join(testenv.RepoRoot(), "bench", "socketio")
	dir, err := os.MkdirTemp("", "loadgen-socketio-")
	if err != nil {
		return "", 0, err
	}
	sioDir = dir // removed by TestMain
	for _, f := range []string{"package.json", "package-lock.json", "server.js"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			return "", 0, fmt.Errorf("read bench/socketio/%s: %w", f, err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			return "", 0, err
		}
	}
	ci := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	ci.Dir = dir
	if out, err := ci.CombinedOutput(); err != nil {
		return "", 0, fmt.Errorf("npm ci for bench/socketio: %w\n%s", err, out)
	}
	port := testenv.FreePort(t)
	cmd := exec.Command(node, "server.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "HOST=127.0.0.1")
	logPath := filepath.Join(dir, "server.log")
	if err := testenv.Start(cmd, logPath); err != nil {
		return "", 0, fmt.Errorf("start socket.io server: %w", err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := testenv.WaitHTTP("http://"+addr+"/", time.Minute); err != nil {
		return "", 0, fmt.Errorf("%w\n%s", err, testenv.ReadLog(logPath))
	}
	return addr, cmd.Process.Pid, nil
}
