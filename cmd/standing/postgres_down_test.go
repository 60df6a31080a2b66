package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/internal/testkit"
	"github.com/standinghq/standing/webhooks"
)

// TestPostgresUnreachableAnswers503 cuts the API's connection to PostgreSQL (through a
// proxy of the test's own) and calls every route class: authenticated reads and writes,
// keyed and signed intake, transactions and /readyz. Each answers 503 with Retry-After,
// never 500 and never 202; once the database is back, intake is accepted again.
func TestPostgresUnreachableAnswers503(t *testing.T) {
	t.Parallel()
	const key = "pgdown-key-0123456789"
	direct := testkit.PostgresSchemaURL(t)
	u, err := url.Parse(direct)
	require.NoError(t, err)
	proxy := testkit.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	vars := map[string]string{
		"STANDING_DATABASE_URL": direct,
		"STANDING_REDIS_URL":    testkit.RedisURL(),
		"STANDING_ADDR":         "127.0.0.1:0",
		"STANDING_LOG_LEVEL":    "info",
	}
	app := productionApp(t, vars, key)
	appID, secret := app["application_id"], app["ingest_secret"]

	vars["STANDING_DATABASE_URL"] = u.String()
	base, _ := listening(t, "ingest", vars, "API listening")
	c := client{t: t, base: base, key: key}
	status, _ := c.call("GET", "/v3/users/", nil)
	require.Equal(t, http.StatusOK, status, "through the proxy while it is up")

	proxy.Cut()
	now := time.Now().Unix()
	signed := []byte(fmt.Sprintf(`{"session_id":"s-signed","status":"Approved","vendor_data":"ana","timestamp":%d}`, now))
	sig, err := webhooks.SignV2(secret, signed)
	require.NoError(t, err)
	calls := []struct {
		name, method, path string
		body               any
		headers            []string
		keyed              bool
	}{
		{"authenticated read", "GET", "/v3/users/", nil, nil, true},
		{"authenticated write", "POST", "/v3/users/create/", map[string]any{"vendor_data": "x"}, nil, true},
		{"keyed intake", "POST", "/v3/ingest/sessions/", map[string]any{"session_id": "s-k", "status": "Approved", "vendor_data": "ana", "timestamp": now}, nil, true},
		{"signed intake", "POST", "/v3/ingest/sessions/", signed, []string{"X-Timestamp", strconv.FormatInt(now, 10), "X-Signature-V2", sig, "X-Application-Id", appID}, false},
		{"transaction intake", "POST", "/v3/transactions/", map[string]any{"transaction_id": "t-1", "vendor_data": "p", "amount": "1.00", "currency": "EUR", "direction": "inbound"}, nil, true},
		{"readiness", "GET", "/readyz", nil, nil, false},
	}
	for _, call := range calls {
		cc := c
		if !call.keyed {
			cc.key = ""
		}
		res := cc.raw(call.method, call.path, call.body, call.headers...)
		res.Body.Close()
		require.Equal(t, http.StatusServiceUnavailable, res.StatusCode, call.name)
		require.NotEmpty(t, res.Header.Get("Retry-After"), "%s: 503 carries Retry-After", call.name)
	}

	proxy.Restore(t)
	require.Eventually(t, func() bool {
		return postSession(c, "s-after", "ana", now) == http.StatusAccepted
	}, 15*time.Second, 200*time.Millisecond, "intake is accepted once the database is back")
}
