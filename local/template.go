package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/serverless-chat/chat/internal/gateway"
	"github.com/serverless-chat/chat/local/runtimeapi"
	"github.com/serverless-chat/chat/local/samtemplate"
)

// How route integrations run (-functions).
const (
	functionsAuto      = "auto"       // in process for this project's template, bootstrap for any other
	functionsInProcess = "in-process" // this project's handlers, in process
	functionsBootstrap = "bootstrap"  // the template's own functions, each by functionMode
)

// isChatFunction reports whether a template's function is one of this
// project's, which have in-process handlers: those of the routes
// (samFunctions) and the $connect authorizer. A template whose API calls
// only these runs in process by default.
func isChatFunction(id string) bool {
	return id == "AuthorizerFunction" || slices.Contains(slices.Collect(maps.Values(samFunctions)), id)
}

// isChatTemplate reports whether every function a template's API calls is
// one of this project's.
func isChatTemplate(tpl *samtemplate.Template) bool {
	for id := range tpl.Functions {
		if !isChatFunction(id) {
			return false
		}
	}
	return true
}

// loadTemplate reads cfg.templatePath. A missing template is no error when
// the path is the default one (the adapter may run from another
// directory): it returns nil, and the adapter says so.
func loadTemplate(cfg config, addr string, log *slog.Logger) (*samtemplate.Template, error) {
	if cfg.templatePath == "" {
		return nil, nil
	}
	params, err := samtemplate.ParseParameterOverrides(cfg.parameterOverrides)
	if err != nil {
		return nil, fmt.Errorf("-parameter-overrides: %w", err)
	}
	// This project's tables are -table and -messages-table, created by the
	// adapter; another template's keep their own names (createTables).
	chatTables := false
	resources := func(id, typ, attr string) (string, bool) {
		switch {
		case typ == "AWS::CloudFront::Distribution" && attr == "DomainName":
			return addr, true // the page is this adapter's own
		case chatTables && typ == "AWS::DynamoDB::Table" && attr == "" && id == "ConnectionsTable":
			return cfg.table, true
		case chatTables && typ == "AWS::DynamoDB::Table" && attr == "" && id == "MessagesTable":
			return cfg.messagesTable, true
		case typ == "AWS::SQS::Queue" && attr == "" && id == "FanoutQueue":
			return cfg.fanoutQueueURL, true // "" delivers every room inline
		}
		return "", false
	}
	opts := samtemplate.Options{Parameters: params, Region: cfg.region, Resource: resources}
	tpl, err := samtemplate.Load(cfg.templatePath, opts)
	if err == nil && isChatTemplate(tpl) {
		chatTables = true
		tpl, err = samtemplate.Load(cfg.templatePath, opts)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist) && !cfg.templateSet:
		log.Info("no template: the chat's routes, unthrottled", slog.String("template", cfg.templatePath))
		return nil, nil
	case err != nil:
		return nil, err
	case len(tpl.APIs) != 1:
		return nil, fmt.Errorf("%s: %d WebSocket APIs, want one", cfg.templatePath, len(tpl.APIs))
	}
	for _, w := range tpl.Warnings {
		log.Warn("template", slog.String("warning", w))
	}
	return tpl, nil
}

// stageSettings is what the gateway takes from the template's stage.
type stageSettings struct {
	throttle       *gateway.Throttle
	routeThrottles map[string]gateway.Throttle
	variables      map[string]string
}

func stageOf(tpl *samtemplate.Template) stageSettings {
	var s stageSettings
	if tpl == nil {
		return s
	}
	st := tpl.APIs[0].Stage
	if st.HasThrottle {
		s.throttle = &gateway.Throttle{RateLimit: st.RateLimit, BurstLimit: st.BurstLimit}
	}
	if len(st.RouteThrottle) > 0 {
		s.routeThrottles = map[string]gateway.Throttle{}
		for k, v := range st.RouteThrottle {
			s.routeThrottles[k] = gateway.Throttle{RateLimit: v.RateLimit, BurstLimit: v.BurstLimit}
		}
	}
	s.variables = st.Variables
	return s
}

