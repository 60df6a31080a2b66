package ingest_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/ingest"
	"github.com/standinghq/standing/internal/testkit"
	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/webhooks"
	"github.com/standinghq/standing/workers"
)

// secretPattern is "whsec_" followed by the standard base64 of 32 bytes.
var secretPattern = regexp.MustCompile(`^whsec_[A-Za-z0-9+/]{43}=$`)

// publicURL is a destination on a public IP literal: valid without DNS, and never dialled
// by these tests (the harnesses that deliver only use loopback receivers).
const publicURL = "https://93.184.216.34/hooks"

// loopbackGuard allows webhook targets on 127.0.0.0/8, as dev mode does.
func loopbackGuard() webhooks.Guard {
	return webhooks.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
}

// setupDelivering mirrors setup, but its API allows loopback webhook targets, its store
// enqueues the deliveries each commit makes due, and workers (with a relay, as in
// production) deliver them with a fast retry policy.
func setupDelivering(t *testing.T, engine testkit.Engine) *harness {
	t.Helper()
	redis := testkit.RedisOpt(t)
	queues := testkit.Queues(t)
	client := asynq.NewClient(redis)
	t.Cleanup(func() { _ = client.Close() })
	inspector := asynq.NewInspector(redis)
	enqueuer := workers.DeliveryEnqueuer{Queue: client, Inspector: inspector, Queues: queues, Timeout: 2 * time.Second, Retries: 3, Log: discardLog()}
	store := engine.Open(t, testkit.Dispatch(t, queues, enqueuer))
	created, err := store.CreateApplication(context.Background(), "webhook test", "")
	require.NoError(t, err)
	guard := loopbackGuard()
	srv := httptest.NewServer(ingest.New(ingest.Deps{Store: store, Log: discardLog(), Guard: guard}))
	t.Cleanup(srv.Close)

	deliverer := &workers.Deliverer{
		Store:    store,
		Sender:   webhooks.NewSender(2*time.Second, guard),
		Enqueuer: enqueuer,
		Policy: webhooks.Policy{
			MaxAttempts:  3,
			MaxAge:       time.Hour,
			Backoff:      webhooks.Backoff{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond}.Delay,
			MaxInterval:  time.Second,
			DisableAfter: 120 * time.Hour,
		},
		Limiter: workers.NewLimiter(2, 2),
		Log:     discardLog(),
	}
	worker := workers.NewServer(redis, workers.ServerConfig{Concurrency: 4, Queues: queues, Log: discardLog(), ShutdownTimeout: 3 * time.Second})
	require.NoError(t, worker.Start(workers.NewMux(&workers.Handlers{Store: store, Log: discardLog(), Deliverer: deliverer})))
	t.Cleanup(worker.Shutdown)

	relay := &workers.Relay{
		Store: store, Queue: client, Inspector: inspector, Queues: queues, Log: discardLog(),
		After: 2 * time.Second, Deliveries: &enqueuer,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); relay.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = inspector.Close() })

	return &harness{t: t, url: srv.URL, key: created.APIKey, app: created.Application, store: store, queues: queues, redis: redis}
}

// received is one request a receiver got.
type received struct {
	method, path string
	header       http.Header
	body         []byte
	json         map[string]any
}

func (r received) eventID() string { return r.header.Get("webhook-id") }
func (r received) typ() string     { s, _ := r.json["webhook_type"].(string); return s }

// receiver is a webhook endpoint that records every request and answers with a scripted
// status (then its default status).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	script []int
	status int
}

const receiverAnswer = `{"received":true}`

func newReceiver(t *testing.T, status int) *receiver {
	t.Helper()
	r := &receiver{status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		rec := received{method: req.Method, path: req.URL.Path, header: req.Header.Clone(), body: body}
		_ = json.Unmarshal(body, &rec.json)
		r.mu.Lock()
		r.got = append(r.got, rec)
		status := r.status
		if len(r.script) > 0 {
			status, r.script = r.script[0], r.script[1:]
		}
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, receiverAnswer)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) url(path string) string { return r.srv.URL + path }

// answer sets the status of every answer after the scripted ones.
func (r *receiver) answer(status int, script ...int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status, r.script = status, script
}

func (r *receiver) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (r *receiver) ofType(typ string) []received {
	var out []received
	for _, rec := range r.all() {
		if rec.typ() == typ {
			out = append(out, rec)
		}
	}
	return out
}

// wait waits until the receiver got n requests of typ (or more) and returns them all.
func (r *receiver) wait(t *testing.T, typ string, n int) []received {
	t.Helper()
	require.Eventually(t, func() bool { return len(r.ofType(typ)) >= n }, 10*time.Second, 50*time.Millisecond,
		"waiting for %d %s request(s); got %d", n, typ, len(r.ofType(typ)))
	return r.ofType(typ)
}

// createDestination creates a destination and returns its body (with the secret).
func (h *harness) createDestination(target string, events ...string) map[string]any {
	h.t.Helper()
	res := h.call("POST", "/v3/webhook/destinations/", map[string]any{"url": target, "subscribed_events": events})
	require.Equal(h.t, http.StatusCreated, res.status, res.raw)
	return res.body
}

