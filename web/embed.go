// Package web holds the chat's static page: plain HTML, CSS and JavaScript
// modules, no build step. The same files are embedded in the local adapter
// (served at /) and synced to the S3 site bucket by `make publish`.
package web

import (
	"embed"
	"strings"
)

// FS holds the page's static files at its root: index.html, app.js, ...
// config.json is not among them: the host generates it (the local adapter
// serves it, `make deploy` writes it next to the files in the bucket).
//
//go:embed index.html favicon.svg *.css *.js
var FS embed.FS

// ContentSecurityPolicy returns the page's Content-Security-Policy: scripts,
// styles and images from the page's own origin only (no 'unsafe-inline', no
// eval), WebSocket and fetch connections to the page's origin plus
// connectSources (for example "ws://localhost:8080" or
// "wss://abc.execute-api.eu-west-1.amazonaws.com").
func ContentSecurityPolicy(connectSources ...string) string {
	connect := []string{"'self'"}
	for _, s := range connectSources {
		if s = strings.TrimSpace(s); s != "" {
			connect = append(connect, s)
		}
	}
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data:",
		"connect-src " + strings.Join(connect, " "),
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
		"object-src 'none'",
	}, "; ")
}
