package runtimeapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// managedRuntime is a Lambda managed runtime the pool runs natively: this
// machine's interpreter, with a small runtime client embedded in the
// adapter (nodejs.go, python.go) that runs the Runtime API loop as AWS's
// runtime interface clients do.
type managedRuntime struct {
	language string // for messages: Node.js, Python
	command  string // the interpreter: node, python3
	version  string // the runtime's version: 20, 3.12
	client   clientFile
	// env is what the runtime sets for every function (the function's
	// own variables win).
	env map[string]string
	// missing lists the dependencies of the code in dir that are not
	// installed, as messages (interp is the interpreter found).
	missing func(interp interpreter, client, dir string) []string
}

// clientFile is an embedded runtime client, written to disk once.
type clientFile struct {
	name string
	body []byte
}

// managedRuntimes are the runtimes that run natively, by their template name.
var managedRuntimes = map[string]managedRuntime{}

func addRuntimes(language, command, prefix string, versions []string, client clientFile, env map[string]string,
	missing func(interpreter, string, string) []string) {
	for _, v := range versions {
		name := prefix + v
		if language == "Node.js" {
			name += ".x"
		}
		managedRuntimes[name] = managedRuntime{language: language, command: command, version: v, client: client, env: env, missing: missing}
	}
}

// NativeRuntime reports whether a template's Runtime (nodejs18.x to
// nodejs22.x, python3.9 to python3.13) runs natively, with Native.
func NativeRuntime(runtime string) bool {
	_, ok := managedRuntimes[runtime]
	return ok
}

// NativeRuntimes lists them.
func NativeRuntimes() []string { return slices.Sorted(maps.Keys(managedRuntimes)) }

// Native completes fn to run handler, of a managed runtime, natively:
// Bootstrap becomes this machine's interpreter (node, python3), Args the
// embedded runtime client, TaskRoot the code's directory. It returns
// warnings to show at start: an interpreter of another version than the
// runtime's, and dependencies the code declares (package.json,
// requirements.txt) that are not installed where the code will look.
func Native(fn Function, runtime, handler, codeDir string) (Function, []string, error) {
	rt, ok := managedRuntimes[runtime]
	if !ok {
		return fn, nil, fmt.Errorf("runtimeapi: %s: runtime %q does not run natively (%s do)", fn.Name, runtime, strings.Join(NativeRuntimes(), ", "))
	}
	interp, err := findInterpreter(rt.command)
	if err != nil {
		return fn, nil, fmt.Errorf("runtimeapi: %s: %s runtime %s: %w", fn.Name, rt.language, runtime, err)
	}
	client, err := writeClient(rt.client)
	if err != nil {
		return fn, nil, fmt.Errorf("runtimeapi: %s: runtime client: %w", fn.Name, err)
	}
	dir, err := filepath.Abs(codeDir)
	if err != nil {
		return fn, nil, err
	}
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return fn, nil, fmt.Errorf("runtimeapi: %s: code directory %s: not found", fn.Name, dir)
	}
	var warnings []string
	if interp.version != rt.version {
		warnings = append(warnings, fmt.Sprintf("function %s: runtime %s, but this machine's %s is %s %s: it runs with that",
			fn.Name, runtime, rt.command, rt.language, interp.version))
	}
	for _, m := range rt.missing(interp, client, dir) {
		warnings = append(warnings, fmt.Sprintf("function %s: %s", fn.Name, m))
	}
	env := maps.Clone(rt.env)
	maps.Copy(env, fn.Env)
	fn.Env = env
	fn.Bootstrap, fn.Args, fn.TaskRoot, fn.Handler = interp.path, []string{client}, dir, handler
	return fn, warnings, nil
}

// interpreter is node or python3 as found on this machine.
type interpreter struct {
	path    string
	version string // major (node) or major.minor (python)
}

var (
	interpretersMu sync.Mutex
	interpreters   = map[string]interpreter{}
)

// findInterpreter finds command on PATH and asks its version, once.
func findInterpreter(command string) (interpreter, error) {
	interpretersMu.Lock()
	defer interpretersMu.Unlock()
	if in, ok := interpreters[command]; ok {
		return in, nil
	}
	path, err := exec.LookPath(command)
	if err != nil {
		return interpreter{}, fmt.Errorf("%s is not installed (not on PATH)", command)
	}
	var out []byte
	switch command {
	case "node":
		out, err = exec.Command(path, "-p", "process.execPath + '\\n' + process.versions.node.split('.')[0]").Output()
	default:
		// The real executable, not a version manager's shim.
		out, err = exec.Command(path, "-c", "import sys; print(sys.executable); print('%d.%d' % sys.version_info[:2])").Output()
	}
	if err != nil {
		return interpreter{}, fmt.Errorf("%s: %w", path, err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != 2 {
		return interpreter{}, fmt.Errorf("%s: unexpected version output %q", path, out)
	}
	in := interpreter{path: lines[0], version: lines[1]}
	interpreters[command] = in
	return in, nil
}

// writeClient writes an embedded runtime client to a file named by its
// content, in the temporary directory, once.
func writeClient(c clientFile) (string, error) {
	sum := sha256.Sum256(c.body)
	dir := filepath.Join(os.TempDir(), "runtimeapi-"+hex.EncodeToString(sum[:6]))
	path := filepath.Join(dir, c.name)
	if b, err := os.ReadFile(path); err == nil && string(b) == string(c.body) {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, c.name+".*")
	if err != nil {
		return "", err
	}
	_, werr := tmp.Write(c.body)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return path, nil
}

// readJSON decodes a JSON file into v; false if it is absent or malformed.
func readJSON(path string, v any) bool {
	b, err := os.ReadFile(path)
	return err == nil && json.Unmarshal(b, v) == nil
}
