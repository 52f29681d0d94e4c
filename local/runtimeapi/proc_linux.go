package runtimeapi

import (
	"os"
	"strconv"
	"strings"
)

// procStat is what /proc/PID/stat says of a running process.
type procStat struct {
	pid, ppid, pgrp int
}

// runningProcs lists the processes that are running (not zombies) from
// /proc, this one excepted; nil if /proc cannot be read.
func runningProcs() []procStat {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []procStat
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
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
		if len(fields) < 3 || fields[0] == "Z" || fields[0] == "X" {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		pgrp, _ := strconv.Atoi(fields[2])
		out = append(out, procStat{pid: pid, ppid: ppid, pgrp: pgrp})
	}
	return out
}
