// Command fanoutsim simulates the deployed delivery of one chat message to
// rooms of 100 to 50,000 members, on a laptop: the real chat.Service, the
// real aws-sdk-go-v2 @connections client and the real fan-out path (batches
// through a queue, consumed by at most FanoutConcurrency "invocations" of
// PostWorkers posts each), against a stand-in for API Gateway's
// @connections under load (server.go) running in a child process.
//
// Lambda's CPU share is applied with a cgroup: memory / 1,769 MB of a vCPU
// per concurrent invocation (cgroup v2 cpu.max where the machine has it,
// else cgroup v1 cpu.cfs_quota_us), and the simulator runs outside it.
//
//	go run ./bench/fanoutsim                       # rooms of 100, 1,000, 10,000, 50,000
//	go run ./bench/fanoutsim -rooms 10000 -stale 0.05
//
// A machine of two shared cores cannot feed AWS's 10,000 posts a second
// with three 1 vCPU functions, so -scale f runs the same system slowed
// down by f: the throttle's rate and burst and the functions' CPU times f,
// the post latency and the queue hop divided by f. Every time in such a run
// is then 1/f of the real one, and the table gives both, with the CPU the
// functions spent per 1,000 posts (getrusage, under the quota):
//
//	go run ./bench/fanoutsim -paths sharded -rooms 10000,50000 -memory 1769 -hop 16ms -scale 0.25
//
// Everything listens on 127.0.0.1; each run is bounded by -timeout.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/serverless-chat/chat/internal/apigw"
	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/memqueue"
	"github.com/serverless-chat/chat/internal/memstore"
)

func main() {
	serve := flag.Bool("serve", false, "run the @connections simulator (the child process)")
	rate := flag.Float64("rate", 10000, "account throttle: requests a second")
	burst := flag.Float64("burst", 5000, "account throttle: burst")
	median := flag.Duration("latency", 8*time.Millisecond, "median post latency")
	sigma := flag.Float64("sigma", 0.5, "log-normal sigma of the post latency (0.5: p99 about 3.2 x the median)")
	rooms := flag.String("rooms", "100,1000,10000,50000", "room sizes (members, the sender included)")
	stale := flag.Float64("stale", 0.01, "fraction of members whose connection is gone (410)")
	memory := flag.Int("memory", 512, "the functions' memory size in MB (CPU share: memory / 1769 of a vCPU)")
	concurrency := flag.Int("fanout-concurrency", 3, "most fan-out invocations at once (the mapping's maximum concurrency)")
	workers := flag.Int("workers", chat.DefaultWorkers, "posts at once per invocation (POST_WORKERS)")
	paths := flag.String("paths", "sharded,inline", "delivery paths to run")
	timeout := flag.Duration("timeout", 2*time.Minute, "bound of one run")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the simulated functions, from the first send on, to this file (give one room size)")
	hop := flag.Duration("hop", 0, "median wait of a batch in the queue before an invocation takes it (SQS: 16ms)")
	hopSigma := flag.Float64("hop-sigma", 0.81, "log-normal sigma of the queue hop (0.81: p99 about 6.6 x the median, 105 ms for 16 ms)")
	scale := flag.Float64("scale", 1, "run slowed down by this factor (0 < f <= 1): throttle and CPU times f, latencies divided by f")
	flag.Parse()

	if *scale <= 0 || *scale > 1 {
		fmt.Fprintln(os.Stderr, "fanoutsim: -scale must be in (0, 1]")
		os.Exit(2)
	}
	if *serve {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(ln.Addr().String())
		f := *scale
		_ = http.Serve(ln, newAPIGateway(*rate*f, *burst*f, time.Duration(float64(*median)/f), *sigma))
		return
	}
	sim, stop, err := startSimulator(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "fanoutsim:", err)
		os.Exit(1)
	}
	defer stop()

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fanoutsim:", err)
			os.Exit(1)
		}
		profile = f
		defer pprof.StopCPUProfile()
	}
	share := float64(*memory) / 1769
	f := *scale
	fmt.Printf("fanoutsim: throttle %.0f/s burst %.0f, latency median %v sigma %.2f, queue hop median %v sigma %.2f, %.0f%% stale, %d MB (%.2f vCPU an invocation), %d workers, fan-out concurrency %d, scale %.3g\n",
		*rate, *burst, *median, *sigma, *hop, *hopSigma, *stale*100, *memory, share, *workers, *concurrency, f)
	if f < 1 {
		fmt.Printf("fanoutsim: scaled run: throttle %.0f/s burst %.0f, latency %v, hop %v, CPU times %.3g; times below are the real ones (measured × %.3g), measured in brackets\n",
			*rate*f, *burst*f, time.Duration(float64(*median)/f), time.Duration(float64(*hop)/f), f, f)
	}
	fmt.Println("| path | members | send → last delivery | p50 | p99 | requests (429s retried) | lost | invocations | CPU-s per 1,000 requests | CPU-bound time | throttle floor | Lambda GB-s | CPU limit |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, path := range strings.Split(*paths, ",") {
		for _, field := range strings.Split(*rooms, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(field))
			if err != nil || n < 2 {
				fmt.Fprintf(os.Stderr, "fanoutsim: bad room size %q\n", field)
				os.Exit(2)
			}
			invocations := 1
			if path == "sharded" {
				invocations = *concurrency
			}
			var limit string
			hopDist := lognormal{median: time.Duration(float64(*hop) / f), sigma: *hopSigma}
			r := run(sim, path, n, *stale, *workers, *concurrency, *memory, hopDist, *timeout, func() {
				limit = applyCPUShare(share * float64(invocations) * f)
			})
			// The requests the stand-in answered: deliveries, 410s and 429s.
			requests := r.Delivered + r.Gone + r.Throttled
			perK := 0.0
			if requests > 0 {
				perK = r.cpu.Seconds() / float64(requests) * 1000
			}
			// What the same work takes on the full-size system: CPU-bound
			// at the invocations' vCPUs, and the throttle's floor.
			vcpus := share * float64(invocations)
			cpuBound := perK * float64(requests) / 1000 / vcpus
			floor := max(0, float64(n-1)-*burst) / *rate
			fmt.Printf("| %s | %d | %s | %s | %s | %d (%d) | %d | %d | %.3f | %.2f s | %.2f s | %.2f | %s |\n", path, n,
				scaled(r.LastMs, f), scaled(r.P50Ms, f), scaled(r.P99Ms, f), requests, r.Throttled, r.lost, r.invocations,
				perK, cpuBound, floor, r.gbSeconds*f, limit)
		}
	}
}

