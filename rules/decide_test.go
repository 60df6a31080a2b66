package rules_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/rules"
)

var (
	t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	// applied is when Standing applied the entity's status: its own clock, later than the
	// upstream event time that caused it.
	applied = t0.Add(30 * time.Second)
)

// sessionCase builds SessionFacts from the differences to a baseline: an ACTIVE entity
// and a new session's Approved event at t0.
func sessionFacts(mod func(*rules.SessionFacts)) rules.SessionFacts {
	f := rules.SessionFacts{
		EntityStatus: rules.EntityActive, StatusSince: applied, StatusEffectiveAt: applied,
		SessionID: "s-1", WorkflowID: "wf-kyc", Reported: rules.SessionApproved, EventAt: t0,
	}
	if mod != nil {
		mod(&f)
	}
	return f
}

// blocked is an entity BLOCKED at applied by an event of another session at t0-10s.
func blocked(f *rules.SessionFacts) {
	f.EntityStatus, f.StatusEffectiveAt = rules.EntityBlocked, t0.Add(-10*time.Second)
}

// knownBefore makes the session one Standing knew before the entity's status.
func knownBefore(current string, at time.Time) func(*rules.SessionFacts) {
	return func(f *rules.SessionFacts) {
		f.Known, f.KnownSince, f.CurrentReported, f.CurrentAt = true, applied.Add(-time.Hour), current, at
	}
}

func both(mods ...func(*rules.SessionFacts)) func(*rules.SessionFacts) {
	return func(f *rules.SessionFacts) {
		for _, m := range mods {
			m(f)
		}
	}
}

var faceHit = rules.Hit{ListID: "l-1", ListType: rules.ListBlocklist, EntryID: "e-1", EntryType: rules.EntryFace,
	Value: "face-9", Comment: "fraud ring"}

