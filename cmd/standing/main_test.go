package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/internal/testkit"
	"github.com/standinghq/standing/webhooks"
)

// syncBuffer is an io.Writer the test can read while run writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func envFrom(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// started runs the program in the background and returns a function that stops it and
// returns run's error.
func started(t *testing.T, args []string, vars map[string]string, stdout io.Writer) func() error {
	t.Helper()
	return startedLogging(t, args, vars, stdout, io.Discard)
}

// startedLogging is started, with the program's logs written to stderr.
func startedLogging(t *testing.T, args []string, vars map[string]string, stdout, stderr io.Writer) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, envFrom(vars), stdout, stderr) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Error("the program did not stop within 30s")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

var printed = regexp.MustCompile(`(?m)^\s+(URL|API key|Admin token|Application|Ingest secret):\s+(\S+)`)

// waitForBanner waits until dev mode has printed its banner and returns its values.
func waitForBanner(t *testing.T, out *syncBuffer) map[string]string {
	t.Helper()
	values := map[string]string{}
	require.Eventually(t, func() bool {
		for _, m := range printed.FindAllStringSubmatch(out.String(), -1) {
			values[m[1]] = m[2]
		}
		return len(values) == 5
	}, 30*time.Second, 20*time.Millisecond, "dev mode printed: %s", out.String())
	return values
}

type client struct {
	t    *testing.T
	base string
	key  string
}

