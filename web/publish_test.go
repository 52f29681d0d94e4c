package web_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serverless-chat/chat/internal/testenv"
	"github.com/serverless-chat/chat/web"
)

// TestPublish runs `make publish` against moto_server (a local S3) and reads
// back what the bucket serves.
func TestPublish(t *testing.T) {
	awsCLI := testenv.AWSCLI(t)
	makeTool := testenv.Tool(t, "make", "install make")
	endpoint := testenv.Moto(t)

	// The AWS CLI sees only these settings: no profile, no real account.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	none := filepath.Join(t.TempDir(), "none")
	env = append(env,
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_DEFAULT_REGION=eu-west-1", "AWS_REGION=eu-west-1",
		"AWS_CONFIG_FILE="+none, "AWS_SHARED_CREDENTIALS_FILE="+none,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=",
	)
	run := func(name string, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env = env
		cmd.Dir = testenv.RepoRoot()
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr)
		}
		return out
	}
	s3api := func(out any, args ...string) {
		t.Helper()
		b := run(awsCLI, append([]string{"--endpoint-url", endpoint, "--output", "json", "s3api"}, args...)...)
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("s3api %v: %v\n%s", args, err, b)
			}
		}
	}

	const bucket = "chat-site"
	const wsURL = "wss://abc123.execute-api.eu-west-1.amazonaws.com/prod"
	s3api(nil, "create-bucket", "--bucket", bucket, "--create-bucket-configuration", "LocationConstraint=eu-west-1")

	start := time.Now()
	out := run(makeTool, "--no-print-directory", "publish", "BUCKET="+bucket, "ENDPOINT_URL="+endpoint, "WEBSOCKET_URL="+wsURL, "AWS_CLI="+awsCLI)
	t.Logf("make publish took %v:\n%s", time.Since(start).Round(time.Millisecond), out)

	var listing struct {
		Contents []struct{ Key string }
	}
	s3api(&listing, "list-objects-v2", "--bucket", bucket)
	var keys []string
	for _, c := range listing.Contents {
		keys = append(keys, c.Key)
	}
	slices.Sort(keys)

	// What the bucket must hold: every embedded file plus config.json.
	want := []string{"config.json"}
	err := fs.WalkDir(web.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			want = append(want, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Errorf("bucket holds %q, want %q", keys, want)
	}
	for _, k := range keys {
		if strings.HasSuffix(k, ".go") || strings.HasSuffix(k, ".sh") || strings.Contains(k, "testdata") || strings.Contains(k, "_test") {
			t.Errorf("%s was uploaded", k)
		}
	}

	tests := []struct {
		key, contentType, cacheControl string
	}{
		{"index.html", "text/html; charset=utf-8", "no-cache"},
		{"config.json", "application/json", "no-cache"},
		{"app.js", "text/javascript; charset=utf-8", "public, max-age=300"},
		{"client.js", "text/javascript; charset=utf-8", "public, max-age=300"},
		{"text.js", "text/javascript; charset=utf-8", "public, max-age=300"},
		{"style.css", "text/css; charset=utf-8", "public, max-age=300"},
		{"favicon.svg", "image/svg+xml", "public, max-age=86400"},
	}
	for _, tt := range tests {
		var head struct {
			ContentType  string
			CacheControl string
		}
		s3api(&head, "head-object", "--bucket", bucket, "--key", tt.key)
		if head.ContentType != tt.contentType {
			t.Errorf("%s: Content-Type %q, want %q", tt.key, head.ContentType, tt.contentType)
		}
		if head.CacheControl != tt.cacheControl {
			t.Errorf("%s: Cache-Control %q, want %q", tt.key, head.CacheControl, tt.cacheControl)
		}
	}

	// config.json holds the WebSocket URL; index.html is the embedded one.
	dir := t.TempDir()
	s3api(nil, "get-object", "--bucket", bucket, "--key", "config.json", filepath.Join(dir, "config.json"))
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]string
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("config.json %q: %v", b, err)
	}
	if cfg["websocketUrl"] != wsURL || len(cfg) != 1 {
		t.Errorf("config.json = %s, want {\"websocketUrl\":%q}", b, wsURL)
	}
	// With sign-in, config.json tells the page the issuer and client.
	run(makeTool, "--no-print-directory", "publish", "BUCKET="+bucket, "ENDPOINT_URL="+endpoint, "WEBSOCKET_URL="+wsURL,
		"AUTH_ISSUER=https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC", "AUTH_CLIENT_ID=4x2k9", "AWS_CLI="+awsCLI)
	s3api(nil, "get-object", "--bucket", bucket, "--key", "config.json", filepath.Join(dir, "config-auth.json"))
	b, _ = os.ReadFile(filepath.Join(dir, "config-auth.json"))
	var withAuth struct {
		WebsocketURL string `json:"websocketUrl"`
		Auth         struct{ Issuer, ClientID string }
	}
	if err := json.Unmarshal(b, &withAuth); err != nil || withAuth.WebsocketURL != wsURL ||
		withAuth.Auth.Issuer != "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC" || withAuth.Auth.ClientID != "4x2k9" {
		t.Errorf("config.json with sign-in = %s (%v)", b, err)
	}
	s3api(nil, "get-object", "--bucket", bucket, "--key", "index.html", filepath.Join(dir, "index.html"))
	got, _ := os.ReadFile(filepath.Join(dir, "index.html"))
	embedded, _ := fs.ReadFile(web.FS, "index.html")
	if string(got) != string(embedded) {
		t.Errorf("index.html in the bucket differs from web/index.html")
	}

	// Bad arguments are refused before anything is uploaded.
	for _, args := range [][]string{
		{bucket, `wss://x/","evil":"1`}, // would break out of the JSON
		{bucket, "https://not-a-websocket.example"},
		{"Not_A_Bucket"},
		{},
	} {
		cmd := exec.Command(filepath.Join(testenv.RepoRoot(), "web", "publish.sh"), args...)
		cmd.Env = append(env, "ENDPOINT_URL="+endpoint, "AWS_CLI="+awsCLI)
		out, err := cmd.CombinedOutput()
		if err == nil || strings.Contains(string(out), "s3://") {
			t.Errorf("publish.sh %q: err %v, output:\n%s", args, err, out)
		}
	}
}
