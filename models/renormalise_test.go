package models_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/internal/testkit"
	"github.com/standinghq/standing/models"
)

// TestMigrationRenormalisesStoredValues plants values in the forms the old
// normalisation stored (a phone as typed, an E.164 phone that kept the national "0"),
// takes the re-normalising migration back, and migrates again.
func TestMigrationRenormalisesStoredValues(t *testing.T) {
	t.Parallel()
	engines := []struct{ name, driver, dsn string }{
		{"postgres", "pgx", testkit.PostgresSchemaURL(t)},
		{"sqlite", "sqlite", filepath.Join(t.TempDir(), "renormalise.db")},
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			s, err := models.Open(ctx, e.dsn)
			require.NoError(t, err)
			defer s.Close()
			_, err = s.Migrate(ctx)
			require.NoError(t, err)
			app, err := s.CreateApplication(ctx, "renormalise", "")
			require.NoError(t, err)
			appID := app.Application.ID
			phone := "+34 612 34 56 78"
			_, err = s.CreateEntity(ctx, appID, models.NewEntity{Kind: models.KindUser, VendorData: "u-1", Profile: map[string]*string{"phone": &phone}})
			require.NoError(t, err)
			list, err := s.CreateList(ctx, appID, "phones", "watchlist", "phone")
			require.NoError(t, err)
			_, _, err = s.AddListEntry(ctx, appID, list.ID, "+44 20 7946 0958", "")
			require.NoError(t, err)
			_, _, err = s.AddListEntry(ctx, appID, list.ID, "+34 699 000 000", "")
			require.NoError(t, err)

			dsn := e.dsn
			if e.driver == "sqlite" {
				dsn = "file:" + dsn + "?_pragma=busy_timeout(10000)"
			}
			db, err := sql.Open(e.driver, dsn)
			require.NoError(t, err)
			defer db.Close()
			exec := func(q string, args ...any) {
				t.Helper()
				if e.driver == "pgx" {
					q = pgPlaceholders(q)
				}
				_, err := db.ExecContext(ctx, q, args...)
				require.NoError(t, err, q)
			}
			exec("UPDATE entities SET phone = ?, nationality = ? WHERE vendor_data = ?", "+44 (0)20 7946 0958", "es", "u-1")
			exec("UPDATE list_entries SET value = ? WHERE value = ?", "+4402079460958", "+442079460958")
			exec("UPDATE list_entries SET value = ? WHERE value = ?", "0034 699 000 000", "+34699000000")
			exec("DELETE FROM goose_db_version WHERE version_id = 9")

			n, err := s.Migrate(ctx)
			require.NoError(t, err)
			require.Equal(t, 1, n, "the data migration ran again")
			got, err := s.GetEntity(ctx, appID, models.KindUser, "u-1")
			require.NoError(t, err)
			require.Equal(t, "+442079460958", *got.Phone)
			require.Equal(t, "ESP", *got.Nationality)
			entries, _, err := s.ListEntries(ctx, appID, list.ID, 10, 0)
			require.NoError(t, err)
			values := []string{}
			for _, en := range entries {
				values = append(values, en.Value)
			}
			require.ElementsMatch(t, []string{"+442079460958", "+34699000000"}, values)
		})
	}
}

// pgPlaceholders rewrites ? placeholders as $1, $2, ….
func pgPlaceholders(q string) string {
	out, n := []byte{}, 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			out = append(out, []byte("$"+string(rune('0'+n)))...)
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}
