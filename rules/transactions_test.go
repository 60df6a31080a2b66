package rules_test

import (
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/rules"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func defaults() rules.TxSettings {
	return rules.TxSettings{
		ReviewThreshold: 60, DeclineThreshold: 85, EscalateWhenFlagged: true,
		LargeAmount: dec("10000"), LargeAmountScore: 60,
		VelocityCount: 10, VelocityScore: 30,
		VolumeAmount: dec("50000"), VolumeScore: 40,
		WatchlistedScore: 60,
	}
}

func quiet() rules.TxFacts {
	return rules.TxFacts{Amount: dec("100"), WindowCount: 1, WindowVolume: dec("100"), SubjectStatus: rules.EntityActive}
}

func rulesOf(d rules.TxDecision) []string {
	var out []string
	for _, m := range d.Matched {
		out = append(out, m.Rule)
	}
	return out
}

func TestEvaluateTransaction(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		facts  func(f *rules.TxFacts)
		tweak  func(s *rules.TxSettings)
		status string
		score  int
		rules  []string
		reason string
		flag   bool
	}{
		{name: "nothing matches", status: rules.TxApproved},
		{name: "large amount just below", facts: func(f *rules.TxFacts) { f.Amount = dec("9999.999999") }, status: rules.TxApproved},
		{name: "large amount at the edge reaches review", facts: func(f *rules.TxFacts) { f.Amount = dec("10000") },
			status: rules.TxInReview, score: 60, rules: []string{"large_amount"}, reason: "score", flag: true},
		{name: "velocity at the count does not match", facts: func(f *rules.TxFacts) { f.WindowCount = 10 }, status: rules.TxApproved},
		{name: "velocity above the count", facts: func(f *rules.TxFacts) { f.WindowCount = 11 },
			status: rules.TxApproved, score: 30, rules: []string{"velocity"}},
		{name: "volume just below", facts: func(f *rules.TxFacts) { f.WindowVolume = dec("49999.99") }, status: rules.TxApproved},
		{name: "volume at the edge", facts: func(f *rules.TxFacts) { f.WindowVolume = dec("50000") },
			status: rules.TxApproved, score: 40, rules: []string{"volume"}},
		{name: "velocity and volume add up to review", facts: func(f *rules.TxFacts) { f.WindowCount = 11; f.WindowVolume = dec("60000") },
			status: rules.TxInReview, score: 70, rules: []string{"velocity", "volume"}, reason: "score", flag: true},
		{name: "large amount and velocity reach decline (90 ≥ 85)", facts: func(f *rules.TxFacts) { f.Amount = dec("20000"); f.WindowCount = 11 },
			status: rules.TxDeclined, score: 90, rules: []string{"large_amount", "velocity"}, reason: "score", flag: true},
		{name: "score exactly at decline threshold", facts: func(f *rules.TxFacts) { f.WindowCount = 11; f.WindowVolume = dec("50000") },
			tweak: func(s *rules.TxSettings) { s.DeclineThreshold = 70 }, status: rules.TxDeclined, score: 70,
			rules: []string{"velocity", "volume"}, reason: "score", flag: true},
		{name: "score one below review threshold", facts: func(f *rules.TxFacts) { f.WindowCount = 11; f.WindowVolume = dec("50000") },
			tweak: func(s *rules.TxSettings) { s.ReviewThreshold = 71; s.DeclineThreshold = 90 }, status: rules.TxApproved, score: 70,
			rules: []string{"velocity", "volume"}},
		{name: "watchlisted counterparty", facts: func(f *rules.TxFacts) { f.CounterpartyWatchlisted = true; f.CounterpartyStatus = rules.EntityActive },
			status: rules.TxInReview, score: 60, rules: []string{"watchlisted_counterparty"}, reason: "score", flag: true},
		{name: "blocked counterparty declines whatever the score", facts: func(f *rules.TxFacts) { f.CounterpartyStatus = rules.EntityBlocked },
			status: rules.TxDeclined, rules: []string{"blocked_counterparty"}, reason: "counterparty_blocked"},
		{name: "blocked subject declines", facts: func(f *rules.TxFacts) { f.SubjectStatus = rules.EntityBlocked },
			status: rules.TxDeclined, rules: []string{"blocked_subject"}, reason: "entity_blocked"},
		{name: "blocked subject wins over review", facts: func(f *rules.TxFacts) { f.SubjectStatus = rules.EntityBlocked; f.Amount = dec("10000") },
			status: rules.TxDeclined, score: 60, rules: []string{"large_amount", "blocked_subject"}, reason: "entity_blocked", flag: true},
		{name: "flagged subject escalates to review", facts: func(f *rules.TxFacts) { f.SubjectStatus = rules.EntityFlagged },
			status: rules.TxInReview, rules: []string{"flagged_subject"}, reason: "entity_flagged"},
		{name: "flagged subject without escalation", facts: func(f *rules.TxFacts) { f.SubjectStatus = rules.EntityFlagged },
			tweak: func(s *rules.TxSettings) { s.EscalateWhenFlagged = false }, status: rules.TxApproved},
		{name: "flagged subject does not lower a decline", facts: func(f *rules.TxFacts) {
			f.SubjectStatus = rules.EntityFlagged
			f.Amount = dec("20000")
			f.WindowCount = 11
		},
			status: rules.TxDeclined, score: 90, rules: []string{"large_amount", "velocity"}, reason: "score", flag: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f, s := quiet(), defaults()
			if c.facts != nil {
				c.facts(&f)
			}
			if c.tweak != nil {
				c.tweak(&s)
			}
			d := rules.EvaluateTransaction(f, s)
			require.Equal(t, c.status, d.Status)
			require.Equal(t, c.score, d.Score)
			require.Equal(t, c.rules, rulesOf(d))
			require.Equal(t, c.reason, d.Reason)
			require.Equal(t, c.flag, d.Flag)
		})
	}
}

