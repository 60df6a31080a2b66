package models

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPairsConditionGroupsBySecondColumnLists(t *testing.T) {
	cases := []struct {
		name  string
		pairs [][]any
		sql   string
		args  []any
	}{
		{"none", nil, "1 = 0", nil},
		{"one kind", [][]any{{"user", "a"}, {"user", "b"}},
			"((kind = ? AND vendor_data IN ?))", []any{"user", []any{"a", "b"}}},
		{"two kinds, in first-seen order", [][]any{{"user", "a"}, {"business", "x"}, {"user", "b"}},
			"((kind = ? AND vendor_data IN ?) OR (kind = ? AND vendor_data IN ?))",
			[]any{"user", []any{"a", "b"}, "business", []any{"x"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sql, args := pairsCondition("kind", "vendor_data", c.pairs)
			require.Equal(t, c.sql, sql)
			require.Equal(t, c.args, args)
		})
	}
}