// runsInProcess decides -functions auto: in process when every function
// the template's API calls is one of this project's.
func runsInProcess(cfg config, tpl *samtemplate.Template) bool {
	switch {
	case cfg.functions == functionsInProcess || tpl == nil:
		return true
	case cfg.functions == functionsBootstrap:
		return false
	}
	return isChatTemplate(tpl)
}

// servedAPI decides what the gateway serves. Without a template, or with
// this project's and -lambda-route: the chat's routes (handlers, or the
// routes' own endpoints) and -auth's authorizer. With this project's
// template in process: its routes, each by the handler of its key, and its
// authorizer with its function's issuer unless -auth gave one (sign is then
// updated, for the page). With any other template, or any template and
// -lambda-endpoint: its routes, selection, MOCK integrations and authorizer,
// onto its functions (functionsAPI).
func servedAPI(ctx context.Context, cfg config, tpl *samtemplate.Template, handlers map[string]gateway.Integration,
	sign *signIn, addr string, origins []string, log *slog.Logger) (*templateAPI, error) {
	api := &templateAPI{routes: handlers, authorizer: sign.authorizer}
	switch {
	case tpl == nil:
		return api, nil
	case len(cfg.lambdaRoutes) > 0 && !isChatTemplate(tpl):
		return nil, errors.New("-lambda-route names this project's routes; with another template, run a function elsewhere with -function ID=endpoint and -lambda-endpoint")
	case len(cfg.lambdaRoutes) > 0:
		// This project's routes, some at their own endpoints (newRoutes);
		// -lambda-route wins over -lambda-endpoint.
		return api, nil
	case !runsInProcess(cfg, tpl) || cfg.lambdaEndpoint != "":
		b, err := functionsAPI(ctx, cfg, tpl, "http://"+addr+"/"+cfg.stage, origins, log)
		if err != nil {
			return nil, err
		}
		if b.authorizer != nil && sign.authorizer != nil {
			b.close()
			return nil, errors.New("-auth and a template authorizer exclude each other: the template's runs")
		}
		if b.authorizer == nil {
			b.authorizer = sign.authorizer
		}
		if cfg.watch {
			go watch(ctx, cfg, tpl, b.pools, b.codeDirs, log)
		}
		return b, nil
	}
	routes, err := inProcessRoutes(tpl, handlers)
	if err != nil {
		return nil, err
	}
	api.routes, api.selection, api.twoWay, api.timeouts = routes, tpl.APIs[0].RouteSelectionExpression, twoWayRoutes(tpl), routeTimeouts(tpl)
	if a := tpl.APIs[0].Routes["$connect"].Authorizer; a != nil && sign.authorizer == nil {
		s, err := templateSignIn(a, tpl.Functions[a.Function], log)
		if err != nil {
			return nil, err
		}
		*sign = *s
		api.authorizer = sign.authorizer
	}
	return api, nil
}

