package runtimeapi

import (
	_ "embed"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// nodeClient is the Node.js runtime client (nodejs/runtime.mjs).
//
//go:embed nodejs/runtime.mjs
var nodeClient []byte

func init() {
	addRuntimes("Node.js", "node", "nodejs", []string{"18", "20", "22"}, clientFile{"runtime.mjs", nodeClient},
		map[string]string{"NODE_OPTIONS": "--enable-source-maps"}, missingNodeModules)
}

// missingNodeModules lists the dependencies of package.json in dir that no
// node_modules from dir up holds, as Node.js resolves them.
func missingNodeModules(_ interpreter, _, dir string) []string {
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if !readJSON(filepath.Join(dir, "package.json"), &pkg) {
		return nil
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(pkg.Dependencies)) {
		if !nodeModuleFound(dir, name) {
			out = append(out, fmt.Sprintf("dependency %s (package.json) is not installed: no node_modules/%s in %s or above; run npm install there (Lambda's Node.js runtimes include the AWS SDK v3, this machine's node does not)", name, name, dir))
		}
	}
	return out
}

func nodeModuleFound(dir, name string) bool {
	for {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", name, "package.json")); err == nil {
			return true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return false
		}
		dir = parent
	}
}
