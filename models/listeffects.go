package models

import (
	"fmt"

	"github.com/standinghq/standing/rules"
	"github.com/standinghq/standing/tasks"
)

// Country lists and allowlists (SPEC section 6): the facts the store gathers for their
// rules (rules.DecideCreation, DecideSession, DecideStatusChange, EvaluateTransaction,
// DecideCountry) and the changes it makes from the answers.

// isAllowlisted reports whether the entity kind/vendorData is on one of the
// application's allowlists of its kind.
func isAllowlisted(tx *txn, appID, kind, vendorData string) (bool, error) {
	if on, known := tx.batch.isAllowlisted(appID, kind, vendorData); known {
		return on, nil
	}
	var n int64
	err := tx.Model(&ListEntry{}).
		Where("application_id = ? AND list_type = ? AND entry_type = ? AND value = ?", appID, rules.ListAllowlist, kind, vendorData).
		Limit(1).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("look up allowlists: %w", err)
	}
	tx.batch.allowlistRead(appID, kind, vendorData, n > 0)
	return n > 0, nil
}

// countryHits returns the country blocklist and watchlist entries a country (a
// nationality or country_code; nil when unknown) is on. It takes the country's lock
// first, as adding a country entry does, so that neither misses the other.
func countryHits(tx *txn, appID string, country *string) ([]rules.Hit, error) {
	if country == nil {
		return nil, nil
	}
	code, err := rules.NormaliseCountry(*country)
	if err != nil {
		return nil, nil // a value that is no country code is on no list
	}
	if err := tx.store.lockVendorData(tx, appID, rules.EntryCountry, code); err != nil {
		return nil, err
	}
	var entries []ListEntry
	err = tx.Where("application_id = ? AND entry_type = ? AND value = ? AND list_type IN ?",
		appID, rules.EntryCountry, code, []string{rules.ListBlocklist, rules.ListWatchlist}).
		Order("created_at, id").Find(&entries).Error
	if err != nil {
		return nil, fmt.Errorf("look up country lists: %w", err)
	}
	hits := make([]rules.Hit, len(entries))
	for i := range entries {
		hits[i] = entries[i].hit()
	}
	return hits, nil
}

// applyCountryLists applies rules.DecideCountry to a locked entity whose country field
// (nationality or country_code) is among changed. The caller saves the entity.
func applyCountryLists(tx *txn, w *entityWriter, e *Entity, changed []string) error {
	field := rules.CountryField(e.Kind)
	touched := false
	for _, c := range changed {
		touched = touched || c == field
	}
	if !touched {
		return nil
	}
	hits, err := countryHits(tx, e.ApplicationID, *e.profileField(field))
	if err != nil || len(hits) == 0 {
		return err
	}
	allowlisted, err := isAllowlisted(tx, e.ApplicationID, e.Kind, e.VendorData)
	if err != nil {
		return err
	}
	if t := rules.DecideCountry(e.Status, allowlisted, hits); t != nil {
		return w.transition(*t, "system")
	}
	return nil
}

// countryEntryAdded stores, for a country entry just added to a blocklist or watchlist,
// an automatic status change of every live entity of the application whose nationality
// (users) or country_code (businesses) is that country and whose status it would raise;
// the status:apply jobs are enqueued after commit, and applying one decides again
// (allowlists, the status then). It returns how many it stored.
func (s *Store) countryEntryAdded(tx *txn, l *List, entry *ListEntry) (int, error) {
	status, reason := rules.HitEffect(l.ListType, rules.EntryCountry)
	if status == "" {
		return 0, nil
	}
	if err := s.lockVendorData(tx, l.ApplicationID, rules.EntryCountry, entry.Value); err != nil {
		return 0, err
	}
	var ids []string
	err := tx.Model(&Entity{}).
		Where("application_id = ? AND deleted_at IS NULL AND status <> ? AND status <> ?", l.ApplicationID, status, rules.EntityBlocked).
		Where("((kind = ? AND nationality = ?) OR (kind = ? AND country_code = ?))",
			KindUser, entry.Value, KindBusiness, entry.Value).
		Order("id").Pluck("id", &ids).Error
	if err != nil {
		return 0, fmt.Errorf("find entities of country %s: %w", entry.Value, err)
	}
	now := tx.Now()
	for _, id := range ids {
		item, err := newInboxItem(l.ApplicationID, tasks.TypeStatusApply, StatusRequest{
			EntityID: id, Status: status, Reason: reason, Actor: "system", Automatic: true,
			Rule: rules.ListRule(l.ListType), Inputs: rules.HitInputs([]rules.Hit{entry.hit()}),
		}, now)
		if err != nil {
			return 0, err
		}
		if err := tx.addInbox(item); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}
