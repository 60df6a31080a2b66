package models

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestModelsMatchMigrations checks that every column a model reads or writes exists in
// the migrated schema, so that a model and its migration cannot drift apart unnoticed.
func TestModelsMatchMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "schema.db"))
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Migrate(ctx)
	require.NoError(t, err)
	for _, model := range []any{
		&Application{}, &APIKey{}, &Entity{}, &StatusChange{}, &Activity{}, &InboxItem{}, &OutboxEvent{},
		&Session{}, &SessionEvent{}, &List{}, &ListEntry{}, &Transaction{},
		&Destination{}, &Delivery{}, &DeliveryAttempt{}, &ScreeningHit{}, &JobRun{}, &PurgeLeftover{}, &Reverification{},
	} {
		stmt := s.db.Model(model).Statement
		require.NoError(t, stmt.Parse(model))
		sch := stmt.Schema
		columns, err := s.db.Migrator().ColumnTypes(model)
		require.NoError(t, err, sch.Table)
		have := map[string]bool{}
		for _, c := range columns {
			have[c.Name()] = true
		}
		for _, f := range sch.Fields {
			if f.DBName == "" || f.IgnoreMigration {
				continue
			}
			require.True(t, have[f.DBName], "table %s lacks column %s of %s.%s", sch.Table, f.DBName, sch.Name, f.Name)
		}
	}
}