func (c client) call(method, path string, body any, headers ...string) (int, map[string]any) {
	c.t.Helper()
	res := c.raw(method, path, body, headers...)
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// raw makes a call and returns the response; the caller closes its body.
func (c client) raw(method, path string, body any, headers ...string) *http.Response {
	c.t.Helper()
	var reader io.Reader
	if body != nil {
		data, ok := body.([]byte)
		if !ok {
			var err error
			data, err = json.Marshal(body)
			require.NoError(c.t, err)
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, reader)
	require.NoError(c.t, err)
	if c.key != "" {
		req.Header.Set("x-api-key", c.key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	return res
}

// tour drives the API as a newcomer following the README would.
func tour(t *testing.T, c client) {
	t.Helper()
	status, body := c.call("POST", "/v3/users/create/", map[string]any{"vendor_data": "user-123", "full_name": "Ana Ruiz"})
	require.Equal(t, http.StatusCreated, status, body)
	status, body = c.call("PATCH", "/v3/users/user-123/", map[string]any{"email": "ana@example.com"})
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "ana@example.com", body["email"])
	status, body = c.call("PATCH", "/v3/users/user-123/update-status/", map[string]any{"status": "FLAGGED", "reason": "manual check", "actor": "ops"})
	require.Equal(t, http.StatusAccepted, status, body)
	require.Eventually(t, func() bool {
		_, got := c.call("GET", "/v3/users/user-123/", nil)
		return got["status"] == "FLAGGED"
	}, 20*time.Second, 50*time.Millisecond, "the worker applies the status change")
	status, body = c.call("GET", "/v3/users/?status=FLAGGED", nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, float64(1), body["count"])
	status, body = c.call("POST", "/v3/users/delete/", map[string]any{"vendor_data_list": []string{"user-123"}})
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, float64(1), body["deleted"])
	_, body = c.call("GET", "/v3/users/user-123/", nil)
	require.NotNil(t, body["deleted_at"])
}

func TestDevModeEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vars := map[string]string{"STANDING_ADDR": "127.0.0.1:0", "STANDING_DATA_DIR": dir, "STANDING_LOG_LEVEL": "warn"}
	out := &syncBuffer{}
	stop := started(t, []string{"dev"}, vars, out)
	banner := waitForBanner(t, out)
	c := client{t: t, base: banner["URL"], key: banner["API key"]}

	res, err := http.Get(c.base + "/readyz")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	status, body := c.call("GET", "/v3/users/", nil)
	require.Equal(t, http.StatusOK, status, body)
	wrong := client{t: t, base: c.base, key: "nope-nope-nope-nope"}
	status, _ = wrong.call("GET", "/v3/users/", nil)
	require.Equal(t, http.StatusUnauthorized, status)

	tour(t, c)
	require.NoError(t, stop(), "a graceful shutdown returns no error")

	// A restart on the same data directory keeps the data and the key.
	out2 := &syncBuffer{}
	stop2 := started(t, []string{"dev"}, vars, out2)
	banner2 := waitForBanner(t, out2)
	require.Equal(t, banner["API key"], banner2["API key"])
	require.Equal(t, banner["Application"], banner2["Application"])
	c2 := client{t: t, base: banner2["URL"], key: banner2["API key"]}
	_, body = c2.call("GET", "/v3/users/user-123/", nil)
	require.NotNil(t, body["deleted_at"])
	require.NoError(t, stop2())
}

// sessionTour drives session intake, sessions, lists and settings as the README shows.
func sessionTour(t *testing.T, c client, appID, ingestSecret string) {
	t.Helper()
	now := time.Now().Unix()
	body := []byte(fmt.Sprintf(`{"decision":{"id_verification":{"full_name":"Ana Ruiz","status":"Approved"}},"session_id":"sess-1","status":"Approved","timestamp":%d,"vendor_data":"ana"}`, now))
	sig, err := webhooks.SignV2(ingestSecret, body)
	require.NoError(t, err)
	upstream := client{t: t, base: c.base}
	status, res := upstream.call("POST", "/v3/ingest/sessions/", body,
		"X-Timestamp", strconv.FormatInt(now, 10), "X-Signature-V2", sig, "X-Application-Id", appID)
	require.Equal(t, http.StatusAccepted, status, res)
	require.NotEmpty(t, res["event_id"])
	status, _ = upstream.call("POST", "/v3/ingest/sessions/", body,
		"X-Timestamp", strconv.FormatInt(now, 10), "X-Signature-V2", strings.Repeat("0", 64), "X-Application-Id", appID)
	require.Equal(t, http.StatusUnauthorized, status)

	require.Eventually(t, func() bool {
		_, got := c.call("GET", "/v3/users/ana/", nil)
		return got["approved_count"] == float64(1)
	}, 20*time.Second, 50*time.Millisecond, "the worker applies the session event")
	_, got := c.call("GET", "/v3/users/ana/", nil)
	require.Equal(t, "Ana Ruiz", got["full_name"])
	require.Equal(t, map[string]any{"id_verification": "APPROVED"}, got["features"])
	status, sess := c.call("GET", "/v3/session/sess-1/", nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "Approved", sess["status"])

	status, created := c.call("POST", "/v3/session/", map[string]any{"vendor_data": "ana", "workflow_id": "wf-kyc"})
	require.Equal(t, http.StatusCreated, status, created)
	require.Contains(t, created["url"], created["session_id"])

	status, _ = c.call("PATCH", "/v3/settings/", map[string]any{"auto_block_on_decline": true})
	require.Equal(t, http.StatusOK, status)
	status, list := c.call("POST", "/v3/lists/", map[string]any{"name": "fraud emails", "list_type": "blocklist", "entry_type": "email"})
	require.Equal(t, http.StatusCreated, status, list)
	status, entry := c.call("POST", "/v3/lists/"+list["uuid"].(string)+"/entries/", map[string]any{"value": "Fraud@Example.com"})
	require.Equal(t, http.StatusCreated, status, entry)
	require.Equal(t, "fraud@example.com", entry["value"])

	status, _ = c.call("POST", "/v3/ingest/sessions/", map[string]any{
		"session_id": "sess-2", "status": "Declined", "vendor_data": "ana", "timestamp": now + 5, "workflow_id": "wf-kyc"})
	require.Equal(t, http.StatusAccepted, status)
	require.Eventually(t, func() bool {
		_, got := c.call("GET", "/v3/users/ana/", nil)
		return got["status"] == "BLOCKED"
	}, 20*time.Second, 50*time.Millisecond, "auto-block on decline")
	status, refused := c.call("POST", "/v3/session/", map[string]any{"vendor_data": "ana"})
	require.Equal(t, http.StatusForbidden, status, refused)

	// A transaction, evaluated by a worker and reviewed by an analyst.
	status, tx := c.call("POST", "/v3/transactions/", map[string]any{
		"transaction_id": "t-1", "vendor_data": "payer", "amount": "12500.00", "currency": "EUR", "direction": "outbound"})
	require.Equal(t, http.StatusAccepted, status, tx)
	id := tx["uuid"].(string)
	require.Eventually(t, func() bool {
		_, got := c.call("GET", "/v3/transactions/"+id+"/", nil)
		return got["status"] == "IN_REVIEW"
	}, 20*time.Second, 50*time.Millisecond, "13500 USD crosses the large-amount rule")
	status, reviewed := c.call("PATCH", "/v3/transactions/"+id+"/update-status/", map[string]any{"status": "APPROVED", "actor": "analyst"})
	require.Equal(t, http.StatusOK, status, reviewed)
	_, payer := c.call("GET", "/v3/users/payer/", nil)
	require.Equal(t, "FLAGGED", payer["status"])
}

// webhookTour sends events to dev mode's sink and verifies them with the Standard
// Webhooks library.
func webhookTour(t *testing.T, c client) {
	t.Helper()
	status, dest := c.call("POST", "/v3/webhook/destinations/", map[string]any{
		"url": c.base + "/dev/sink/e2e", "subscribed_events": []string{"user.data.updated"}})
	require.Equal(t, http.StatusCreated, status, dest)
	status, _ = c.call("POST", "/v3/users/create/", map[string]any{"vendor_data": "hooked"})
	require.Equal(t, http.StatusCreated, status)

	// The sink lists bodies as raw JSON: read them so, to verify the exact bytes.
	var sink struct {
		Count   int `json:"count"`
		Results []struct {
			Headers map[string]string `json:"headers"`
			Body    json.RawMessage   `json:"body"`
		} `json:"results"`
	}
	require.Eventually(t, func() bool {
		res, err := http.Get(c.base + "/dev/sink/e2e")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		return json.NewDecoder(res.Body).Decode(&sink) == nil && sink.Count == 1
	}, 20*time.Second, 50*time.Millisecond, "the webhook reaches the dev sink")
	received := sink.Results[0]
	var event map[string]any
	require.NoError(t, json.Unmarshal(received.Body, &event))
	require.Equal(t, "user.data.updated", event["webhook_type"])
	require.Equal(t, "hooked", event["vendor_data"])
	headers := http.Header{}
	for k, v := range received.Headers {
		headers.Set(k, v)
	}
	require.Equal(t, event["event_id"], headers.Get("webhook-id"))
	wh, err := standardwebhooks.NewWebhook(dest["secret"].(string))
	require.NoError(t, err)
	require.NoError(t, wh.Verify(received.Body, headers), "the Standard Webhooks library accepts the delivery")
}

func TestDevModeSessionsListsAndSettings(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"STANDING_ADDR": "127.0.0.1:0", "STANDING_DATA_DIR": t.TempDir(), "STANDING_LOG_LEVEL": "warn"}
	out := &syncBuffer{}
	started(t, []string{"dev"}, vars, out)
	banner := waitForBanner(t, out)
	c := client{t: t, base: banner["URL"], key: banner["API key"]}
	sessionTour(t, c, banner["Application"], banner["Ingest secret"])
	webhookTour(t, c)
}

