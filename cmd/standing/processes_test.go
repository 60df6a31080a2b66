package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/internal/testkit"
)

// asMainEnv makes the test binary run the program itself (main) instead of the tests,
// so that a test can start real processes and kill them with SIGKILL.
const asMainEnv = "STANDING_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// proc is a Standing process started by a test.
type proc struct {
	cmd  *exec.Cmd
	logs *syncBuffer
}

// spawn starts `standing args...` as a process of its own with vars as its whole
// STANDING_* environment; it is killed when the test ends.
func spawn(t *testing.T, vars map[string]string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = []string{asMainEnv + "=1", "PATH=" + os.Getenv("PATH")}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{cmd: cmd, logs: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return p
}

// waitLogged waits until the process has logged msg.
func (p *proc) waitLogged(t *testing.T, msg string) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(p.logs.String(), msg) },
		30*time.Second, 20*time.Millisecond, "the process logged: %s", p.logs)
}

// freePort returns a loopback port nobody listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// ownRedis starts a redis-server of the test's own (no persistence) on a free port and
// returns its URL: the test may pause or stop it without disturbing anyone.
func ownRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed")
	}
	port := freePort(t)
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", t.TempDir())
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	opt, err := redis.ParseURL(url)
	require.NoError(t, err)
	c := redis.NewClient(opt)
	defer c.Close()
	require.Eventually(t, func() bool { return c.Ping(context.Background()).Err() == nil },
		10*time.Second, 20*time.Millisecond, "redis-server answers")
	return url
}

// productionApp migrates the database of vars and creates an application with key; it
// returns what `apps create` printed (application_id, api_key, ingest_secret).
func productionApp(t *testing.T, vars map[string]string, key string) map[string]string {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, run(ctx, []string{"migrate"}, envFrom(vars), &syncBuffer{}, &syncBuffer{}))
	out := &syncBuffer{}
	require.NoError(t, run(ctx, []string{"apps", "create", "--name", "procs", "--api-key", key}, envFrom(vars), out, &syncBuffer{}))
	var app map[string]string
	require.NoError(t, json.Unmarshal([]byte(out.String()), &app))
	return app
}

// postSession posts an Approved session for vendorData through keyed intake.
func postSession(c client, id, vendorData string, at int64) int {
	status, _ := c.call("POST", "/v3/ingest/sessions/", map[string]any{
		"session_id": id, "status": "Approved", "vendor_data": vendorData, "timestamp": at})
	return status
}

// approved returns the approved_count of every user u-0 … u-(users-1).
func approved(c client, users int) (int, map[string]int) {
	total, each := 0, map[string]int{}
	for u := range users {
		vd := fmt.Sprintf("u-%d", u)
		_, got := c.call("GET", "/v3/users/"+vd+"/", nil)
		n, _ := got["approved_count"].(float64)
		each[vd] = int(n)
		total += int(n)
	}
	return total, each
}

