package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Config is one benchmark run.
type Config struct {
	// PGBin holds initdb, pg_ctl and postgres.
	PGBin string
	// PGPort and RedisPort are the ports of the benchmark's own servers.
	PGPort, RedisPort int
	// PGOptions are extra server settings ("-c name=value …") of the benchmark's
	// PostgreSQL, such as auto_explain's, to look at plans under load.
	PGOptions string
	// Entities, Events and Transactions shape the load: each entity gets Events session
	// events and Transactions transactions.
	Entities, Events, Transactions int
	// Clients is the number of concurrent posting clients (and pgbench's client count).
	Clients int
	// Pace is the paced phase's rate as a fraction of the max phase's end-to-end rate.
	Pace float64
	// PacedSeconds bounds the paced phase's length.
	PacedSeconds float64
	// NoSettle starts the paced phase as soon as the max phase's work is done, without
	// the VACUUM ANALYZE that otherwise clears what the max phase left autovacuum.
	NoSettle bool
	// Timeout bounds the wait for one phase's webhooks.
	Timeout time.Duration
	// Variants are the process counts to run, e.g. 1 for 1+1 and 2 for 2+2, each with
	// environment of its own for A/B comparisons within one run.
	Variants []VariantSpec
	// Subscribe is the destination's subscribed_events.
	Subscribe []string
	// Signed signs session events with the ingest secret instead of the API key.
	Signed bool
	// Env is added to the environment of every Standing process (KEY=VALUE).
	Env []string
	// PgbenchSeconds and PgbenchScale configure pgbench.
	PgbenchSeconds, PgbenchScale int
	// ProfileDir, when set, receives CPU profiles of every process during the first max
	// phase (STANDING_PPROF=1 is set for them).
	ProfileDir string
	// StatementsFile, when set, receives pg_stat_statements' busiest statements of the
	// Standing runs (before pgbench); with several variants, FILE.1, FILE.2, … each hold
	// one variant's.
	StatementsFile string
	// Backlog is how many session events the backlog phase queues with no work process
	// running (last variant only, since it leaves webhooks undelivered; 0 skips the
	// phase).
	Backlog int
	// LatencyFile, when set, receives every arrived item's latency, one line each: the
	// variant and phase (no spaces), when it was sent (ms into the phase), its
	// end-to-end latency (ms), its key, when it was sent (Unix ms). It shows whether a
	// p99 comes from a stall (a run of slow items sent together) or from items of one
	// kind.
	LatencyFile string
	// Keep keeps the temporary directory (logs, database) at the end.
	Keep bool
	// Log receives progress lines.
	Log io.Writer
}

// VariantSpec is one set of processes: N ingest and N work processes with Env added to
// their environment.
type VariantSpec struct {
	N   int
	Env []string
	// Bin, when set, is the standing binary the variant's processes run (the database is
	// migrated by the one built from this checkout).
	Bin string
	// SQL, when set, is a file of SQL run on Standing's database before the variant's
	// processes start (A/B of an index or a constraint in one run; it stays for the
	// variants after, unless one undoes it).
	SQL string
}

// Name is how the variant is printed: "1+1", or "1+1 KEY=VALUE… BIN=…".
func (v VariantSpec) Name() string {
	name := strings.TrimSpace(fmt.Sprintf("%d+%d %s", v.N, v.N, strings.Join(v.Env, " ")))
	if v.Bin != "" {
		name += " BIN=" + filepath.Base(filepath.Dir(v.Bin)) + "/" + filepath.Base(v.Bin)
	}
	if v.SQL != "" {
		name += " SQL=" + filepath.Base(v.SQL)
	}
	return name
}

// Result is the whole run, as written to JSON.
type Result struct {
	StartedAt  string    `json:"started_at"`
	Machine    Machine   `json:"machine"`
	Config     any       `json:"config"`
	Variants   []Variant `json:"variants"`
	PgbenchTPS float64   `json:"pgbench_tps"`
}