// attempts returns a destination's delivery log, newest first.
func (h *harness) attempts(destID string) []map[string]any {
	h.t.Helper()
	res := h.call("GET", "/v3/webhook/destinations/"+destID+"/deliveries/", nil)
	require.Equal(h.t, http.StatusOK, res.status, res.raw)
	var out []map[string]any
	for _, r := range res.body["results"].([]any) {
		out = append(out, r.(map[string]any))
	}
	// The count is read before the page: an attempt recorded in between makes the page
	// longer than the count, never shorter.
	require.GreaterOrEqual(h.t, float64(len(out)), res.body["count"], res.raw)
	return out
}

// waitAttempts waits until a destination's delivery log has n attempts (or more).
func (h *harness) waitAttempts(destID string, n int) []map[string]any {
	h.t.Helper()
	require.Eventually(h.t, func() bool { return len(h.attempts(destID)) >= n }, 10*time.Second, 50*time.Millisecond,
		"waiting for %d delivery attempt(s)", n)
	return h.attempts(destID)
}

func (h *harness) createUser(vendorData string, extra map[string]any) map[string]any {
	h.t.Helper()
	body := map[string]any{"vendor_data": vendorData}
	for k, v := range extra {
		body[k] = v
	}
	res := h.call("POST", "/v3/users/create/", body)
	require.Equal(h.t, http.StatusCreated, res.status, res.raw)
	return res.body
}

func minuteAgo() string { return time.Now().Add(-time.Minute).UTC().Format(time.RFC3339) }

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// canonicalJSON is SPEC 5's canonical form, computed independently of the implementation:
// keys sorted recursively, compact, non-ASCII and HTML characters unescaped, whole-number
// floats written as integers.
func canonicalJSON(t *testing.T, body []byte) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v))
	var norm func(any) any
	norm = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = norm(e)
			}
		case []any:
			for i, e := range x {
				x[i] = norm(e)
			}
		case json.Number:
			if strings.ContainsAny(string(x), ".eE") {
				if f, err := x.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
					return json.Number(strconv.FormatInt(int64(f), 10))
				}
			}
		}
		return v
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(norm(v)))
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// requireSigned checks every signature header of a request: the Standard Webhooks ones
// with each live secret, the provider-compatible ones with the current secret.
func requireSigned(t *testing.T, rec received, current string, previous ...string) {
	t.Helper()
	id, ts := rec.header.Get("webhook-id"), rec.header.Get("webhook-timestamp")
	require.NotEmpty(t, id)
	require.Equal(t, rec.json["event_id"], id, "webhook-id is the event_id")
	require.Equal(t, ts, rec.header.Get("X-Timestamp"))
	secs, err := strconv.ParseInt(ts, 10, 64)
	require.NoError(t, err, "webhook-timestamp is unix seconds")
	require.WithinDuration(t, time.Now(), time.Unix(secs, 0), 2*time.Minute, "the timestamp is the time of the attempt")

	var want []string
	for _, secret := range append([]string{current}, previous...) {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
		require.NoError(t, err)
		msg := append([]byte(id+"."+ts+"."), rec.body...)
		want = append(want, "v1,"+base64.StdEncoding.EncodeToString(hmacSHA256(key, msg)))
	}
	got := strings.Split(rec.header.Get("webhook-signature"), " ")
	require.ElementsMatch(t, want, got, "one v1 signature per live secret: %q", rec.header.Get("webhook-signature"))

	secret := []byte(current)
	require.Equal(t, hex.EncodeToString(hmacSHA256(secret, rec.body)), rec.header.Get("X-Signature"), "X-Signature signs the raw body")
	require.Equal(t, hex.EncodeToString(hmacSHA256(secret, canonicalJSON(t, rec.body))), rec.header.Get("X-Signature-V2"),
		"X-Signature-V2 signs the canonical JSON")
	str := func(name string) string { s, _ := rec.json[name].(string); return s }
	simple := ts + ":" + str("session_id") + ":" + str("status") + ":" + str("webhook_type")
	require.Equal(t, hex.EncodeToString(hmacSHA256(secret, []byte(simple))), rec.header.Get("X-Signature-Simple"))
}

