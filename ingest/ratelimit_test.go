package ingest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/ingest"
	"github.com/standinghq/standing/internal/testkit"
)

// limitedAPI returns n API servers sharing one store, one Redis and one counter
// namespace, as n ingest processes do, with small limits.
func limitedAPI(t *testing.T, n int, limits ingest.RateLimits) (*harness, []string) {
	t.Helper()
	h := setup(t, testkit.Engines()[0])
	rc := testkit.RedisOpt(t).MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { _ = rc.Close() })
	prefix := testkit.RandomName("rl-") + ":"
	var urls []string
	for range n {
		srv := httptest.NewServer(ingest.New(ingest.Deps{
			Store: h.store, Log: discardLog(),
			RateLimits: limits, RateLimitRedis: rc, RateLimitPrefix: prefix,
		}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	return h, urls
}

func TestRateLimitsPerKeyAndClassAcrossProcesses(t *testing.T) {
	t.Parallel()
	h, urls := limitedAPI(t, 2, ingest.RateLimits{Read: 3, Write: 2, Intake: 2})
	for i, want := range []string{"2", "1"} {
		h.url = urls[i%2] // two processes share the count
		res := h.call("GET", "/v3/users/", nil)
		require.Equal(t, http.StatusOK, res.status)
		require.Equal(t, "3", res.header.Get("X-RateLimit-Limit"))
		require.Equal(t, want, res.header.Get("X-RateLimit-Remaining"))
		require.NotEmpty(t, res.header.Get("X-RateLimit-Reset"))
	}
	require.Equal(t, http.StatusOK, h.call("GET", "/v3/users/", nil).status)
	limited := h.call("GET", "/v3/users/", nil)
	requireProblem(t, limited, http.StatusTooManyRequests, "")
	require.Equal(t, "60", limited.header.Get("Retry-After"))
	require.Equal(t, "0", limited.header.Get("X-RateLimit-Remaining"))
	require.Contains(t, limited.body["detail"], "3 reads per minute")

	// Writes and intake have their own budgets.
	require.Equal(t, http.StatusCreated, h.call("POST", "/v3/users/create/", map[string]any{"vendor_data": "a"}).status)
	require.Equal(t, http.StatusAccepted, h.call("POST", "/v3/transactions/", txBody("t-1", nil)).status)
	require.Equal(t, http.StatusAccepted, h.call("POST", "/v3/transactions/", txBody("t-2", nil)).status)
	requireProblem(t, h.call("POST", "/v3/transactions/", txBody("t-3", nil)), http.StatusTooManyRequests, "")
	require.Equal(t, http.StatusCreated, h.call("POST", "/v3/users/create/", map[string]any{"vendor_data": "b"}).status)
	requireProblem(t, h.call("POST", "/v3/users/create/", map[string]any{"vendor_data": "c"}), http.StatusTooManyRequests, "")

	// Another API key has its own counts.
	other, err := h.store.CreateApplication(context.Background(), "other", "")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, h.call("GET", "/v3/users/", nil, "x-api-key", other.APIKey).status)
	// Unauthenticated requests are refused before they count.
	require.Equal(t, http.StatusUnauthorized, h.call("GET", "/v3/users/", nil, "x-api-key", "").status)
}
