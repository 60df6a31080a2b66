package models

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/standinghq/standing/rules"
)

// Reverification records a re-verification session Standing started for an entity.
type Reverification struct {
	ID            string    `gorm:"primaryKey"`
	ApplicationID string    `gorm:"not null"`
	EntityID      string    `gorm:"not null"`
	SessionPK     string    `gorm:"column:session_pk;not null"`
	StartedAt     time.Time `gorm:"not null"`
}

// Reverify starts, in every application whose reverification_interval_days is set, a
// re-verification session for each entity that rules.DecideReverification says is due:
// a session Not Started, with reason "reverification" and a URL from the
// session_url_template setting, announced with status.updated (and
// business_session.status.updated for businesses) and on the entity's timeline. It
// works in transactions of at most batch entities (100 when 0), calling progress after
// each, and returns its counts.
func (s *Store) Reverify(ctx context.Context, batch int, progress func()) (map[string]int64, error) {
	if batch <= 0 {
		batch = 100
	}
	counts := map[string]int64{"entities_checked": 0, "sessions_started": 0}
	apps, err := s.ListApplications(ctx)
	if err != nil {
		return counts, fmt.Errorf("list applications: %w", err)
	}
	for i := range apps {
		app := &apps[i]
		if app.Settings.ReverificationIntervalDays <= 0 {
			continue
		}
		for after := ""; ; {
			last, n, err := s.reverifyBatch(ctx, app, after, batch, counts)
			if err != nil {
				return counts, fmt.Errorf("re-verify application %s: %w", app.ID, err)
			}
			if progress != nil {
				progress()
			}
			if n < batch {
				break
			}
			after = last
		}
	}
	return counts, nil
}

// reverifyBatch looks at up to batch candidate entities of app after the entity id after
// (in id order) and starts the sessions that are due; it returns the last id it looked
// at and how many it looked at.
func (s *Store) reverifyBatch(ctx context.Context, app *Application, after string, batch int, counts map[string]int64) (string, int, error) {
	var ids []string
	err := s.transaction(ctx, func(tx *txn) error {
		interval := time.Duration(app.Settings.ReverificationIntervalDays) * 24 * time.Hour
		cutoff := tx.Now().Add(-interval)
		// Candidates, narrowed in SQL; each is decided again under its lock.
		q := tx.Model(&Entity{}).
			Where("application_id = ? AND deleted_at IS NULL AND status = ?", app.ID, rules.EntityActive).
			Where("EXISTS (SELECT 1 FROM sessions s WHERE s.entity_id = entities.id AND s.status = ?)", rules.SessionApproved).
			Where("NOT EXISTS (SELECT 1 FROM sessions s WHERE s.entity_id = entities.id AND s.status = ? AND s.status_at > ?)", rules.SessionApproved, cutoff).
			Where("NOT EXISTS (SELECT 1 FROM reverifications r WHERE r.entity_id = entities.id AND r.started_at > ?)", cutoff)
		if after != "" {
			q = q.Where("id > ?", after)
		}
		if err := q.Order("id").Limit(batch).Pluck("id", &ids).Error; err != nil {
			return err
		}
		for _, id := range ids {
			counts["entities_checked"]++
			started, err := s.reverifyEntity(tx, app, id, interval)
			if err != nil {
				return fmt.Errorf("entity %s: %w", id, err)
			}
			if started {
				counts["sessions_started"]++
			}
		}
		return nil
	})
	if err != nil || len(ids) == 0 {
		return after, 0, err
	}
	return ids[len(ids)-1], len(ids), nil
}

// reverifyEntity locks the entity, gathers the facts, and starts a re-verification
// session when the rule says it is due.
func (s *Store) reverifyEntity(tx *txn, app *Application, id string, interval time.Duration) (bool, error) {
	var e Entity
	if err := forUpdate(tx).Where("id = ? AND deleted_at IS NULL", id).Take(&e).Error; err != nil {
		return false, notFound(err, "entity")
	}
	now := tx.Now()
	var latest Session
	err := tx.Where("entity_id = ? AND status = ?", e.ID, rules.SessionApproved).Order("status_at DESC").Limit(1).Find(&latest).Error
	if err != nil {
		return false, err
	}
	facts := rules.ReverificationFacts{Status: e.Status, Interval: interval, Now: now}
	if latest.ID != "" {
		facts.LatestApprovedAt = &latest.StatusAt
	}
	var last Reverification
	if err := tx.Where("entity_id = ?", e.ID).Order("started_at DESC").Limit(1).Find(&last).Error; err != nil {
		return false, err
	}
	if last.ID != "" {
		facts.LastReverificationAt = &last.StartedAt
	}
	if !rules.DecideReverification(facts).Start {
		return false, nil
	}
	return true, s.startReverification(tx, app, &e, latest.WorkflowID, now)
}

// startReverification creates the re-verification session of a locked entity, in the
// workflow of its latest approved session, and records and announces it.
func (s *Store) startReverification(tx *txn, app *Application, e *Entity, workflowID string, now time.Time) error {
	// Upstream event times are whole seconds (see CreateSession).
	started := now.Truncate(time.Second)
	sessionID := newID()
	sess := &Session{
		ID: newID(), ApplicationID: app.ID, EntityID: e.ID, SessionID: sessionID, Kind: e.Kind,
		WorkflowID: workflowID, Status: rules.SessionNotStarted, ReportedStatus: rules.SessionNotStarted,
		StatusReason: rules.ReasonReverification, StatusAt: started,
		Decision: map[string]any{}, Metadata: map[string]any{}, Options: map[string]any{}, Upstream: map[string]any{},
		URL:       strings.ReplaceAll(app.Settings.SessionURLTemplate, "{session_id}", sessionID),
		CreatedAt: now, UpdatedAt: now,
	}
	if err := tx.Create(sess).Error; err != nil {
		return err
	}
	ev := SessionEvent{ID: newID(), SessionPK: sess.ID, ReportedStatus: sess.Status, Status: sess.Status,
		Reason: rules.ReasonReverification, EventAt: started, Current: true, ReceivedAt: now}
	if err := tx.Create(&ev).Error; err != nil {
		return err
	}
	mark := Reverification{ID: newID(), ApplicationID: app.ID, EntityID: e.ID, SessionPK: sess.ID, StartedAt: now}
	if err := tx.Create(&mark).Error; err != nil {
		return err
	}
	if err := recountSessions(tx, e); err != nil {
		return err
	}
	if e.LastSessionAt == nil || started.After(*e.LastSessionAt) {
		e.LastSessionAt = &started
	}
	e.LastActivityAt = &now
	w := newEntityWriter(tx, e)
	if err := sessionEvents(w, e, sess, started, false); err != nil {
		return err
	}
	details := map[string]any{"session_id": sessionID, "status": sess.Status, "workflow_id": workflowID,
		"reason": rules.ReasonReverification}
	if err := w.activity(ActivitySessionLinked, details); err != nil {
		return err
	}
	return w.save()
}
