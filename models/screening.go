package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/standinghq/standing/rules"
	"github.com/standinghq/standing/tasks"
)

// ScreeningHit is one hit of a `name` list entry on an entity, recorded once per
// (entity, entry): the same pair never flags twice.
type ScreeningHit struct {
	ID            string    `gorm:"primaryKey"`
	ApplicationID string    `gorm:"not null"`
	EntityID      string    `gorm:"not null"`
	EntryID       string    `gorm:"not null"`
	ListID        string    `gorm:"not null"`
	ListType      string    `gorm:"not null"`
	Value         string    `gorm:"not null"`
	MatchedName   string    `gorm:"not null"`
	Score         float64   `gorm:"not null"`
	CreatedAt     time.Time `gorm:"not null"`
}

// screeningBatch is how many entities one step of a screening run reads.
const screeningBatch = 500

// screeningPayload is the inbox payload of a screening job (tasks.TypeAMLScreen).
type screeningPayload struct {
	EntryID string `json:"entry_id"`
}

// ScreeningRun counts what a screening run did.
type ScreeningRun struct {
	// Screened is how many entities were compared.
	Screened int
	// Hits is how many new hits were recorded.
	Hits int
	// Skipped says the run had nothing to do (monitoring off, no entries, job done).
	Skipped bool
}

// screeningName returns the name of an entity that is screened: full_name for users,
// legal_name for businesses.
func screeningName(e *Entity) string {
	p := e.FullName
	if e.Kind == KindBusiness {
		p = e.LegalName
	}
	if p == nil {
		return ""
	}
	return *p
}

func derefString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// nameEntries returns the application's `name` entries of blocklists and watchlists
// (only those of ids, when given).
func nameEntries(db *gorm.DB, appID string, ids ...string) ([]rules.ScreeningEntry, error) {
	q := db.Where("application_id = ? AND entry_type = ? AND list_type IN ?", appID, rules.EntryName,
		[]string{rules.ListBlocklist, rules.ListWatchlist})
	if len(ids) > 0 {
		q = q.Where("id IN ?", ids)
	}
	var rows []ListEntry
	if err := q.Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read name entries: %w", err)
	}
	out := make([]rules.ScreeningEntry, len(rows))
	for i, r := range rows {
		out[i] = rules.ScreeningEntry{ID: r.ID, ListID: r.ListID, ListType: r.ListType, Value: r.Value,
			DateOfBirth: derefString(r.DateOfBirth), Comment: r.Comment, Actor: r.Actor}
	}
	rules.PrepareEntries(out)
	return out, nil
}

// screeningFacts gathers what DecideScreening needs about e.
func screeningFacts(e *Entity, entries []rules.ScreeningEntry, already map[string]bool) rules.ScreeningFacts {
	return rules.ScreeningFacts{Status: e.Status, Name: screeningName(e), DateOfBirth: derefString(e.DateOfBirth),
		Entries: entries, AlreadyHit: already}
}

// screenLocked screens the locked entity e against entries and writes the decision
// through w: the new hits, features.aml = IN_REVIEW, an aml_hit risk signal per hit,
// kind.data.updated, and the transition with its audit record. It returns the number of
// new hits; the caller saves the entity.
func screenLocked(tx *txn, w *entityWriter, e *Entity, st Settings, entries []rules.ScreeningEntry) (int, error) {
	if len(entries) == 0 || screeningName(e) == "" {
		return 0, nil
	}
	var hitIDs []string
	if err := tx.Model(&ScreeningHit{}).Where("entity_id = ?", e.ID).Pluck("entry_id", &hitIDs).Error; err != nil {
		return 0, fmt.Errorf("read screening hits: %w", err)
	}
	already := make(map[string]bool, len(hitIDs))
	for _, id := range hitIDs {
		already[id] = true
	}
	d := rules.DecideScreening(screeningFacts(e, entries, already), rules.ScreeningSettings{Threshold: st.AMLMatchThreshold})
	if len(d.Hits) == 0 {
		return 0, nil
	}
	weights := st.Risk.Weights()
	for _, h := range d.Hits {
		row := ScreeningHit{ID: newID(), ApplicationID: e.ApplicationID, EntityID: e.ID, EntryID: h.EntryID,
			ListID: h.ListID, ListType: h.ListType, Value: h.Value, MatchedName: h.MatchedName, Score: h.Score, CreatedAt: w.now}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
			return 0, fmt.Errorf("record screening hit: %w", err)
		}
		w.setSignal(weights, rules.SignalAMLHit, h.EntryID, map[string]any{
			"list_id": h.ListID, "list_type": h.ListType, "matched_name": h.MatchedName, "score": h.Score, "value": h.Value,
		})
	}
	if e.Features == nil {
		e.Features = map[string]string{}
	}
	if e.FeaturesAt == nil {
		e.FeaturesAt = map[string]int64{}
	}
	e.Features[rules.FeatureAML] = rules.FeatureInReview
	e.FeaturesAt[rules.FeatureAML] = w.now.Unix()
	e.LastActivityAt = &w.now
	if err := w.dataUpdated([]string{"features", "risk_score", "risk_signals"}); err != nil {
		return 0, err
	}
	if t := d.Transition; t != nil {
		if err := w.transition(*t, "system"); err != nil {
			return 0, err
		}
	}
	return len(d.Hits), nil
}

