package ingest_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/ingest"
	"github.com/standinghq/standing/internal/testkit"
	"github.com/standinghq/standing/models"
)

func TestOpsPurgesListsThePurgeRunsBehindTheAdminToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := testkit.SQLiteStore(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(ingest.New(ingest.Deps{Store: store, Log: log, AdminToken: "admin-secret"}))
	t.Cleanup(srv.Close)
	run, claimed, err := store.ClaimJobRun(ctx, "purge", "2026-12-02T05", models.TriggerSchedule, time.Minute)
	require.NoError(t, err)
	require.True(t, claimed)
	require.NoError(t, store.FinishJobRun(ctx, run.ID, map[string]int64{"entities": 2}, nil))

	get := func(token string) (int, map[string]any) {
		req, err := http.NewRequest("GET", srv.URL+"/ops/purges/", nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		var body map[string]any
		require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
		return res.StatusCode, body
	}
	status, _ := get("")
	require.Equal(t, http.StatusUnauthorized, status)
	status, _ = get("wrong")
	require.Equal(t, http.StatusUnauthorized, status)
	status, body := get("admin-secret")
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, float64(1), body["count"])
	first := body["results"].([]any)[0].(map[string]any)
	require.Equal(t, "purge", first["job"])
	require.Equal(t, "2026-12-02T05", first["period"])
	require.Equal(t, "schedule", first["trigger"])
	require.Equal(t, map[string]any{"entities": float64(2)}, first["counts"])
	require.NotNil(t, first["finished_at"])
}
