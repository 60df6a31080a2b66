package rules

import "time"

// Rule ids: what decided a status change, as the audit trail records it.
const (
	// RuleAutoBlockOnDecline: a Declined session blocked its entity (setting
	// auto_block_on_decline, optionally limited to auto_block_workflows).
	RuleAutoBlockOnDecline = "auto_block_on_decline"
	// RuleBlocklist: a blocklist entry named the entity or matched its session.
	RuleBlocklist = "blocklist"
	// RuleWatchlist: a watchlist entry named the entity.
	RuleWatchlist = "watchlist"
	// RuleTransaction: a transaction crossed the review threshold.
	RuleTransaction = "transaction_rule"
	// RuleOngoingMonitoring: ongoing AML monitoring matched the entity's name.
	RuleOngoingMonitoring = "ongoing_monitoring"
	// RuleManual: an operator's update-status or an explicit status at creation.
	RuleManual = "manual"
)

// Transition is an automatic status change a decision asks for: the target status, the
// reason shown on the entity, the rule that decided it and the facts it decided on
// (written verbatim into the audit record). EffectiveAt, when set, is the upstream time
// of the event that caused it: the moment from which events of sessions known before the
// change are enforced.
type Transition struct {
	To          string
	Reason      string
	Rule        string
	Inputs      map[string]any
	EffectiveAt *time.Time
}

// Hit is one list entry that matched a fact of an entity or its session.
type Hit struct {
	ListID    string `json:"list_id"`
	ListType  string `json:"list_type"`
	EntryID   string `json:"entry_id"`
	EntryType string `json:"entry_type"`
	Value     string `json:"value"`
	Comment   string `json:"comment,omitempty"`
	Actor     string `json:"actor,omitempty"`
}

// ListRule is the rule id of a status change a list of listType causes.
func ListRule(listType string) string {
	if listType == ListWatchlist {
		return RuleWatchlist
	}
	return RuleBlocklist
}

// HitInputs are the audit inputs of a status change caused by list hits.
func HitInputs(hits []Hit) map[string]any { return hitInputs(hits, nil) }

// hitInputs are the audit inputs of a change caused by list hits: the first hit's list,
// entry, value and comment, and every hit.
func hitInputs(hits []Hit, extra map[string]any) map[string]any {
	in := map[string]any{
		"list_id": hits[0].ListID, "entry_id": hits[0].EntryID, "value": hits[0].Value,
		"comment": hits[0].Comment, "entry_type": hits[0].EntryType, "hits": hits,
	}
	for k, v := range extra {
		in[k] = v
	}
	return in
}

// CreationFacts are what DecideCreation needs: the list entries (user or business
// entries of the entity's kind) that name the new entity's vendor_data, and an explicit
// initial status an operator asked for.
type CreationFacts struct {
	Requested string
	Actor     string
	// Hits are the entries naming the entity, and those of the country lists its
	// country (nationality or country_code) is on.
	Hits []Hit
	// Allowlisted: an allowlist of its kind names the entity (AllowlistExempts).
	Allowlisted bool
}

// Creation is the status a new entity starts in, why, and what decided it.
type Creation struct {
	Status string
	Reason string
	Actor  string
	Rule   string
	Inputs map[string]any
}

// DecideCreation decides a new entity's status: the operator's explicit status (rule
// manual); else BLOCKED when a blocklist names it (or its country), FLAGGED when a
// watchlist does, unless it is allowlisted; else ACTIVE.
func DecideCreation(f CreationFacts, reason string) Creation {
	actor := f.Actor
	if actor == "" {
		actor = "system"
	}
	if f.Requested != "" {
		return Creation{Status: f.Requested, Reason: reason, Actor: actor, Rule: RuleManual, Inputs: map[string]any{}}
	}
	for _, want := range []string{ListBlocklist, ListWatchlist} {
		var hits []Hit
		for _, h := range f.Hits {
			if h.ListType == want {
				hits = append(hits, h)
			}
		}
		if len(hits) == 0 {
			continue
		}
		status, why := HitEffect(want, hits[0].EntryType)
		if status == "" || AllowlistExempts(f.Allowlisted, why) {
			continue
		}
		rule := ListRule(want)
		if hits[0].Actor != "" {
			actor = hits[0].Actor
		}
		return Creation{Status: status, Reason: why, Actor: actor, Rule: rule, Inputs: hitInputs(hits, nil)}
	}
	return Creation{Status: EntityActive, Reason: reason, Actor: actor, Inputs: map[string]any{}}
}

// SessionSettings are the application settings a session decision reads.
type SessionSettings struct {
	AutoBlockOnDecline bool
	AutoBlockWorkflows []string
}

// SessionFacts are what DecideSession needs about one session event and its entity.
type SessionFacts struct {
	// EntityStatus is the entity's status; StatusSince when Standing applied it (its
	// clock), StatusEffectiveAt the moment it took effect for events of sessions known
	// before it (the causing event's upstream time, or StatusSince).
	EntityStatus      string
	StatusSince       time.Time
	StatusEffectiveAt time.Time
	// Known says whether Standing knew the session before this event; KnownSince is when
	// it applied the session's first event (its clock). CurrentAt and CurrentReported are
	// the session's current status's upstream time and reported status.
	Known           bool
	KnownSince      time.Time
	CurrentAt       time.Time
	CurrentReported string
	// The event: its session, workflow, reported status and upstream time.
	SessionID  string
	WorkflowID string
	Reported   string
	EventAt    time.Time
	// Blocklisted are the blocklist entries the session's facts (face, document, email,
	// phone) are on.
	Blocklisted []Hit
	// Allowlisted: an allowlist of its kind names the entity (AllowlistExempts).
	Allowlisted bool
}