func headerIn(headers map[string]any, name string) string {
	for k, v := range headers {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

func TestCreateWebhookDestination(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		valid := func(change map[string]any) map[string]any {
			body := map[string]any{"url": publicURL, "subscribed_events": []string{"user.data.updated"}}
			for k, v := range change {
				if v == nil {
					delete(body, k)
				} else {
					body[k] = v
				}
			}
			return body
		}
		cases := []struct {
			name  string
			body  any
			field string
		}{
			{"missing url", valid(map[string]any{"url": nil}), "url"},
			{"url not absolute", valid(map[string]any{"url": "/hooks"}), "url"},
			{"url without a scheme", valid(map[string]any{"url": "93.184.216.34/hooks"}), "url"},
			{"url not a string", valid(map[string]any{"url": 42}), "url"},
			{"ftp scheme", valid(map[string]any{"url": "ftp://93.184.216.34/x"}), "url"},
			{"plain http to a public address", valid(map[string]any{"url": "http://93.184.216.34/x"}), "url"},
			{"loopback", valid(map[string]any{"url": "https://127.0.0.1/x"}), "url"},
			{"loopback over http", valid(map[string]any{"url": "http://127.0.0.1:8080/x"}), "url"},
			{"private", valid(map[string]any{"url": "https://10.0.0.1/x"}), "url"},
			{"private 192.168", valid(map[string]any{"url": "https://192.168.1.10/x"}), "url"},
			{"cloud metadata", valid(map[string]any{"url": "https://169.254.169.254/latest"}), "url"},
			{"IPv6 loopback", valid(map[string]any{"url": "https://[::1]/x"}), "url"},
			{"IPv4-mapped IPv6 loopback", valid(map[string]any{"url": "https://[::ffff:127.0.0.1]/x"}), "url"},
			{"url with credentials", valid(map[string]any{"url": "https://user:pass@93.184.216.34/x"}), "url"},
			{"empty subscribed_events", valid(map[string]any{"subscribed_events": []string{}}), "subscribed_events"},
			{"unknown event name", valid(map[string]any{"subscribed_events": []string{"user.data.updated", "user.exploded"}}), "subscribed_events"},
			{"subscribed_events not an array", valid(map[string]any{"subscribed_events": "user.data.updated"}), "subscribed_events"},
			{"subscribed_events of numbers", valid(map[string]any{"subscribed_events": []int{1}}), "subscribed_events"},
			{"missing subscribed_events", valid(map[string]any{"subscribed_events": nil}), "subscribed_events"},
			{"label not a string", valid(map[string]any{"label": 5}), "label"},
			{"label too long", valid(map[string]any{"label": strings.Repeat("x", 201)}), "label"},
			{"enabled not a bool", valid(map[string]any{"enabled": "yes"}), "enabled"},
			{"unknown field", valid(map[string]any{"secret": "whsec_mine"}), "secret"},
			{"another unknown field", valid(map[string]any{"events": []string{"*"}}), "events"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				requireProblem(t, h.call("POST", "/v3/webhook/destinations/", c.body), http.StatusBadRequest, c.field)
			})
		}
		requireProblem(t, h.call("POST", "/v3/webhook/destinations/", "[]"), http.StatusBadRequest, "")
		requireProblem(t, h.call("POST", "/v3/webhook/destinations/", `{"url":`), http.StatusBadRequest, "")
		requireProblem(t, h.call("POST", "/v3/webhook/destinations/", `{}`, "Content-Type", "text/plain"), http.StatusUnsupportedMediaType, "")
		list := h.call("GET", "/v3/webhook/destinations/", nil)
		require.Equal(t, http.StatusOK, list.status, list.raw)
		require.Equal(t, float64(0), list.body["count"], "nothing stored: %s", list.raw)

		res := h.call("POST", "/v3/webhook/destinations/", map[string]any{
			"url": publicURL, "subscribed_events": []string{"user.data.updated", "activity.created"}, "label": "primary",
		})
		require.Equal(t, http.StatusCreated, res.status, res.raw)
		require.NotEmpty(t, res.body["uuid"])
		require.Equal(t, publicURL, res.body["url"])
		require.Equal(t, "primary", res.body["label"])
		require.Equal(t, []any{"user.data.updated", "activity.created"}, res.body["subscribed_events"])
		require.Equal(t, true, res.body["enabled"], "enabled by default")
		require.Regexp(t, secretPattern, res.body["secret"])
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(res.body["secret"].(string), "whsec_"))
		require.NoError(t, err)
		require.Len(t, key, 32)

		all := h.call("POST", "/v3/webhook/destinations/", map[string]any{
			"url": "https://93.184.216.34/all", "subscribed_events": []string{"*"}, "enabled": false,
		})
		require.Equal(t, http.StatusCreated, all.status, all.raw)
		require.Equal(t, []any{"*"}, all.body["subscribed_events"])
		require.Equal(t, false, all.body["enabled"])
		require.Equal(t, "", all.body["label"])
		require.Regexp(t, secretPattern, all.body["secret"])
		require.NotEqual(t, res.body["secret"], all.body["secret"], "every destination has its own secret")

		dup := h.call("POST", "/v3/webhook/destinations/", map[string]any{"url": publicURL, "subscribed_events": []string{"*"}})
		requireProblem(t, dup, http.StatusConflict, "")
		require.Equal(t, float64(2), h.call("GET", "/v3/webhook/destinations/", nil).body["count"])

		other, err := h.store.CreateApplication(context.Background(), "other", "")
		require.NoError(t, err)
		elsewhere := h.call("POST", "/v3/webhook/destinations/", map[string]any{"url": publicURL, "subscribed_events": []string{"*"}},
			"x-api-key", other.APIKey)
		require.Equal(t, http.StatusCreated, elsewhere.status, "the same url in another application: %s", elsewhere.raw)
		require.NotEqual(t, res.body["uuid"], elsewhere.body["uuid"])
		require.Equal(t, float64(2), h.call("GET", "/v3/webhook/destinations/", nil).body["count"], "applications are separate")
		require.Equal(t, float64(1), h.call("GET", "/v3/webhook/destinations/", nil, "x-api-key", other.APIKey).body["count"])

		require.Equal(t, http.StatusUnauthorized, h.call("GET", "/v3/webhook/destinations/", nil, "x-api-key", "").status)
	})
}

