package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/serverless-chat/chat/local/samtemplate"
)

// Where the adapter builds, runs and watches a template's functions: only
// under the template's folder (CodeUri) and its .aws-sam/build (bootstraps).
// A template may come from anywhere; its paths must not reach past them.

// checkFunctionPaths refuses a function whose artifacts would leave
// .aws-sam/build, or, with -watch, whose CodeUri resolves outside the
// template's folder.
func checkFunctionPaths(cfg config, tpl *samtemplate.Template) error {
	dir := filepath.Dir(cfg.templatePath)
	for id, fn := range tpl.Functions {
		if !filepath.IsLocal(id) || strings.ContainsAny(id, `/\`) {
			return fmt.Errorf("function %s: its logical ID is not a file name", id)
		}
		if cfg.watch {
			if _, err := within(dir, fn.CodeURI); err != nil {
				return fmt.Errorf("function %s: CodeUri %q: %w", id, fn.CodeURI, err)
			}
		}
	}
	return nil
}

// within is dir/rel, refused if it resolves (symbolic links followed)
// outside dir.
func within(dir, rel string) (string, error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	root, err = filepath.Abs(root)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, rel)
	if filepath.IsAbs(rel) {
		path = rel
	}
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		// Not there yet: judge the path as written.
		resolved = filepath.Clean(path)
	}
	if resolved, err = filepath.Abs(resolved); err != nil {
		return "", err
	}
	if r, err := filepath.Rel(root, resolved); err != nil || !filepath.IsLocal(r) && r != "." {
		return "", fmt.Errorf("resolves to %s, outside the template's folder %s", resolved, root)
	}
	return path, nil
}

// ownFiles are the files the adapter itself writes (its standard output and
// error when they are redirected to files, its CPU profile): -watch does not
// take their changes for a change to a function.
var ownPaths []string

func ownFiles() []fs.FileInfo {
	var out []fs.FileInfo
	for _, f := range []*os.File{os.Stdout, os.Stderr} {
		if info, err := f.Stat(); err == nil && info.Mode().IsRegular() {
			out = append(out, info)
		}
	}
	for _, p := range ownPaths {
		if info, err := os.Stat(p); err == nil {
			out = append(out, info)
		}
	}
	return out
}

// isOwn says info is one of own.
func isOwn(info fs.FileInfo, own []fs.FileInfo) bool {
	for _, o := range own {
		if os.SameFile(info, o) {
			return true
		}
	}
	return false
}
