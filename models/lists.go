package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/standinghq/standing/rules"
	"github.com/standinghq/standing/tasks"
)

// List is a blocklist, watchlist or allowlist of entries of one type. Each application
// has a system blocklist per entry type, kept by Standing (blocked entities are on it).
type List struct {
	ID            string    `gorm:"primaryKey"`
	ApplicationID string    `gorm:"not null"`
	Name          string    `gorm:"not null"`
	ListType      string    `gorm:"not null"`
	EntryType     string    `gorm:"not null"`
	System        bool      `gorm:"not null"`
	CreatedAt     time.Time `gorm:"not null"`
	UpdatedAt     time.Time `gorm:"not null"`
}

// ListEntry is one value on a list, stored normalised.
type ListEntry struct {
	ID            string `gorm:"primaryKey"`
	ApplicationID string `gorm:"not null"`
	ListID        string `gorm:"not null"`
	ListType      string `gorm:"not null"`
	EntryType     string `gorm:"not null"`
	Value         string `gorm:"not null"`
	OriginalValue string `gorm:"not null"`
	// Comment says why the entry was added, Actor who added it; both go into the audit
	// record of any status change the entry causes.
	Comment string `gorm:"not null"`
	Actor   string `gorm:"not null"`
	// DateOfBirth (YYYY-MM-DD), on name entries only: a screening hit must match it.
	DateOfBirth *string
	CreatedAt   time.Time `gorm:"not null"`
}

// ListResource is the JSON shape of a list.
type ListResource struct {
	UUID       string `json:"uuid"`
	Name       string `json:"name"`
	ListType   string `json:"list_type"`
	EntryType  string `json:"entry_type"`
	System     bool   `json:"system"`
	EntryCount int64  `json:"entry_count"`
	CreatedAt  string `json:"created_at"`
	UpdatedAt  string `json:"updated_at"`
}

// EntryResource is the JSON shape of a list entry.
type EntryResource struct {
	UUID          string  `json:"uuid"`
	ListUUID      string  `json:"list_uuid"`
	Value         string  `json:"value"`
	OriginalValue string  `json:"original_value"`
	Comment       string  `json:"comment"`
	Actor         string  `json:"actor"`
	DateOfBirth   *string `json:"date_of_birth,omitempty"`
	CreatedAt     string  `json:"created_at"`
}

// Resource returns the entry's JSON shape.
func (e *ListEntry) Resource() EntryResource {
	return EntryResource{UUID: e.ID, ListUUID: e.ListID, Value: e.Value, OriginalValue: e.OriginalValue,
		Comment: e.Comment, Actor: e.Actor, DateOfBirth: e.DateOfBirth, CreatedAt: FormatTime(e.CreatedAt)}
}

func systemListName(listType, entryType string) string {
	return "system:" + listType + ":" + entryType
}

// ensureSystemLists creates the application's system blocklists that do not exist yet.
func ensureSystemLists(tx *txn, appID string, now time.Time) error {
	var have []string
	if err := tx.Model(&List{}).Where("application_id = ? AND system", appID).Pluck("entry_type", &have).Error; err != nil {
		return err
	}
	exists := map[string]bool{}
	for _, t := range have {
		exists[t] = true
	}
	for _, entryType := range rules.EntryTypes() {
		if exists[entryType] {
			continue
		}
		l := List{ID: newID(), ApplicationID: appID, Name: systemListName(rules.ListBlocklist, entryType),
			ListType: rules.ListBlocklist, EntryType: entryType, System: true, CreatedAt: now, UpdatedAt: now}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&l).Error; err != nil {
			return err
		}
	}
	return nil
}

// systemBlocklist returns the application's system blocklist of entryType, creating the
// system lists when they are missing.
func systemBlocklist(tx *txn, appID, entryType string, now time.Time) (*List, error) {
	var l List
	err := tx.Where("application_id = ? AND system AND entry_type = ?", appID, entryType).Take(&l).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		if err := ensureSystemLists(tx, appID, now); err != nil {
			return nil, err
		}
		err = tx.Where("application_id = ? AND system AND entry_type = ?", appID, entryType).Take(&l).Error
	}
	return &l, err
}