func TestAllowlistedDestinationsMayBeInternalAndPlainHTTP(t *testing.T) {
	testkit.ForEachEngine(t, setupDelivering, func(t *testing.T, h *harness) {
		rcv := newReceiver(t, http.StatusOK)
		res := h.call("POST", "/v3/webhook/destinations/", map[string]any{"url": rcv.url("/x"), "subscribed_events": []string{"*"}})
		require.Equal(t, http.StatusCreated, res.status, res.raw)
		require.Equal(t, rcv.url("/x"), res.body["url"])
		require.True(t, strings.HasPrefix(rcv.url("/x"), "http://127.0.0.1:"))

		requireProblem(t, h.call("POST", "/v3/webhook/destinations/", map[string]any{"url": "https://10.0.0.1/x", "subscribed_events": []string{"*"}}),
			http.StatusBadRequest, "url")
		requireProblem(t, h.call("POST", "/v3/webhook/destinations/", map[string]any{"url": "http://93.184.216.34/x", "subscribed_events": []string{"*"}}),
			http.StatusBadRequest, "url")
		requireProblem(t, h.call("POST", "/v3/webhook/destinations/", map[string]any{"url": "https://169.254.169.254/latest", "subscribed_events": []string{"*"}}),
			http.StatusBadRequest, "url")
	})
}

func TestReadUpdateAndDeleteWebhookDestinations(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		a := h.call("POST", "/v3/webhook/destinations/", map[string]any{"url": publicURL, "subscribed_events": []string{"user.data.updated"}, "label": "primary"})
		require.Equal(t, http.StatusCreated, a.status, a.raw)
		b := h.createDestination("https://93.184.216.34/b", "*")
		id := a.body["uuid"].(string)
		path := "/v3/webhook/destinations/" + id + "/"

		list := h.call("GET", "/v3/webhook/destinations/", nil)
		require.Equal(t, http.StatusOK, list.status, list.raw)
		require.NotContains(t, list.raw, `"secret"`, "a list never shows secrets")
		require.NotContains(t, list.raw, a.body["secret"].(string))
		require.Equal(t, float64(2), list.body["count"])
		results := list.body["results"].([]any)
		require.Len(t, results, 2)
		require.Equal(t, id, results[0].(map[string]any)["uuid"], "oldest first")
		require.Equal(t, b["uuid"], results[1].(map[string]any)["uuid"])

		got := h.call("GET", path, nil)
		require.Equal(t, http.StatusOK, got.status, got.raw)
		require.NotContains(t, got.raw, `"secret"`)
		require.Equal(t, results[0], got.body)
		require.Equal(t, "primary", got.body["label"])
		require.Equal(t, []any{"user.data.updated"}, got.body["subscribed_events"])
		for _, f := range []string{"uuid", "url", "label", "subscribed_events", "enabled", "failing_since", "disabled_reason", "created_at", "updated_at"} {
			require.Contains(t, got.body, f)
		}

		res := h.call("PATCH", path, map[string]any{"subscribed_events": []string{"activity.created", "transaction.created"}})
		require.Equal(t, http.StatusOK, res.status, res.raw)
		require.Equal(t, []any{"activity.created", "transaction.created"}, res.body["subscribed_events"], "replaced wholesale")
		require.Equal(t, "primary", res.body["label"], "fields not sent are kept")
		require.NotContains(t, res.raw, `"secret"`)

		res = h.call("PATCH", path, map[string]any{"label": "renamed"})
		require.Equal(t, http.StatusOK, res.status, res.raw)
		require.Equal(t, "renamed", res.body["label"])
		require.Equal(t, []any{"activity.created", "transaction.created"}, res.body["subscribed_events"])

		res = h.call("PATCH", path, map[string]any{"enabled": false})
		require.Equal(t, http.StatusOK, res.status, res.raw)
		require.Equal(t, false, res.body["enabled"])
		require.Equal(t, false, h.call("GET", path, nil).body["enabled"])
		res = h.call("PATCH", path, map[string]any{"enabled": true})
		require.Equal(t, http.StatusOK, res.status, res.raw)
		require.Equal(t, true, res.body["enabled"])
		require.Equal(t, "", res.body["disabled_reason"])
		require.Nil(t, res.body["failing_since"])

		moved := "https://93.184.216.34/moved"
		res = h.call("PATCH", path, map[string]any{"url": moved})
		require.Equal(t, http.StatusOK, res.status, res.raw)
		require.Equal(t, moved, res.body["url"])
		before := h.call("GET", path, nil)
		require.Equal(t, res.body, before.body)

		bad := []struct {
			name  string
			body  any
			field string
		}{
			{"ftp url", map[string]any{"url": "ftp://93.184.216.34/x"}, "url"},
			{"private url", map[string]any{"url": "https://10.0.0.1/x"}, "url"},
			{"loopback url", map[string]any{"url": "https://127.0.0.1/x"}, "url"},
			{"plain http url", map[string]any{"url": "http://93.184.216.34/x"}, "url"},
			{"relative url", map[string]any{"url": "/x"}, "url"},
			{"url with credentials", map[string]any{"url": "https://u:p@93.184.216.34/x"}, "url"},
			{"empty subscribed_events", map[string]any{"subscribed_events": []string{}}, "subscribed_events"},
			{"unknown event", map[string]any{"subscribed_events": []string{"nope"}}, "subscribed_events"},
			{"label not a string", map[string]any{"label": 5}, "label"},
			{"enabled not a bool", map[string]any{"enabled": "no"}, "enabled"},
			{"secret is not settable", map[string]any{"secret": "whsec_x"}, "secret"},
			{"good fields beside a bad one", map[string]any{"label": "half", "url": "https://10.0.0.1/x"}, "url"},
		}
		for _, c := range bad {
			t.Run(c.name, func(t *testing.T) {
				requireProblem(t, h.call("PATCH", path, c.body), http.StatusBadRequest, c.field)
			})
		}
		requireProblem(t, h.call("PATCH", path, "[]"), http.StatusBadRequest, "")
		conflict := h.call("PATCH", path, map[string]any{"url": b["url"]})
		requireProblem(t, conflict, http.StatusConflict, "")
		require.Equal(t, before.body, h.call("GET", path, nil).body, "rejected patches changed nothing")

		del := h.call("DELETE", path, nil)
		require.Equal(t, http.StatusNoContent, del.status, del.raw)
		require.Empty(t, del.raw)
		requireProblem(t, h.call("GET", path, nil), http.StatusNotFound, "")
		requireProblem(t, h.call("DELETE", path, nil), http.StatusNotFound, "")
		requireProblem(t, h.call("PATCH", path, map[string]any{"label": "x"}), http.StatusNotFound, "")
		list = h.call("GET", "/v3/webhook/destinations/", nil)
		require.Equal(t, float64(1), list.body["count"])
		require.Equal(t, b["uuid"], list.body["results"].([]any)[0].(map[string]any)["uuid"])
		again := h.call("POST", "/v3/webhook/destinations/", map[string]any{"url": moved, "subscribed_events": []string{"*"}})
		require.Equal(t, http.StatusCreated, again.status, "a deleted destination's url is free again: %s", again.raw)
	})
}

