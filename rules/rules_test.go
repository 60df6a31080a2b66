package rules_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/rules"
)

func TestSupersedes(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1764080000, 0)
	t1 := t0.Add(time.Second)
	cases := []struct {
		name           string
		at             time.Time
		status         string
		curAt          time.Time
		cur            string
		want, wantFlip bool
	}{
		{"later event wins", t1, rules.SessionInProgress, t0, rules.SessionApproved, true, false},
		{"earlier event loses", t0, rules.SessionApproved, t1, rules.SessionInProgress, false, true},
		{"same time, later stage wins", t0, rules.SessionApproved, t0, rules.SessionInReview, true, false},
		{"same time, Kyc Expired after Approved", t0, rules.SessionKycExpired, t0, rules.SessionApproved, true, false},
		{"same time and stage: deterministic", t0, rules.SessionDeclined, t0, rules.SessionApproved, true, false},
		{"identical event does not supersede", t0, rules.SessionApproved, t0, rules.SessionApproved, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, c.want, rules.Supersedes(c.at, c.status, c.curAt, c.cur))
			require.Equal(t, c.wantFlip, rules.Supersedes(c.curAt, c.cur, c.at, c.status), "the other way round")
		})
	}
}

func TestFeatureStatus(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		rules.SessionApproved:     rules.FeatureApproved,
		rules.SessionDeclined:     rules.FeatureDeclined,
		rules.SessionInReview:     rules.FeatureInReview,
		rules.SessionAwaitingUser: rules.FeatureInReview,
		rules.SessionNotStarted:   rules.FeatureNotFinished,
		rules.SessionInProgress:   rules.FeatureNotFinished,
		rules.SessionAbandoned:    rules.FeatureNotFinished,
		rules.SessionExpired:      rules.FeatureNotFinished,
		rules.SessionKycExpired:   rules.FeatureNotFinished,
		rules.SessionResubmitted:  rules.FeatureResubRequested,
	}
	require.Len(t, want, len(rules.SessionStatuses()), "every status is mapped")
	for in, out := range want {
		got, ok := rules.FeatureStatus(in)
		require.True(t, ok, in)
		require.Equal(t, out, got, in)
	}
	_, ok := rules.FeatureStatus("approved")
	require.False(t, ok, "statuses are exact strings")
}

func TestEnforceSession(t *testing.T) {
	t.Parallel()
	cases := []struct {
		entity, reported, recorded, reason string
	}{
		{rules.EntityActive, rules.SessionApproved, rules.SessionApproved, ""},
		{rules.EntityActive, rules.SessionDeclined, rules.SessionDeclined, ""},
		{rules.EntityFlagged, rules.SessionApproved, rules.SessionInReview, rules.ReasonEntityFlagged},
		{rules.EntityFlagged, rules.SessionDeclined, rules.SessionDeclined, ""},
		{rules.EntityFlagged, rules.SessionInProgress, rules.SessionInProgress, ""},
		{rules.EntityBlocked, rules.SessionApproved, rules.SessionDeclined, rules.ReasonEntityBlocked},
		{rules.EntityBlocked, rules.SessionInReview, rules.SessionDeclined, rules.ReasonEntityBlocked},
		{rules.EntityBlocked, rules.SessionNotStarted, rules.SessionDeclined, rules.ReasonEntityBlocked},
		{rules.EntityBlocked, rules.SessionDeclined, rules.SessionDeclined, ""},
		{rules.EntityBlocked, rules.SessionExpired, rules.SessionExpired, ""},
		{rules.EntityBlocked, rules.SessionAbandoned, rules.SessionAbandoned, ""},
	}
	for _, c := range cases {
		recorded, reason := rules.EnforceSession(c.entity, c.reported)
		require.Equal(t, c.recorded, recorded, "%s + %s", c.entity, c.reported)
		require.Equal(t, c.reason, reason, "%s + %s", c.entity, c.reported)
	}
}

func TestAutoBlock(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		enabled   bool
		workflows []string
		workflow  string
		recorded  string
		want      bool
	}{
		{"off by default", false, nil, "wf", rules.SessionDeclined, false},
		{"on, every workflow", true, nil, "wf", rules.SessionDeclined, true},
		{"on, listed workflow", true, []string{"a", "wf"}, "wf", rules.SessionDeclined, true},
		{"on, other workflow", true, []string{"a"}, "wf", rules.SessionDeclined, false},
		{"on, not declined", true, nil, "wf", rules.SessionApproved, false},
		{"on, in review", true, nil, "wf", rules.SessionInReview, false},
	}
	for _, c := range cases {
		require.Equal(t, c.want, rules.AutoBlock(c.enabled, c.workflows, c.workflow, c.recorded), c.name)
	}
}

