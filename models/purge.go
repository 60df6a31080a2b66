package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// PurgeLeftover is an entity purged while some of its webhook events still had pending
// deliveries; a later pass removes those events once no delivery of them is pending.
type PurgeLeftover struct {
	EntityID      string    `gorm:"primaryKey"`
	ApplicationID string    `gorm:"not null"`
	PurgedAt      time.Time `gorm:"not null"`
}

// PurgeCounts are the rows one purge pass removed, by kind; the keys are those of the
// job run's counts.
type PurgeCounts map[string]int64

// DefaultPurgeBatch is the number of entities purged per transaction.
const DefaultPurgeBatch = 200

// Purge hard-deletes, in every application, the deleted entities whose retention window
// (the retention_days setting, counted from deleted_at) has passed, with all their
// history: sessions and their events (and the inbox rows that carried them),
// transactions they are the subject of, activities, audit records (see
// purgeAuditRecords), and their webhook events and deliveries that are no longer
// pending; events still pending are removed by a later pass. It works in transactions of
// at most batch entities (DefaultPurgeBatch when 0), calling progress after each, and
// returns what it removed.
func (s *Store) Purge(ctx context.Context, batch int, progress func()) (PurgeCounts, error) {
	if batch <= 0 {
		batch = DefaultPurgeBatch
	}
	counts := PurgeCounts{}
	for _, k := range []string{"entities", "sessions", "session_events", "inbox_items", "transactions",
		"activities", "screening_hits", "audit_records", "events", "deliveries"} {
		counts[k] = 0
	}
	apps, err := s.ListApplications(ctx)
	if err != nil {
		return counts, fmt.Errorf("list applications: %w", err)
	}
	for _, app := range apps {
		for {
			n, err := s.purgeBatch(ctx, &app, batch, counts)
			if err != nil {
				return counts, fmt.Errorf("purge application %s: %w", app.ID, err)
			}
			if progress != nil {
				progress()
			}
			if n < batch {
				break
			}
		}
	}
	for after := ""; ; {
		last, n, err := s.purgeLeftovers(ctx, after, batch, counts)
		if err != nil {
			return counts, fmt.Errorf("purge leftover events: %w", err)
		}
		if n < batch {
			break
		}
		after = last
	}
	return counts, nil
}

// purgeBatch purges up to batch of an application's entities that are due, in one
// transaction, and returns how many it purged.
func (s *Store) purgeBatch(ctx context.Context, app *Application, batch int, counts PurgeCounts) (int, error) {
	n := 0
	err := s.transaction(ctx, func(tx *txn) error {
		now := tx.Now()
		cutoff := now.Add(-time.Duration(app.Settings.RetentionDays) * 24 * time.Hour)
		var ids []string
		// SKIP LOCKED: an entity another purge (the scheduled one, `standing purge`) is
		// removing is left to it.
		err := tx.Model(&Entity{}).Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"}).
			Where("application_id = ? AND deleted_at IS NOT NULL AND deleted_at <= ?", app.ID, cutoff).
			Order("deleted_at, id").Limit(batch).Pluck("id", &ids).Error
		if err != nil || len(ids) == 0 {
			return err
		}
		n = len(ids)
		return s.purgeEntities(tx, app.ID, ids, now, counts)
	})
	return n, err
}