// Variant is the measurements with one process count.
type Variant struct {
	Name    string             `json:"name"`
	Max     Phase              `json:"max"`
	Paced   Phase              `json:"paced"`
	PeakRSS map[string]float64 `json:"peak_rss_mib"`
	// MaxCPUMs is the CPU milliseconds each process used in the max phase per accepted
	// item (post to webhook: the whole pipeline's cost), and their total; a steadier
	// A/B measure than the rates on a noisy machine.
	MaxCPUMs map[string]float64 `json:"max_cpu_ms_per_item"`
	// Backlog is the backlog phase, run with the last variant only.
	Backlog *Backlog `json:"backlog,omitempty"`
}

// env is what the phases of a run share.
type env struct {
	cfg     Config
	dir     string
	bin     string
	pg      *postgres
	redis   *proc
	baseEnv []string
	db      *counter
	recv    *receiver
	app     appCreds
	// latencies receives the items' latencies (Config.LatencyFile); nil when not asked.
	latencies io.Writer
}

type appCreds struct {
	ApplicationID string `json:"application_id"`
	APIKey        string `json:"api_key"`
	IngestSecret  string `json:"ingest_secret"`
}

// Run runs the benchmark and returns its result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	res := &Result{StartedAt: time.Now().UTC().Format(time.RFC3339), Machine: machine(), Config: cfg}
	dir, err := os.MkdirTemp("", "standing-bench-")
	if err != nil {
		return nil, err
	}
	if cfg.Keep {
		logf(cfg, "files in %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	e := &env{cfg: cfg, dir: dir}
	if cfg.LatencyFile != "" {
		f, err := os.Create(cfg.LatencyFile)
		if err != nil {
			return nil, err
		}
		w := bufio.NewWriter(f)
		defer func() { _ = w.Flush(); _ = f.Close() }()
		e.latencies = w
	}
	logf(cfg, "building standing")
	if e.bin, err = buildStanding(ctx, dir); err != nil {
		return nil, err
	}
	logf(cfg, "starting PostgreSQL on %d and Redis on %d", cfg.PGPort, cfg.RedisPort)
	if e.pg, err = startPostgres(ctx, cfg.PGBin, dir, cfg.PGPort, cfg.PGOptions); err != nil {
		return nil, err
	}
	defer e.pg.stop()
	redis, err := startRedis(dir, cfg.RedisPort)
	e.redis = redis
	if err != nil {
		return nil, err
	}
	defer redis.stop(5 * time.Second)
	if err := e.setup(ctx); err != nil {
		return nil, err
	}
	defer e.recv.close()
	defer e.db.conn.Close(context.Background())

	for i, spec := range cfg.Variants {
		if cfg.StatementsFile != "" && len(cfg.Variants) > 1 {
			if _, err := e.db.conn.Exec(ctx, "SELECT pg_stat_statements_reset()"); err != nil {
				return res, fmt.Errorf("reset pg_stat_statements: %w", err)
			}
		}
		v, err := e.variant(ctx, spec, i == 0, i == len(cfg.Variants)-1)
		if err != nil {
			return res, fmt.Errorf("variant %s: %w", spec.Name(), err)
		}
		res.Variants = append(res.Variants, v)
		if cfg.StatementsFile != "" {
			path := cfg.StatementsFile
			if len(cfg.Variants) > 1 {
				path = fmt.Sprintf("%s.%d", path, i+1) // one file per variant, in order
			}
			if err := e.writeStatements(ctx, path); err != nil {
				return res, err
			}
			logf(cfg, "statement statistics of variant %s in %s", v.Name, path)
		}
	}
	logf(cfg, "running pgbench (%d clients, %d s)", cfg.Clients, cfg.PgbenchSeconds)
	if res.PgbenchTPS, err = e.pgbench(ctx); err != nil {
		return res, err
	}
	return res, nil
}

func logf(cfg Config, format string, args ...any) {
	if cfg.Log != nil {
		fmt.Fprintf(cfg.Log, "bench: "+format+"\n", args...)
	}
}

// setup creates the database, migrates it, creates the application, starts the
// receiver and registers it as the application's destination.
func (e *env) setup(ctx context.Context) error {
	admin, err := pgx.Connect(ctx, e.pg.url("postgres"))
	if err != nil {
		return err
	}
	_, err = admin.Exec(ctx, "CREATE DATABASE standing")
	_ = admin.Close(ctx)
	if err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	e.baseEnv = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"STANDING_DATABASE_URL=" + e.pg.url("standing"),
		fmt.Sprintf("STANDING_REDIS_URL=redis://127.0.0.1:%d/0", e.cfg.RedisPort),
		"STANDING_WEBHOOK_ALLOW_CIDRS=127.0.0.1/32",
		"STANDING_RATE_LIMIT_INTAKE=100000000", "STANDING_RATE_LIMIT_WRITE=100000000",
		"STANDING_RATE_LIMIT_READ=100000000", "STANDING_LOG_LEVEL=warn",
	}
	if e.cfg.ProfileDir != "" {
		e.baseEnv = append(e.baseEnv, "STANDING_PPROF=1")
	}
	e.baseEnv = append(e.baseEnv, e.cfg.Env...)
	if _, err := runStanding(ctx, e.bin, e.baseEnv, "migrate"); err != nil {
		return err
	}
	out, err := runStanding(ctx, e.bin, e.baseEnv, "apps", "create", "--name", "bench")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(out, &e.app); err != nil {
		return fmt.Errorf("read apps create output %q: %w", out, err)
	}
	conn, err := pgx.Connect(ctx, e.pg.url("standing"))
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		return fmt.Errorf("pg_stat_statements: %w", err)
	}
	e.db = &counter{conn: conn}
	e.recv, err = startReceiver()
	return err
}

