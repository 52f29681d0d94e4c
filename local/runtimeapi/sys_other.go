//go:build !unix

package runtimeapi

import (
	"os"
	"os/exec"
)

// setProcessGroup does nothing: process groups are a Unix feature, and only
// the bootstrap itself is killed.
func setProcessGroup(*exec.Cmd) {}

// killGroup kills the process pid, without its children.
func killGroup(pid int) {
	if proc, err := os.FindProcess(pid); err == nil {
		_ = proc.Kill()
	}
}