func TestUnknownWebhookDestinationsAreNotFound(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		mine := h.createDestination(publicURL, "*")
		other, err := h.store.CreateApplication(context.Background(), "other", "")
		require.NoError(t, err)
		theirs := h.call("POST", "/v3/webhook/destinations/", map[string]any{"url": "https://93.184.216.34/theirs", "subscribed_events": []string{"*"}, "label": "theirs"},
			"x-api-key", other.APIKey)
		require.Equal(t, http.StatusCreated, theirs.status, theirs.raw)

		const missing = "0190a0b1-0000-7000-8000-000000000000"
		for _, id := range []string{"not-a-uuid", missing, theirs.body["uuid"].(string), strings.ToUpper(missing)} {
			base := "/v3/webhook/destinations/" + url.PathEscape(id) + "/"
			routes := []struct {
				method, path string
				body         any
			}{
				{"GET", base, nil},
				{"PATCH", base, map[string]any{"label": "stolen"}},
				{"DELETE", base, nil},
				{"POST", base + "rotate-secret/", nil},
				{"POST", base + "recover/", map[string]any{"since": minuteAgo()}},
				{"GET", base + "deliveries/", nil},
				{"GET", base + "deliveries/" + missing + "/", nil},
				{"POST", base + "deliveries/" + missing + "/resend/", nil},
			}
			for _, r := range routes {
				res := h.call(r.method, r.path, r.body)
				requireProblem(t, res, http.StatusNotFound, "")
			}
		}
		got := h.call("GET", "/v3/webhook/destinations/"+theirs.body["uuid"].(string)+"/", nil, "x-api-key", other.APIKey)
		require.Equal(t, http.StatusOK, got.status, "another application's destination is untouched")
		require.Equal(t, "theirs", got.body["label"])

		base := "/v3/webhook/destinations/" + mine["uuid"].(string) + "/deliveries/"
		for _, attempt := range []string{"not-a-uuid", missing} {
			requireProblem(t, h.call("GET", base+attempt+"/", nil), http.StatusNotFound, "")
			requireProblem(t, h.call("POST", base+attempt+"/resend/", nil), http.StatusNotFound, "")
		}
		empty := h.call("GET", base, nil)
		require.Equal(t, http.StatusOK, empty.status, empty.raw)
		require.Equal(t, float64(0), empty.body["count"])
		require.Equal(t, []any{}, empty.body["results"])
	})
}

