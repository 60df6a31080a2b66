package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// userHZ is the unit of the CPU times in /proc/PID/stat (USER_HZ, 100 on Linux).
const userHZ = 100

// procTimes reads a process's parent and CPU times from /proc/PID/stat: its own (user +
// system) and its reaped children's, in seconds.
func procTimes(pid int) (ppid int, own, children float64, err error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, 0, err
	}
	s := string(data)
	// The command name (field 2) is in parentheses and may hold spaces.
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[end+1:]) // f[0] is field 3 (state)
	if len(f) < 15 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ticks := func(i int) float64 { v, _ := strconv.ParseFloat(f[i], 64); return v / userHZ }
	ppid, _ = strconv.Atoi(f[1])
	return ppid, ticks(11) + ticks(12), ticks(13) + ticks(14), nil
}

// treeCPUSeconds is the CPU time pid, its live children and its reaped ones have used:
// for PostgreSQL's postmaster, the whole server (every backend is its child).
func treeCPUSeconds(pid int) float64 {
	_, own, reaped, err := procTimes(pid)
	if err != nil {
		return 0
	}
	total := own + reaped
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid {
			continue
		}
		if ppid, own, _, err := procTimes(child); err == nil && ppid == pid {
			total += own
		}
	}
	return total
}

// ownCPUSeconds is the CPU time pid itself has used.
func ownCPUSeconds(pid int) float64 {
	_, own, _, _ := procTimes(pid)
	return own
}

// cpuMeter measures the CPU time of named processes between two readings; the
// processes named in trees are counted with their children.
type cpuMeter struct {
	pids  map[string]int
	trees map[string]bool
	start map[string]float64
}

func newCPUMeter(pids map[string]int, trees map[string]bool) *cpuMeter {
	m := &cpuMeter{pids: pids, trees: trees, start: map[string]float64{}}
	for name, pid := range pids {
		m.start[name] = m.read(name, pid)
	}
	return m
}

func (m *cpuMeter) read(name string, pid int) float64 {
	if m.trees[name] {
		return treeCPUSeconds(pid)
	}
	return ownCPUSeconds(pid)
}

// perItem returns each process's CPU milliseconds since newCPUMeter per item, and
// their total under "total".
func (m *cpuMeter) perItem(items int) map[string]float64 {
	out := map[string]float64{}
	if items <= 0 {
		return out
	}
	var total float64
	for name, pid := range m.pids {
		ms := (m.read(name, pid) - m.start[name]) * 1000 / float64(items)
		out[name] = ms
		total += ms
	}
	out["total"] = total
	return out
}

// formatCPU prints a perItem map: processes by name, the total last.
func formatCPU(ms map[string]float64) string {
	var names []string
	for n := range ms {
		if n != "total" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names)+1)
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.2f", n, ms[n]))
	}
	return strings.Join(append(parts, fmt.Sprintf("total %.2f", ms["total"])), ", ")
}

// cpuPIDs are the processes a phase's CPU is measured for: the variant's Standing
// processes, PostgreSQL (its postmaster, with every backend), Redis and the benchmark
// itself (load generator and receiver).
func (e *env) cpuPIDs(ps *processes) (map[string]int, map[string]bool) {
	pids := map[string]int{"bench": os.Getpid()}
	for _, p := range ps.all() {
		if p.cmd.Process != nil {
			pids[p.name] = p.cmd.Process.Pid
		}
	}
	if e.redis != nil && e.redis.cmd.Process != nil {
		pids["redis"] = e.redis.cmd.Process.Pid
	}
	if pid := e.pg.postmasterPID(); pid > 0 {
		pids["postgres"] = pid
	}
	return pids, map[string]bool{"postgres": true}
}

// postmasterPID reads the server's process id from its postmaster.pid; 0 if unknown.
func (p *postgres) postmasterPID() int {
	data, err := os.ReadFile(filepath.Join(p.dir, "data", "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}

// relativeCPU prints the Standing processes' and servers' CPU per item as a multiple of
// the load generator's. The load generator does the same work per item in every
// variant, so its CPU per item moves only with the machine's speed, which on a shared
// machine changes from minute to minute: the multiple compares variants of one run
// better than the milliseconds do.
func relativeCPU(ms map[string]float64) string {
	gen := ms["bench"]
	if gen <= 0 {
		return ""
	}
	return fmt.Sprintf(" (%.1f× the load generator's; PostgreSQL %.1f×)", (ms["total"]-gen)/gen, ms["postgres"]/gen)
}
