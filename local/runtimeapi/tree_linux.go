package runtimeapi

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// killTree kills what is left of a function's process tree once its group
// is killed: the processes that left the group (setsid, a daemon's double
// fork) and so survived killGroup, and with it the function's end and the
// adapter's exit. A process belongs to the tree if pid is among its
// ancestors, or if its environment carries marker, the
// AWS_LAMBDA_LOG_STREAM_NAME entry only this runtime's processes inherit
// (it ends in 32 random hex digits, so no other process, not even another
// adapter's, has it): the ancestry is lost when a process is orphaned
// (re-parented to init), the environment is not. The scan repeats until it finds no one, since a
// process may fork while it runs. A process that clears its environment
// and is orphaned escapes; a cgroup would catch it, but needs privileges a
// development machine may not give.
func killTree(pid int, marker string) {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		found := treeOf(pid, marker)
		if len(found) == 0 {
			return
		}
		for _, p := range found {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(time.Millisecond)
	}
}

// treeOf lists the running processes of pid's tree (pid itself included if
// it runs; pid 0: only those carrying marker), from /proc.
func treeOf(pid int, marker string) []int {
	procs := runningProcs()
	parent := make(map[int]int, len(procs))
	for _, p := range procs {
		parent[p.pid] = p.ppid
	}
	var out []int
	for _, p := range procs {
		if descends(p.pid, pid, parent) || environHas(p.pid, marker) {
			out = append(out, p.pid)
		}
	}
	return out
}

// descends reports whether root is p or one of its ancestors.
func descends(p, root int, parent map[int]int) bool {
	for range 1000 { // deeper than any real tree; a cycle cannot loop
		if p == root {
			return true
		}
		next, ok := parent[p]
		if !ok || next <= 1 {
			return false
		}
		p = next
	}
	return false
}

// environHas reports whether process p's environment holds the entry kv.
func environHas(p int, kv string) bool {
	env, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/environ")
	if err != nil {
		return false
	}
	for e := range bytes.SplitSeq(env, []byte{0}) {
		if string(e) == kv {
			return true
		}
	}
	return false
}
