package runtimeapi

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// pythonClient is the Python runtime client (python/runtime.py).
//
//go:embed python/runtime.py
var pythonClient []byte

func init() {
	addRuntimes("Python", "python3", "python", []string{"3.9", "3.10", "3.11", "3.12", "3.13"}, clientFile{"runtime.py", pythonClient},
		map[string]string{"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}, missingPythonPackages)
}

// missingPythonPackages lists the distributions requirements.txt in dir
// names that are installed neither in dir (pip install -t, sam build) nor
// in the interpreter's own site-packages.
func missingPythonPackages(interp interpreter, client, dir string) []string {
	req := filepath.Join(dir, "requirements.txt")
	if _, err := os.Stat(req); err != nil {
		return nil
	}
	cmd := exec.Command(interp.path, client, "--missing", req)
	cmd.Env = append(os.Environ(), "LAMBDA_TASK_ROOT="+dir)
	out, err := cmd.Output()
	if err != nil {
		return []string{fmt.Sprintf("requirements.txt: could not check what is installed: %v", err)}
	}
	var msgs []string
	for _, name := range strings.Fields(string(out)) {
		msgs = append(msgs, fmt.Sprintf("dependency %s (requirements.txt) is not installed: run pip install -r requirements.txt -t %s, or sam build", name, dir))
	}
	return msgs
}
