package runtimeapi

import (
	"errors"
	"os"
	"strconv"
	"strings"
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
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false // cannot tell: do not wait
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// "pid (comm) state ppid pgrp ...": comm may hold spaces and
		// parentheses, so parse after the last ')'.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) < 3 || fields[2] != strconv.Itoa(pgid) {
			continue
		}
		if fields[0] != "Z" && fields[0] != "X" {
			return true
		}
	}
	return false
}
