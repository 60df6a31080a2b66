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

func TestListEffectsAndAllowlists(t *testing.T) {
	t.Parallel()
	for _, entryType := range rules.EntryTypes() {
		require.True(t, rules.ListHasEffect(rules.ListBlocklist, entryType), entryType)
		require.True(t, rules.ListHasEffect(rules.ListWatchlist, entryType), entryType)
		want := entryType == rules.EntryUser || entryType == rules.EntryBusiness
		require.Equal(t, want, rules.ListHasEffect(rules.ListAllowlist, entryType), "allowlist of %s", entryType)
	}
	require.False(t, rules.ListHasEffect("greylist", rules.EntryUser))
	for _, reason := range []string{rules.ReasonWatchlist, rules.ReasonSessionDeclined, rules.ReasonTransactionRule, rules.ReasonOngoingMonitoring} {
		require.True(t, rules.AllowlistExempts(true, reason), reason)
		require.False(t, rules.AllowlistExempts(false, reason), reason)
	}
	require.False(t, rules.AllowlistExempts(true, rules.ReasonBlocklistMatch), "blocklist matches still raise")
	status, reason := rules.HitEffect(rules.ListBlocklist, rules.EntryCountry)
	require.Equal(t, []string{rules.EntityBlocked, rules.ReasonBlocklistMatch}, []string{status, reason})
	status, reason = rules.HitEffect(rules.ListWatchlist, rules.EntryCountry)
	require.Equal(t, []string{rules.EntityFlagged, rules.ReasonWatchlist}, []string{status, reason})

	block := rules.Hit{ListID: "l-1", ListType: rules.ListBlocklist, EntryID: "e-1", EntryType: rules.EntryCountry, Value: "IRN"}
	watch := rules.Hit{ListID: "l-2", ListType: rules.ListWatchlist, EntryID: "e-2", EntryType: rules.EntryCountry, Value: "IRN"}
	tr := rules.DecideCountry(rules.EntityActive, false, []rules.Hit{watch, block})
	require.NotNil(t, tr)
	require.Equal(t, rules.EntityBlocked, tr.To, "a blocklist wins over a watchlist")
	require.Equal(t, rules.RuleBlocklist, tr.Rule)
	require.Equal(t, "e-1", tr.Inputs["entry_id"])
	require.NotNil(t, rules.DecideCountry(rules.EntityFlagged, true, []rules.Hit{block}), "allowlists do not spare blocklists")
	require.Nil(t, rules.DecideCountry(rules.EntityActive, true, []rules.Hit{watch}), "allowlisted: no flag")
	require.Nil(t, rules.DecideCountry(rules.EntityBlocked, false, []rules.Hit{watch}), "never lowers")
	require.Nil(t, rules.DecideCountry(rules.EntityActive, false, nil))
	c := rules.DecideCreation(rules.CreationFacts{Hits: []rules.Hit{watch}}, "")
	require.Equal(t, rules.EntityFlagged, c.Status, "a country watchlist flags at creation")
	c = rules.DecideCreation(rules.CreationFacts{Hits: []rules.Hit{watch}, Allowlisted: true}, "")
	require.Equal(t, rules.EntityActive, c.Status, "unless the entity is allowlisted")
	c = rules.DecideCreation(rules.CreationFacts{Hits: []rules.Hit{block}, Allowlisted: true}, "")
	require.Equal(t, rules.EntityBlocked, c.Status)
	sd := rules.DecideSession(rules.SessionFacts{EntityStatus: rules.EntityActive, Reported: rules.SessionDeclined,
		WorkflowID: "wf"}, rules.SessionSettings{AutoBlockOnDecline: true})
	require.NotNil(t, sd.Transition)
	sd = rules.DecideSession(rules.SessionFacts{EntityStatus: rules.EntityActive, Reported: rules.SessionDeclined,
		WorkflowID: "wf", Allowlisted: true}, rules.SessionSettings{AutoBlockOnDecline: true})
	require.Nil(t, sd.Transition, "auto-block spares an allowlisted entity")
	sc := rules.DecideStatusChange(rules.StatusChangeFacts{Current: rules.EntityActive, Requested: rules.EntityFlagged,
		Automatic: true, Reason: rules.ReasonWatchlist, Allowlisted: true})
	require.Equal(t, rules.ChangeUnchanged, sc.Outcome)
	sc = rules.DecideStatusChange(rules.StatusChangeFacts{Current: rules.EntityActive, Requested: rules.EntityFlagged,
		Reason: "manual check", Allowlisted: true})
	require.Equal(t, rules.ChangeApply, sc.Outcome, "manual changes are never spared")
	require.Equal(t, "nationality", rules.CountryField(rules.EntryUser))
	require.Equal(t, "country_code", rules.CountryField(rules.EntryBusiness))
}
