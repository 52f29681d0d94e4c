package functions_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serverless-chat/chat/internal/testenv"
)

// nag runs the cdk-nag gate (policy/transform.py, then policy/nag.js) on a
// template file as `make policy` does, and returns its output and whether it
// passed.
func nag(t *testing.T, template string) (string, bool) {
	t.Helper()
	python := testenv.Tool(t, "python3", "install Python 3 with aws-sam-translator (`pip install aws-sam-translator`)")
	if err := exec.Command(python, "-c", "import samtranslator").Run(); err != nil {
		testenv.Missing(t, "aws-sam-translator", "`pip install aws-sam-translator` (cfn-lint installs it)")
	}
	node := testenv.Tool(t, "node", "install Node.js 20 (`apt-get install nodejs npm`)")
	modules := filepath.Join(testenv.CacheDir(), "policy", "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "cdk-nag", "package.json")); err != nil {
		testenv.Missing(t, "cdk-nag ("+modules+")", testenv.InstallHint+" (it runs npm ci in .cache/policy from policy/package-lock.json)")
	}
	root := testenv.RepoRoot()
	transformed := filepath.Join(t.TempDir(), "template.json")
	cmd := exec.Command(python, filepath.Join(root, "policy", "transform.py"), template)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("policy/transform.py %s: %v\n%s", template, err, stderrOf(err))
	}
	if err := os.WriteFile(transformed, out, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(node, filepath.Join(root, "policy", "nag.js"), transformed, filepath.Join(root, "policy", "suppressions.json"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	b, err := cmd.CombinedOutput()
	if _, failed := err.(*exec.ExitError); err != nil && !failed {
		t.Fatalf("node policy/nag.js: %v", err)
	}
	return string(b), err == nil
}

func stderrOf(err error) []byte {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.Stderr
	}
	return nil
}

// TestPolicyGate: cdk-nag's AwsSolutions and Serverless packs pass on the
// template with every suppression giving its reason, and the gate refuses
// a template that drops the stage's access logs and the functions' tracing.
func TestPolicyGate(t *testing.T) {
	out, ok := nag(t, filepath.Join(testenv.RepoRoot(), "template.yaml"))
	if !ok {
		t.Errorf("the gate fails on template.yaml:\n%s", out)
	}
	if !strings.Contains(out, "0 not") {
		t.Errorf("gate output:\n%s", out)
	}

	var suppressions []struct{ Resource, ID, Reason string }
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "policy", "suppressions.json"))
	if err == nil {
		err = json.Unmarshal(b, &suppressions)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range suppressions {
		if len(s.Reason) < 40 {
			t.Errorf("suppression %s on %s: reason %q is too short to say why", s.ID, s.Resource, s.Reason)
		}
	}

	tp := loadTemplate(t)
	delete(asMap(t, get(map[string]any(tp), "Resources", "Stage", "Properties"), "Stage"), "AccessLogSettings")
	delete(asMap(t, get(map[string]any(tp), "Globals", "Function"), "Globals.Function"), "Tracing")
	broken := filepath.Join(t.TempDir(), "broken.json")
	b, err = json.Marshal(tp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(broken, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, ok = nag(t, broken)
	if ok {
		t.Errorf("the gate passes a template without access logs or tracing:\n%s", out)
	}
	for _, want := range []string{"AwsSolutions-APIG1 on Stage", "Serverless-LambdaTracing on MessageFunction"} {
		if !strings.Contains(out, want) {
			t.Errorf("gate output lacks %q:\n%s", want, out)
		}
	}
}