func TestParseAmountAndConvert(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "-1", "1e3", "1,000", "abc", "0", "0.00", "+5", "1.", ".5", "1234567890123456789"} {
		_, err := rules.ParseAmount(bad)
		require.Error(t, err, bad)
	}
	a, err := rules.ParseAmount("1500.00")
	require.NoError(t, err)
	eur, err := rules.Convert(a, "EUR", map[string]string{"EUR": "1.08"})
	require.NoError(t, err)
	require.Equal(t, "1620", eur.String())
	require.Equal(t, int64(1_620_000_000), rules.ToMicros(eur))
	require.True(t, rules.FromMicros(1_620_000_000).Equal(eur))

	// Exact decimal arithmetic: 0.1 + 0.2 in micro-units is 0.3.
	x, _ := rules.ParseAmount("0.1")
	y, _ := rules.ParseAmount("0.2")
	sum := rules.ToMicros(x) + rules.ToMicros(y)
	require.Equal(t, "0.3", rules.FromMicros(sum).String())

	third, err := rules.Convert(dec("1"), "XYZ", map[string]string{"XYZ": "0.3333333333"})
	require.NoError(t, err)
	require.Equal(t, "0.333333", third.String(), "rounded to micro-units")
	_, err = rules.Convert(a, "JPY", map[string]string{"EUR": "1.08"})
	require.ErrorIs(t, err, rules.ErrUnknownCurrency)
}

func TestReviewTransition(t *testing.T) {
	t.Parallel()
	require.NoError(t, rules.ReviewTransition(rules.TxInReview, rules.TxApproved))
	require.NoError(t, rules.ReviewTransition(rules.TxInReview, rules.TxDeclined))
	require.Error(t, rules.ReviewTransition(rules.TxApproved, rules.TxDeclined), "APPROVED is final")
	require.Error(t, rules.ReviewTransition(rules.TxDeclined, rules.TxApproved), "DECLINED is final")
	require.Error(t, rules.ReviewTransition(rules.TxPending, rules.TxApproved))
	require.Error(t, rules.ReviewTransition(rules.TxInReview, rules.TxInReview))
}

func TestConvertRefusesAmountsOutOfRange(t *testing.T) {
	t.Parallel()
	rates := map[string]string{"USD": "1", "XBT": "90000"}
	_, err := rules.Convert(dec("0.0000001"), "USD", rates)
	require.ErrorIs(t, err, rules.ErrAmountTooSmall)
	_, err = rules.Convert(dec("1000000000000.000001"), "USD", rates)
	require.ErrorIs(t, err, rules.ErrAmountTooLarge)
	_, err = rules.Convert(dec("20000000"), "XBT", rates)
	require.ErrorIs(t, err, rules.ErrAmountTooLarge, "checked after conversion")
	max, err := rules.Convert(dec("1000000000000"), "USD", rates)
	require.NoError(t, err)
	require.Equal(t, int64(1_000_000_000_000_000_000), rules.ToMicros(max))
}
