package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
)

// TestUsage: -h lists every flag once, in its group, with examples.
func TestUsage(t *testing.T) {
	var out strings.Builder
	_, err := parseConfig([]string{"-h"}, func(string) string { return "" }, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	usage := out.String()
	for _, want := range []string{"Examples:", "Serving:", "Storage:", "Functions and templates:", "Sign-in and limits:",
		"API Gateway's limits (fidelity):", "Diagnostics:", "-lambda-endpoint", "-function"} {
		if !strings.Contains(usage, want) {
			t.Errorf("usage lacks %q", want)
		}
	}
	if strings.Contains(usage, "\nOther:") {
		t.Errorf("flags outside any group:\n%s", usage[strings.Index(usage, "\nOther:"):])
	}
	seen := map[string]int{}
	for _, g := range flagGroups {
		for _, f := range g.flags {
			seen[f]++
		}
	}
	for f, n := range seen {
		if n != 1 {
			t.Errorf("-%s is in %d groups", f, n)
		}
	}
}

// TestBadFlag: a wrong flag is a one-line error, without the usage.
func TestBadFlag(t *testing.T) {
	var out strings.Builder
	_, err := parseConfig([]string{"-nope"}, func(string) string { return "" }, &out)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "-nope") {
		t.Errorf("error %q, want one line naming the flag", err)
	}
	if out.Len() != 0 {
		t.Errorf("printed %q, want nothing (the caller prints the error and a hint)", out.String())
	}
}

func TestListenHint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = net.Listen("tcp", ln.Addr().String())
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second listen: %v, want address in use", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	hint := listenHint(ln.Addr().String(), err)
	if want := fmt.Sprintf("-addr 127.0.0.1:%d", port+1); !strings.Contains(hint, want) || !strings.Contains(hint, "in use") {
		t.Errorf("hint %q, want it to say the port is in use and suggest %s", hint, want)
	}
}
