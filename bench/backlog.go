package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Backlog is the backlog phase: session events posted while no work process runs (the
// ingest process must answer 202 with constant memory), then applied by a fresh work
// process (whose memory must stay bounded with the whole backlog queued).
type Backlog struct {
	Events       int     `json:"events"`
	Accepted     int     `json:"accepted"`
	IntakePerSec float64 `json:"intake_per_s"`
	// IngestRSSBefore and IngestRSSAfter are the ingest process's resident memory before
	// and after the posts (VmRSS, MiB).
	IngestRSSBefore float64 `json:"ingest_rss_before_mib"`
	IngestRSSAfter  float64 `json:"ingest_rss_after_mib"`
	// DrainPerSec is inbox rows applied per second once the work process started.
	DrainPerSec float64 `json:"drain_per_s"`
	// WorkPeakRSS is the fresh work process's peak resident memory (VmHWM, MiB).
	WorkPeakRSS float64 `json:"work_peak_rss_mib"`
}

// backlog runs the backlog phase with the variant's processes: it stops the work
// processes, posts the events, starts one work process and waits until the inbox is
// empty again. It does not wait for the backlog's webhooks: the variant's processes stop
// with deliveries still pending, so it runs last.
func (e *env) backlog(ctx context.Context, ps *processes, spec VariantSpec, p *poster) (Backlog, error) {
	b := Backlog{Events: e.cfg.Backlog}
	for _, w := range ps.work {
		w.stop(20 * time.Second)
	}
	ps.work, ps.workURLs = nil, nil
	basePending, _, err := e.db.counts(ctx)
	if err != nil {
		return b, err
	}
	perEntity := max(1, e.cfg.Events)
	items := makeItems(fmt.Sprintf("b%d-backlog", time.Now().UnixNano()), max(1, b.Events/perEntity), perEntity, 0,
		time.Now().Add(-time.Hour))
	b.IngestRSSBefore = ps.ingest[0].rss()
	logf(e.cfg, "variant %s: backlog phase, %d session events with no work process", spec.Name(), len(items))
	start := time.Now()
	s := p.postAll(ctx, items, e.cfg.Clients)
	for _, t := range s.at {
		if !t.IsZero() {
			b.Accepted++
		}
	}
	b.IntakePerSec = perSec(b.Accepted, s.done.Sub(start))
	b.IngestRSSAfter = ps.ingest[0].rss()

	w, url, err := e.startProcess(ctx, spec, "work-backlog", "work")
	if err != nil {
		return b, err
	}
	ps.work, ps.workURLs = append(ps.work, w), append(ps.workURLs, url)
	logf(e.cfg, "variant %s: backlog phase, draining %d inbox rows", spec.Name(), b.Accepted)
	drainStart := time.Now()
	for ctx.Err() == nil {
		pending, _, err := e.db.counts(ctx)
		if err == nil && pending <= basePending {
			b.DrainPerSec = perSec(b.Accepted, time.Since(drainStart))
			break
		}
		if time.Since(drainStart) > 10*e.cfg.Timeout {
			return b, fmt.Errorf("backlog: %d inbox rows still pending after %s", pending-basePending, time.Since(drainStart).Round(time.Second))
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.WorkPeakRSS = w.peakRSS()
	return b, nil
}

// startProcess starts one Standing process of role (ingest or work) and waits until it
// is ready.
func (e *env) startProcess(ctx context.Context, spec VariantSpec, name, role string) (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	// A work process serves its health and metrics on STANDING_METRICS_ADDR.
	addrVar := "STANDING_ADDR"
	if role == "work" {
		addrVar = "STANDING_METRICS_ADDR"
	}
	envv := append(append(append([]string{}, e.baseEnv...), spec.Env...), fmt.Sprintf("%s=127.0.0.1:%d", addrVar, port))
	bin := e.bin
	if spec.Bin != "" {
		bin = spec.Bin
	}
	p, err := start(name, filepath.Join(e.dir, fmt.Sprintf("%s-%dx.log", name, spec.N)), envv, bin, role)
	if err != nil {
		return nil, "", err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitReady(ctx, url+"/readyz", 30*time.Second); err != nil {
		p.stop(5 * time.Second)
		return nil, "", fmt.Errorf("%s: %w (log in %s)", name, err, p.log.Name())
	}
	return p, url, nil
}

// rss is the process's resident memory now (VmRSS) in MiB, or -1 when unknown.
func (p *proc) rss() float64 { return p.status("VmRSS:") }

// status reads one memory line of the process's /proc status in MiB, -1 when unknown.
func (p *proc) status(field string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return -1
			}
			return kb / 1024
		}
	}
	return -1
}
