package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/internal/testkit"
	"github.com/standinghq/standing/models"
)

func TestPurgeCommandRunsOnePassAndPrintsIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	vars := map[string]string{"STANDING_DATABASE_URL": testkit.PostgresSchemaURL(t), "STANDING_LOG_LEVEL": "warn"}
	require.ErrorContains(t, run(ctx, []string{"purge"}, envFrom(vars), io.Discard, io.Discard), "standing migrate")
	require.NoError(t, run(ctx, []string{"migrate"}, envFrom(vars), io.Discard, io.Discard))
	require.ErrorIs(t, run(ctx, []string{"purge", "now"}, envFrom(vars), io.Discard, io.Discard), errUsage)

	store, err := models.Open(ctx, vars["STANDING_DATABASE_URL"])
	require.NoError(t, err)
	defer store.Close()
	app, err := store.CreateApplication(ctx, "purge", "")
	require.NoError(t, err)
	_, problems, err := store.UpdateSettings(ctx, app.Application.ID, map[string]any{"retention_days": float64(0)})
	require.NoError(t, err)
	require.Empty(t, problems)
	for _, vd := range []string{"leaving", "staying"} {
		_, err = store.CreateEntity(ctx, app.Application.ID, models.NewEntity{Kind: models.KindUser, VendorData: vd})
		require.NoError(t, err)
	}
	_, err = store.DeleteEntities(ctx, app.Application.ID, models.KindUser, []string{"leaving"}, false)
	require.NoError(t, err)

	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"purge"}, envFrom(vars), &out, io.Discard))
	var got models.JobRunResource
	require.NoError(t, json.Unmarshal(out.Bytes(), &got), out.String())
	require.Equal(t, "purge", got.Job)
	require.Equal(t, models.TriggerCommand, got.Trigger)
	require.NotNil(t, got.FinishedAt)
	require.Equal(t, int64(1), got.Counts["entities"], out.String())
	_, err = store.GetEntity(ctx, app.Application.ID, models.KindUser, "leaving")
	require.ErrorIs(t, err, models.ErrNotFound)
	_, err = store.GetEntity(ctx, app.Application.ID, models.KindUser, "staying")
	require.NoError(t, err)

	out.Reset()
	require.NoError(t, run(ctx, []string{"purge"}, envFrom(vars), &out, io.Discard))
	got = models.JobRunResource{}
	require.NoError(t, json.Unmarshal(out.Bytes(), &got))
	require.Contains(t, got.Counts, "entities")
	require.Zero(t, got.Counts["entities"], "a second pass finds nothing")
	runs, total, err := store.JobRuns(ctx, "purge", 10, 0)
	require.NoError(t, err)
	require.Equal(t, int64(2), total, "every pass is recorded: %+v", runs)
}