func TestDecideSession(t *testing.T) {
	t.Parallel()
	autoBlock := rules.SessionSettings{AutoBlockOnDecline: true}
	cases := []struct {
		name         string
		facts        rules.SessionFacts
		settings     rules.SessionSettings
		recorded     string
		reason       string
		current      bool
		to, rule     string
		wantInputKey string
	}{
		{name: "ACTIVE: the reported status stands", facts: sessionFacts(nil),
			recorded: rules.SessionApproved, current: true},
		{name: "BLOCKED: a new session's Approved is declined, whatever its timestamp",
			facts:    sessionFacts(func(f *rules.SessionFacts) { blocked(f); f.EventAt = t0.Add(-5 * time.Second) }),
			recorded: rules.SessionDeclined, reason: rules.ReasonEntityBlocked, current: true},
		{name: "BLOCKED: a new session older than the block is still enforced",
			facts:    sessionFacts(func(f *rules.SessionFacts) { blocked(f); f.EventAt = t0.Add(-time.Hour) }),
			recorded: rules.SessionDeclined, reason: rules.ReasonEntityBlocked, current: true},
		{name: "FLAGGED: a new session's Approved in the same second as the flag is In Review",
			facts: sessionFacts(func(f *rules.SessionFacts) {
				f.EntityStatus, f.StatusEffectiveAt = rules.EntityFlagged, applied
				f.EventAt = applied.Truncate(time.Second)
			}),
			recorded: rules.SessionInReview, reason: rules.ReasonEntityFlagged, current: true},
		{name: "BLOCKED: a known session's event at or after the effective time is enforced",
			facts:    sessionFacts(both(blocked, knownBefore(rules.SessionInProgress, t0.Add(-time.Hour)), func(f *rules.SessionFacts) { f.EventAt = t0.Add(-10 * time.Second) })),
			recorded: rules.SessionDeclined, reason: rules.ReasonEntityBlocked, current: true},
		{name: "BLOCKED: a known session's event from before the block stands as reported",
			facts:    sessionFacts(both(blocked, knownBefore(rules.SessionInProgress, t0.Add(-time.Hour)), func(f *rules.SessionFacts) { f.EventAt = t0.Add(-11 * time.Second) })),
			recorded: rules.SessionApproved, current: true},
		{name: "a known session's late older event only joins history",
			facts:    sessionFacts(knownBefore(rules.SessionDeclined, t0.Add(time.Minute))),
			recorded: rules.SessionApproved, current: false},
		{name: "BLOCKED keeps a failed outcome as reported",
			facts:    sessionFacts(func(f *rules.SessionFacts) { blocked(f); f.Reported = rules.SessionAbandoned }),
			recorded: rules.SessionAbandoned, current: true},
		{name: "auto-block on: a current Declined blocks, with the session in the inputs",
			facts:    sessionFacts(func(f *rules.SessionFacts) { f.Reported = rules.SessionDeclined }),
			settings: autoBlock, recorded: rules.SessionDeclined, current: true,
			to: rules.EntityBlocked, rule: rules.RuleAutoBlockOnDecline, wantInputKey: "session_id"},
		{name: "auto-block off: a Declined only records",
			facts:    sessionFacts(func(f *rules.SessionFacts) { f.Reported = rules.SessionDeclined }),
			recorded: rules.SessionDeclined, current: true},
		{name: "auto-block limited to other workflows: no block",
			facts:    sessionFacts(func(f *rules.SessionFacts) { f.Reported = rules.SessionDeclined }),
			settings: rules.SessionSettings{AutoBlockOnDecline: true, AutoBlockWorkflows: []string{"wf-kyb"}},
			recorded: rules.SessionDeclined, current: true},
		{name: "auto-block limited to this workflow: blocks",
			facts:    sessionFacts(func(f *rules.SessionFacts) { f.Reported = rules.SessionDeclined }),
			settings: rules.SessionSettings{AutoBlockOnDecline: true, AutoBlockWorkflows: []string{"wf-kyb", "wf-kyc"}},
			recorded: rules.SessionDeclined, current: true, to: rules.EntityBlocked, rule: rules.RuleAutoBlockOnDecline},
		{name: "auto-block: a Declined that only joins history does not block",
			facts:    sessionFacts(both(knownBefore(rules.SessionApproved, t0.Add(time.Minute)), func(f *rules.SessionFacts) { f.Reported = rules.SessionDeclined })),
			settings: autoBlock, recorded: rules.SessionDeclined, current: false},
		{name: "auto-block: a decline made by enforcement does not block again",
			facts:    sessionFacts(func(f *rules.SessionFacts) { f.EntityStatus = rules.EntityBlocked }),
			settings: autoBlock, recorded: rules.SessionDeclined, reason: rules.ReasonEntityBlocked, current: true},
		{name: "FLAGGED + auto-block: a Declined raises to BLOCKED",
			facts:    sessionFacts(func(f *rules.SessionFacts) { f.EntityStatus = rules.EntityFlagged; f.Reported = rules.SessionDeclined }),
			settings: autoBlock, recorded: rules.SessionDeclined, current: true, to: rules.EntityBlocked, rule: rules.RuleAutoBlockOnDecline},
		{name: "a blocklist hit declines and blocks, with the entry in the inputs",
			facts:    sessionFacts(func(f *rules.SessionFacts) { f.Blocklisted = []rules.Hit{faceHit} }),
			recorded: rules.SessionDeclined, reason: rules.ReasonBlocklistMatch, current: true,
			to: rules.EntityBlocked, rule: rules.RuleBlocklist, wantInputKey: "entry_id"},
		{name: "blocklist beats auto-block",
			facts: sessionFacts(func(f *rules.SessionFacts) {
				f.Reported = rules.SessionDeclined
				f.Blocklisted = []rules.Hit{faceHit}
			}),
			settings: autoBlock, recorded: rules.SessionDeclined, reason: rules.ReasonBlocklistMatch, current: true,
			to: rules.EntityBlocked, rule: rules.RuleBlocklist},
		{name: "a blocklist hit on an old history event still blocks",
			facts:    sessionFacts(both(knownBefore(rules.SessionApproved, t0.Add(time.Minute)), func(f *rules.SessionFacts) { f.Blocklisted = []rules.Hit{faceHit} })),
			recorded: rules.SessionDeclined, reason: rules.ReasonBlocklistMatch, current: false,
			to: rules.EntityBlocked, rule: rules.RuleBlocklist},
		{name: "never lowers: an already BLOCKED entity's blocklist hit changes no status",
			facts: sessionFacts(func(f *rules.SessionFacts) {
				f.EntityStatus = rules.EntityBlocked
				f.Blocklisted = []rules.Hit{faceHit}
			}),
			recorded: rules.SessionDeclined, reason: rules.ReasonBlocklistMatch, current: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := rules.DecideSession(c.facts, c.settings)
			require.Equal(t, c.recorded, d.Recorded, "recorded status")
			require.Equal(t, c.reason, d.Reason, "reason")
			require.Equal(t, c.current, d.Current, "current")
			if c.to == "" {
				require.Nil(t, d.Transition, "no automatic transition")
				return
			}
			require.NotNil(t, d.Transition)
			require.Equal(t, c.to, d.Transition.To)
			require.Equal(t, c.rule, d.Transition.Rule)
			require.NotNil(t, d.Transition.EffectiveAt, "a session-caused change takes effect at the event's time")
			require.Equal(t, c.facts.EventAt, *d.Transition.EffectiveAt)
			require.Equal(t, c.facts.SessionID, d.Transition.Inputs["session_id"])
			if c.wantInputKey != "" {
				require.Contains(t, d.Transition.Inputs, c.wantInputKey)
			}
		})
	}
}

