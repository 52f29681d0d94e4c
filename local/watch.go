package main

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/serverless-chat/chat/local/runtimeapi"
	"github.com/serverless-chat/chat/local/samtemplate"
)

// watchEvery is how often -watch looks at the functions' files. Polling
// needs no file-notification library and sees changes on any file system;
// a second is quicker than a person switches from editor to browser.
const watchEvery = time.Second

// watched is one function that -watch keeps fresh.
type watched struct {
	fn        *samtemplate.Function
	pool      *runtimeapi.Pool
	source    string // its CodeUri directory (with -build), else its bootstrap
	artifacts string
	last      string // the fingerprint of source when last built
	native    bool   // source is a Node.js or Python function's code: nothing to build
}

// watch rebuilds (with -build) and restarts a function when its files
// change, until ctx ends. Connections stay open: the next invocation runs
// the new code, as the next invocation after a deploy does.
//
// A native function (codeDirs: Node.js, Python) has nothing to build: a
// change in its code's directory restarts it.
func watch(ctx context.Context, cfg config, tpl *samtemplate.Template, pools map[string]*runtimeapi.Pool, codeDirs map[string]string, log *slog.Logger) {
	dir := filepath.Dir(cfg.templatePath)
	var fns []*watched
	for id, pool := range pools {
		w := &watched{fn: tpl.Functions[id], pool: pool, artifacts: filepath.Join(dir, ".aws-sam", "build", id)}
		w.source = filepath.Join(w.artifacts, "bootstrap")
		if code, native := codeDirs[id]; native {
			w.source, w.native = code, true
		} else if cfg.build {
			w.source = filepath.Join(dir, w.fn.CodeURI)
		}
		w.last = fingerprint(w.source)
		fns = append(fns, w)
	}
	log.Info("watching the functions' files", slog.Int("functions", len(fns)), slog.Bool("rebuild", cfg.build))
	tick := time.NewTicker(watchEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, w := range fns {
			now := fingerprint(w.source)
			if now == w.last {
				continue
			}
			w.last = now
			if cfg.build && !w.native {
				if err := build(ctx, dir, w.fn, w.artifacts, log); err != nil {
					// The old code keeps running until a build succeeds.
					log.Error("rebuild failed", slog.String("function", w.fn.LogicalID), slog.Any("error", err))
					continue
				}
			}
			w.pool.Restart()
			log.Info("function restarted with its new code", slog.String("function", w.fn.LogicalID))
		}
	}
}

// fingerprint sums up the files under path (or the file itself): their
// names, sizes and modification times. Hidden directories, node_modules,
// .aws-sam (the build's own output) and the adapter's own files (its log
// redirected into the folder) are skipped.
func fingerprint(path string) string {
	own := ownFiles()
	var b strings.Builder
	_ = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		name := d.Name()
		if d.IsDir() && p != path && (strings.HasPrefix(name, ".") || name == "node_modules") {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil && !isOwn(info, own) {
				fmt.Fprintf(&b, "%s %d %d\n", p, info.Size(), info.ModTime().UnixNano())
			}
		}
		return nil
	})
	return b.String()
}
