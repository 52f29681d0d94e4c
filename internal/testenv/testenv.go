// Package testenv finds and starts the real components the tests run
// against: DynamoDB Local, the Lambda Runtime Interface Emulator, Chromium,
// the AWS CLI. `make test-deps` installs them into .cache/.
//
// A test whose component is missing fails when CI=true and skips otherwise,
// with the same message saying how to install it.
package testenv

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// InstallHint is how to install every test dependency.
const InstallHint = "run `make test-deps` (or `make test`, which runs it first)"

// Missing fails the test in CI and skips it elsewhere, saying what is missing.
func Missing(t testing.TB, component, hint string) {
	t.Helper()
	msg := fmt.Sprintf("%s not found: %s", component, hint)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// RepoRoot returns the directory holding go.mod.
func RepoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// CacheDir is where `make test-deps` installs components: $CHAT_TEST_CACHE or .cache/ in the repository.
func CacheDir() string {
	if d := os.Getenv("CHAT_TEST_CACHE"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), ".cache")
}

// Tool returns the path of an executable found in .cache/bin or on PATH, or
// calls Missing.
func Tool(t testing.TB, name, hint string) string {
	t.Helper()
	if p := filepath.Join(CacheDir(), "bin", name); isExecutable(p) {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	Missing(t, name, hint)
	return ""
}

// RIE returns the path of aws-lambda-rie.
func RIE(t testing.TB) string {
	t.Helper()
	return Tool(t, "aws-lambda-rie", InstallHint+" (it runs `go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@"+RIEVersion+"`)")
}

// RIEVersion is the pinned version of the Lambda Runtime Interface Emulator.
const RIEVersion = "v0.0.0-20261030222936-bef5c4ba774d"

// Chromium returns the path of a Chromium or Chrome binary.
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	Missing(t, "chromium", InstallHint+" (as root it runs `apt-get install -y chromium`)")
	return ""
}

// AWSCLI returns the path of the aws command.
func AWSCLI(t testing.TB) string {
	t.Helper()
	return Tool(t, "aws", "install the AWS CLI (`pip install awscli`; it is preinstalled on the project's machine image)")
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Started processes, stopped by Run when the test binary is done.
var (
	procsMu sync.Mutex
	procs   []*exec.Cmd
)

// Run runs the tests and then stops every process the tests started. Use it
// from TestMain: os.Exit(testenv.Run(m)).
func Run(m *testing.M) int {
	code := m.Run()
	StopAll()
	return code
}

// StopAll kills the processes started through Start.
func StopAll() {
	procsMu.Lock()
	defer procsMu.Unlock()
	for _, c := range procs {
		if c.Process != nil {
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			_ = c.Wait()
		}
	}
	procs = nil
}

// Start starts a background process in its own process group, to be killed by
// StopAll (or, should the test binary die, by the kernel: Pdeathsig).
// Its output goes to logPath.
func Start(cmd *exec.Cmd, logPath string) error {
	out, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return err
	}
	procsMu.Lock()
	procs = append(procs, cmd)
	procsMu.Unlock()
	return nil
}

// WaitHTTP waits until url answers any HTTP response, or the timeout passes.
func WaitHTTP(url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer within %v: %w", url, timeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ReadLog returns the last bytes of a log file, for failure messages.
func ReadLog(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return strings.TrimSpace(string(b))
}
