package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/standinghq/standing/rules"
	"github.com/standinghq/standing/tasks"
)

// Session is one verification run of an entity, with its current status: the status of
// its event with the latest upstream time.
type Session struct {
	ID             string `gorm:"primaryKey"`
	ApplicationID  string `gorm:"not null"`
	EntityID       string `gorm:"not null"`
	SessionID      string `gorm:"not null"`
	Kind           string `gorm:"not null"`
	WorkflowID     string `gorm:"not null"`
	Status         string `gorm:"not null"`
	ReportedStatus string `gorm:"not null"`
	StatusReason   string `gorm:"not null"`
	// StatusAt is the upstream time of the event that set the current status.
	StatusAt  time.Time      `gorm:"not null"`
	Decision  map[string]any `gorm:"serializer:json;not null"`
	Metadata  map[string]any `gorm:"serializer:json;not null"`
	FaceID    *string
	URL       string    `gorm:"not null"`
	CreatedAt time.Time `gorm:"not null"`
	UpdatedAt time.Time `gorm:"not null"`
}

// SessionEvent is one status event of a session, kept as its history.
type SessionEvent struct {
	ID             string `gorm:"primaryKey"`
	SessionPK      string `gorm:"column:session_pk;not null"`
	InboxID        *string
	ReportedStatus string    `gorm:"not null"`
	Status         string    `gorm:"not null"`
	Reason         string    `gorm:"not null"`
	EventAt        time.Time `gorm:"not null"`
	Current        bool      `gorm:"not null"`
	ReceivedAt     time.Time `gorm:"not null"`
}

// SessionEventInput is a session status event from upstream, as validated by the API.
type SessionEventInput struct {
	SessionID   string         `json:"session_id"`
	Status      string         `json:"status"`
	VendorData  string         `json:"vendor_data"`
	Kind        string         `json:"session_kind"`
	WorkflowID  string         `json:"workflow_id"`
	WebhookType string         `json:"webhook_type"`
	Timestamp   int64          `json:"timestamp"`
	Metadata    map[string]any `json:"metadata"`
	Decision    map[string]any `json:"decision"`
}

// dedupKey identifies an event: the same (session_id, status, timestamp) is one event.
func (in SessionEventInput) dedupKey() string {
	return fmt.Sprintf("%s|%s|%d", in.SessionID, in.Status, in.Timestamp)
}

