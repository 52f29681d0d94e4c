package samtemplate

import (
	"maps"
	"slices"
	"time"
)

// Lambda's defaults.
const (
	defaultFunctionTimeout = 3 * time.Second
	defaultMemoryMB        = 128
	defaultArchitecture    = "x86_64"
)

// functionProps are read; any other property is left alone (a function has
// many that do not change how it runs locally: policies, roles, events...),
// except those in functionWarnings.
var functionProps = map[string]bool{
	"CodeUri": use, "Code": use, "Handler": use, "Runtime": use, "Timeout": use,
	"MemorySize": use, "Architectures": use,
	// Read by readEnv, one variable at a time.
	"Environment": ignore,
}

// functionWarnings are properties that make a function run differently in
// the emulator than in Lambda.
var functionWarnings = map[string]string{
	"PackageType":                  "container image functions are not run natively",
	"ImageUri":                     "container image functions are not run natively",
	"ImageConfig":                  "container image functions are not run natively",
	"InlineCode":                   "inline code is not run natively",
	"Layers":                       "layers are not mounted",
	"FileSystemConfigs":            "file systems are not mounted",
	"SnapStart":                    "SnapStart is not emulated",
	"ReservedConcurrentExecutions": "reserved concurrency is not enforced",
}

// buildFunction reads a function the APIs invoke.
func (d *doc) buildFunction(rp *report, r *resource) *Function {
	if r == nil {
		return nil
	}
	known := map[string]bool{}
	for k := range r.Props {
		known[k] = ignore
	}
	maps.Copy(known, functionProps)
	p := d.readProps(rp, r, known)
	for _, k := range slices.Sorted(maps.Keys(r.Props)) {
		if w, ok := functionWarnings[k]; ok {
			rp.warnf(r, "%s: %s", k, w)
		}
	}
	f := &Function{
		LogicalID:    r.ID,
		Timeout:      defaultFunctionTimeout,
		MemoryMB:     defaultMemoryMB,
		Architecture: defaultArchitecture,
		Env:          map[string]string{},
	}
	if r.Type == typeSAMFunction {
		if s, ok := p.vals["CodeUri"].(string); ok {
			f.CodeURI = s
		} else if p.has("CodeUri") {
			rp.warnf(r, "CodeUri is not a local path: no code to run")
		} else if !r.hasAny("InlineCode", "ImageUri") {
			// SAM's default CodeUri is the template's directory.
			f.CodeURI = "."
		}
	} else if s, ok := p.vals["Code"].(string); ok {
		// `aws cloudformation package` accepts a local path as Code.
		f.CodeURI = s
	} else {
		rp.warnf(r, "Code is not a local path: no code to run")
	}
	f.Handler, _ = p.str(rp, "Handler")
	f.Runtime, _ = p.str(rp, "Runtime")
	if !hasPrefixAny(f.Runtime, "provided", "go1.x", "nodejs", "python") {
		rp.warnf(r, "Runtime %q: only provided.*, go1.x, nodejs* and python3.* functions run locally; others need -lambda-endpoint", f.Runtime)
	}
	if s, ok := p.number(rp, "Timeout"); ok {
		f.Timeout = time.Duration(s * float64(time.Second))
	}
	if mb, ok := p.number(rp, "MemorySize"); ok {
		f.MemoryMB = int(mb)
	}
	if archs := p.stringList(rp, "Architectures"); len(archs) == 1 {
		f.Architecture = archs[0]
	} else if len(archs) > 1 {
		rp.errorf(r, "property Architectures: want one architecture, got %v", archs)
	}
	if m, ok := r.Metadata["BuildMethod"].(string); ok {
		f.BuildMethod = m
	}
	d.readEnv(rp, r, f)
	return f
}

// readEnv evaluates Environment.Variables one by one, so that each
// failure names its variable.
func (d *doc) readEnv(rp *report, r *resource, f *Function) {
	env, ok := r.Props["Environment"]
	if !ok {
		return
	}
	em, ok := env.(map[string]any)
	if !ok {
		rp.errorf(r, "property Environment is not a mapping")
		return
	}
	vars, ok := em["Variables"]
	if !ok {
		return
	}
	vm, ok := vars.(map[string]any)
	if !ok {
		rp.errorf(r, "property Environment.Variables is not a mapping")
		return
	}
	for _, k := range slices.Sorted(maps.Keys(vm)) {
		v, err := d.eval(vm[k], nil)
		if err == nil {
			if _, absent := v.(noValue); absent {
				continue
			}
			var s string
			if s, err = scalarString(v); err == nil {
				f.Env[k] = s
				continue
			}
		}
		rp.errorf(r, "environment variable %s: %v", k, err)
	}
}

func (r *resource) hasAny(props ...string) bool {
	for _, p := range props {
		if _, ok := r.Props[p]; ok {
			return true
		}
	}
	return false
}
