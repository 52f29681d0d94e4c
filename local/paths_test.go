package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// writeFiles writes name → content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// loadAndStart loads the template at dir/template.yaml with args and, if
// it loads, starts its functions as the adapter does.
func loadAndStart(t *testing.T, dir string, args ...string) error {
	t.Helper()
	cfg, err := parseConfig(append([]string{"-template", filepath.Join(dir, "template.yaml"), "-functions", "bootstrap"}, args...),
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tpl, err := loadTemplate(cfg, "127.0.0.1:1", log)
	if err != nil {
		return err
	}
	api, err := functionsAPI(context.Background(), cfg, tpl, "http://127.0.0.1:1/local", nil, log)
	if err == nil {
		api.close()
	}
	return err
}

// A logical ID that is make syntax never reaches make, and one with ../
// never builds or runs a bootstrap outside .aws-sam/build.
func TestBuildLogicalIDsConfined(t *testing.T) {
	for _, id := range []string{"Fn:=$(shell touch PWNED)", "../../escape"} {
		t.Run(id, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "a", "b", "c")
			tpl := strings.Replace(watchTemplate, `!Sub "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${VersionFunction.Arn}/invocations"`,
				`!Join ["", ["arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/", !GetAtt ["VersionFunction", Arn], "/invocations"]]`, 1)
			tpl = strings.ReplaceAll(tpl, "VersionFunction", id)
			tpl = strings.Replace(tpl, "\n  "+id+":\n", "\n  "+strconv.Quote(id)+":\n", 1)
			writeFiles(t, dir, map[string]string{
				"template.yaml": tpl,
				"Makefile":      "build-%:\n\tmkdir -p $(ARTIFACTS_DIR) && printf '#!/bin/sh\\ntouch RAN\\n' > $(ARTIFACTS_DIR)/bootstrap && chmod +x $(ARTIFACTS_DIR)/bootstrap\n",
			})
			err := loadAndStart(t, dir, "-build")
			if err == nil || !strings.Contains(err.Error(), "logical ID") {
				t.Errorf("load: %v, want a logical ID error", err)
			}
			for _, p := range []string{filepath.Join(dir, "PWNED"), filepath.Join(dir, "RAN"), filepath.Join(dir, "escape")} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s exists", p)
				}
			}
		})
	}
}

// -watch refuses a CodeUri outside the template's folder: one that
// resolved to / walked the whole file system every tick.
func TestWatchCodeURIConfined(t *testing.T) {
	for _, uri := range []string{"/", "../", "fn/../../"} {
		t.Run(uri, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "tpl")
			writeFiles(t, dir, map[string]string{
				"template.yaml": strings.Replace(watchTemplate, "CodeUri: fn/", "CodeUri: "+uri, 1),
			})
			err := loadAndStart(t, dir, "-watch")
			if err == nil || !strings.Contains(err.Error(), "outside the template's folder") {
				t.Errorf("start: %v, want a CodeUri outside the template's folder refused", err)
			}
		})
	}
}

// The adapter's own output (its log redirected into the template's folder)
// is not a change to the function: it restarted it in a loop.
func TestWatchIgnoresTheAdaptersOwnFiles(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"main.go": "package main\n"})
	logFile, err := os.Create(filepath.Join(dir, "adapter.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	stderr := os.Stderr
	os.Stderr = logFile
	defer func() { os.Stderr = stderr }()

	before := fingerprint(dir)
	if _, err := logFile.WriteString("level=INFO msg=\"function restarted with its new code\"\n"); err != nil {
		t.Fatal(err)
	}
	if after := fingerprint(dir); after != before {
		t.Errorf("the adapter's log changed the fingerprint:\nbefore %s\nafter  %s", before, after)
	}
	writeFiles(t, dir, map[string]string{"main.go": "package main\n\nfunc main() {}\n"})
	if after := fingerprint(dir); after == before {
		t.Error("a change to the source left the fingerprint as it was")
	}
}