// processes is one variant's running Standing processes.
type processes struct {
	ingest, work []*proc
	ingestURLs   []string
	workURLs     []string
}

func (ps *processes) all() []*proc { return append(append([]*proc{}, ps.ingest...), ps.work...) }

func (ps *processes) stop() {
	for _, p := range ps.all() {
		p.stop(20 * time.Second)
	}
}

// startProcesses starts n ingest and n work processes and waits until they are ready.
func (e *env) startProcesses(ctx context.Context, spec VariantSpec) (*processes, error) {
	ps := &processes{}
	n := spec.N
	for i := range 2 * n {
		role := "ingest"
		if i >= n {
			role = "work"
		}
		p, url, err := e.startProcess(ctx, spec, fmt.Sprintf("%s-%d", role, i%n+1), role)
		if err != nil {
			return ps, err
		}
		if role == "ingest" {
			ps.ingest, ps.ingestURLs = append(ps.ingest, p), append(ps.ingestURLs, url)
		} else {
			ps.work, ps.workURLs = append(ps.work, p), append(ps.workURLs, url)
		}
	}
	return ps, nil
}

// variant runs the max and the paced phase with n ingest and n work processes.
func (e *env) variant(ctx context.Context, spec VariantSpec, first, last bool) (Variant, error) {
	v := Variant{Name: spec.Name(), PeakRSS: map[string]float64{}}
	n := spec.N
	if spec.SQL != "" {
		script, err := os.ReadFile(spec.SQL)
		if err != nil {
			return v, err
		}
		if _, err := e.db.conn.Exec(ctx, string(script)); err != nil {
			return v, fmt.Errorf("variant %s: %s: %w", v.Name, spec.SQL, err)
		}
	}
	logf(e.cfg, "variant %s: starting processes", v.Name)
	ps, err := e.startProcesses(ctx, spec)
	defer ps.stop()
	if err != nil {
		return v, err
	}
	if err := e.ensureDestination(ctx, ps.ingestURLs[0]); err != nil {
		return v, err
	}
	p := &poster{
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			MaxIdleConns: 4 * e.cfg.Clients, MaxIdleConnsPerHost: 4 * e.cfg.Clients}},
		bases: ps.ingestURLs, apiKey: e.app.APIKey, appID: e.app.ApplicationID,
	}
	if e.cfg.Signed {
		p.secret = e.app.IngestSecret
	}
	base := time.Now().Add(-time.Hour)
	items := makeItems(fmt.Sprintf("b%d-%dx-max", time.Now().UnixNano(), n), e.cfg.Entities, e.cfg.Events, e.cfg.Transactions, base)
	logf(e.cfg, "variant %s: max phase, %d requests, %d clients", v.Name, len(items), e.cfg.Clients)
	var profiles func()
	if first && e.cfg.ProfileDir != "" {
		profiles = e.profile(ctx, ps)
	}
	label := strings.ReplaceAll(v.Name, " ", "_") // a field of the latency lines
	cpu := newCPUMeter(e.cpuPIDs(ps))
	v.Max, err = runPhase(ctx, phaseRun{name: "max", items: items, poster: p, recv: e.recv, db: e.db,
		clients: e.cfg.Clients, timeout: e.cfg.Timeout, latencies: e.latencies, label: label + "/max"})
	v.MaxCPUMs = cpu.perItem(v.Max.Accepted)
	if profiles != nil {
		profiles()
	}
	if err != nil {
		return v, err
	}
	quiesce(ctx, e.db, e.cfg.Timeout)
	if !e.cfg.NoSettle {
		// The paced phase measures latency at its rate, not the max phase's aftermath:
		// left alone, autovacuum passes over what the max phase churned land in the paced
		// phase's first seconds (each slows everything for about a second on two cores).
		if err := e.db.vacuum(ctx); err != nil {
			return v, fmt.Errorf("vacuum after the max phase: %w", err)
		}
	}

	rate := e.cfg.Pace * v.Max.EndToEndPerSec
	if rate > 0 {
		count := min(len(items), int(rate*e.cfg.PacedSeconds))
		paced := makeItems(fmt.Sprintf("b%d-%dx-paced", time.Now().UnixNano(), n), e.cfg.Entities, e.cfg.Events, e.cfg.Transactions, base)[:count]
		logf(e.cfg, "variant %s: paced phase, %d requests at %.0f/s", v.Name, count, rate)
		p.failed.Store(0)
		v.Paced, err = runPhase(ctx, phaseRun{name: "paced", items: paced, poster: p, recv: e.recv, db: e.db,
			clients: 4 * e.cfg.Clients, rate: rate, timeout: e.cfg.Timeout, latencies: e.latencies, label: label + "/paced"})
		if err != nil {
			return v, err
		}
		quiesce(ctx, e.db, e.cfg.Timeout)
	}
	for _, pr := range ps.all() {
		v.PeakRSS[pr.name] = pr.peakRSS()
	}
	if last && e.cfg.Backlog > 0 {
		b, err := e.backlog(ctx, ps, spec, p)
		v.Backlog = &b
		if err != nil {
			return v, err
		}
	}
	return v, nil
}

