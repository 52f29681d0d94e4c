// Command hardening measures the local adapter under two abuses, for
// BENCHMARKS.md: clients that never read while large messages are posted
// to them (peak RSS), and a flood of idle keep-alive connections (file
// descriptors). It runs a built ./local binary as a child process with
// the flags given after --, on loopback, bounded in count and time.
//
//	go build -o /tmp/local ./local
//	go run ./bench/hardening -local /tmp/local -- -write-buffer 4194304
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

func main() {
	bin := flag.String("local", "", "the built ./local binary")
	slow := flag.Int("slow-clients", 100, "clients that never read")
	posts := flag.Int("posts", 48, "128 KB posts to each of them")
	idle := flag.Int("idle-conns", 3000, "idle keep-alive connections to open")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "usage: hardening -local BIN [-- local flags]")
		os.Exit(2)
	}
	addr := freeAddr()
	// Info logs: the clients' connection IDs are read from the $connect lines.
	logs := &syncBuffer{}
	cmd := exec.Command(*bin, append([]string{"-addr", addr, "-stage", "local", "-log-level", "info"}, flag.Args()...)...)
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	waitHTTP("http://" + addr + "/config.json")
	pid := cmd.Process.Pid
	fmt.Printf("local %v (pid %d): baseline RSS %d MB, %d fds\n", flag.Args(), pid, rssMB(pid, "VmRSS"), fds(pid))

	// 1. Clients that never read, 128 KB posts to each over @connections.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var ids []string
	for i := range *slow {
		ws, _, err := websocket.Dial(ctx, fmt.Sprintf("ws://%s/local?name=slow%d", addr, i), nil)
		if err != nil {
			panic(err)
		}
		defer ws.CloseNow()
	}
	ids = connectionIDs(logs, *slow)
	big := bytes.Repeat([]byte("m"), 128*1024)
	status := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range *posts {
				resp, err := http.Post("http://"+addr+"/local/@connections/"+id, "application/json", bytes.NewReader(big))
				if err != nil {
					return
				}
				resp.Body.Close()
				mu.Lock()
				status[resp.StatusCode]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("%d clients that never read, %d posts of 128 KB each in %v: statuses %v, peak RSS %d MB\n",
		*slow, *posts, time.Since(start).Round(time.Millisecond), status, rssMB(pid, "VmHWM"))

	// 2. Idle keep-alive connections (a GET, then nothing).
	var conns []net.Conn
	refused := 0
	for range *idle {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			refused++
			continue
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "GET /config.json HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	}
	time.Sleep(2 * time.Second)
	fmt.Printf("%d idle keep-alive connections opened (%d dials refused): the adapter holds %d fds\n", len(conns), refused, fds(pid))
	// A new client can still join.
	ws, _, err := websocket.Dial(ctx, fmt.Sprintf("ws://%s/local?name=late", addr), nil)
	fmt.Printf("a new WebSocket client during the flood: err=%v\n", err)
	if ws != nil {
		ws.CloseNow()
	}
	for _, c := range conns {
		c.Close()
	}
}

// connectionIDs reads the slow clients' connection IDs from the adapter's
// $connect log lines ("msg=connected ... connectionId=... name=slowN").
func connectionIDs(logs *syncBuffer, n int) []string {
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		var ids []string
		for _, line := range strings.Split(logs.String(), "\n") {
			if !strings.Contains(line, "msg=connected") || !strings.Contains(line, " name=slow") {
				continue
			}
			if _, rest, ok := strings.Cut(line, "connectionId="); ok {
				id, _, _ := strings.Cut(strings.Trim(rest, `"`), " ")
				ids = append(ids, strings.Trim(id, `"`))
			}
		}
		if len(ids) >= n {
			return ids
		}
	}
	panic("the slow clients' IDs are not in the log")
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func rssMB(pid int, field string) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			var kb int
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb / 1024
		}
	}
	return -1
}

func fds(pid int) int {
	es, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(es)
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitHTTP(u string) {
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			return
		}
	}
	panic("no answer from " + u)
}