// screenOnChange screens an entity whose screened name or date of birth changed
// (fields changed) in the transaction of that change, when it has an approved session.
func screenOnChange(tx *txn, w *entityWriter, e *Entity, st Settings, changed []string) error {
	if e.ApprovedCount == 0 || !screenedFieldChanged(e.Kind, changed) {
		return nil
	}
	entries, err := nameEntries(tx.DB, e.ApplicationID)
	if err != nil {
		return err
	}
	_, err = screenLocked(tx, w, e, st, entries)
	return err
}

func screenedFieldChanged(kind string, changed []string) bool {
	for _, f := range changed {
		if f == "date_of_birth" || (kind == KindBusiness && f == "legal_name") || (kind != KindBusiness && f == "full_name") {
			return true
		}
	}
	return false
}

// screenEntity screens one entity of appID against entries in its own transaction,
// under the entity's row lock, and returns the number of new hits.
func (s *Store) screenEntity(ctx context.Context, appID, entityID string, entries []rules.ScreeningEntry) (int, error) {
	n := 0
	err := s.transaction(ctx, func(tx *txn) error {
		var app Application
		if err := tx.Where("id = ?", appID).Take(&app).Error; err != nil {
			return notFound(err, "application")
		}
		var e Entity
		err := forUpdate(tx).Where("id = ? AND application_id = ? AND deleted_at IS NULL AND approved_count > 0", entityID, appID).Take(&e).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		w := newEntityWriter(tx, &e)
		n, err = screenLocked(tx, w, &e, app.Settings, entries)
		if err != nil || n == 0 {
			return err
		}
		return w.save()
	})
	return n, err
}

// screenEntities walks the live entities of appID that have an approved session in id
// order, screenBatch at a time, compares each with entries without locks, and applies
// the hits each in its own short transaction (which decides again under the lock).
func (s *Store) screenEntities(ctx context.Context, appID string, st Settings, entries []rules.ScreeningEntry) (ScreeningRun, error) {
	var run ScreeningRun
	settings := rules.ScreeningSettings{Threshold: st.AMLMatchThreshold}
	after := ""
	for {
		var batch []Entity
		q := s.db.WithContext(ctx).
			Select("id", "kind", "status", "full_name", "legal_name", "date_of_birth").
			Where("application_id = ? AND deleted_at IS NULL AND approved_count > 0", appID)
		if after != "" {
			q = q.Where("id > ?", after)
		}
		if err := q.Order("id").Limit(screeningBatch).Find(&batch).Error; err != nil {
			return run, fmt.Errorf("read entities to screen: %w", err)
		}
		if len(batch) == 0 {
			return run, nil
		}
		already, err := s.hitsOf(ctx, batch)
		if err != nil {
			return run, err
		}
		for i := range batch {
			e := &batch[i]
			if d := rules.DecideScreening(screeningFacts(e, entries, already[e.ID]), settings); len(d.Hits) == 0 {
				continue
			}
			n, err := s.screenEntity(ctx, appID, e.ID, entries)
			if err != nil {
				return run, fmt.Errorf("screen entity %s: %w", e.ID, err)
			}
			run.Hits += n
		}
		run.Screened += len(batch)
		after = batch[len(batch)-1].ID
		if len(batch) < screeningBatch {
			return run, nil
		}
	}
}