func TestRotateSecretSignsWithBothSecrets(t *testing.T) {
	testkit.ForEachEngine(t, setupDelivering, func(t *testing.T, h *harness) {
		rcv := newReceiver(t, http.StatusOK)
		dest := h.createDestination(rcv.url("/hook"), "user.data.updated")
		id, old := dest["uuid"].(string), dest["secret"].(string)

		h.createUser("before", nil)
		first := rcv.wait(t, "user.data.updated", 1)[0]
		require.Len(t, strings.Split(first.header.Get("webhook-signature"), " "), 1, "one live secret, one signature")
		requireSigned(t, first, old)

		res := h.call("POST", "/v3/webhook/destinations/"+id+"/rotate-secret/", nil)
		require.Equal(t, http.StatusOK, res.status, res.raw)
		fresh, _ := res.body["secret"].(string)
		require.Regexp(t, secretPattern, fresh)
		require.NotEqual(t, old, fresh)
		if d, ok := res.body["destination"].(map[string]any); ok {
			require.Equal(t, id, d["uuid"])
		}
		if v, ok := res.body["previous_secret_expires_at"].(string); ok {
			expires, err := time.Parse(time.RFC3339Nano, v)
			require.NoError(t, err)
			require.WithinDuration(t, time.Now().Add(24*time.Hour), expires, time.Minute)
		}
		got := h.call("GET", "/v3/webhook/destinations/"+id+"/", nil)
		require.NotContains(t, got.raw, `"secret"`)
		require.NotContains(t, got.raw, fresh)

		h.createUser("after", nil)
		var second received
		require.Eventually(t, func() bool {
			for _, r := range rcv.ofType("user.data.updated") {
				if r.json["vendor_data"] == "after" {
					second = r
					return true
				}
			}
			return false
		}, 10*time.Second, 50*time.Millisecond)
		sigs := strings.Split(second.header.Get("webhook-signature"), " ")
		require.Len(t, sigs, 2, "two live secrets: %q", second.header.Get("webhook-signature"))
		for _, s := range sigs {
			require.True(t, strings.HasPrefix(s, "v1,"), s)
		}
		requireSigned(t, second, fresh, old)
	})
}

func TestWebhookDeliveryEndToEnd(t *testing.T) {
	testkit.ForEachEngine(t, setupDelivering, func(t *testing.T, h *harness) {
		rcv := newReceiver(t, http.StatusOK)
		dest := h.createDestination(rcv.url("/hook"), "user.data.updated")
		id, secret := dest["uuid"].(string), dest["secret"].(string)

		user := h.createUser("u-1", map[string]any{"full_name": "José Ñúñez", "metadata": map[string]any{"note": "<b>&</b>", "ratio": 1.5}})
		rec := rcv.wait(t, "user.data.updated", 1)[0]
		attempts := h.waitAttempts(id, 1)

		require.Equal(t, "POST", rec.method)
		require.Equal(t, "/hook", rec.path)
		require.True(t, strings.HasPrefix(rec.header.Get("Content-Type"), "application/json"))
		require.NotNil(t, rec.json, "the body is JSON: %s", rec.body)
		require.Equal(t, "user.data.updated", rec.json["webhook_type"])
		require.Equal(t, "u-1", rec.json["vendor_data"])
		require.Equal(t, user["uuid"], rec.json["uuid"])
		require.Equal(t, h.app.ID, rec.json["application_id"])
		require.Equal(t, float64(1), rec.json["sequence"])
		require.IsType(t, float64(0), rec.json["created_at"], "unix seconds")
		require.IsType(t, float64(0), rec.json["timestamp"], "unix seconds")
		require.Contains(t, rec.json["changed_fields"], "full_name")
		if entity, ok := rec.json["entity"].(map[string]any); ok {
			require.Equal(t, "José Ñúñez", entity["full_name"])
		}
		for _, name := range []string{"webhook-id", "webhook-timestamp", "webhook-signature", "X-Timestamp", "X-Signature", "X-Signature-V2", "X-Signature-Simple"} {
			require.NotEmpty(t, rec.header.Get(name), name)
		}
		require.Equal(t, rec.json["event_id"], rec.header.Get("webhook-id"))
		requireSigned(t, rec, secret)
		eventID := rec.eventID()

		// activity.created was written by the same creation but is not subscribed to.
		activities := h.call("GET", "/v3/events/?type=activity.created", nil)
		require.Equal(t, float64(1), activities.body["count"], activities.raw)
		activityID := activities.body["results"].([]any)[0].(map[string]any)["event_id"].(string)
		none, err := h.store.Deliveries(context.Background(), activityID)
		require.NoError(t, err)
		require.Empty(t, none, "no delivery of an event type the destination does not subscribe to")
		time.Sleep(time.Second)
		require.Len(t, rcv.all(), 1, "exactly one request, and no activity.created")
		require.Len(t, h.attempts(id), 1)

		a := attempts[0]
		require.Equal(t, eventID, a["event_id"])
		require.Equal(t, "user.data.updated", a["webhook_type"])
		require.Equal(t, rcv.url("/hook"), a["request_url"])
		require.Equal(t, float64(200), a["response_status"])
		require.IsType(t, float64(0), a["response_time_ms"])
		require.GreaterOrEqual(t, a["response_time_ms"].(float64), float64(0))
		require.Equal(t, "", a["error"])
		created, err := time.Parse(time.RFC3339Nano, a["created_at"].(string))
		require.NoError(t, err)
		require.WithinDuration(t, time.Now(), created, time.Minute)
		require.NotContains(t, a, "request_body", "the list leaves bodies out")
		require.NotContains(t, a, "request_headers")

		one := h.call("GET", "/v3/webhook/destinations/"+id+"/deliveries/"+a["uuid"].(string)+"/", nil)
		require.Equal(t, http.StatusOK, one.status, one.raw)
		for _, f := range []string{"event_id", "webhook_type", "request_url", "response_status", "response_time_ms", "error", "created_at"} {
			require.Equal(t, a[f], one.body[f], f)
		}
		headers, ok := one.body["request_headers"].(map[string]any)
		require.True(t, ok, one.raw)
		for _, name := range []string{"webhook-id", "webhook-timestamp", "webhook-signature", "X-Timestamp", "X-Signature", "X-Signature-V2", "X-Signature-Simple"} {
			require.Equal(t, rec.header.Get(name), headerIn(headers, name), "the logged %s is the one sent", name)
		}
		sent, err := json.Marshal(one.body["request_body"])
		require.NoError(t, err)
		require.JSONEq(t, string(rec.body), string(sent), "the logged body is the body received")
		require.Equal(t, receiverAnswer, one.body["response_body"])

		resend := h.call("POST", "/v3/webhook/destinations/"+id+"/deliveries/"+a["uuid"].(string)+"/resend/", nil)
		require.Equal(t, http.StatusAccepted, resend.status, resend.raw)
		require.Equal(t, eventID, resend.body["event_id"])
		again := rcv.wait(t, "user.data.updated", 2)
		require.Equal(t, eventID, again[1].eventID(), "a resend carries the same event_id")
		require.Equal(t, string(rec.body), string(again[1].body), "and the same bytes")
		requireSigned(t, again[1], secret)
		require.Len(t, h.waitAttempts(id, 2), 2)

		// Another destination's log does not know this attempt.
		elsewhere := h.createDestination(rcv.url("/elsewhere"), "transaction.created")
		requireProblem(t, h.call("GET", "/v3/webhook/destinations/"+elsewhere["uuid"].(string)+"/deliveries/"+a["uuid"].(string)+"/", nil), http.StatusNotFound, "")
		requireProblem(t, h.call("POST", "/v3/webhook/destinations/"+elsewhere["uuid"].(string)+"/deliveries/"+a["uuid"].(string)+"/resend/", nil), http.StatusNotFound, "")
	})
}

