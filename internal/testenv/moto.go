package testenv

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// MotoHint is how to install moto_server.
const MotoHint = "install moto's server (`pip install 'moto[server]'`; it is preinstalled on the project's machine image)"

// Moto starts a moto_server (S3, SQS and more, in memory) on a free
// loopback port for the test and returns its endpoint. It is stopped when
// the test binary ends (Run).
func Moto(t testing.TB) string {
	t.Helper()
	moto := Tool(t, "moto_server", MotoHint)
	port := FreePort(t)
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	logPath := filepath.Join(t.TempDir(), "moto.log")
	if err := Start(exec.Command(moto, "-H", "127.0.0.1", "-p", strconv.Itoa(port)), logPath); err != nil {
		t.Fatalf("start moto_server: %v", err)
	}
	if err := WaitHTTP(endpoint, 60*time.Second); err != nil {
		t.Fatalf("moto_server: %v\n%s", err, ReadLog(logPath))
	}
	return endpoint
}