func TestDecideSessionInputsNameTheEvidence(t *testing.T) {
	t.Parallel()
	d := rules.DecideSession(sessionFacts(func(f *rules.SessionFacts) { f.Blocklisted = []rules.Hit{faceHit} }), rules.SessionSettings{})
	require.Equal(t, "l-1", d.Transition.Inputs["list_id"])
	require.Equal(t, "e-1", d.Transition.Inputs["entry_id"])
	require.Equal(t, "face-9", d.Transition.Inputs["value"])
	require.Equal(t, "fraud ring", d.Transition.Inputs["comment"])
	require.Equal(t, rules.SessionApproved, d.Transition.Inputs["reported_status"])
	require.Equal(t, rules.SessionDeclined, d.Transition.Inputs["recorded_status"])
	require.Equal(t, rules.ReasonBlocklistMatch, d.Transition.Reason)
}

func TestDecideStatusChange(t *testing.T) {
	t.Parallel()
	later := t0.Add(time.Minute)
	cases := []struct {
		name    string
		facts   rules.StatusChangeFacts
		outcome rules.StatusChangeOutcome
		record  bool
		rule    string
		reason  string
		actor   string
	}{
		{"manual: any status to any status", rules.StatusChangeFacts{Current: rules.EntityBlocked, Requested: rules.EntityActive,
			RequestedAt: t0, Reason: "appeal upheld", Actor: "ops@acme"}, rules.ChangeApply, true, rules.RuleManual, "appeal upheld", "ops@acme"},
		{"manual without a reason: reason manual", rules.StatusChangeFacts{Current: rules.EntityActive, Requested: rules.EntityFlagged,
			RequestedAt: t0, Actor: "ops"}, rules.ChangeApply, true, rules.RuleManual, "manual", "ops"},
		{"manual to the same status: unchanged, request remembered", rules.StatusChangeFacts{Current: rules.EntityFlagged,
			Requested: rules.EntityFlagged, RequestedAt: t0}, rules.ChangeUnchanged, true, "", "", ""},
		{"manual older than the request that set the status: superseded", rules.StatusChangeFacts{Current: rules.EntityBlocked,
			CurrentRequestedAt: &later, Requested: rules.EntityActive, RequestedAt: t0}, rules.ChangeSuperseded, false, "", "", ""},
		{"manual newer than the last request: applies", rules.StatusChangeFacts{Current: rules.EntityBlocked,
			CurrentRequestedAt: &t0, Requested: rules.EntityActive, RequestedAt: later}, rules.ChangeApply, true, rules.RuleManual, "manual", ""},
		{"list: raises ACTIVE to BLOCKED", rules.StatusChangeFacts{Current: rules.EntityActive, Requested: rules.EntityBlocked,
			RequestedAt: t0, Automatic: true, Reason: rules.ReasonBlocklistMatch, Rule: rules.RuleBlocklist},
			rules.ChangeApply, false, rules.RuleBlocklist, rules.ReasonBlocklistMatch, "system"},
		{"list: never lowers BLOCKED to FLAGGED", rules.StatusChangeFacts{Current: rules.EntityBlocked, Requested: rules.EntityFlagged,
			RequestedAt: t0, Automatic: true, Rule: rules.RuleWatchlist}, rules.ChangeUnchanged, false, "", "", ""},
		{"list: not superseded by a manual request", rules.StatusChangeFacts{Current: rules.EntityActive, CurrentRequestedAt: &later,
			Requested: rules.EntityFlagged, RequestedAt: t0, Automatic: true, Reason: rules.ReasonWatchlist, Rule: rules.RuleWatchlist},
			rules.ChangeApply, false, rules.RuleWatchlist, rules.ReasonWatchlist, "system"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := rules.DecideStatusChange(c.facts)
			require.Equal(t, c.outcome, d.Outcome)
			require.Equal(t, c.record, d.RecordRequest, "remember the request time")
			if c.outcome != rules.ChangeApply {
				require.Nil(t, d.Transition)
				return
			}
			require.Equal(t, c.facts.Requested, d.Transition.To)
			require.Equal(t, c.rule, d.Transition.Rule)
			require.Equal(t, c.reason, d.Transition.Reason)
			require.Equal(t, c.actor, d.Actor)
			require.Nil(t, d.Transition.EffectiveAt, "takes effect when applied")
			require.Equal(t, c.facts.Requested, d.Transition.Inputs["requested_status"])
		})
	}
}