// get fetches url with headers and returns the body of a 200.
func get(t *testing.T, url string, headers map[string]string) string {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, "%s: %s", url, body)
	return string(body)
}

func TestDevModeServesMetricsAndTheQueueMonitor(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"STANDING_ADDR": "127.0.0.1:0", "STANDING_DATA_DIR": t.TempDir(), "STANDING_LOG_LEVEL": "warn"}
	out := &syncBuffer{}
	started(t, []string{"dev"}, vars, out)
	banner := waitForBanner(t, out)
	c := client{t: t, base: banner["URL"], key: banner["API key"]}
	status, _ := c.call("GET", "/v3/users/", nil)
	require.Equal(t, http.StatusOK, status)
	metrics := get(t, c.base+"/metrics", nil)
	require.Contains(t, metrics, `standing_http_requests_total{method="GET",route="/v3/users",status="200"}`)
	require.Contains(t, metrics, "go_goroutines")

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.Get(c.base + "/ops/queues/")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusUnauthorized, res.StatusCode, "the queue monitor needs the admin token")
	page := get(t, c.base+"/ops/queues/", map[string]string{"Authorization": "Bearer " + banner["Admin token"]})
	require.Contains(t, page, "<html")
	api := get(t, c.base+"/ops/queues/api/queues", map[string]string{"Authorization": "Bearer " + banner["Admin token"]})
	require.Contains(t, api, "queues")

	res, err = noRedirect.Get(c.base + "/ops/queues/?token=" + banner["Admin token"])
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode, "a browser trades ?token= for a cookie")
	require.Equal(t, "/ops/queues/", res.Header.Get("Location"))
	require.NotEmpty(t, res.Cookies())
	require.True(t, res.Cookies()[0].HttpOnly)
}

