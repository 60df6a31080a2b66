package models

import (
	"context"
	"fmt"
	"strings"
	"time"

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
	StatusAt time.Time      `gorm:"not null"`
	Decision map[string]any `gorm:"serializer:json;not null"`
	Metadata map[string]any `gorm:"serializer:json;not null"`
	// Options holds the vendor's optional members given when the session was created
	// (callback, callback_method, language, contact_details, expected_details).
	Options map[string]any `gorm:"serializer:json;not null"`
	// Upstream holds the members of the latest upstream event Standing does not read.
	Upstream  map[string]any `gorm:"serializer:json;not null"`
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
	// Upstream holds the event's members that Standing does not read, kept as sent.
	Upstream map[string]any `json:"upstream,omitempty"`
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
	if s.dialect == Postgres {
		return s.ingestRow(ctx, appID, tasks.TypeSessionApply, key, in)
	}
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

// NewSession is what CreateSession needs.
type NewSession struct {
	Kind, VendorData, WorkflowID string
	// Metadata is the customer's own data for the session (may be nil).
	Metadata map[string]any
	// Options are the vendor's optional members (callback, language, …), stored and
	// returned as given (may be nil).
	Options map[string]any
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
		e, _, err := s.lockOrCreateEntity(tx, appID, "session", started, entityKey{in.Kind, in.VendorData}, true)
		if err != nil {
			return err
		}
		if e.Status == rules.EntityBlocked {
			return forbiddenf("the %s %q is BLOCKED: no new session can be created for it", in.Kind, in.VendorData)
		}
		w := newEntityWriter(tx, e)
		now := w.now
		sessionID := newID()
		sess = &Session{
			ID: newID(), ApplicationID: appID, EntityID: e.ID, SessionID: sessionID, Kind: in.Kind,
			WorkflowID: in.WorkflowID, Status: rules.SessionNotStarted, ReportedStatus: rules.SessionNotStarted,
			StatusAt: started, Decision: map[string]any{}, Metadata: orEmpty(in.Metadata),
			Options: orEmpty(in.Options), Upstream: map[string]any{},
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
		if err := sessionEvents(w, e, sess, started, false); err != nil {
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
	Options        map[string]any         `json:"options"`
	Upstream       map[string]any         `json:"upstream"`
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
		Options: orEmpty(sess.Options), Upstream: orEmpty(sess.Upstream),
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