func TestRaises(t *testing.T) {
	t.Parallel()
	require.True(t, rules.Raises(rules.EntityActive, rules.EntityFlagged))
	require.True(t, rules.Raises(rules.EntityActive, rules.EntityBlocked))
	require.True(t, rules.Raises(rules.EntityFlagged, rules.EntityBlocked))
	require.False(t, rules.Raises(rules.EntityBlocked, rules.EntityFlagged), "never turns BLOCKED into FLAGGED")
	require.False(t, rules.Raises(rules.EntityBlocked, rules.EntityActive), "never unblocks")
	require.False(t, rules.Raises(rules.EntityFlagged, rules.EntityFlagged))
}

func TestNormaliseEntry(t *testing.T) {
	t.Parallel()
	cases := []struct {
		entryType, in, want string
		bad                 bool
	}{
		{rules.EntryUser, "  User-1 ", "User-1", false},
		{rules.EntryBusiness, "Biz/9", "Biz/9", false},
		{rules.EntryEmail, " Ana@Example.COM ", "ana@example.com", false},
		{rules.EntryEmail, "nobody", "", true},
		{rules.EntryPhone, "+34 600-000 000", "+34600000000", false},
		{rules.EntryPhone, "0034 (600) 000.000", "+34600000000", false},
		{rules.EntryPhone, "600000000", "", true},
		{rules.EntryPhone, "+0 600", "", true},
		{rules.EntryCountry, "esp", "ESP", false},
		{rules.EntryCountry, "ES", "ESP", false},
		{rules.EntryCountry, "gb", "GBR", false},
		{rules.EntryCountry, "XYZ", "", true},
		{rules.EntryCountry, "UK", "", true},
		{rules.EntryCountry, "Spain", "", true},
		{rules.EntryPhone, "+44 (0)20 7946 0958", "+442079460958", false},
		{rules.EntryPhone, "+999 1234", "", true},
		{rules.EntryName, "  Ana   MARÍA\tRuiz ", "ana maría ruiz", false},
		{rules.EntryFace, " FACE_9F2 ", "face_9f2", false},
		{rules.EntryDocument, "X123", "x123", false},
		{rules.EntryDocument, "   ", "", true},
		{rules.EntryDocument, "a\x00b", "", true},
	}
	for _, c := range cases {
		got, err := rules.NormaliseEntry(c.entryType, c.in)
		if c.bad {
			require.Error(t, err, "%s %q", c.entryType, c.in)
			continue
		}
		require.NoError(t, err, "%s %q", c.entryType, c.in)
		require.Equal(t, c.want, got, "%s %q", c.entryType, c.in)
	}
}

func TestListEffect(t *testing.T) {
	t.Parallel()
	cases := []struct{ list, entry, status, reason string }{
		{rules.ListBlocklist, rules.EntryUser, rules.EntityBlocked, rules.ReasonBlocklistMatch},
		{rules.ListBlocklist, rules.EntryBusiness, rules.EntityBlocked, rules.ReasonBlocklistMatch},
		{rules.ListWatchlist, rules.EntryUser, rules.EntityFlagged, rules.ReasonWatchlist},
		{rules.ListAllowlist, rules.EntryUser, "", ""},
		{rules.ListBlocklist, rules.EntryFace, "", ""},
	}
	for _, c := range cases {
		status, reason := rules.ListEffect(c.list, c.entry)
		require.Equal(t, c.status, status)
		require.Equal(t, c.reason, reason)
	}
}

func TestNormalisedEntriesStayWithinTheLimit(t *testing.T) {
	t.Parallel()
	// Ⱥ is 2 bytes; its lower case ⱥ is 3: 1000 of them grow from 2000 to 3000 bytes.
	_, err := rules.NormaliseEntry(rules.EntryName, strings.Repeat("Ⱥ", 1000))
	require.Error(t, err)
	_, err = rules.NormaliseEntry(rules.EntryName, strings.Repeat("a", 2000))
	require.NoError(t, err)
}

func TestDecisionValuesMatchedAgainstListsAreBounded(t *testing.T) {
	t.Parallel()
	_, problems := rules.ReadDecision("user", map[string]any{"liveness": map[string]any{"status": "Approved", "face_id": strings.Repeat("f", 513)}})
	require.Contains(t, problems, "decision.liveness.face_id")
	facts, problems := rules.ReadDecision("user", map[string]any{"liveness": map[string]any{"status": "Approved", "face_id": strings.Repeat("f", 512)}})
	require.Empty(t, problems)
	require.Len(t, facts.FaceID, 512)
}
