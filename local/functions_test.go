package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serverless-chat/chat/local/samtemplate"
)

// TestCodeDir: a function runs from what sam build made, else its CodeUri.
func TestCodeDir(t *testing.T) {
	dir := t.TempDir()
	fn := &samtemplate.Function{LogicalID: "Fn", CodeURI: "src/"}
	if got, want := codeDir(dir, fn), filepath.Join(dir, "src"); got != want {
		t.Errorf("without a build: %s, want %s", got, want)
	}
	built := filepath.Join(dir, ".aws-sam", "build", "Fn")
	if err := os.MkdirAll(built, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := codeDir(dir, fn); got != built {
		t.Errorf("after sam build: %s, want %s", got, built)
	}
}

// TestFunctionMode: the defaults, and -function over them.
func TestFunctionMode(t *testing.T) {
	tests := []struct {
		name, runtime, codeURI, endpoint, chosen, want, wantErr string
	}{
		{"provided", "provided.al2023", "fn/", "", "", modeBootstrap, ""},
		{"node", "nodejs22.x", "fn/", "", "", modeNative, ""},
		{"python", "python3.13", "fn/", "", "", modeNative, ""},
		{"java without an endpoint", "java21", "fn/", "", "", "", "-lambda-endpoint"},
		{"java with one", "java21", "fn/", "http://127.0.0.1:3001", "", modeEndpoint, ""},
		{"an endpoint for all", "nodejs20.x", "fn/", "http://127.0.0.1:3001", "", modeEndpoint, ""},
		{"one native beside an endpoint", "nodejs20.x", "fn/", "http://127.0.0.1:3001", modeNative, modeNative, ""},
		{"native for a bootstrap", "provided.al2023", "fn/", "", modeNative, "", "not Node.js or Python"},
		{"an image", "", "", "", "", "", "no local code"},
		{"node 16", "nodejs16.x", "fn/", "", "", "", "does not run natively"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config{lambdaEndpoint: tt.endpoint, functionModes: functionFlag{}}
			if tt.chosen != "" {
				cfg.functionModes["Fn"] = tt.chosen
			}
			got, err := functionMode(cfg, &samtemplate.Function{LogicalID: "Fn", Runtime: tt.runtime, CodeURI: tt.codeURI})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("%q, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("%q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