// SessionDecision is what a session event does: the status recorded for it (and why, when
// it is not the reported one), whether it becomes its session's current status, and an
// automatic transition of the entity, if any.
type SessionDecision struct {
	Recorded   string
	Reason     string
	Current    bool
	Transition *Transition
}

// Enforced reports whether the entity's status applies to the event: always for a new
// session (one whose first event Standing applies after the entity entered its status,
// whatever the event's upstream time says); for a session known before the change, when
// the event's time is at or after the moment the status took effect.
func (f SessionFacts) Enforced() bool {
	if !f.Known || f.KnownSince.After(f.StatusSince) {
		return true
	}
	return !f.EventAt.Before(f.StatusEffectiveAt)
}

// DecideSession decides what a session event records and does to its entity. The
// entity's status is enforced on the event (Enforced); a blocklist match overrides it:
// the event is recorded Declined and the entity blocked. Otherwise a Declined event that
// becomes its session's current status blocks the entity when auto-block applies (and
// the decline is the upstream's own, not the enforcement's). Automatic transitions only
// raise a status.
func DecideSession(f SessionFacts, s SessionSettings) SessionDecision {
	d := SessionDecision{Recorded: f.Reported}
	if f.Enforced() {
		d.Recorded, d.Reason = EnforceSession(f.EntityStatus, f.Reported)
	}
	if len(f.Blocklisted) > 0 {
		d.Recorded, d.Reason = SessionDeclined, ReasonBlocklistMatch
	}
	d.Current = !f.Known || Supersedes(f.EventAt, f.Reported, f.CurrentAt, f.CurrentReported)
	at := f.EventAt
	session := map[string]any{
		"session_id": f.SessionID, "workflow_id": f.WorkflowID, "reported_status": f.Reported,
		"recorded_status": d.Recorded, "event_timestamp": f.EventAt.Unix(),
	}
	var t *Transition
	switch {
	case len(f.Blocklisted) > 0:
		t = &Transition{To: EntityBlocked, Reason: ReasonBlocklistMatch, Rule: RuleBlocklist,
			Inputs: hitInputs(f.Blocklisted, session), EffectiveAt: &at}
	case d.Current && d.Reason == "" && AutoBlock(s.AutoBlockOnDecline, s.AutoBlockWorkflows, f.WorkflowID, d.Recorded):
		inputs := session
		inputs["auto_block_workflows"] = append([]string{}, s.AutoBlockWorkflows...)
		t = &Transition{To: EntityBlocked, Reason: ReasonSessionDeclined, Rule: RuleAutoBlockOnDecline,
			Inputs: inputs, EffectiveAt: &at}
	}
	if t != nil && Raises(f.EntityStatus, t.To) && !AllowlistExempts(f.Allowlisted, t.Reason) {
		d.Transition = t
	}
	return d
}

// StatusChangeFacts are what DecideStatusChange needs: the entity's status, when the
// manual request that set it was made, and the request (manual, or automatic: a list
// entry's).
type StatusChangeFacts struct {
	Current            string
	CurrentRequestedAt *time.Time
	Requested          string
	RequestedAt        time.Time
	Automatic          bool
	Reason             string
	Actor              string
	Rule               string
	Inputs             map[string]any
	// Allowlisted: an allowlist of its kind names the entity (AllowlistExempts spares
	// it automatic raises).
	Allowlisted bool
}

// StatusChangeOutcome says what a status request does.
type StatusChangeOutcome string

// The outcomes of DecideStatusChange.
const (
	// ChangeApply: the entity moves to the requested status.
	ChangeApply StatusChangeOutcome = "apply"
	// ChangeUnchanged: the entity already has it, or an automatic change would lower it.
	ChangeUnchanged StatusChangeOutcome = "unchanged"
	// ChangeSuperseded: a newer manual request already set the status.
	ChangeSuperseded StatusChangeOutcome = "superseded"
)

// StatusChangeDecision is what a status request does: its outcome, the transition to
// apply (ChangeApply), and whether the request's time is remembered as the time of the
// manual request that set the status (manual requests that are not superseded).
type StatusChangeDecision struct {
	Outcome       StatusChangeOutcome
	Transition    *Transition
	Actor         string
	RecordRequest bool
}

// DecideStatusChange decides a manual or list-caused status request. A manual request
// older than the one that set the status is superseded (the last request wins, whatever
// the order workers apply them in); a request for the status the entity has changes
// nothing; an automatic one never lowers a status. Manual changes record rule manual and
// reason "manual" unless the caller gave one.
func DecideStatusChange(f StatusChangeFacts) StatusChangeDecision {
	if !f.Automatic && f.CurrentRequestedAt != nil && f.CurrentRequestedAt.After(f.RequestedAt) {
		return StatusChangeDecision{Outcome: ChangeSuperseded}
	}
	d := StatusChangeDecision{Outcome: ChangeUnchanged, Actor: f.Actor, RecordRequest: !f.Automatic}
	if f.Current == f.Requested || (f.Automatic && (!Raises(f.Current, f.Requested) || AllowlistExempts(f.Allowlisted, f.Reason))) {
		return d
	}
	reason, rule := f.Reason, f.Rule
	if reason == "" {
		reason = "manual"
	}
	if !f.Automatic {
		rule = RuleManual
	}
	if d.Actor == "" && f.Automatic {
		d.Actor = "system"
	}
	inputs := map[string]any{"requested_status": f.Requested, "requested_at": f.RequestedAt.UTC().Format(time.RFC3339Nano)}
	for k, v := range f.Inputs {
		inputs[k] = v
	}
	d.Outcome = ChangeApply
	d.Transition = &Transition{To: f.Requested, Reason: reason, Rule: rule, Inputs: inputs}
	return d
}