// IngestSessionEvent stores a session event in the inbox, to be applied by a
// session:apply job, and returns the item. The same event again returns the stored item
// and duplicate true, and stores nothing (its job is enqueued again while it is pending).
func (s *Store) IngestSessionEvent(ctx context.Context, appID string, in SessionEventInput) (*InboxItem, bool, error) {
	key := in.dedupKey()
	var item *InboxItem
	duplicate := false
	err := s.transaction(ctx, func(tx *txn) error {
		var err error
		item, err = newInboxItem(appID, tasks.TypeSessionApply, in, tx.Now())
		if err != nil {
			return err
		}
		item.DedupKey = &key
		res := tx.Clauses(clause.OnConflict{
			Columns:     []clause.Column{{Name: "application_id"}, {Name: "task_type"}, {Name: "dedup_key"}},
			TargetWhere: clause.Where{Exprs: []clause.Expression{clause.Expr{SQL: "dedup_key IS NOT NULL"}}},
			DoNothing:   true,
		}).Create(item)
		if res.Error != nil {
			return fmt.Errorf("store session event: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			duplicate = true
			item = &InboxItem{}
			err := tx.Where("application_id = ? AND task_type = ? AND dedup_key = ?", appID, tasks.TypeSessionApply, key).
				Take(item).Error
			if err != nil {
				return fmt.Errorf("read the stored event: %w", err)
			}
		}
		if item.State == InboxPending {
			tx.enqueue(item)
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return item, duplicate, nil
}

// SessionOutcome says what applying a session event did.
type SessionOutcome string

// The outcomes of ApplySessionEvent.
const (
	// SessionCurrent: the event became its session's current status.
	SessionCurrent SessionOutcome = "current"
	// SessionHistory: an older event; it joined the session's history only.
	SessionHistory SessionOutcome = "history"
	// SessionAlreadyApplied: the event was applied before (a duplicate job).
	SessionAlreadyApplied SessionOutcome = "already_applied"
	// SessionInvalid: the stored event could not be read; it failed for good.
	SessionInvalid SessionOutcome = "invalid"
)

// ApplySessionEvent applies the session event stored in inbox item id, once, in one
// transaction under the entity's row lock: it creates the entity when its vendor_data is
// unknown, records the event in the session's history and, when it is the latest, as the
// session's status (enforced by the entity's status and the blocklists), recomputes the
// counters from the sessions table, updates features, profile and timestamps by upstream
// time, applies auto-block, and writes the outbox events of everything that changed.
func (s *Store) ApplySessionEvent(ctx context.Context, id string) (SessionOutcome, error) {
	var outcome SessionOutcome
	err := s.transaction(ctx, func(tx *txn) error {
		item, err := lockInboxItem(tx, id)
		if err != nil {
			return err
		}
		if item.State != InboxPending {
			outcome = SessionAlreadyApplied
			return nil
		}
		var in SessionEventInput
		err = json.Unmarshal([]byte(item.Payload), &in)
		facts, problems := rules.ReadDecision(in.Kind, in.Decision)
		if err != nil || len(problems) > 0 || !ValidKind(in.Kind) || !rules.ValidSessionStatus(in.Status) {
			outcome = SessionInvalid
			return finishInboxItem(tx, item, s.Now(), "the stored event is not a valid session event")
		}
		var app Application
		if err := tx.Where("id = ?", item.ApplicationID).Take(&app).Error; err != nil {
			return err
		}
		eventAt := time.Unix(in.Timestamp, 0).UTC()
		e, created, err := s.lockOrCreateEntity(tx, app.ID, in.Kind, in.VendorData, eventAt)
		if err != nil {
			return err
		}
		a := sessionApply{s: s, tx: tx, app: &app, in: in, facts: facts, eventAt: eventAt, inboxID: item.ID}
		outcome, err = a.run(e, created)
		if err != nil {
			return err
		}
		return finishInboxItem(tx, item, a.now, "")
	})
	return outcome, err
}

// lockOrCreateEntity locks the live entity with vendorData, creating it (ACTIVE, or as
// its lists say) when there is none. Concurrent creators of one vendor_data agree on one
// row: the insert does nothing when another transaction created it first.
func (s *Store) lockOrCreateEntity(tx *txn, appID, kind, vendorData string, since time.Time) (*Entity, bool, error) {
	existing, err := liveEntityForUpdate(tx, appID, kind, vendorData)
	if !errors.Is(err, ErrNotFound) {
		return existing, false, err
	}
	if err := s.lockVendorData(tx, appID, kind, vendorData); err != nil {
		return nil, false, err
	}
	now := s.Now()
	e := newEntity(appID, kind, vendorData, now)
	// A status set by the lists applies to sessions from their own time on.
	e.StatusChangedAt = &since
	status, reason, _, err := listStatusFor(tx, appID, kind, vendorData)
	if err != nil {
		return nil, false, err
	}
	if status != "" {
		e.Status, e.StatusReason = status, &reason
	}
	res := tx.Clauses(clause.OnConflict{
		Columns:     []clause.Column{{Name: "application_id"}, {Name: "kind"}, {Name: "vendor_data"}},
		TargetWhere: clause.Where{Exprs: []clause.Expression{clause.Expr{SQL: "deleted_at IS NULL"}}},
		DoNothing:   true,
	}).Create(e)
	if res.Error != nil {
		return nil, false, res.Error
	}
	if res.RowsAffected == 1 {
		return e, true, nil
	}
	existing, err = liveEntityForUpdate(tx, appID, kind, vendorData)
	return existing, false, err
}

// sessionApply is one session event being applied.
type sessionApply struct {
	s       *Store
	tx      *txn
	app     *Application
	in      SessionEventInput
	facts   rules.DecisionFacts
	eventAt time.Time
	inboxID string
	now     time.Time
}

func (a *sessionApply) run(e *Entity, created bool) (SessionOutcome, error) {
	// The clock is read under the entity's lock.
	a.now = a.s.Now()
	w := a.s.entityWriter(a.tx, e, a.now)
	if created {
		reason := ""
		if e.StatusReason != nil {
			reason = *e.StatusReason
		}
		if err := w.created([]string{"vendor_data", "status"}, reason, "system", "", "session"); err != nil {
			return "", err
		}
	}

	// What the event records: the reported status, unless the entity's status (held
	// since before the event) or a blocklist match says otherwise.
	recorded, reason := a.in.Status, ""
	if e.StatusChangedAt == nil || !a.eventAt.Before(*e.StatusChangedAt) {
		recorded, reason = rules.EnforceSession(e.Status, a.in.Status)
	}
	matches, err := blocklistMatches(a.tx, a.app.ID, a.facts)
	if err != nil {
		return "", err
	}
	if len(matches) > 0 {
		recorded, reason = rules.SessionDeclined, rules.ReasonBlocklistMatch
	}

	sess, isNew, current, err := a.recordEvent(e, recorded, reason)
	if err != nil {
		return "", err
	}
	if err := a.recount(e); err != nil {
		return "", err
	}
	a.updateFeatures(e)
	var changed []string
	if current {
		changed = a.updateProfile(e, recorded)
	}
	if e.FirstSessionAt == nil || a.eventAt.Before(*e.FirstSessionAt) {
		e.FirstSessionAt = &a.eventAt
	}
	if e.LastSessionAt == nil || a.eventAt.After(*e.LastSessionAt) {
		e.LastSessionAt = &a.eventAt
	}
	e.LastActivityAt = &a.now

	if current {
		if err := a.sessionEvents(w, e, sess); err != nil {
			return "", err
		}
		typ := ActivitySessionUpdated
		if isNew {
			typ = ActivitySessionLinked
		}
		details := map[string]any{"session_id": sess.SessionID, "status": sess.Status, "workflow_id": sess.WorkflowID}
		if reason != "" {
			details["reason"] = reason
		}
		if err := w.activity(typ, details); err != nil {
			return "", err
		}
	}
	if len(changed) > 0 {
		if err := w.dataUpdated(changed); err != nil {
			return "", err
		}
		if err := w.activity(ActivityProfileUpdated, map[string]any{"changed_fields": changed, "session_id": sess.SessionID}); err != nil {
			return "", err
		}
	}

	// Automatic transitions: a blocklist match blocks; a decline blocks when auto-block
	// applies. Automatic rules only raise a status.
	target, why, rule := "", "", ""
	switch {
	case len(matches) > 0:
		target, why, rule = StatusBlocked, rules.ReasonBlocklistMatch, "blocklist:"+strings.Join(matches, ",")
	case current && reason == "" &&
		rules.AutoBlock(a.app.Settings.AutoBlockOnDecline, a.app.Settings.AutoBlockWorkflows, sess.WorkflowID, recorded):
		target, why, rule = StatusBlocked, rules.ReasonSessionDeclined, "auto_block_on_decline"
	}
	if target != "" && rules.Raises(e.Status, target) {
		if err := w.transition(target, why, "system", rule); err != nil {
			return "", err
		}
	}
	if err := w.save(); err != nil {
		return "", err
	}
	if current {
		return SessionCurrent, nil
	}
	return SessionHistory, nil
}

// recordEvent adds the event to its session's history, creating the session on its
// first event, and makes it the session's current status when it supersedes it.
func (a *sessionApply) recordEvent(e *Entity, recorded, reason string) (*Session, bool, bool, error) {
	decision, faceID := scrubDecision(a.in.Decision)
	var sess Session
	err := a.tx.Where("entity_id = ? AND session_id = ?", e.ID, a.in.SessionID).Take(&sess).Error
	isNew := errors.Is(err, gorm.ErrRecordNotFound)
	if err != nil && !isNew {
		return nil, false, false, err
	}
	current := isNew || rules.Supersedes(a.eventAt, a.in.Status, sess.StatusAt, sess.ReportedStatus)
	if isNew {
		sess = Session{
			ID: newID(), ApplicationID: a.app.ID, EntityID: e.ID, SessionID: a.in.SessionID, Kind: a.in.Kind,
			CreatedAt: a.now, Metadata: map[string]any{}, Decision: map[string]any{},
		}
	}
	if current {
		sess.Status, sess.ReportedStatus, sess.StatusReason, sess.StatusAt = recorded, a.in.Status, reason, a.eventAt
		if a.in.WorkflowID != "" {
			sess.WorkflowID = a.in.WorkflowID
		}
		if a.in.Decision != nil {
			sess.Decision = decision
		}
		if a.in.Metadata != nil {
			sess.Metadata = a.in.Metadata
		}
	}
	if faceID != "" {
		sess.FaceID = &faceID
	}
	sess.UpdatedAt = a.now
	if err := a.tx.Save(&sess).Error; err != nil {
		return nil, false, false, err
	}
	if current && !isNew {
		// One event of a session's history is its current status.
		if err := a.tx.Model(&SessionEvent{}).Where("session_pk = ? AND current", sess.ID).Update("current", false).Error; err != nil {
			return nil, false, false, err
		}
	}
	inboxID := a.inboxID
	ev := SessionEvent{ID: newID(), SessionPK: sess.ID, InboxID: &inboxID, ReportedStatus: a.in.Status,
		Status: recorded, Reason: reason, EventAt: a.eventAt, Current: current, ReceivedAt: a.now}
	if err := a.tx.Create(&ev).Error; err != nil {
		return nil, false, false, err
	}
	return &sess, isNew, current, nil
}

// recount recomputes the entity's counters from its sessions' current statuses, so that
// duplicates and arrival order cannot skew them.
func (a *sessionApply) recount(e *Entity) error {
	return recountSessions(a.tx, e)
}

func recountSessions(tx *txn, e *Entity) error {
	var c struct {
		Total, Approved, Declined, InReview int
	}
	err := tx.Model(&Session{}).Where("entity_id = ?", e.ID).Select(
		"COUNT(*) AS total, "+
			"COALESCE(SUM(CASE WHEN status = ? THEN 1 ELSE 0 END), 0) AS approved, "+
			"COALESCE(SUM(CASE WHEN status = ? THEN 1 ELSE 0 END), 0) AS declined, "+
			"COALESCE(SUM(CASE WHEN status = ? THEN 1 ELSE 0 END), 0) AS in_review",
		rules.SessionApproved, rules.SessionDeclined, rules.SessionInReview,
	).Scan(&c).Error
	if err != nil {
		return err
	}
	e.SessionCount, e.ApprovedCount, e.DeclinedCount, e.InReviewCount = c.Total, c.Approved, c.Declined, c.InReview
	return nil
}

// updateFeatures sets each reported feature whose event is the latest for it.
func (a *sessionApply) updateFeatures(e *Entity) {
	if e.Features == nil {
		e.Features = map[string]string{}
	}
	if e.FeaturesAt == nil {
		e.FeaturesAt = map[string]int64{}
	}
	at := a.eventAt.Unix()
	for feature, reported := range a.facts.Features {
		status, _ := rules.FeatureStatus(reported)
		prevAt, seen := e.FeaturesAt[feature]
		if seen && (at < prevAt || (at == prevAt && status <= e.Features[feature])) {
			continue
		}
		e.Features[feature] = status
		e.FeaturesAt[feature] = at
	}
}

// updateProfile copies the profile fields of an approved session that is the latest
// approved one by upstream time, and returns the fields that changed.
func (a *sessionApply) updateProfile(e *Entity, recorded string) []string {
	if recorded != rules.SessionApproved || len(a.facts.Profile) == 0 {
		return nil
	}
	if e.ProfileAt != nil && a.eventAt.Before(*e.ProfileAt) {
		return nil
	}
	e.ProfileAt = &a.eventAt
	var changed []string
	for _, field := range ProfileFields(e.Kind) {
		v, ok := a.facts.Profile[field]
		if !ok {
			continue
		}
		p := e.profileField(field)
		if *p != nil && **p == v {
			continue
		}
		value := v
		*p = &value
		changed = append(changed, field)
	}
	return changed
}

// sessionEvents writes status.updated (and business_session.status.updated for
// businesses) for a session whose current status changed, and data.updated when the
// event also brought the session's decision or metadata.
func (a *sessionApply) sessionEvents(w *entityWriter, e *Entity, sess *Session) error {
	// The stored decision, without the face biometric id: event bodies are kept (and
	// logged with every delivery attempt) beyond the entity's deletion.
	decision := sess.Decision
	fields := map[string]any{
		"session_id":      sess.SessionID,
		"status":          sess.Status,
		"reported_status": sess.ReportedStatus,
		"reason":          sess.StatusReason,
		"vendor_data":     e.VendorData,
		"uuid":            e.ID,
		"session_kind":    sess.Kind,
		"workflow_id":     sess.WorkflowID,
		"decision":        decision,
		"metadata":        sess.Metadata,
		"timestamp":       a.eventAt.Unix(),
	}
	if err := w.event(EventStatusUpdated, fields); err != nil {
		return err
	}
	if e.Kind == KindBusiness {
		if err := w.event(EventBusinessSessionStatusUpdated, fields); err != nil {
			return err
		}
	}
	if a.in.Decision != nil || a.in.Metadata != nil {
		// The session's data (its decision or metadata) changed with its status.
		return w.event(EventDataUpdated, fields)
	}
	return nil
}

// scrubDecision returns a copy of decision without the face biometric id, which is kept
// in its own column so that deleting the entity can erase it, and that id.
func scrubDecision(decision map[string]any) (map[string]any, string) {
	out := make(map[string]any, len(decision))
	faceID := ""
	for k, v := range decision {
		out[k] = v
	}
	if liveness, ok := decision["liveness"].(map[string]any); ok {
		if id, ok := liveness["face_id"].(string); ok {
			faceID = strings.TrimSpace(id)
		}
		copied := make(map[string]any, len(liveness))
		for k, v := range liveness {
			if k != "face_id" {
				copied[k] = v
			}
		}
		out["liveness"] = copied
	}
	return out, faceID
}

// eraseFaceIDs erases the face biometric ids of the sessions of deleted entities.
func eraseFaceIDs(tx *txn, entities []Entity) error {
	ids := make([]string, len(entities))
	for i := range entities {
		ids[i] = entities[i].ID
	}
	return tx.Model(&Session{}).Where("entity_id IN ?", ids).Update("face_id", nil).Error
}

// NewSession is what CreateSession needs.
type NewSession struct {
	Kind, VendorData, WorkflowID string
}

// CreateSession starts a session (Not Started, with a URL from the session_url_template
// setting) for the live entity with vendorData, creating the entity when unknown. A
// BLOCKED entity is refused with a Forbidden error and nothing is stored.
func (s *Store) CreateSession(ctx context.Context, appID string, in NewSession) (*Session, *Entity, error) {
	var sess *Session
	var entity *Entity
	err := s.transaction(ctx, func(tx *txn) error {
		var app Application
		if err := tx.Where("id = ?", appID).Take(&app).Error; err != nil {
			return notFound(err, "application")
		}
		// Upstream event times are whole seconds: a session started in this second must
		// not look newer than its first event from upstream.
		started := s.Now().Truncate(time.Second)
		e, created, err := s.lockOrCreateEntity(tx, appID, in.Kind, in.VendorData, started)
		if err != nil {
			return err
		}
		if e.Status == StatusBlocked {
			return forbiddenf("the %s %q is BLOCKED: no new session can be created for it", in.Kind, in.VendorData)
		}
		now := s.Now()
		w := s.entityWriter(tx, e, now)
		if created {
			if err := w.created([]string{"vendor_data", "status"}, "", "system", "", "session"); err != nil {
				return err
			}
		}
		sessionID := newID()
		sess = &Session{
			ID: newID(), ApplicationID: appID, EntityID: e.ID, SessionID: sessionID, Kind: in.Kind,
			WorkflowID: in.WorkflowID, Status: rules.SessionNotStarted, ReportedStatus: rules.SessionNotStarted,
			StatusAt: started, Decision: map[string]any{}, Metadata: map[string]any{},
			URL:       strings.ReplaceAll(app.Settings.SessionURLTemplate, "{session_id}", sessionID),
			CreatedAt: now, UpdatedAt: now,
		}
		if err := tx.Create(sess).Error; err != nil {
			return err
		}
		ev := SessionEvent{ID: newID(), SessionPK: sess.ID, ReportedStatus: sess.Status, Status: sess.Status,
			EventAt: started, Current: true, ReceivedAt: now}
		if err := tx.Create(&ev).Error; err != nil {
			return err
		}
		if err := recountSessions(tx, e); err != nil {
			return err
		}
		if e.FirstSessionAt == nil || started.Before(*e.FirstSessionAt) {
			e.FirstSessionAt = &started
		}
		if e.LastSessionAt == nil || started.After(*e.LastSessionAt) {
			e.LastSessionAt = &started
		}
		e.LastActivityAt = &now
		a := sessionApply{s: s, tx: tx, app: &app, in: SessionEventInput{Kind: in.Kind}, eventAt: started, now: now}
		if err := a.sessionEvents(w, e, sess); err != nil {
			return err
		}
		details := map[string]any{"session_id": sessionID, "status": sess.Status, "workflow_id": in.WorkflowID}
		if err := w.activity(ActivitySessionLinked, details); err != nil {
			return err
		}
		entity = e
		return w.save()
	})
	if err != nil {
		return nil, nil, err
	}
	return sess, entity, nil
}

// SessionResource is the JSON shape of a session with its history.
type SessionResource struct {
	SessionID      string                 `json:"session_id"`
	Status         string                 `json:"status"`
	ReportedStatus string                 `json:"reported_status"`
	StatusReason   string                 `json:"status_reason"`
	VendorData     string                 `json:"vendor_data"`
	EntityUUID     string                 `json:"entity_uuid"`
	SessionKind    string                 `json:"session_kind"`
	WorkflowID     string                 `json:"workflow_id"`
	URL            string                 `json:"url"`
	Decision       map[string]any         `json:"decision"`
	Metadata       map[string]any         `json:"metadata"`
	StatusAt       string                 `json:"status_at"`
	CreatedAt      string                 `json:"created_at"`
	UpdatedAt      string                 `json:"updated_at"`
	History        []SessionEventResource `json:"history"`
}

// SessionEventResource is the JSON shape of one event of a session's history.
type SessionEventResource struct {
	Status         string `json:"status"`
	ReportedStatus string `json:"reported_status"`
	Reason         string `json:"reason"`
	Timestamp      int64  `json:"timestamp"`
	ReceivedAt     string `json:"received_at"`
	Current        bool   `json:"current"`
}

// GetSession returns the session with sessionID (the most recent one when several
// entities share the id) with its history in upstream time order.
func (s *Store) GetSession(ctx context.Context, appID, sessionID string) (SessionResource, error) {
	db := s.db.WithContext(ctx)
	var sess Session
	err := db.Where("application_id = ? AND session_id = ?", appID, sessionID).Order("created_at DESC").Take(&sess).Error
	if err != nil {
		return SessionResource{}, notFound(err, "session")
	}
	var e Entity
	if err := db.Select("id", "vendor_data").Where("id = ?", sess.EntityID).Take(&e).Error; err != nil {
		return SessionResource{}, err
	}
	var events []SessionEvent
	if err := db.Where("session_pk = ?", sess.ID).Order("event_at, received_at, id").Find(&events).Error; err != nil {
		return SessionResource{}, err
	}
	r := SessionResource{
		SessionID: sess.SessionID, Status: sess.Status, ReportedStatus: sess.ReportedStatus,
		StatusReason: sess.StatusReason, VendorData: e.VendorData, EntityUUID: e.ID, SessionKind: sess.Kind,
		WorkflowID: sess.WorkflowID, URL: sess.URL, Decision: sess.Decision, Metadata: sess.Metadata,
		StatusAt: FormatTime(sess.StatusAt), CreatedAt: FormatTime(sess.CreatedAt), UpdatedAt: FormatTime(sess.UpdatedAt),
		History: make([]SessionEventResource, len(events)),
	}
	for i, ev := range events {
		r.History[i] = SessionEventResource{Status: ev.Status, ReportedStatus: ev.ReportedStatus, Reason: ev.Reason,
			Timestamp: ev.EventAt.Unix(), ReceivedAt: FormatTime(ev.ReceivedAt), Current: ev.Current}
	}
	return r, nil
}

// FaceIDs returns the face biometric ids kept for an entity's sessions.
func (s *Store) FaceIDs(ctx context.Context, appID, entityID string) ([]string, error) {
	var ids []string
	err := s.db.WithContext(ctx).Model(&Session{}).
		Where("application_id = ? AND entity_id = ? AND face_id IS NOT NULL", appID, entityID).
		Pluck("face_id", &ids).Error
	return ids, err
}
