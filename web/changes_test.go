package web_test

// Messages that live, in the page (docs/protocol.md, "Messages that live:
// edits, deletions, reactions, blocks").

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/serverless-chat/chat/internal/testenv"
)

// TestChangesUnit runs the Node unit tests of client.js's changes
// (testdata/changes_unit.mjs): edit, delete and reaction events as stream
// entries, and edit, delete and react requests in the outbox, against a
// fake WebSocket.
func TestChangesUnit(t *testing.T) {
	node := testenv.Tool(t, "node", "install Node.js 20 or later (apt-get install nodejs)")
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "testdata"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"client.js", "text.js", filepath.Join("testdata", "changes_unit.mjs")} {
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
	cmd := exec.Command(node, "--test", filepath.Join("testdata", "changes_unit.mjs"))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test testdata/changes_unit.mjs: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
