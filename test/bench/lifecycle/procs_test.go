package lifecycle

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// processes are the programs whose CPU the benchmark accounts for: the
// controller, the stack's components (from hack/stack.sh's pids file) and
// the benchmark itself, which drives the fleet and watches it.
type processes struct {
	names []string
	pids  map[string]int
}

// stackProcesses reads the stack's pids file next to its kubeconfig.
func stackProcesses(stackDir string, controller int) processes {
	p := processes{pids: map[string]int{}}
	p.add("warbler", controller)
	if data, err := os.ReadFile(filepath.Join(stackDir, "pids")); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) == 2 {
				if pid, err := strconv.Atoi(f[1]); err == nil {
					p.add(f[0], pid)
				}
			}
		}
	}
	p.add("benchmark", os.Getpid())
	return p
}

func (p *processes) add(name string, pid int) {
	p.names = append(p.names, name)
	p.pids[name] = pid
}

// cpu is the CPU seconds each process has used so far.
func (p processes) cpu() map[string]float64 {
	out := map[string]float64{}
	for name, pid := range p.pids {
		out[name] = cpuSeconds(pid)
	}
	return out
}

// cpuSeconds is user+system CPU time of a process.
func cpuSeconds(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

// memMiB reads a field of /proc/<pid>/status (VmRSS, VmHWM) in MiB.
func memMiB(pid int, field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(l, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			return kb / 1024
		}
	}
	return 0
}