// purgeEntities removes the entities ids and their history with set-based statements.
func (s *Store) purgeEntities(tx *txn, appID string, ids []string, now time.Time, counts PurgeCounts) error {
	sessions := tx.Model(&Session{}).Select("id").Where("entity_id IN ?", ids)
	steps := []struct {
		name string
		run  func() *gorm.DB
	}{
		{"inbox_items", func() *gorm.DB {
			return tx.Where("state <> ? AND id IN (?)", InboxPending,
				tx.Model(&SessionEvent{}).Select("inbox_id").Where("inbox_id IS NOT NULL AND session_pk IN (?)", sessions),
			).Delete(&InboxItem{})
		}},
		{"session_events", func() *gorm.DB { return tx.Where("session_pk IN (?)", sessions).Delete(&SessionEvent{}) }},
		{"sessions", func() *gorm.DB { return tx.Where("entity_id IN ?", ids).Delete(&Session{}) }},
		{"transactions", func() *gorm.DB { return tx.Where("subject_id IN ?", ids).Delete(&Transaction{}) }},
		{"activities", func() *gorm.DB { return tx.Where("entity_id IN ?", ids).Delete(&Activity{}) }},
		{"screening_hits", func() *gorm.DB { return tx.Where("entity_id IN ?", ids).Delete(&ScreeningHit{}) }},
	}
	for _, step := range steps {
		res := step.run()
		if res.Error != nil {
			return fmt.Errorf("purge %s: %w", step.name, res.Error)
		}
		counts[step.name] += res.RowsAffected
	}
	audited, err := purgeAuditRecords(tx, ids)
	if err != nil {
		return fmt.Errorf("purge audit records: %w", err)
	}
	counts["audit_records"] += audited
	if err := purgeEvents(tx, ids, counts); err != nil {
		return err
	}
	// What is left of the entities' events still has deliveries pending.
	var pending []string
	if err := tx.Model(&OutboxEvent{}).Distinct("entity_id").Where("entity_id IN ?", ids).Pluck("entity_id", &pending).Error; err != nil {
		return err
	}
	if len(pending) > 0 {
		rows := make([]PurgeLeftover, len(pending))
		for i, id := range pending {
			rows[i] = PurgeLeftover{EntityID: id, ApplicationID: appID, PurgedAt: now}
		}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows).Error; err != nil {
			return err
		}
	}
	res := tx.Where("id IN ?", ids).Delete(&Entity{})
	if res.Error != nil {
		return fmt.Errorf("purge entities: %w", res.Error)
	}
	counts["entities"] += res.RowsAffected
	return nil
}

// purgeAuditRecords turns the audit records of the entities ids into content-free
// tombstones (they keep their id, time, prev_hash and hash), so that `standing audit
// verify` still passes after the purge, and returns how many it turned.
func purgeAuditRecords(tx *txn, ids []string) (int64, error) {
	return tombstoneStatusChanges(tx, ids)
}

// purgeEvents removes the webhook events of the entities ids that have no pending
// delivery, with their deliveries and delivery attempts (through the foreign keys).
func purgeEvents(tx *txn, ids []string, counts PurgeCounts) error {
	done := tx.Model(&OutboxEvent{}).Select("id").
		Where("entity_id IN ? AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = outbox_events.id AND d.state = ?)",
			ids, DeliveryPending)
	var deliveries int64
	if err := tx.Model(&Delivery{}).Where("event_id IN (?)", done).Count(&deliveries).Error; err != nil {
		return err
	}
	res := tx.Where("id IN (?)", done).Delete(&OutboxEvent{})
	if res.Error != nil {
		return fmt.Errorf("purge events: %w", res.Error)
	}
	counts["events"] += res.RowsAffected
	counts["deliveries"] += deliveries
	return nil
}

// purgeLeftovers removes the events of purged entities whose deliveries are no longer
// pending, and forgets the entities none of whose events are left. It looks at up to
// batch leftover entities after the entity id after (in id order), and returns the last
// one it looked at and how many.
func (s *Store) purgeLeftovers(ctx context.Context, after string, batch int, counts PurgeCounts) (string, int, error) {
	var ids []string
	err := s.transaction(ctx, func(tx *txn) error {
		q := tx.Model(&PurgeLeftover{}).Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"})
		if after != "" {
			q = q.Where("entity_id > ?", after)
		}
		err := q.Order("entity_id").Limit(batch).Pluck("entity_id", &ids).Error
		if err != nil || len(ids) == 0 {
			return err
		}
		if err := purgeEvents(tx, ids, counts); err != nil {
			return err
		}
		return tx.Where("entity_id IN ? AND NOT EXISTS (SELECT 1 FROM outbox_events o WHERE o.entity_id = purge_leftovers.entity_id)", ids).
			Delete(&PurgeLeftover{}).Error
	})
	if err != nil || len(ids) == 0 {
		return after, 0, err
	}
	return ids[len(ids)-1], len(ids), nil
}