// addToSystemBlocklist puts a blocked entity's vendor_data on its kind's system blocklist.
func addToSystemBlocklist(tx *txn, e *Entity, now time.Time) error {
	l, err := systemBlocklist(tx, e.ApplicationID, e.Kind, now)
	if err != nil {
		return err
	}
	entry := ListEntry{ID: newID(), ApplicationID: e.ApplicationID, ListID: l.ID, ListType: l.ListType,
		EntryType: l.EntryType, Value: e.VendorData, OriginalValue: e.VendorData,
		Comment: "entity blocked", Actor: "system", CreatedAt: now}
	return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&entry).Error
}

// removeFromSystemBlocklist takes an entity that leaves BLOCKED off its kind's system
// blocklist.
func removeFromSystemBlocklist(tx *txn, e *Entity) error {
	return tx.Where("application_id = ? AND entry_type = ? AND value = ? AND list_id IN (?)",
		e.ApplicationID, e.Kind, e.VendorData,
		tx.Model(&List{}).Select("id").Where("application_id = ? AND system", e.ApplicationID),
	).Delete(&ListEntry{}).Error
}

// entryActor is the actor of a status change an entry causes: whoever added it.
func entryActor(entry *ListEntry) string {
	if entry.Actor == "" {
		return "system"
	}
	return entry.Actor
}

// entityHits returns the user or business entries (of the entity's kind) on the
// application's blocklists and watchlists that name vendorData.
func entityHits(tx *txn, appID, kind, vendorData string) ([]rules.Hit, error) {
	var entries []ListEntry
	err := tx.Where("application_id = ? AND entry_type = ? AND value = ? AND list_type IN ?",
		appID, kind, vendorData, []string{rules.ListBlocklist, rules.ListWatchlist}).
		Order("created_at, id").Find(&entries).Error
	if err != nil {
		return nil, fmt.Errorf("read the lists naming %s %q: %w", kind, vendorData, err)
	}
	hits := make([]rules.Hit, len(entries))
	for i := range entries {
		hits[i] = entries[i].hit()
	}
	return hits, nil
}

// hit is the entry as a decision's fact.
func (e *ListEntry) hit() rules.Hit {
	return rules.Hit{ListID: e.ListID, ListType: e.ListType, EntryID: e.ID, EntryType: e.EntryType,
		Value: e.Value, Comment: e.Comment, Actor: e.Actor}
}

// blocklistHits returns the blocklist entries that a session's facts (face, document,
// email, phone) are on.
func blocklistHits(tx *txn, appID string, facts rules.DecisionFacts) ([]rules.Hit, error) {
	candidates := map[string]string{
		rules.EntryFace: facts.FaceID, rules.EntryDocument: facts.DocumentNumber,
		rules.EntryEmail: facts.Email, rules.EntryPhone: facts.Phone,
	}
	var hits []rules.Hit
	for _, entryType := range []string{rules.EntryFace, rules.EntryDocument, rules.EntryEmail, rules.EntryPhone} {
		raw := candidates[entryType]
		if raw == "" {
			continue
		}
		value, err := rules.NormaliseEntry(entryType, raw)
		if err != nil {
			continue // a value that cannot be normalised is on no list
		}
		var entries []ListEntry
		err = tx.Where("application_id = ? AND entry_type = ? AND value = ? AND list_type = ?",
			appID, entryType, value, rules.ListBlocklist).Order("created_at, id").Limit(1).Find(&entries).Error
		if err != nil {
			return nil, fmt.Errorf("look up the %s blocklists: %w", entryType, err)
		}
		for i := range entries {
			hits = append(hits, entries[i].hit())
		}
	}
	return hits, nil
}

