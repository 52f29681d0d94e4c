package web_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/serverless-chat/chat/internal/testenv"
)

// TestClientUnit runs the Node unit tests of client.js
// (testdata/client_unit.mjs): the frames the client sends and the events it
// gives for the protocol's frames, against a fake WebSocket. The page's
// modules are copied beside a package.json that makes them ES modules, as
// the browser takes them.
func TestClientUnit(t *testing.T) {
	runNodeUnit(t, "client_unit.mjs")
}

// runNodeUnit runs testdata/<test> with node --test beside copies of the
// page's client modules.
func runNodeUnit(t *testing.T, test string) {
	t.Helper()
	node := testenv.Tool(t, "node", "install Node.js 20 or later (apt-get install nodejs)")
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "testdata"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"client.js", "text.js", filepath.Join("testdata", "fakesocket.mjs"), filepath.Join("testdata", test)} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"type":"module"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "--test", filepath.Join("testdata", test))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test testdata/%s: %v\n%s", test, err, out)
	}
	t.Logf("%s", out)
}