// TestTwoIngestAndTwoWorkProcessesSurviveKill9 runs two ingest and two work processes
// from one environment on one host (one STANDING_ADDR), kills one work process with
// SIGKILL while it applies events, and checks that every acknowledged event is applied,
// once in effect, within the recovery target (STANDING_RELAY_AFTER=2s: under 20 s).
func TestTwoIngestAndTwoWorkProcessesSurviveKill9(t *testing.T) {
	t.Parallel()
	const key = "procs-key-0123456789"
	vars := map[string]string{
		"STANDING_DATABASE_URL":       testkit.PostgresSchemaURL(t),
		"STANDING_REDIS_URL":          ownRedis(t),
		"STANDING_ADDR":               fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"STANDING_RELAY_AFTER":        "2s",
		"STANDING_LOG_LEVEL":          "info",
		"STANDING_WORKER_CONCURRENCY": "4",
	}
	productionApp(t, vars, key)
	ingests := []*proc{spawn(t, vars, "ingest"), spawn(t, vars, "ingest")}
	works := []*proc{spawn(t, vars, "work"), spawn(t, vars, "work")}
	for _, p := range ingests {
		p.waitLogged(t, "API listening")
	}
	for _, p := range works {
		p.waitLogged(t, "workers running")
		require.NotContains(t, p.logs.String(), "listening", "a work process without STANDING_METRICS_ADDR does not listen")
	}
	c := client{t: t, base: "http://" + vars["STANDING_ADDR"], key: key}

	const users, events = 10, 200
	now := time.Now().Unix()
	for i := range events {
		if i == events/2 {
			require.NoError(t, works[0].cmd.Process.Signal(syscall.SIGKILL))
		}
		require.Equal(t, 202, postSession(c, fmt.Sprintf("s-%d", i), fmt.Sprintf("u-%d", i%users), now+int64(i)), "event %d", i)
	}
	lastAck := time.Now()
	require.Eventually(t, func() bool {
		total, _ := approved(c, users)
		return total == events
	}, 20*time.Second, 200*time.Millisecond, "every acknowledged event is applied")
	t.Logf("converged %s after the last acknowledged event", time.Since(lastAck).Round(time.Millisecond))
	_, each := approved(c, users)
	for vd, n := range each {
		require.Equal(t, events/users, n, "%s: each event counted once", vd)
	}
	for _, p := range ingests {
		require.NotContains(t, p.logs.String(), "address already in use")
	}
}

// TestRedisPausedIntakeStillAnswers pauses the test's own Redis (CLIENT PAUSE): intake
// still answers 202 within 2 s, reads keep answering, /readyz says 503 quickly, and
// once Redis is back every acknowledged event is applied.
func TestRedisPausedIntakeStillAnswers(t *testing.T) {
	t.Parallel()
	const key = "pause-key-0123456789"
	redisURL := ownRedis(t)
	vars := map[string]string{
		"STANDING_DATABASE_URL": testkit.PostgresSchemaURL(t),
		"STANDING_REDIS_URL":    redisURL,
		"STANDING_RELAY_AFTER":  "2s",
		"STANDING_LOG_LEVEL":    "info",
		"STANDING_ADDR":         "127.0.0.1:0",
	}
	productionApp(t, vars, key)
	base, _ := listening(t, "ingest", vars, "API listening")
	startedLogging(t, []string{"work"}, vars, &syncBuffer{}, &syncBuffer{})
	c := client{t: t, base: base, key: key}
	now := time.Now().Unix()
	require.Equal(t, 202, postSession(c, "before", "u-0", now))
	require.Eventually(t, func() bool { total, _ := approved(c, 1); return total == 1 }, 20*time.Second, 100*time.Millisecond)

	opt, err := redis.ParseURL(redisURL)
	require.NoError(t, err)
	admin := redis.NewClient(opt)
	defer admin.Close()
	require.NoError(t, admin.Do(context.Background(), "CLIENT", "PAUSE", "10000", "ALL").Err())
	pausedAt := time.Now()
	const users, events = 3, 4
	for i := range events {
		start := time.Now()
		require.Equal(t, 202, postSession(c, fmt.Sprintf("p-%d", i), fmt.Sprintf("u-%d", i%users), now+int64(i)+1))
		require.Less(t, time.Since(start), 2*time.Second, "intake answers within 2 s while Redis is paused")
		start = time.Now()
		status, _ := c.call("GET", "/v3/users/u-0/", nil)
		require.Equal(t, 200, status)
		require.Less(t, time.Since(start), 2*time.Second, "reads answer while Redis is paused")
	}
	t.Logf("%d events acknowledged %s into the pause", events, time.Since(pausedAt).Round(time.Millisecond))
	start := time.Now()
	status, _ := c.call("GET", "/readyz", nil)
	require.Equal(t, 503, status)
	require.Less(t, time.Since(start), 2*time.Second, "/readyz answers quickly")
	require.Less(t, time.Since(pausedAt), 10*time.Second, "all of that happened while Redis was paused")

	require.Eventually(t, func() bool { total, _ := approved(c, users); return total == events+1 },
		30*time.Second, 200*time.Millisecond, "every event acknowledged during the pause is applied afterwards")
}