// CreateList creates a list. Names are unique per application.
func (s *Store) CreateList(ctx context.Context, appID, name, listType, entryType string) (*List, error) {
	now := s.Now()
	l := &List{ID: newID(), ApplicationID: appID, Name: name, ListType: listType, EntryType: entryType,
		CreatedAt: now, UpdatedAt: now}
	if !rules.ListHasEffect(listType, entryType) {
		return nil, invalid("entry_type", fmt.Sprintf("an %s of %s entries would have no effect: allowlists take user or business entries", listType, entryType))
	}
	err := s.transaction(ctx, func(tx *txn) error {
		if err := ensureSystemLists(tx, appID, now); err != nil {
			return err
		}
		if err := tx.Create(l).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return conflictf("a list named %q already exists", name)
			}
			return err
		}
		return nil
	})
	return l, err
}

// ListFilter selects lists.
type ListFilter struct {
	ListType, EntryType string
	Limit, Offset       int
}

// Lists returns one page of the application's lists (system lists first, then by name)
// with their entry counts, and the number of lists matching.
func (s *Store) Lists(ctx context.Context, appID string, f ListFilter) ([]ListResource, int64, error) {
	if err := s.transaction(ctx, func(tx *txn) error { return ensureSystemLists(tx, appID, s.Now()) }); err != nil {
		return nil, 0, err
	}
	q := s.db.WithContext(ctx).Model(&List{}).Where("application_id = ?", appID)
	if f.ListType != "" {
		q = q.Where("list_type = ?", f.ListType)
	}
	if f.EntryType != "" {
		q = q.Where("entry_type = ?", f.EntryType)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var rows []List
	if err := q.Order("system DESC, name, id").Limit(f.Limit).Offset(f.Offset).Find(&rows).Error; err != nil {
		return nil, 0, err
	}
	out := make([]ListResource, len(rows))
	for i, l := range rows {
		r, err := s.listResource(ctx, &l)
		if err != nil {
			return nil, 0, err
		}
		out[i] = r
	}
	return out, total, nil
}

func (s *Store) listResource(ctx context.Context, l *List) (ListResource, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&ListEntry{}).Where("list_id = ?", l.ID).Count(&n).Error; err != nil {
		return ListResource{}, err
	}
	return ListResource{UUID: l.ID, Name: l.Name, ListType: l.ListType, EntryType: l.EntryType, System: l.System,
		EntryCount: n, CreatedAt: FormatTime(l.CreatedAt), UpdatedAt: FormatTime(l.UpdatedAt)}, nil
}

// GetList returns one list with its entry count.
func (s *Store) GetList(ctx context.Context, appID, id string) (ListResource, error) {
	if !validUUID(id) {
		return ListResource{}, errNotFound("list")
	}
	var l List
	if err := s.db.WithContext(ctx).Where("application_id = ? AND id = ?", appID, id).Take(&l).Error; err != nil {
		return ListResource{}, notFound(err, "list")
	}
	return s.listResource(ctx, &l)
}

// NewListEntry is what AddListEntry needs; the caller has validated the lengths and the
// date's form.
type NewListEntry struct {
	Value   string
	Comment string
	Actor   string
	// DateOfBirth (YYYY-MM-DD) is accepted on name entries only.
	DateOfBirth *string
}

// AddListEntry adds value with a comment and no actor; see AddEntry.
func (s *Store) AddListEntry(ctx context.Context, appID, listID, value, comment string) (*ListEntry, *InboxItem, error) {
	return s.AddEntry(ctx, appID, listID, NewListEntry{Value: value, Comment: comment})
}