// scaled formats a time measured in a run slowed down by f as the real
// time, with the measured one in brackets when they differ.
func scaled(ms, f float64) string {
	if f == 1 {
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.0f ms (%.0f)", ms*f, ms)
}

// lognormal is a distribution of waits: median × e^(sigma × N(0, 1)).
type lognormal struct {
	median time.Duration
	sigma  float64
}

func (d lognormal) draw() time.Duration {
	if d.median <= 0 {
		return 0
	}
	return time.Duration(float64(d.median) * math.Exp(d.sigma*rand.NormFloat64()))
}

// profile, when set, receives a CPU profile from the first send on.
var profile *os.File

// result is one run's outcome.
type result struct {
	stats
	lost        int
	invocations int
	gbSeconds   float64
	cpu         time.Duration // this process's CPU from the send to the last delivery
}

// run delivers one message to a room of n through path and reads back
// what the simulator saw. The room is set up without a CPU limit (memstore's
// Put copies the room: quadratic, and no part of a function's work); limit
// applies the functions' share just before the send, and timeout bounds
// the run from there.
func run(sim, path string, n int, stale float64, workers, concurrency, memoryMB int, hop lognormal, timeout time.Duration, limit func()) result {
	applyCPUShare(0)
	_, _ = http.Post(sim+"/reset", "", nil)
	store := memstore.New()
	then := time.Now().Add(-time.Hour)
	staleEvery := 0
	if stale > 0 {
		staleEvery = int(1 / stale)
	}
	// This run's own IDs, so that late posts of an earlier run do not count.
	runID := fmt.Sprintf("r%d-", time.Now().UnixNano())
	want := 0
	for i := range n {
		id := fmt.Sprintf("%sm-%06d=", runID, i)
		switch {
		case i == 0:
			id = "sender=" // not counted
		case staleEvery > 0 && i%staleEvery == 0:
			id = fmt.Sprintf("%sstale-%06d=", runID, i)
		default:
			want++
		}
		_ = store.Put(context.Background(), chat.Connection{ID: id, Room: "big", Name: "member", ConnectedAt: then, ExpiresAt: then.Add(chat.TTL)})
	}
	client := apigw.NewClient(aws.Config{Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("sim", "sim", "")}, apigw.WithMaxConns(max(workers, apigw.DefaultMaxConns)))
	sender := &apigw.Sender{Client: client, Endpoint: sim + "/sim"}
	logger := slog.New(slog.DiscardHandler)
	svc := &chat.Service{Store: store, History: memstore.NewHistory(), Sender: sender, Workers: workers, Logger: logger,
		PresenceLimit: -1}

	var mu sync.Mutex
	var busy time.Duration // invocation time, summed
	invocations := 1
	if path == "sharded" {
		// The fan-out function: one batch an invocation, at most
		// concurrency at once, each bounded by its 30 s timeout.
		q := memqueue.New(func(qctx context.Context, b chat.Batch) *chat.Batch {
			// The batch's wait in SQS and the poller before an
			// invocation gets it; the slot is held meanwhile, as if the
			// poller fetched nothing ahead (the slow case).
			time.Sleep(hop.draw())
			start := time.Now()
			ictx, icancel := context.WithTimeout(qctx, 29500*time.Millisecond)
			defer icancel()
			worker := &chat.Service{Store: store, Sender: sender, Workers: workers, Logger: logger}
			_, rest := worker.DeliverBatch(ictx, b)
			mu.Lock()
			busy += time.Since(start)
			invocations++
			mu.Unlock()
			return rest
		}, concurrency)
		defer q.Close()
		svc.Queue = q
	} else {
		svc.InlineLimit = n + 1
	}
	limit()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// The profile starts with the first send, not with the room's setup.
	if profile != nil {
		_ = pprof.StartCPUProfile(profile)
		profile = nil
	}
	cpu0 := processCPU()
	t0 := time.Now()
	// The message function: 25 s timeout, 500 ms margin.
	mctx, mcancel := context.WithTimeout(ctx, 24500*time.Millisecond)
	_, err := svc.Send(mctx, "sender=", []byte(`{"action":"chat message","text":"hello, everyone","clientMsgId":"sim-1"}`))
	mcancel()
	mu.Lock()
	busy += time.Since(t0)
	mu.Unlock()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fanoutsim: send:", err)
	}
	var s stats
	for ctx.Err() == nil {
		s = readStats(sim, t0, runID+"m-")
		if s.Unique >= want {
			break
		}
		// The inline path has ended when Send returned: what is missing
		// then is lost.
		if path == "inline" && err == nil {
			s = readStats(sim, t0, runID+"m-")
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cpu := processCPU() - cpu0
	mu.Lock()
	defer mu.Unlock()
	return result{stats: s, lost: want - s.Unique, invocations: invocations,
		gbSeconds: busy.Seconds() * float64(memoryMB) / 1024, cpu: cpu}
}

func readStats(sim string, since time.Time, prefix string) stats {
	var s stats
	resp, err := http.Get(fmt.Sprintf("%s/stats?since=%d&prefix=%s", sim, since.UnixNano(), prefix))
	if err != nil {
		return s
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(&s)
	return s
}

// startSimulator runs this command with -serve in a child process (outside
// the CPU limit) and returns its base URL.
func startSimulator(args []string) (string, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(self, append([]string{"-serve"}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		return "", nil, fmt.Errorf("simulator: %w", err)
	}
	return "http://" + strings.TrimSpace(addr), func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }, nil
}

// applyCPUShare limits this process to vcpus of CPU time (0: no limit) and says how: a
// cgroup v2 cpu.max, a cgroup v1 cpu.cfs_quota_us, or "none" where the
// machine allows neither (not root, no writable cgroup).
func applyCPUShare(vcpus float64) string {
	const period = 100000 // µs
	quota, max2 := strconv.Itoa(int(vcpus*period)), strconv.Itoa(int(vcpus*period))
	if vcpus <= 0 {
		quota, max2 = "-1", "max"
	}
	pid := strconv.Itoa(os.Getpid())
	if dir := "/sys/fs/cgroup/fanoutsim"; fileExists("/sys/fs/cgroup/cgroup.controllers") {
		if os.MkdirAll(dir, 0o755) == nil &&
			os.WriteFile(filepath.Join(dir, "cpu.max"), []byte(max2+" "+strconv.Itoa(period)), 0o644) == nil &&
			os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(pid), 0o644) == nil {
			return fmt.Sprintf("cgroup v2 cpu.max %.2f vCPU", vcpus)
		}
	}
	if dir := "/sys/fs/cgroup/cpu/fanoutsim"; fileExists("/sys/fs/cgroup/cpu") {
		if os.MkdirAll(dir, 0o755) == nil &&
			os.WriteFile(filepath.Join(dir, "cpu.cfs_period_us"), []byte(strconv.Itoa(period)), 0o644) == nil &&
			os.WriteFile(filepath.Join(dir, "cpu.cfs_quota_us"), []byte(quota), 0o644) == nil &&
			os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(pid), 0o644) == nil {
			return fmt.Sprintf("cgroup v1 cfs quota %.2f vCPU", vcpus)
		}
	}
	return "none (no writable cgroup)"
}

// processCPU is the CPU time, user and system, this process (the
// simulated functions, under the quota) has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