// inProcessRoutes keeps the template's routes: a MOCK integration as the
// template has it, a function's route served by the in-process handler of
// the same route key. A route the handlers do not know is an error: it
// needs -functions bootstrap.
func inProcessRoutes(tpl *samtemplate.Template, handlers map[string]gateway.Integration) (map[string]gateway.Integration, error) {
	routes := map[string]gateway.Integration{}
	var missing []string
	for key, r := range tpl.APIs[0].Routes {
		switch in := r.Integration; {
		case in.Type == samtemplate.Mock:
			routes[key] = gateway.Mock{StatusCode: in.MockStatus, Body: in.MockBody}
		case handlers[key] != nil:
			routes[key] = handlers[key]
		default:
			missing = append(missing, fmt.Sprintf("%q (%s)", key, in.Function))
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("no in-process handler for the template's routes %s: run them with -functions bootstrap", strings.Join(missing, ", "))
	}
	return routes, nil
}

// routeTimeouts are the integrations' TimeoutInMillis, by route key.
func routeTimeouts(tpl *samtemplate.Template) map[string]time.Duration {
	out := map[string]time.Duration{}
	for key, r := range tpl.APIs[0].Routes {
		if r.Integration != nil {
			out[key] = r.Integration.Timeout
		}
	}
	return out
}

func twoWayRoutes(tpl *samtemplate.Template) map[string]bool {
	out := map[string]bool{}
	for key, r := range tpl.APIs[0].Routes {
		if r.RouteResponse {
			out[key] = true
		}
	}
	return out
}

// templateAPI is what the gateway serves: its routes, how they are
// selected (the route selection expression), the two-way ones, their
// integration timeouts, the $connect authorizer, and the bootstrap pools
// behind them, if any.
type templateAPI struct {
	routes     map[string]gateway.Integration
	authorizer *gateway.Authorizer
	selection  string
	twoWay     map[string]bool
	timeouts   map[string]time.Duration
	pools      map[string]*runtimeapi.Pool // by function
	codeDirs   map[string]string           // the code of native functions, by function
}

func (a *templateAPI) close() {
	for _, p := range a.pools {
		_ = p.Close()
	}
}

// functionsAPI runs the template's functions, each as functionMode says
// (a Runtime API pool per local function, built first with -build; the
// Lambda Invoke API at -lambda-endpoint for the others), and maps the
// template's routes, MOCK integrations and authorizer onto them.
func functionsAPI(ctx context.Context, cfg config, tpl *samtemplate.Template, endpoint string, origins []string, log *slog.Logger) (*templateAPI, error) {
	api := tpl.APIs[0]
	out := &templateAPI{routes: map[string]gateway.Integration{}, selection: api.RouteSelectionExpression, twoWay: map[string]bool{},
		timeouts: routeTimeouts(tpl), pools: map[string]*runtimeapi.Pool{}, codeDirs: map[string]string{}}
	envVars, err := readEnvVars(cfg.envVarsPath)
	if err != nil {
		return nil, err
	}
	if err := createTables(ctx, cfg, tpl, log); err != nil {
		return nil, err
	}
	if err := checkFunctionPaths(cfg, tpl); err != nil {
		return nil, err
	}
	// How each function runs, every refusal at once.
	modes := map[string]string{}
	var refused []error
	for _, id := range slices.Sorted(maps.Keys(tpl.Functions)) {
		mode, err := functionMode(cfg, tpl.Functions[id])
		refused = append(refused, err)
		modes[id] = mode
	}
	if err := errors.Join(refused...); err != nil {
		return nil, err
	}
	dir := filepath.Dir(cfg.templatePath)
	invokers := map[string]gateway.LambdaAPI{}
	for _, id := range slices.Sorted(maps.Keys(tpl.Functions)) {
		fn, mode := tpl.Functions[id], modes[id]
		if mode == modeEndpoint {
			invokers[id] = lambdaClient(cfg)(cfg.lambdaEndpoint)
			log.Info("function", slog.String("function", id), slog.String("mode", mode), slog.String("endpoint", cfg.lambdaEndpoint))
			continue
		}
		env := functionEnv(fn, envVars, cfg, endpoint, origins)
		if mode == modeNative {
			pool, code, err := startNative(ctx, cfg, fn, dir, env, log)
			if err != nil {
				out.close()
				return nil, err
			}
			out.pools[id], out.codeDirs[id] = pool, code
			invokers[id] = pool
			continue
		}
		bootstrap := filepath.Join(dir, ".aws-sam", "build", id, "bootstrap")
		if cfg.build {
			if err := build(ctx, dir, fn, filepath.Dir(bootstrap), log); err != nil {
				out.close()
				return nil, err
			}
		}
		pool, err := runtimeapi.Start(ctx, runtimeapi.Function{
			Name: id, Bootstrap: bootstrap, Env: env, Timeout: fn.Timeout, MemoryMB: fn.MemoryMB,
			MaxProcs: cfg.maxProcs, Logger: log, Region: cfg.region,
		})
		if err != nil {
			out.close()
			return nil, fmt.Errorf("function %s: %w (build it with -build, or sam build; or run it elsewhere: -lambda-endpoint, -function %s=endpoint)", id, err, id)
		}
		out.pools[id] = pool
		invokers[id] = pool
		log.Info("function", slog.String("function", id), slog.String("mode", mode), slog.String("bootstrap", bootstrap), slog.Any("env", env))
	}
	if cfg.invoke != nil {
		for id, in := range invokers {
			cfg.invoke.add(id, in)
		}
	}
	for key, r := range api.Routes {
		if r.RouteResponse {
			out.twoWay[key] = true
		}
		switch in := r.Integration; in.Type {
		case samtemplate.Mock:
			out.routes[key] = gateway.Mock{StatusCode: in.MockStatus, Body: in.MockBody}
		default:
			out.routes[key] = gateway.NewLambda(invokers[in.Function], in.Function, 0)
		}
		if a := r.Authorizer; a != nil {
			out.authorizer = &gateway.Authorizer{IdentitySource: a.IdentitySource, Function: gateway.NewLambda(invokers[a.Function], a.Function, 0)}
		}
	}
	return out, nil
}

// functionEnv is what a function's process sees: its template environment,
// then -env-vars (SAM's file: "Parameters" for every function, then one
// object per logical ID; as in SAM, only variables the template declares
// are set), then the local endpoints (this project's variables where
// declared, the SDKs' AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_SQS),
// and local credentials.
func functionEnv(fn *samtemplate.Function, envVars map[string]map[string]string, cfg config, endpoint string, origins []string) map[string]string {
	env := maps.Clone(fn.Env)
	if env == nil {
		env = map[string]string{}
	}
	local := map[string]string{"MANAGEMENT_API_ENDPOINT": endpoint, "DYNAMODB_ENDPOINT": cfg.dynamoEndpoint,
		// The page is the adapter's, served over http.
		"ALLOWED_ORIGINS": strings.Join(origins, ",")}
	for k, v := range local {
		if _, declared := env[k]; declared && v != "" {
			env[k] = v
		}
	}
	for _, scope := range []string{"Parameters", fn.LogicalID} {
		for k, v := range envVars[scope] {
			if _, declared := env[k]; declared {
				env[k] = v
			}
		}
	}
	// SDK clients made with only a region reach the local services: the
	// AWS SDKs read service endpoints from AWS_ENDPOINT_URL_<SERVICE>.
	sdk := map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": cfg.dynamoEndpoint, "AWS_ENDPOINT_URL_SQS": cfg.sqsEndpoint,
		"AWS_ENDPOINT_URL_LAMBDA": cfg.invokeURL}
	for k, v := range sdk {
		if _, declared := env[k]; !declared && v != "" {
			env[k] = v
		}
	}
	// @connections over https at the events' domainName: the adapter's CA.
	for k, v := range cfg.caEnv {
		if _, declared := env[k]; !declared {
			env[k] = v
		}
	}
	// DynamoDB Local keeps one database per access key: the adapter's.
	env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = "local", "local"
	return env
}