// AddEntry adds in.Value (normalised for the list's entry type) to a list, with
// its comment and actor. When the entry names a live entity (user and business entries
// on a blocklist or watchlist), a status change (BLOCKED or FLAGGED, automatic, with the
// entry's actor and the entry as its inputs) is stored in the inbox in the same
// transaction and returned; its status:apply job is enqueued after commit.
//
// A `name` entry of a blocklist or watchlist stores a screening job (tasks.TypeAMLScreen)
// instead, which screens the application's entities against it (ongoing AML monitoring).
func (s *Store) AddEntry(ctx context.Context, appID, listID string, in NewListEntry) (*ListEntry, *InboxItem, error) {
	if !validUUID(listID) {
		return nil, nil, errNotFound("list")
	}
	var entry *ListEntry
	var item *InboxItem
	err := s.transaction(ctx, func(tx *txn) error {
		var l List
		if err := tx.Where("application_id = ? AND id = ?", appID, listID).Take(&l).Error; err != nil {
			return notFound(err, "list")
		}
		norm, err := rules.NormaliseEntry(l.EntryType, in.Value)
		if err != nil {
			return invalid("value", err.Error())
		}
		if in.DateOfBirth != nil && l.EntryType != rules.EntryName {
			return invalid("date_of_birth", "only name entries carry a date of birth")
		}
		now := s.Now()
		entry = &ListEntry{ID: newID(), ApplicationID: appID, ListID: l.ID, ListType: l.ListType,
			EntryType: l.EntryType, Value: norm, OriginalValue: in.Value, Comment: in.Comment, Actor: in.Actor,
			DateOfBirth: in.DateOfBirth, CreatedAt: now}
		if err := tx.Create(entry).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return conflictf("%q is already on this list", norm)
			}
			return err
		}
		if l.EntryType == rules.EntryCountry {
			_, err := s.countryEntryAdded(tx, &l, entry)
			return err
		}
		if l.EntryType == rules.EntryName && l.ListType != rules.ListAllowlist {
			item, err = newScreeningItem(appID, entry.ID, now)
			if err != nil {
				return err
			}
			return tx.addInbox(item)
		}
		status, reason := rules.ListEffect(l.ListType, l.EntryType)
		if status == "" {
			return nil
		}
		// Taken before looking for the entity, as creating it takes it before reading
		// the lists: whichever commits second sees the other.
		if err := s.lockVendorData(tx, appID, l.EntryType, norm); err != nil {
			return err
		}
		var e Entity
		err = tx.Select("id").
			Where("application_id = ? AND kind = ? AND vendor_data = ? AND deleted_at IS NULL", appID, l.EntryType, norm).
			Take(&e).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil // an entity created later starts in the list's status
		}
		if err != nil {
			return err
		}
		item, err = newInboxItem(appID, tasks.TypeStatusApply, StatusRequest{
			EntityID: e.ID, Status: status, Reason: reason, Actor: entryActor(entry), Automatic: true,
			Rule: rules.ListRule(l.ListType), Inputs: rules.HitInputs([]rules.Hit{entry.hit()}),
		}, now)
		if err != nil {
			return err
		}
		return tx.addInbox(item)
	})
	if err != nil {
		return nil, nil, err
	}
	return entry, item, nil
}

// ListEntries returns one page of a list's entries, newest first, and their number.
func (s *Store) ListEntries(ctx context.Context, appID, listID string, limit, offset int) ([]ListEntry, int64, error) {
	if _, err := s.GetList(ctx, appID, listID); err != nil {
		return nil, 0, err
	}
	q := s.db.WithContext(ctx).Model(&ListEntry{}).Where("application_id = ? AND list_id = ?", appID, listID)
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var out []ListEntry
	err := q.Order("created_at DESC, id DESC").Limit(limit).Offset(offset).Find(&out).Error
	return out, total, err
}

// DeleteListEntry removes an entry. Removing an entity from a list does not change its
// status: automatic rules never lower one.
func (s *Store) DeleteListEntry(ctx context.Context, appID, listID, entryID string) error {
	if !validUUID(listID) || !validUUID(entryID) {
		return errNotFound("list entry")
	}
	res := s.db.WithContext(ctx).Where("application_id = ? AND list_id = ? AND id = ?", appID, listID, entryID).Delete(&ListEntry{})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return errNotFound("list entry")
	}
	return nil
}
