// Package bench is Standing's throughput benchmark: it starts a PostgreSQL cluster and a
// Redis server of its own, runs Standing's ingest and work processes on them, drives
// them with a load generator and a webhook receiver on loopback, measures intake,
// applied and end-to-end rates, latencies and memory, and runs pgbench on the same
// server in the same run, so that the ratio of the two is comparable across machines.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a child process the benchmark started.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
}

// start runs a command with its output in logPath.
func start(name, logPath string, env []string, bin string, args ...string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return &proc{name: name, cmd: cmd, log: f}, nil
}

// stop asks the process to end (SIGTERM), and kills it after grace.
func (p *proc) stop(grace time.Duration) {
	if p == nil || p.cmd.Process == nil {
		return
	}
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-done
	}
	_ = p.log.Close()
}

// peakRSS is the process's peak resident set (VmHWM) in MiB, or -1 when unknown.
func (p *proc) peakRSS() float64 { return p.status("VmHWM:") }

// postgres is the benchmark's own PostgreSQL cluster.
type postgres struct {
	bin, dir string
	port     int
	asUser   string // run the server's tools as this user (initdb refuses root)
}

// pgCommand runs a PostgreSQL tool, as p.asUser when set.
func (p *postgres) pgCommand(ctx context.Context, tool string, args ...string) *exec.Cmd {
	path := filepath.Join(p.bin, tool)
	if p.asUser != "" {
		return exec.CommandContext(ctx, "runuser", append([]string{"-u", p.asUser, "--", path}, args...)...)
	}
	return exec.CommandContext(ctx, path, args...)
}

// startPostgres creates a fresh cluster in dir/pg and starts it on port.
func startPostgres(ctx context.Context, bin, dir string, port int, extra string) (*postgres, error) {
	p := &postgres{bin: bin, dir: filepath.Join(dir, "pg"), port: port}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs a postgres user for initdb: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, d := range []string{dir, p.dir} {
			if err := os.Chown(d, uid, gid); err != nil {
				return nil, err
			}
		}
		p.asUser = "postgres"
	}
	out, err := p.pgCommand(ctx, "initdb", "-D", filepath.Join(p.dir, "data"), "-U", "postgres",
		"--auth=trust", "--no-sync", "-E", "UTF8").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	// autovacuum_naptime: a phase fills empty tables in seconds, and until autovacuum
	// has analyzed them PostgreSQL plans the entity lookup without statistics (a scan of
	// the application's entities: 12 ms at 7,000 entities, 0.1 ms once analyzed). With
	// the default of a minute, every phase would measure that first minute; README
	// recommends the same setting for production.
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c max_connections=300 "+
		"-c shared_preload_libraries=pg_stat_statements -c autovacuum_naptime=5s", port, p.dir)
	if extra != "" {
		opts += " " + extra
	}
	start := func() ([]byte, error) {
		return p.pgCommand(ctx, "pg_ctl", "-D", filepath.Join(p.dir, "data"), "-l", filepath.Join(p.dir, "log"),
			"-o", opts, "-w", "-t", "60", "start").CombinedOutput()
	}
	if out, err = start(); err != nil {
		// Seen once on a busy machine, and gone on the next try: try once more, then say
		// what the server logged (the directory is removed when the run ends).
		time.Sleep(2 * time.Second)
		if out, err = start(); err != nil {
			return nil, fmt.Errorf("pg_ctl start: %w: %s; server log: %s", err, out, tail(filepath.Join(p.dir, "log"), 2000))
		}
	}
	return p, nil
}

// tail returns the last n bytes of the file at path, or why it could not be read.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(data[max(0, len(data)-n):])
}

// url is the connection URL of database db.
func (p *postgres) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, db)
}

// stop stops the cluster (fast shutdown).
func (p *postgres) stop() {
	if p == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_ = p.pgCommand(ctx, "pg_ctl", "-D", filepath.Join(p.dir, "data"), "-m", "fast", "-w", "stop").Run()
}

// startRedis starts a Redis server without persistence on port.
func startRedis(dir string, port int) (*proc, error) {
	p, err := start("redis", filepath.Join(dir, "redis.log"), os.Environ(), "redis-server",
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err != nil {
		return nil, err
	}
	if err := waitTCP(fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second); err != nil {
		p.stop(time.Second)
		return nil, fmt.Errorf("redis-server: %w", err)
	}
	return p, nil
}

// waitTCP waits until addr accepts connections.
func waitTCP(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not accept connections within %s: %w", addr, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitReady waits until url answers 200.
func waitReady(ctx context.Context, url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s: %w", url, within, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freePort returns a loopback TCP port that is free right now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// buildStanding builds the standing binary into dir.
func buildStanding(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "standing")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/standing").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/standing (run from the repository root): %w: %s", err, out)
	}
	return bin, nil
}

// runStanding runs a one-shot standing command and returns its standard output.
func runStanding(ctx context.Context, bin string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return nil, fmt.Errorf("standing %s: %w: %s", strings.Join(args, " "), err, stderr.String())
		}
		return nil, err
	}
	return out, nil
}
