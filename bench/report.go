package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Machine describes where the run happened.
type Machine struct {
	CPUs   int    `json:"cpus"`
	Model  string `json:"cpu_model"`
	Go     string `json:"go"`
	OS     string `json:"os"`
	Kernel string `json:"kernel"`
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// pgbench initialises a pgbench database on the benchmark's server and runs the
// built-in TPC-B-like script with the load's client count.
func (e *env) pgbench(ctx context.Context) (float64, error) {
	if _, err := e.db.conn.Exec(ctx, "CREATE DATABASE pgbench"); err != nil {
		return 0, fmt.Errorf("create pgbench database: %w", err)
	}
	pgURL := e.pg.url("pgbench")
	bin := e.cfg.PGBin + "/pgbench"
	out, err := exec.CommandContext(ctx, bin, "-i", "-q", "-s", strconv.Itoa(e.cfg.PgbenchScale), pgURL).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench -i: %w: %s", err, out)
	}
	out, err = exec.CommandContext(ctx, bin, "-c", strconv.Itoa(e.cfg.Clients), "-j", strconv.Itoa(runtime.NumCPU()),
		"-T", strconv.Itoa(e.cfg.PgbenchSeconds), pgURL).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench: %w: %s", err, out)
	}
	m := tpsLine.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("pgbench printed no tps line: %s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// Targets of issue 13, as ratios to pgbench and a latency bound.
const (
	TargetEndToEnd  = 0.5
	TargetIntake    = 1.0
	TargetPacedP99  = 250.0
	TargetWorkerRSS = 200.0
)

// Print writes the result as a table, with the ratios to pgbench and the targets.
func (r *Result) Print(w io.Writer) {
	fmt.Fprintf(w, "\nmachine: %d CPUs, %s, %s, kernel %s\n\n", r.Machine.CPUs, r.Machine.Model, r.Machine.Go, r.Machine.Kernel)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "variant\tphase\trequests\tintake/s\tapplied/s\tend-to-end/s\twebhooks/s\tp50 ms\tp99 ms\tmissing\tfailed\t")
	for _, v := range r.Variants {
		for _, p := range []Phase{v.Max, v.Paced} {
			if p.Items == 0 {
				continue
			}
			name := p.Name
			if p.TargetRate > 0 {
				name = fmt.Sprintf("paced@%.0f/s", p.TargetRate)
			}
			applied := "-" // not all applied within the phase's timeout
			if p.AppliedPerSec > 0 {
				applied = fmt.Sprintf("%.0f", p.AppliedPerSec)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%s\t%.0f\t%.0f\t%.1f\t%.1f\t%d\t%d\t\n", v.Name, name, p.Items,
				p.IntakePerSec, applied, p.EndToEndPerSec, p.WebhooksPerSec, p.P50Ms, p.P99Ms, p.Missing, p.Failed)
		}
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "(a phase with missing webhooks hit -timeout: its rates are lower bounds; applied - : not all applied by then)")
	fmt.Fprintln(w)
	for _, v := range r.Variants {
		names := make([]string, 0, len(v.PeakRSS))
		for n := range v.PeakRSS {
			names = append(names, n)
		}
		sort.Strings(names)
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = fmt.Sprintf("%s %.0f MiB", n, v.PeakRSS[n])
		}
		fmt.Fprintf(w, "peak RSS %s: %s\n", v.Name, strings.Join(parts, ", "))
		if len(v.MaxCPUMs) > 0 {
			fmt.Fprintf(w, "CPU ms per item, max phase, %s: %s%s\n", v.Name, formatCPU(v.MaxCPUMs), relativeCPU(v.MaxCPUMs))
		}
		if b := v.Backlog; b != nil {
			fmt.Fprintf(w, "backlog %s: %d of %d session events accepted at %.0f/s with no work process (ingest RSS %.0f → %.0f MiB); drained at %.0f/s by a fresh work process, peak RSS %.0f MiB (target < %.0f: %s)\n",
				v.Name, b.Accepted, b.Events, b.IntakePerSec, b.IngestRSSBefore, b.IngestRSSAfter, b.DrainPerSec, b.WorkPeakRSS,
				TargetWorkerRSS, verdict(b.WorkPeakRSS > 0 && b.WorkPeakRSS < TargetWorkerRSS && b.DrainPerSec > 0))
		}
		if v.Max.LastError != "" {
			fmt.Fprintf(w, "last failed post %s: %s\n", v.Name, v.Max.LastError)
		}
	}
	fmt.Fprintf(w, "pgbench TPC-B-like: %.0f TPS\n\n", r.PgbenchTPS)
	if r.PgbenchTPS <= 0 || len(r.Variants) == 0 {
		return
	}
	for _, v := range r.Variants {
		e2e, intake := v.Max.EndToEndPerSec/r.PgbenchTPS, v.Max.IntakePerSec/r.PgbenchTPS
		fmt.Fprintf(w, "%s: end-to-end / pgbench = %.3f (target ≥ %.1f: %s); intake / pgbench = %.3f (target ≥ %.1f: %s); p99 at half rate %.0f ms (target < %.0f: %s)\n",
			v.Name, e2e, TargetEndToEnd, verdict(e2e >= TargetEndToEnd), intake, TargetIntake, verdict(intake >= TargetIntake),
			v.Paced.P99Ms, TargetPacedP99, verdict(v.Paced.Accepted > 0 && v.Paced.Missing == 0 && v.Paced.P99Ms < TargetPacedP99))
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// WriteJSON writes the result to path.
func (r *Result) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// writeStatements writes the statements of the Standing database that took the most
// time, with their call counts, to path.
func (e *env) writeStatements(ctx context.Context, path string) error {
	rows, err := e.db.conn.Query(ctx, `SELECT calls, round(total_exec_time)::bigint, round(mean_exec_time::numeric, 3)::float8, rows, left(regexp_replace(query, '\s+', ' ', 'g'), 300)
		FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'standing')
		ORDER BY total_exec_time DESC LIMIT 40`)
	if err != nil {
		return fmt.Errorf("read pg_stat_statements: %w", err)
	}
	defer rows.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%8s %9s %9s %8s  %s\n", "calls", "total_ms", "mean_ms", "rows", "query")
	for rows.Next() {
		var calls, total, nrows int64
		var mean float64
		var q string
		if err := rows.Scan(&calls, &total, &mean, &nrows, &q); err != nil {
			return err
		}
		fmt.Fprintf(&b, "%8d %9d %9.3f %8d  %s\n", calls, total, mean, nrows, q)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
