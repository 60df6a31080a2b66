package models

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCopyColumnsAreTheModelsColumns checks that the rows COPY writes name every column
// of their model, in the order of their values: a field added to one of these models
// and not to its COPY list (or the other way round) fails here, not in production.
func TestCopyColumnsAreTheModelsColumns(t *testing.T) {
	t.Parallel()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "copy.db"))
	require.NoError(t, err)
	defer s.Close()
	now := time.Now()
	for _, c := range []struct {
		model   any
		columns []string
		row     []any
	}{
		{&OutboxEvent{}, eventColumns, eventRows([]*OutboxEvent{{}}, now)[0]},
		{&Delivery{}, deliveryColumns, deliveryRows([]*Delivery{{}}, now)[0]},
		{&Activity{}, activityColumns, activityRows([]*Activity{{}}, now)[0]},
		{&SessionEvent{}, sessionEventColumns, sessionEventRows([]*SessionEvent{{}})[0]},
		{&DeliveryAttempt{}, attemptColumns, attemptRows([]*DeliveryAttempt{{}}, now)[0]},
	} {
		stmt := s.db.Model(c.model).Statement
		require.NoError(t, stmt.Parse(c.model))
		var fields []string
		for _, f := range stmt.Schema.Fields {
			if f.DBName != "" {
				fields = append(fields, f.DBName)
			}
		}
		require.ElementsMatch(t, fields, c.columns, stmt.Schema.Table)
		require.Len(t, c.row, len(c.columns), stmt.Schema.Table)
	}
}
