package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// raiseNoFile raises the soft (and, if allowed, hard) limit of open files to
// at least want, and returns the soft limit in force afterwards.
func raiseNoFile(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit NOFILE: %w", err)
	}
	if lim.Cur >= want {
		return lim.Cur, nil
	}
	next := lim
	next.Cur = want
	if next.Max < want {
		next.Max = want // works as root; otherwise fall back to the hard limit
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err != nil {
		next = lim
		next.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err != nil {
			return lim.Cur, fmt.Errorf("setrlimit NOFILE to %d: %w", want, err)
		}
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit NOFILE: %w", err)
	}
	if lim.Cur < want {
		return lim.Cur, fmt.Errorf("open files limited to %d, need %d", lim.Cur, want)
	}
	return lim.Cur, nil
}

// procMemory is a process's resident memory, from /proc/<pid>/status.
type procMemory struct {
	RSSKiB  int64 // VmRSS
	PeakKiB int64 // VmHWM: peak resident set
}

func readProcMemory(pid int) (procMemory, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return procMemory{}, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	return parseProcStatus(b)
}

// parseProcStatus reads VmRSS and VmHWM (in kB) from /proc/<pid>/status.
func parseProcStatus(b []byte) (procMemory, error) {
	var m procMemory
	var found int
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(key) {
		case "VmRSS":
			dst = &m.RSSKiB
		case "VmHWM":
			dst = &m.PeakKiB
		default:
			continue
		}
		f := bytes.Fields(val)
		if len(f) != 2 || string(f[1]) != "kB" {
			return m, fmt.Errorf("/proc status: unexpected %s line %q", key, val)
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return m, fmt.Errorf("/proc status %s: %w", key, err)
		}
		*dst = n
		found++
	}
	if found < 2 {
		return m, fmt.Errorf("/proc status: VmRSS or VmHWM missing")
	}
	return m, nil
}
