//go:build unix

package runtimeapi

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts the bootstrap in a process group of its own, so that
// killGroup reaches the processes it starts too.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killGroup kills the process group led by pid. Errors are ignored: the
// group may be gone already.
func killGroup(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}