func TestRejectedDeliveryIsNotRetriedAndCanBeRecovered(t *testing.T) {
	testkit.ForEachEngine(t, setupDelivering, func(t *testing.T, h *harness) {
		rcv := newReceiver(t, http.StatusBadRequest)
		dest := h.createDestination(rcv.url("/hook"), "user.data.updated")
		id := dest["uuid"].(string)
		recoverPath := "/v3/webhook/destinations/" + id + "/recover/"

		h.createUser("u-1", nil)
		first := rcv.wait(t, "user.data.updated", 1)[0]
		attempts := h.waitAttempts(id, 1)
		require.Equal(t, float64(400), attempts[0]["response_status"])
		require.Equal(t, "HTTP 400", attempts[0]["error"])
		time.Sleep(1500 * time.Millisecond) // retries would come within ~1 s
		require.Len(t, h.attempts(id), 1, "a 400 is not retried")
		require.Len(t, rcv.all(), 1)
		deliveries, err := h.store.Deliveries(context.Background(), first.eventID())
		require.NoError(t, err)
		require.Len(t, deliveries, 1)
		require.Equal(t, models.DeliveryFailed, deliveries[0].State)

		requireProblem(t, h.call("POST", recoverPath, map[string]any{}), http.StatusBadRequest, "since")
		requireProblem(t, h.call("POST", recoverPath, map[string]any{"since": "yesterday"}), http.StatusBadRequest, "since")
		requireProblem(t, h.call("POST", recoverPath, map[string]any{"since": "2026-01-01"}), http.StatusBadRequest, "since")
		requireProblem(t, h.call("POST", recoverPath, map[string]any{"since": 1700000000}), http.StatusBadRequest, "since")
		requireProblem(t, h.call("POST", recoverPath, map[string]any{"since": minuteAgo(), "all": true}), http.StatusBadRequest, "all")

		later := h.call("POST", recoverPath, map[string]any{"since": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
		require.Equal(t, http.StatusAccepted, later.status, later.raw)
		require.Equal(t, float64(0), later.body["recovered"], "nothing failed since then")

		rcv.answer(http.StatusOK)
		res := h.call("POST", recoverPath, map[string]any{"since": minuteAgo()})
		require.Equal(t, http.StatusAccepted, res.status, res.raw)
		require.Equal(t, map[string]any{"recovered": float64(1)}, res.body)
		got := rcv.wait(t, "user.data.updated", 2)
		require.Equal(t, first.eventID(), got[1].eventID(), "the recovered delivery is the same event")
		attempts = h.waitAttempts(id, 2)
		require.Equal(t, float64(200), attempts[0]["response_status"], "newest first")
		require.Equal(t, "", attempts[0]["error"])
		require.Eventually(t, func() bool {
			d, err := h.store.Deliveries(context.Background(), first.eventID())
			return err == nil && len(d) == 1 && d[0].State == models.DeliveryDelivered
		}, 10*time.Second, 50*time.Millisecond)

		again := h.call("POST", recoverPath, map[string]any{"since": minuteAgo()})
		require.Equal(t, http.StatusAccepted, again.status, again.raw)
		require.Equal(t, float64(0), again.body["recovered"], "a delivered delivery is not recovered")
	})
}

func TestFailingDeliveriesAreRetriedWithTheSameEventID(t *testing.T) {
	testkit.ForEachEngine(t, setupDelivering, func(t *testing.T, h *harness) {
		rcv := newReceiver(t, http.StatusOK)
		rcv.answer(http.StatusOK, http.StatusServiceUnavailable, http.StatusInternalServerError)
		dest := h.createDestination(rcv.url("/hook"), "user.data.updated")
		id := dest["uuid"].(string)

		h.createUser("u-1", nil)
		got := rcv.wait(t, "user.data.updated", 3)
		for _, r := range got {
			require.Equal(t, got[0].eventID(), r.eventID(), "every retry carries the same event_id")
			require.Equal(t, string(got[0].body), string(r.body))
			requireSigned(t, r, dest["secret"].(string))
		}
		attempts := h.waitAttempts(id, 3)
		require.Equal(t, float64(200), attempts[0]["response_status"])
		require.Equal(t, float64(500), attempts[1]["response_status"])
		require.Equal(t, "HTTP 500", attempts[1]["error"])
		require.Equal(t, float64(503), attempts[2]["response_status"])
		require.Equal(t, "HTTP 503", attempts[2]["error"])
		time.Sleep(time.Second)
		require.Len(t, rcv.all(), 3, "nothing after the success")

		// Failing every time: given up after MaxAttempts (3).
		rcv.answer(http.StatusBadGateway)
		h.createUser("u-2", nil)
		require.Eventually(t, func() bool {
			for _, r := range rcv.ofType("user.data.updated") {
				if r.json["vendor_data"] == "u-2" {
					d, err := h.store.Deliveries(context.Background(), r.eventID())
					return err == nil && len(d) == 1 && d[0].State == models.DeliveryFailed
				}
			}
			return false
		}, 10*time.Second, 50*time.Millisecond)
		time.Sleep(time.Second)
		n := 0
		for _, r := range rcv.ofType("user.data.updated") {
			if r.json["vendor_data"] == "u-2" {
				n++
			}
		}
		require.Equal(t, 3, n, "at most 3 attempts")
	})
}

func TestGoneDisablesTheDestinationAndEnablingClearsTheReason(t *testing.T) {
	testkit.ForEachEngine(t, setupDelivering, func(t *testing.T, h *harness) {
		gone := newReceiver(t, http.StatusGone)
		watcher := newReceiver(t, http.StatusOK)
		dest := h.createDestination(gone.url("/hook"), "user.data.updated")
		id := dest["uuid"].(string)
		path := "/v3/webhook/destinations/" + id + "/"
		h.createDestination(watcher.url("/watch"), "destination.disabled")

		h.createUser("u-1", nil)
		gone.wait(t, "user.data.updated", 1)
		require.Eventually(t, func() bool { return h.call("GET", path, nil).body["enabled"] == false }, 10*time.Second, 50*time.Millisecond)
		got := h.call("GET", path, nil)
		require.NotEmpty(t, got.body["disabled_reason"], got.raw)
		attempts := h.waitAttempts(id, 1)
		require.Equal(t, float64(410), attempts[0]["response_status"])

		note := watcher.wait(t, "destination.disabled", 1)[0]
		require.Equal(t, id, note.json["uuid"], "the other destinations are told: %s", note.body)
		require.Equal(t, gone.url("/hook"), note.json["url"])
		require.NotEmpty(t, note.json["reason"])

		h.createUser("u-2", nil)
		time.Sleep(time.Second)
		require.Len(t, gone.all(), 1, "a disabled destination gets nothing")

		gone.answer(http.StatusOK)
		res := h.call("PATCH", path, map[string]any{"enabled": true})
		require.Equal(t, http.StatusOK, res.status, res.raw)
		require.Equal(t, true, res.body["enabled"])
		require.Equal(t, "", res.body["disabled_reason"], "enabling clears why it was disabled")
		require.Nil(t, res.body["failing_since"])

		h.createUser("u-3", nil)
		require.Eventually(t, func() bool {
			for _, r := range gone.ofType("user.data.updated") {
				if r.json["vendor_data"] == "u-3" {
					return true
				}
			}
			return false
		}, 10*time.Second, 50*time.Millisecond)
	})
}
