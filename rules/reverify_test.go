package rules_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/rules"
)

func TestDecideReverification(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	at := func(d time.Duration) *time.Time { v := now.Add(-d); return &v }
	cases := []struct {
		name  string
		facts rules.ReverificationFacts
		start bool
	}{
		{"off", rules.ReverificationFacts{Status: rules.EntityActive, Interval: 0, LatestApprovedAt: at(400 * day)}, false},
		{"due", rules.ReverificationFacts{Status: rules.EntityActive, Interval: 30 * day, LatestApprovedAt: at(30 * day)}, true},
		{"a second short", rules.ReverificationFacts{Status: rules.EntityActive, Interval: 30 * day, LatestApprovedAt: at(30*day - time.Second)}, false},
		{"never approved", rules.ReverificationFacts{Status: rules.EntityActive, Interval: 30 * day}, false},
		{"blocked", rules.ReverificationFacts{Status: rules.EntityBlocked, Interval: 30 * day, LatestApprovedAt: at(90 * day)}, false},
		{"flagged", rules.ReverificationFacts{Status: rules.EntityFlagged, Interval: 30 * day, LatestApprovedAt: at(90 * day)}, false},
		{"started in this period", rules.ReverificationFacts{Status: rules.EntityActive, Interval: 30 * day,
			LatestApprovedAt: at(90 * day), LastReverificationAt: at(29 * day)}, false},
		{"started a period ago", rules.ReverificationFacts{Status: rules.EntityActive, Interval: 30 * day,
			LatestApprovedAt: at(90 * day), LastReverificationAt: at(30 * day)}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.facts.Now = now
			d := rules.DecideReverification(c.facts)
			require.Equal(t, c.start, d.Start, d.Why)
			require.NotEmpty(t, d.Why)
		})
	}
}
