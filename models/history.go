package models

import (
	"context"
	"fmt"
	"time"
)

// StatusRecordResource is the JSON shape of an audit record (SPEC section 2): the entity
// it is about (uuid is the record's own id), the transition, who and what decided it,
// and its links in the application's hash chain. Every field but prev_hash and hash is
// covered by hash; a tombstone shows only uuid, seq, created_at, the hashes and
// tombstone: true.
type StatusRecordResource struct {
	UUID           string  `json:"uuid"`
	Seq            int64   `json:"seq"`
	EntityUUID     *string `json:"entity_uuid,omitempty"`
	VendorData     *string `json:"vendor_data,omitempty"`
	Kind           *string `json:"kind,omitempty"`
	PreviousStatus *string `json:"previous_status"`
	Status         *string `json:"status,omitempty"`
	Reason         *string `json:"reason,omitempty"`
	Actor          *string `json:"actor,omitempty"`
	Rule           *string `json:"rule,omitempty"`
	Inputs         any     `json:"inputs,omitempty"`
	CreatedAt      string  `json:"created_at"`
	PrevHash       string  `json:"prev_hash"`
	Hash           string  `json:"hash"`
	Tombstone      bool    `json:"tombstone,omitempty"`
}

// Resource returns the record's JSON shape.
func (c *StatusChange) Resource() StatusRecordResource {
	r := StatusRecordResource{UUID: c.ID, Seq: c.Seq, CreatedAt: FormatTime(c.CreatedAt), PrevHash: c.PrevHash,
		Hash: c.Hash, Tombstone: c.Tombstone}
	if c.Tombstone {
		return r
	}
	k := c.content()
	r.EntityUUID, r.VendorData, r.Kind, r.PreviousStatus = k.EntityUUID, k.VendorData, k.Kind, k.PreviousStatus
	r.Status, r.Reason, r.Actor, r.Rule, r.Inputs = &k.Status, &k.Reason, &k.Actor, &k.Rule, k.Inputs
	return r
}

// StatusHistory returns one page of an entity's audit records, newest first (chain
// order), and their number.
func (s *Store) StatusHistory(ctx context.Context, appID, entityID string, limit, offset int) ([]StatusChange, int64, error) {
	q := s.db.WithContext(ctx).Model(&StatusChange{}).Where("application_id = ? AND entity_id = ?", appID, entityID)
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count status records: %w", err)
	}
	var out []StatusChange
	if err := q.Order("seq DESC").Limit(limit).Offset(offset).Find(&out).Error; err != nil {
		return nil, 0, fmt.Errorf("read status records: %w", err)
	}
	return out, total, nil
}

// StatusAt returns the audit record whose status was in force for the entity at time
// at: the last one (in chain order) made at or before it. Before the entity existed
// there is none: a NotFound error.
func (s *Store) StatusAt(ctx context.Context, appID, entityID string, at time.Time) (*StatusChange, error) {
	var out []StatusChange
	err := s.db.WithContext(ctx).Where("application_id = ? AND entity_id = ? AND created_at <= ?", appID, entityID, at.UTC()).
		Order("seq DESC").Limit(1).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("read the status in force at %s: %w", FormatTime(at), err)
	}
	if len(out) == 0 {
		return nil, &Error{Kind: NotFound, Field: "at", Msg: "the entity did not exist at " + FormatTime(at)}
	}
	return &out[0], nil
}

// StatusComment is one of an entity's latest status records, as the entity resource
// shows it: why, by whom, from what to what, when.
type StatusComment struct {
	Reason string  `json:"reason"`
	Actor  string  `json:"actor"`
	From   *string `json:"from"`
	To     string  `json:"to"`
	At     string  `json:"at"`
}

// EntityComments is how many of its latest status records an entity resource shows.
const EntityComments = 5

// StatusComments returns, per entity id, its EntityComments newest status records,
// newest first, in one query (a window over the entities' records).
func (s *Store) StatusComments(ctx context.Context, appID string, entityIDs []string) (map[string][]StatusComment, error) {
	out := make(map[string][]StatusComment, len(entityIDs))
	if len(entityIDs) == 0 {
		return out, nil
	}
	var rows []StatusChange
	err := s.db.WithContext(ctx).Raw(`SELECT * FROM (
			SELECT *, row_number() OVER (PARTITION BY entity_id ORDER BY seq DESC) AS rn
			FROM status_changes WHERE application_id = ? AND entity_id IN ?) latest
		WHERE rn <= ? ORDER BY entity_id, seq DESC`, appID, entityIDs, EntityComments).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("read the latest status records: %w", err)
	}
	for _, r := range rows {
		if r.EntityID == nil {
			continue
		}
		out[*r.EntityID] = append(out[*r.EntityID], StatusComment{Reason: r.Reason, Actor: r.Actor,
			From: r.FromStatus, To: r.ToStatus, At: FormatTime(r.CreatedAt)})
	}
	return out, nil
}

// ExportFilter bounds an export by record time; zero times do not bound.
type ExportFilter struct {
	Since, Until time.Time
}

// ExportStatusRecords calls fn with every audit record of the application (tombstones
// included, so that the chain can be checked from the export) made within f, in chain
// order. Records are read from a database cursor one at a time, so memory stays
// constant whatever the number of records; fn's error stops the export.
func (s *Store) ExportStatusRecords(ctx context.Context, appID string, f ExportFilter, fn func(*StatusChange) error) error {
	q := s.db.WithContext(ctx).Model(&StatusChange{}).Where("application_id = ?", appID)
	if !f.Since.IsZero() {
		q = q.Where("created_at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q = q.Where("created_at <= ?", f.Until.UTC())
	}
	rows, err := q.Order("seq").Rows()
	if err != nil {
		return fmt.Errorf("read audit records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r StatusChange
		if err := s.db.ScanRows(rows, &r); err != nil {
			return fmt.Errorf("read an audit record: %w", err)
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read audit records: %w", err)
	}
	return nil
}