func TestDecideCreation(t *testing.T) {
	t.Parallel()
	watch := rules.Hit{ListID: "w", ListType: rules.ListWatchlist, EntryID: "we", EntryType: rules.EntryUser, Value: "u-1", Actor: "analyst"}
	block := rules.Hit{ListID: "b", ListType: rules.ListBlocklist, EntryID: "be", EntryType: rules.EntryUser, Value: "u-1", Comment: "chargebacks"}
	cases := []struct {
		name                 string
		facts                rules.CreationFacts
		status, reason, rule string
		actor, inputsEntryID string
	}{
		{"no list: ACTIVE", rules.CreationFacts{}, rules.EntityActive, "", "", "system", ""},
		{"watchlist: FLAGGED by the entry's actor", rules.CreationFacts{Hits: []rules.Hit{watch}},
			rules.EntityFlagged, rules.ReasonWatchlist, rules.RuleWatchlist, "analyst", "we"},
		{"blocklist beats watchlist", rules.CreationFacts{Hits: []rules.Hit{watch, block}},
			rules.EntityBlocked, rules.ReasonBlocklistMatch, rules.RuleBlocklist, "system", "be"},
		{"an operator's explicit status wins over the lists", rules.CreationFacts{Requested: rules.EntityActive, Actor: "ops", Hits: []rules.Hit{block}},
			rules.EntityActive, "onboarding", rules.RuleManual, "ops", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := rules.DecideCreation(c.facts, "onboarding")
			require.Equal(t, c.status, got.Status)
			require.Equal(t, c.rule, got.Rule)
			require.Equal(t, c.actor, got.Actor)
			if c.rule == rules.RuleBlocklist || c.rule == rules.RuleWatchlist {
				require.Equal(t, c.reason, got.Reason)
				require.Equal(t, c.inputsEntryID, got.Inputs["entry_id"])
			}
		})
	}
}