func TestDevModeTakesTheAPIKeyFromTheEnvironment(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"STANDING_ADDR": "127.0.0.1:0", "STANDING_DATA_DIR": t.TempDir(), "STANDING_LOG_LEVEL": "warn",
		"STANDING_API_KEY": "my-own-dev-key-0123", "STANDING_ADMIN_TOKEN": "my-own-admin-token-0123",
		"STANDING_INGEST_SECRET": "vendor-secret-shared-key-0123",
	}
	out := &syncBuffer{}
	started(t, []string{"dev"}, vars, out)
	banner := waitForBanner(t, out)
	require.Equal(t, "my-own-dev-key-0123", banner["API key"])
	require.Equal(t, "my-own-admin-token-0123", banner["Admin token"])
	require.Equal(t, "vendor-secret-shared-key-0123", banner["Ingest secret"], "the seeded application takes the upstream's secret")
	status, _ := client{t: t, base: banner["URL"], key: "my-own-dev-key-0123"}.call("GET", "/v3/users/", nil)
	require.Equal(t, http.StatusOK, status)
}

func TestProductionProcessesOnPostgresAndRedis(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"STANDING_DATABASE_URL": testkit.PostgresSchemaURL(t),
		"STANDING_REDIS_URL":    testkit.RedisURL(),
		"STANDING_LOG_LEVEL":    "warn",
		"STANDING_RELAY_AFTER":  "1s",
	}
	ctx := context.Background()

	// ingest refuses a database that is not migrated.
	err := run(ctx, []string{"ingest"}, envFrom(vars), io.Discard, io.Discard)
	require.ErrorContains(t, err, "standing migrate")

	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"migrate"}, envFrom(vars), &out, io.Discard))
	require.Regexp(t, `^applied [1-9][0-9]* migration\(s\)`, out.String())
	out.Reset()
	require.NoError(t, run(ctx, []string{"migrate"}, envFrom(vars), &out, io.Discard))
	require.Contains(t, out.String(), "applied 0 migration(s)")

	out.Reset()
	require.NoError(t, run(ctx, []string{"apps", "create", "--name", "Acme KYC", "--api-key", "acme-key-0123456789"}, envFrom(vars), &out, io.Discard))
	var app map[string]string
	require.NoError(t, json.Unmarshal(out.Bytes(), &app))
	require.Equal(t, "acme-key-0123456789", app["api_key"])
	require.NotEmpty(t, app["application_id"])
	require.True(t, strings.HasPrefix(app["ingest_secret"], "isk_"))
	out.Reset()
	require.NoError(t, run(ctx, []string{"apps", "list"}, envFrom(vars), &out, io.Discard))
	require.Contains(t, out.String(), app["application_id"])

	apiVars := map[string]string{}
	for k, v := range vars {
		apiVars[k] = v
	}
	apiVars["STANDING_ADDR"] = "127.0.0.1:0"
	apiVars["STANDING_LOG_LEVEL"] = "info"
	// Each process logs the address it listens on.
	apiVars["STANDING_METRICS_ADDR"] = "127.0.0.1:0"
	base, stopAPI := listening(t, "ingest", apiVars, "API listening")
	workBase, stopWork := listening(t, "work", apiVars, "health and metrics listening")

	c := client{t: t, base: base, key: "acme-key-0123456789"}
	tour(t, c)
	sessionTour(t, c, app["application_id"], app["ingest_secret"])

	// The work process serves its health and its metrics; the API its own metrics.
	workMetrics := get(t, workBase+"/metrics", nil)
	require.Contains(t, workMetrics, `standing_jobs_total{result="ok",type="session:apply"}`)
	require.Contains(t, workMetrics, "asynq_")
	require.Contains(t, get(t, workBase+"/readyz", nil), `"ready"`)
	require.Contains(t, get(t, base+"/metrics", nil), `standing_http_requests_total{method="POST",route="/v3/ingest/sessions",status="202"}`)
	require.NoError(t, stopWork(), "a graceful shutdown returns no error")
	require.NoError(t, stopAPI())
}

