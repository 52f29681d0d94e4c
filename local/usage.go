package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// flagGroups order `go run ./local -h`: each flag in one group.
var flagGroups = []struct {
	title string
	flags []string
}{
	{"Serving", []string{"addr", "stage", "api-id", "allowed-origins", "allow-missing-origin", "max-http-conns"}},
	{"Storage", []string{"dynamodb-endpoint", "dynamodb", "table", "room-index", "messages-table", "seq-index",
		"history-retention", "fanout-queue-url", "sqs-endpoint", "inline-limit", "region"}},
	{"Functions and templates", []string{"template", "parameter-overrides", "functions", "function", "lambda-endpoint",
		"lambda-route", "build", "watch", "env-vars", "max-procs"}},
	{"Sign-in and limits", []string{"auth", "jwt-issuer", "jwt-audience", "jwks-url", "dev-token-ttl",
		"send-burst", "send-rate", "read-burst", "read-rate", "flood-strikes", "flood-cooldown", "room-cap", "presence-limit", "require-sigv4", "sigv4-key"}},
	{"API Gateway's limits (fidelity)", []string{"max-message-size", "max-frame-size", "idle-timeout", "max-duration",
		"integration-timeout", "write-buffer", "write-queue"}},
	{"Message review", []string{"review", "review-timeout", "review-fallback", "review-env"}},
	{"Diagnostics", []string{"log-level", "cpuprofile"}},
}

const usageHead = `Usage: go run ./local [flags]

Runs a WebSocket API locally behind an emulated API Gateway: the chat's own
(its page at /), or any SAM template's, with its functions as built
bootstraps, Node.js or Python run natively, or through a Lambda endpoint.
The WebSocket API is at /{stage}, the @connections API at
/{stage}/@connections/{id} (http and https).

Examples:
  go run ./local                                        # the chat, in memory: http://127.0.0.1:8080/
  go run ./local -dynamodb-endpoint http://127.0.0.1:8000
  go run ./local -template app/template.yaml -dynamodb-endpoint http://127.0.0.1:8000
                                                        # your SAM app: Node.js, Python, provided.* functions
  go run ./local -template app/template.yaml -lambda-endpoint http://127.0.0.1:3001
                                                        # every function through sam local start-lambda
  go run ./local -template app/template.yaml -function Fn=endpoint -lambda-endpoint http://127.0.0.1:3001
  go run ./local -addr 127.0.0.1:8081                   # another port
`

// printUsage writes the flags by group.
func printUsage(out io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(out, usageHead)
	for _, g := range flagGroups {
		fmt.Fprintf(out, "\n%s:\n", g.title)
		for _, name := range g.flags {
			if f := fs.Lookup(name); f != nil {
				printFlag(out, f)
			}
		}
	}
	var other []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if groupOf(f.Name) == "" {
			other = append(other, f)
		}
	})
	if len(other) > 0 {
		fmt.Fprintf(out, "\nOther:\n")
		for _, f := range other {
			printFlag(out, f)
		}
	}
}

// printFlag writes one flag as flag.PrintDefaults does.
func printFlag(out io.Writer, f *flag.Flag) {
	name, usage := flag.UnquoteUsage(f)
	line := "  -" + f.Name
	if name != "" {
		line += " " + name
	}
	usage = strings.ReplaceAll(usage, "\n", "\n    \t")
	line += "\n    \t" + usage
	switch {
	case f.DefValue == "" || f.DefValue == "false" || f.DefValue == "0":
	case name == "string":
		line += fmt.Sprintf(" (default %q)", f.DefValue)
	default:
		line += fmt.Sprintf(" (default %v)", f.DefValue)
	}
	fmt.Fprintln(out, line)
}

func groupOf(name string) string {
	for _, g := range flagGroups {
		if slices.Contains(g.flags, name) {
			return g.title
		}
	}
	return ""
}

// flagHint follows a command-line error.
const flagHint = "run `go run ./local -h` for the flags, by group, with examples"