// hitsOf returns, per entity of batch, the entries that hit it before.
func (s *Store) hitsOf(ctx context.Context, batch []Entity) (map[string]map[string]bool, error) {
	ids := make([]string, len(batch))
	for i := range batch {
		ids[i] = batch[i].ID
	}
	var rows []ScreeningHit
	if err := s.db.WithContext(ctx).Select("entity_id", "entry_id").Where("entity_id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read screening hits: %w", err)
	}
	out := map[string]map[string]bool{}
	for _, r := range rows {
		if out[r.EntityID] == nil {
			out[r.EntityID] = map[string]bool{}
		}
		out[r.EntityID][r.EntryID] = true
	}
	return out, nil
}

// newScreeningItem returns the inbox item of the screening job of a new `name` entry.
func newScreeningItem(appID, entryID string, now time.Time) (*InboxItem, error) {
	return newInboxItem(appID, tasks.TypeAMLScreen, screeningPayload{EntryID: entryID}, now)
}

// ScreenNewEntry runs the screening job stored in inbox item id: every entity of the
// application with an approved session is screened against the `name` entry the job
// names, hits applied each in its own transaction, then the item is marked applied. A
// job run again (or twice at once) records nothing new: a hit is recorded once per
// (entity, entry).
func (s *Store) ScreenNewEntry(ctx context.Context, id string) (ScreeningRun, error) {
	if !validUUID(id) {
		return ScreeningRun{}, fmt.Errorf("%q: %w", id, ErrUnknownJob)
	}
	var item InboxItem
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&item).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ScreeningRun{}, fmt.Errorf("%s: %w", id, ErrUnknownJob)
	}
	if err != nil {
		return ScreeningRun{}, err
	}
	if item.State != InboxPending {
		return ScreeningRun{Skipped: true}, nil
	}
	var p screeningPayload
	var run ScreeningRun
	failure := ""
	if json.Unmarshal([]byte(item.Payload), &p) != nil || !validUUID(p.EntryID) {
		failure = "the stored job names no list entry"
	} else {
		var app Application
		if err := s.db.WithContext(ctx).Where("id = ?", item.ApplicationID).Take(&app).Error; err != nil {
			return run, notFound(err, "application")
		}
		entries, err := nameEntries(s.db.WithContext(ctx), item.ApplicationID, p.EntryID)
		if err != nil {
			return run, err
		}
		run.Skipped = len(entries) == 0 // the entry was deleted before the job ran
		if len(entries) > 0 {
			if run, err = s.screenEntities(ctx, item.ApplicationID, app.Settings, entries); err != nil {
				return run, err
			}
		}
	}
	err = s.transaction(ctx, func(tx *txn) error {
		locked, err := lockInboxItem(tx, id)
		if err != nil || locked.State != InboxPending {
			return err
		}
		return finishInboxItem(tx, locked, failure)
	})
	return run, err
}

// RescanAML screens every live entity of appID that has an approved session against
// all the application's `name` watchlist and blocklist entries (ongoing AML monitoring,
// run every aml_rescan_interval_hours; nothing when that is 0). It works in bounded
// batches and records each new hit once; running it again records nothing new.
func (s *Store) RescanAML(ctx context.Context, appID string) (ScreeningRun, error) {
	if !validUUID(appID) {
		return ScreeningRun{}, fmt.Errorf("application: %w", ErrNotFound)
	}
	var app Application
	if err := s.db.WithContext(ctx).Where("id = ?", appID).Take(&app).Error; err != nil {
		return ScreeningRun{}, notFound(err, "application")
	}
	if app.Settings.AMLRescanIntervalHours == 0 {
		return ScreeningRun{Skipped: true}, nil
	}
	entries, err := nameEntries(s.db.WithContext(ctx), appID)
	if err != nil {
		return ScreeningRun{}, err
	}
	if len(entries) == 0 {
		return ScreeningRun{Skipped: true}, nil
	}
	return s.screenEntities(ctx, appID, app.Settings, entries)
}

// ScreeningHits returns an entity's screening hits, oldest first.
func (s *Store) ScreeningHits(ctx context.Context, appID, entityID string) ([]ScreeningHit, error) {
	if !validUUID(entityID) {
		return nil, nil
	}
	var out []ScreeningHit
	err := s.db.WithContext(ctx).Where("application_id = ? AND entity_id = ?", appID, entityID).
		Order("created_at, id").Find(&out).Error
	return out, err
}