// listening starts command with JSON logs at info level and returns the base URL it
// logged with msg, and its stop.
func listening(t *testing.T, command string, vars map[string]string, msg string) (string, func() error) {
	t.Helper()
	logs := &syncBuffer{}
	stop := startedLogging(t, []string{command}, vars, io.Discard, logs)
	addr := regexp.MustCompile(`"msg":"` + regexp.QuoteMeta(msg) + `","addr":"([^"]+)"`)
	var base string
	require.Eventually(t, func() bool {
		m := addr.FindStringSubmatch(logs.String())
		if m != nil {
			base = "http://" + m[1]
		}
		return m != nil
	}, 20*time.Second, 20*time.Millisecond, "%s logged: %s", command, logs.String())
	return base, stop
}

func TestAppsTakeTheUpstreamsIngestSecret(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	vars := map[string]string{"STANDING_DATABASE_URL": filepath.Join(t.TempDir(), "apps.db"), "STANDING_LOG_LEVEL": "warn"}
	require.NoError(t, run(ctx, []string{"migrate"}, envFrom(vars), io.Discard, io.Discard))
	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"apps", "create", "--name", "Acme", "--ingest-secret", "didit-secret-shared-key-1"}, envFrom(vars), &out, io.Discard))
	var app map[string]string
	require.NoError(t, json.Unmarshal(out.Bytes(), &app))
	require.Equal(t, "didit-secret-shared-key-1", app["ingest_secret"])

	out.Reset()
	require.NoError(t, run(ctx, []string{"apps", "set-ingest-secret", "--app", app["application_id"], "--secret", "didit-secret-shared-key-2"}, envFrom(vars), &out, io.Discard))
	var set map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &set))
	until, err := time.Parse(time.RFC3339, set["previous_valid_until"].(string))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(24*time.Hour), until, time.Minute, "the previous secret stays valid a day")

	require.Error(t, run(ctx, []string{"apps", "set-ingest-secret", "--app", app["application_id"], "--secret", "short"}, envFrom(vars), io.Discard, io.Discard))
	require.ErrorIs(t, run(ctx, []string{"apps", "set-ingest-secret", "--app", app["application_id"]}, envFrom(vars), io.Discard, io.Discard), errUsage)
	require.Error(t, run(ctx, []string{"apps", "create", "--name", "B", "--ingest-secret", "has spaces in it here"}, envFrom(vars), io.Discard, io.Discard))
}

func TestUsageAndConfigurationErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	require.ErrorIs(t, run(ctx, nil, envFrom(nil), io.Discard, io.Discard), errUsage)
	require.ErrorIs(t, run(ctx, []string{"launch"}, envFrom(nil), io.Discard, io.Discard), errUsage)
	require.ErrorIs(t, run(ctx, []string{"apps", "create"}, envFrom(map[string]string{"STANDING_DATABASE_URL": "x.db"}), io.Discard, io.Discard), errUsage)

	err := run(ctx, []string{"work"}, envFrom(nil), io.Discard, io.Discard)
	require.ErrorContains(t, err, "STANDING_DATABASE_URL")
	err = run(ctx, []string{"ingest"}, envFrom(map[string]string{"STANDING_DATABASE_URL": "/tmp/x.db", "STANDING_REDIS_URL": "redis://h:6379"}), io.Discard, io.Discard)
	require.ErrorContains(t, err, "STANDING_DATABASE_URL: must be a postgres:// URL")
	err = run(ctx, []string{"dev"}, envFrom(map[string]string{"STANDING_RELAY_AFTER": "soon"}), io.Discard, io.Discard)
	require.ErrorContains(t, err, "STANDING_RELAY_AFTER")
}