// ensureDestination registers the receiver as the application's destination once.
func (e *env) ensureDestination(ctx context.Context, base string) error {
	body, _ := json.Marshal(map[string]any{"url": "http://" + e.recv.addr + "/hook", "subscribed_events": e.cfg.Subscribe, "label": "bench"})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v3/webhook/destinations/", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-api-key", e.app.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("create destination: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusConflict {
		return fmt.Errorf("create destination: %d %s", resp.StatusCode, b)
	}
	return nil
}

// profile fetches CPU profiles of every process in the background; the returned
// function waits for them.
func (e *env) profile(ctx context.Context, ps *processes) func() {
	done := make(chan struct{})
	urls := append(append([]string{}, ps.ingestURLs...), ps.workURLs...)
	names := ps.all()
	go func() {
		defer close(done)
		_ = os.MkdirAll(e.cfg.ProfileDir, 0o755)
		finished := make(chan struct{}, len(urls))
		for i, u := range urls {
			go func() {
				defer func() { finished <- struct{}{} }()
				fetchProfile(ctx, u+"/debug/pprof/profile?seconds=15", filepath.Join(e.cfg.ProfileDir, names[i].name+".cpu.pprof"))
			}()
		}
		for range urls {
			<-finished
		}
	}()
	return func() { <-done }
}

func fetchProfile(ctx context.Context, url, path string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}
