package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx database/sql driver, to tamper with rows
	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/internal/testkit"
	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/rules"
)

func TestAuditVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testkit.PostgresSchemaURL(t)
	vars := map[string]string{"STANDING_DATABASE_URL": dsn, "STANDING_LOG_LEVEL": "warn"}
	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"audit", "--help"}, envFrom(vars), &out, io.Discard))
	require.Contains(t, out.String(), "audit verify [--app ID]")
	out.Reset()
	require.NoError(t, run(ctx, []string{"audit", "verify", "--help"}, envFrom(vars), &out, io.Discard))
	require.Contains(t, out.String(), "standing audit verify")
	require.Contains(t, out.String(), "-app")
	require.ErrorIs(t, run(ctx, []string{"audit"}, envFrom(vars), io.Discard, io.Discard), errUsage)
	require.ErrorIs(t, run(ctx, []string{"audit", "verify", "--colour"}, envFrom(vars), io.Discard, io.Discard), errUsage)
	require.ErrorContains(t, run(ctx, []string{"audit", "verify"}, envFrom(vars), io.Discard, io.Discard), "standing migrate",
		"an unmigrated database is refused")

	require.NoError(t, run(ctx, []string{"migrate"}, envFrom(vars), io.Discard, io.Discard))
	out.Reset()
	require.NoError(t, run(ctx, []string{"audit", "verify"}, envFrom(vars), &out, io.Discard))
	require.Equal(t, "ok: 0 records (0 tombstones) in 0 application chain(s) verified\n", out.String(), "an empty trail verifies")

	store, err := models.Open(ctx, dsn)
	require.NoError(t, err)
	defer store.Close()
	var apps []string
	for _, name := range []string{"one", "two"} {
		app, err := store.CreateApplication(ctx, name, "")
		require.NoError(t, err)
		apps = append(apps, app.Application.ID)
		for _, vd := range []string{"a", "b"} {
			_, err := store.CreateEntity(ctx, app.Application.ID, models.NewEntity{Kind: models.KindUser, VendorData: vd,
				Status: rules.EntityBlocked, Reason: "fraud", Actor: "ops"})
			require.NoError(t, err)
		}
	}
	out.Reset()
	require.NoError(t, run(ctx, []string{"audit", "verify"}, envFrom(vars), &out, io.Discard))
	require.Equal(t, "ok: 4 records (0 tombstones) in 2 application chain(s) verified\n", out.String())
	out.Reset()
	require.NoError(t, run(ctx, []string{"audit", "verify", "--app", apps[1]}, envFrom(vars), &out, io.Discard))
	require.Equal(t, "ok: 2 records (0 tombstones) in 1 application chain(s) verified\n", out.String())

	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	defer db.Close()
	var victim string
	require.NoError(t, db.QueryRow("SELECT id FROM status_changes WHERE application_id = $1 AND seq = 2", apps[1]).Scan(&victim))
	_, err = db.Exec("UPDATE status_changes SET reason = 'none' WHERE id = $1", victim)
	require.NoError(t, err)
	err = run(ctx, []string{"audit", "verify"}, envFrom(vars), io.Discard, io.Discard)
	require.ErrorIs(t, err, errChainBroken)
	require.ErrorContains(t, err, "audit record "+victim+" (seq 2)")
	require.NoError(t, run(ctx, []string{"audit", "verify", "--app", apps[0]}, envFrom(vars), io.Discard, io.Discard),
		"the other application's chain still holds")
}
