package runtimeapi

import (
	"errors"
	"syscall"
	"time"
)

// waitGroupGone waits, at most for limit, until no process of the group pgid
// is running any more: SIGKILL takes effect asynchronously, and Close
// promises no child left behind. Zombies count as gone, since the pool
// cannot reap grandchildren (their new parent does).
func waitGroupGone(pgid int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for {
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) || !groupRunning(pgid) {
			return
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// groupRunning reports whether a process of group pgid is running (not a
// zombie), from /proc.
func groupRunning(pgid int) bool {
	for _, p := range runningProcs() {
		if p.pgrp == pgid {
			return true
		}
	}
	return false
}
