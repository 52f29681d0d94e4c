package web_test

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/serverless-chat/chat/web"
)

func TestContentSecurityPolicy(t *testing.T) {
	tests := []struct {
		name    string
		sources []string
		connect string
	}{
		{"self only", nil, "connect-src 'self'"},
		{"one source", []string{"ws://localhost:8080"}, "connect-src 'self' ws://localhost:8080"},
		{"blank sources dropped", []string{" ", "wss://abc.execute-api.eu-west-1.amazonaws.com", ""},
			"connect-src 'self' wss://abc.execute-api.eu-west-1.amazonaws.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := web.ContentSecurityPolicy(tt.sources...)
			directives := map[string]string{}
			for _, d := range strings.Split(got, "; ") {
				name, _, _ := strings.Cut(d, " ")
				if _, dup := directives[name]; dup {
					t.Errorf("directive %q appears twice in %q", name, got)
				}
				directives[name] = d
			}
			want := map[string]string{
				"default-src":     "default-src 'self'",
				"script-src":      "script-src 'self'",
				"style-src":       "style-src 'self'",
				"img-src":         "img-src 'self' data:",
				"connect-src":     tt.connect,
				"base-uri":        "base-uri 'none'",
				"form-action":     "form-action 'none'",
				"frame-ancestors": "frame-ancestors 'none'",
				"object-src":      "object-src 'none'",
			}
			for name, w := range want {
				if directives[name] != w {
					t.Errorf("directive %s: got %q, want %q", name, directives[name], w)
				}
			}
			if len(directives) != len(want) {
				t.Errorf("got %d directives, want %d: %q", len(directives), len(want), got)
			}
			if strings.Contains(got, "unsafe") {
				t.Errorf("policy allows something unsafe: %q", got)
			}
		})
	}
}

func TestFSHoldsThePageOnly(t *testing.T) {
	for _, name := range []string{"index.html", "app.js", "client.js", "text.js", "style.css", "favicon.svg"} {
		if _, err := fs.Stat(web.FS, name); err != nil {
			t.Errorf("%s is not embedded: %v", name, err)
		}
	}
	err := fs.WalkDir(web.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(path, ".go") || strings.Contains(path, "testdata") || path == "config.json" {
			t.Errorf("%s should not be served", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The page must run under the policy: no inline script or style, no
// handlers in attributes, no HTML built from strings.
func TestPageNeedsNoUnsafeInline(t *testing.T) {
	html, err := fs.ReadFile(web.FS, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	page := string(html)
	for _, bad := range []string{"<style", " style=", " onclick=", " onload=", " onerror=", "javascript:"} {
		if strings.Contains(page, bad) {
			t.Errorf("index.html contains %q", bad)
		}
	}
	if strings.Count(page, "<script") != strings.Count(page, `<script type="module" src=`) {
		t.Errorf("index.html has an inline script")
	}
	scripts, err := fs.Glob(web.FS, "*.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range scripts {
		src, err := fs.ReadFile(web.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
			if strings.Contains(string(src), bad) {
				t.Errorf("%s uses %s", name, bad)
			}
		}
	}
}

// TestStyleBlocksClose: every block of style.css is closed. A lost brace
// (a merge) nests every later rule in the block before it, and the page
// silently loses them: Edit and Delete showed on others' messages.
func TestStyleBlocksClose(t *testing.T) {
	b, err := fs.ReadFile(web.FS, "style.css")
	if err != nil {
		t.Fatal(err)
	}
	depth, line := 0, 1
	for _, c := range string(b) {
		switch c {
		case '{':
			depth++
		case '}':
			depth--
		case '\n':
			line++
		}
		if depth < 0 {
			t.Fatalf("style.css line %d closes a block that is not open", line)
		}
	}
	if depth != 0 {
		t.Errorf("style.css ends with %d block(s) open", depth)
	}
}
