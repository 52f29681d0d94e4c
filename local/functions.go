package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/serverless-chat/chat/local/runtimeapi"
	"github.com/serverless-chat/chat/local/samtemplate"
)

// How one of a template's functions runs when the template's functions run
// (not this project's handlers in process). -function ID=MODE picks it for
// one function; otherwise -lambda-endpoint sends every function to that
// endpoint, and without it each runs by its runtime: provided.* (and
// go1.x) as a bootstrap, nodejs* and python3.* natively.
const (
	modeBootstrap = "bootstrap" // .aws-sam/build/ID/bootstrap under the built-in Runtime API
	modeNative    = "native"    // the machine's node or python3 with the adapter's runtime client, under the built-in Runtime API
	modeEndpoint  = "endpoint"  // the Lambda Invoke API at -lambda-endpoint (sam local start-lambda), by logical ID
)

var functionModes = []string{modeBootstrap, modeNative, modeEndpoint}

// functionFlag collects repeated -function ID=MODE values.
type functionFlag map[string]string

func (f functionFlag) String() string {
	var parts []string
	for k, v := range f {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func (f functionFlag) Set(s string) error {
	id, mode, ok := strings.Cut(s, "=")
	if !ok || id == "" {
		return fmt.Errorf("want LogicalId=MODE, got %q", s)
	}
	if !slices.Contains(functionModes, mode) {
		return fmt.Errorf("%s: mode %q: want %s", id, mode, strings.Join(functionModes, ", "))
	}
	f[id] = mode
	return nil
}

// runsAsBootstrap reports whether a runtime is a compiled bootstrap's.
func runsAsBootstrap(runtime string) bool {
	return runtime == "" || strings.HasPrefix(runtime, "provided") || runtime == "go1.x"
}

// functionMode decides how fn runs: -function, else -lambda-endpoint, else
// by its runtime. A runtime the adapter cannot run is refused, naming the
// way that works.
func functionMode(cfg config, fn *samtemplate.Function) (string, error) {
	mode, chosen := cfg.functionModes[fn.LogicalID]
	switch {
	case chosen:
	case cfg.lambdaEndpoint != "":
		mode = modeEndpoint
	case fn.CodeURI == "":
		return "", fmt.Errorf("function %s has no local code (a container image, inline code or code in S3): run it with `sam local start-lambda` and -lambda-endpoint http://127.0.0.1:3001 (or -function %s=endpoint)",
			fn.LogicalID, fn.LogicalID)
	case runsAsBootstrap(fn.Runtime):
		mode = modeBootstrap
	case nativeRuntime(fn.Runtime):
		mode = modeNative
	default:
		return "", fmt.Errorf("function %s: runtime %q does not run natively here: run it with `sam local start-lambda` and -lambda-endpoint http://127.0.0.1:3001 (or -function %s=endpoint)",
			fn.LogicalID, fn.Runtime, fn.LogicalID)
	}
	switch {
	case mode == modeEndpoint && cfg.lambdaEndpoint == "":
		return "", fmt.Errorf("-function %s=endpoint needs -lambda-endpoint", fn.LogicalID)
	case mode == modeNative && !nativeRuntime(fn.Runtime):
		return "", fmt.Errorf("-function %s=native: runtime %q is not Node.js or Python", fn.LogicalID, fn.Runtime)
	}
	return mode, nil
}

// nativeRuntime reports whether the adapter runs a runtime natively.
func nativeRuntime(runtime string) bool { return runtimeapi.NativeRuntime(runtime) }

// codeDir is where a function's code is: .aws-sam/build/<LogicalId> when
// sam build made it (with its dependencies), else its CodeUri.
func codeDir(templateDir string, fn *samtemplate.Function) string {
	built := filepath.Join(templateDir, ".aws-sam", "build", fn.LogicalID)
	if info, err := os.Stat(built); err == nil && info.IsDir() {
		return built
	}
	return filepath.Join(templateDir, fn.CodeURI)
}

// startNative starts a Runtime API pool running a Node.js or Python
// function with this machine's interpreter and the adapter's runtime
// client; what may make it run differently from Lambda (another version, a
// missing dependency) is said at start.
func startNative(ctx context.Context, cfg config, fn *samtemplate.Function, templateDir string, env map[string]string, log *slog.Logger) (*runtimeapi.Pool, string, error) {
	code := codeDir(templateDir, fn)
	native, warnings, err := runtimeapi.Native(runtimeapi.Function{
		Name: fn.LogicalID, Env: env, Timeout: fn.Timeout, MemoryMB: fn.MemoryMB,
		MaxProcs: cfg.maxProcs, Logger: log, Region: cfg.region,
	}, fn.Runtime, fn.Handler, code)
	if err != nil {
		return nil, "", fmt.Errorf("function %s: %w", fn.LogicalID, err)
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	pool, err := runtimeapi.Start(ctx, native)
	if err != nil {
		return nil, "", fmt.Errorf("function %s: %w", fn.LogicalID, err)
	}
	log.Info("function", slog.String("function", fn.LogicalID), slog.String("mode", modeNative),
		slog.String("runtime", fn.Runtime), slog.String("handler", fn.Handler), slog.String("code", code), slog.Any("env", env))
	return pool, code, nil
}
