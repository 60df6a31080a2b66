package models

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/standinghq/standing/rules"
)

// NewEntity is what CreateEntity needs: the entity's identity, its initial status and
// profile. The caller has validated the values.
type NewEntity struct {
	Kind       string
	VendorData string
	// Status is the initial status; empty means ACTIVE, or what the lists say.
	Status string
	// Reason and Actor are recorded in the audit trail.
	Reason string
	Actor  string
	// Profile holds the profile fields to set, by name.
	Profile  map[string]*string
	Metadata map[string]any
}

// CreateEntity creates a live entity. A live entity with the same vendor_data is a
// conflict. Without an explicit status, an entity named on a blocklist starts BLOCKED and
// one named on a watchlist FLAGGED (rules.DecideCreation). The creation is audited and
// announced (kind.data.updated, activity.created) in the same transaction.
func (s *Store) CreateEntity(ctx context.Context, appID string, in NewEntity) (*Entity, error) {
	var e *Entity
	err := s.transaction(ctx, func(tx *txn) error {
		if err := s.lockVendorData(tx, appID, in.Kind, in.VendorData); err != nil {
			return err
		}
		now := tx.Now()
		e = newEntity(appID, in.Kind, in.VendorData, now)
		if in.Metadata != nil {
			e.Metadata = in.Metadata
		}
		changed := []string{"vendor_data", "status"}
		for _, name := range ProfileFields(in.Kind) {
			if v, ok := in.Profile[name]; ok && v != nil {
				*e.profileField(name) = v
				changed = append(changed, name)
			}
		}
		if len(e.Metadata) > 0 {
			changed = append(changed, "metadata")
		}
		c, inserted, err := insertEntity(tx, e, rules.CreationFacts{Requested: in.Status, Actor: in.Actor}, in.Reason)
		if err != nil {
			return err
		}
		if !inserted {
			return conflictf("a live %s with vendor_data %q already exists", in.Kind, in.VendorData)
		}
		return newEntityWriter(tx, e).created(changed, c, "api")
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// entityKey names an entity of an application: its kind and vendor_data.
type entityKey struct {
	Kind, VendorData string
}

// lockOrCreateEntity is lockOrCreateEntities for one entity. Unless save, an entity it
// creates is not saved after its creation is recorded: the caller saves it before the
// transaction ends (one UPDATE instead of two).
func (s *Store) lockOrCreateEntity(tx *txn, appID, source string, since time.Time, key entityKey, save bool) (*Entity, bool, error) {
	entities, created, err := s.lockOrCreateEntities(tx, appID, source, since, save, key)
	if err != nil {
		return nil, false, err
	}
	return entities[0], created[0], nil
}

// lockOrCreateEntities locks the live entities named by keys until the transaction ends,
// in (kind, vendor_data) byte order so that two transactions locking the same entities
// cannot deadlock, creating those that do not exist (in the status rules.DecideCreation
// gives them from the lists; since is when that status takes effect for their sessions).
// Once every entity is locked it records each creation (audit record with the list's
// reason, rule and inputs; data event; timeline entry naming source). Concurrent creators
// of one vendor_data agree on one row. It returns the entities in keys' order, and which
// of them it created.
func (s *Store) lockOrCreateEntities(tx *txn, appID, source string, since time.Time, save bool, keys ...entityKey) ([]*Entity, []bool, error) {
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(i, j int) bool {
		a, b := keys[order[i]], keys[order[j]]
		return a.Kind < b.Kind || (a.Kind == b.Kind && a.VendorData < b.VendorData)
	})
	entities := make([]*Entity, len(keys))
	created := make([]bool, len(keys))
	creations := make([]rules.Creation, len(keys))
	for _, i := range order {
		e, c, isNew, err := s.lockOrInsertEntity(tx, appID, keys[i], since)
		if err != nil {
			return nil, nil, err
		}
		entities[i], creations[i], created[i] = e, c, isNew
	}
	for i, e := range entities {
		if !created[i] {
			continue
		}
		record := newEntityWriter(tx, e).created
		if !save {
			record = newEntityWriter(tx, e).recordCreation
		}
		if err := record([]string{"vendor_data", "status"}, creations[i], source); err != nil {
			return nil, nil, fmt.Errorf("record the creation of %s %q: %w", e.Kind, e.VendorData, err)
		}
	}
	return entities, created, nil
}

// lockOrInsertEntity locks the live entity of key, inserting it when there is none; it
// does not record the creation.
func (s *Store) lockOrInsertEntity(tx *txn, appID string, key entityKey, since time.Time) (*Entity, rules.Creation, bool, error) {
	// A session batch that found no live entity and holds the vendor_data lock inserts
	// at once (one created since is caught by the insert's conflict, below).
	if !tx.batch.holdsVendorData(appID, key.Kind, key.VendorData) {
		existing, err := liveEntityForUpdate(tx, appID, key.Kind, key.VendorData)
		if !errors.Is(err, ErrNotFound) {
			return existing, rules.Creation{}, false, err
		}
		if err := s.lockVendorData(tx, appID, key.Kind, key.VendorData); err != nil {
			return nil, rules.Creation{}, false, fmt.Errorf("lock vendor_data %q: %w", key.VendorData, err)
		}
	}
	// The creation time is read now, before the other entities of the transaction are
	// locked; what the transaction records uses its own time, read after every lock.
	e := newEntity(appID, key.Kind, key.VendorData, s.Now())
	since = since.UTC()
	e.StatusEffectiveAt = &since
	c, inserted, err := insertEntity(tx, e, rules.CreationFacts{}, "")
	if err != nil || inserted {
		return e, c, inserted, err
	}
	existing, err := liveEntityForUpdate(tx, appID, key.Kind, key.VendorData)
	return existing, rules.Creation{}, false, err
}

// insertEntity decides e's initial status (rules.DecideCreation, from the lists that name
// it and f) and inserts it, unless another live entity has its vendor_data: then it
// reports false and inserts nothing.
func insertEntity(tx *txn, e *Entity, f rules.CreationFacts, reason string) (rules.Creation, bool, error) {
	hits, err := entityHits(tx, e.ApplicationID, e.Kind, e.VendorData)
	if err != nil {
		return rules.Creation{}, false, err
	}
	byCountry, err := countryHits(tx, e.ApplicationID, *e.profileField(rules.CountryField(e.Kind)))
	if err != nil {
		return rules.Creation{}, false, err
	}
	f.Hits = append(hits, byCountry...)
	if f.Allowlisted, err = isAllowlisted(tx, e.ApplicationID, e.Kind, e.VendorData); err != nil {
		return rules.Creation{}, false, err
	}
	c := rules.DecideCreation(f, reason)
	e.Status = c.Status
	if c.Reason != "" {
		e.StatusReason = &c.Reason
	}
	res := tx.Clauses(clause.OnConflict{
		Columns:     []clause.Column{{Name: "application_id"}, {Name: "kind"}, {Name: "vendor_data"}},
		TargetWhere: clause.Where{Exprs: []clause.Expression{clause.Expr{SQL: "deleted_at IS NULL"}}},
		DoNothing:   true,
	}).Create(e)
	if res.Error != nil {
		return c, false, fmt.Errorf("insert %s %q: %w", e.Kind, e.VendorData, res.Error)
	}
	return c, res.RowsAffected == 1, nil
}

// newEntity returns a live ACTIVE entity that is not stored yet.
func newEntity(appID, kind, vendorData string, now time.Time) *Entity {
	return &Entity{
		ID:                newID(),
		ApplicationID:     appID,
		Kind:              kind,
		VendorData:        vendorData,
		Status:            rules.EntityActive,
		Features:          map[string]string{},
		FeaturesAt:        map[string]int64{},
		Metadata:          map[string]any{},
		RiskSignals:       []rules.RiskSignal{},
		LastActivityAt:    &now,
		StatusChangedAt:   &now,
		StatusEffectiveAt: &now,
		CreatedAt:         now,
		UpdatedAt:         now,
	}
}

// liveEntityForUpdate locks the live entity with vendorData.
func liveEntityForUpdate(tx *txn, appID, kind, vendorData string) (*Entity, error) {
	var e Entity
	err := forUpdate(tx).
		Where("application_id = ? AND kind = ? AND vendor_data = ? AND deleted_at IS NULL", appID, kind, vendorData).
		Take(&e).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, errNotFound(kind)
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s %q: %w", kind, vendorData, err)
	}
	return &e, nil
}