// readEnvVars reads a SAM-style env.json ("" for none).
func readEnvVars(path string) (map[string]map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-env-vars: %w", err)
	}
	var m map[string]map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("-env-vars %s: want {\"Parameters\": {...}, \"FunctionId\": {...}}: %w", path, err)
	}
	return m, nil
}

// build builds a function as sam build does for BuildMethod makefile: make
// build-<LogicalId> with ARTIFACTS_DIR, in the template's directory, for
// this machine's architecture (LAMBDA_GOARCH and GOARCH), since the
// bootstrap runs here.
func build(ctx context.Context, dir string, fn *samtemplate.Function, artifacts string, log *slog.Logger) error {
	if fn.BuildMethod != "makefile" {
		return fmt.Errorf("function %s: -build knows BuildMethod makefile, not %q: build it with sam build", fn.LogicalID, fn.BuildMethod)
	}
	abs, err := filepath.Abs(artifacts)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "build-"+fn.LogicalID,
		"ARTIFACTS_DIR="+abs, "LAMBDA_GOARCH="+runtime.GOARCH)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOARCH="+runtime.GOARCH)
	var outBuf strings.Builder
	cmd.Stdout, cmd.Stderr = &outBuf, &outBuf
	log.Info("building", slog.String("function", fn.LogicalID))
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build %s: %w\n%s", fn.LogicalID, err, outBuf.String())
	}
	return nil
}
