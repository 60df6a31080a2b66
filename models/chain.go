package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"gorm.io/gorm"

	"github.com/standinghq/standing/webhooks"
)

// The audit trail of each application is a hash chain (SPEC section 2): its status
// records in the order they were committed (seq 1, 2, …), each with the hash of the one
// before (prev_hash; empty for the first) and its own hash, the hex SHA-256 of prev_hash
// followed by the canonical JSON of the record's other fields (webhooks.Canonical, the
// form webhook bodies are signed in). The record's fields are exactly those the API and
// the export show, so anyone holding an export can recompute every hash.
//
// Appends are serialised per application by its row in audit_chain_heads, which holds
// the last link's seq and hash. A transaction takes that row's lock last, after every
// entity and other row it locks, just before it commits: concurrent writers never fork
// the chain, never deadlock on it, and hold it only for two statements. On SQLite the
// single writer makes appends serial anyway.
//
// A purged record becomes a tombstone: its id, time, seq, prev_hash and hash stay, its
// content goes. Verification accepts a tombstone as a link (its prev_hash must be the
// previous hash, and the next record's prev_hash its hash) without recomputing it.

// ChainHead is the last link of an application's chain.
type ChainHead struct {
	ApplicationID string `gorm:"primaryKey"`
	Seq           int64  `gorm:"not null"`
	Hash          string `gorm:"not null"`
}

// TableName is the table of chain heads.
func (ChainHead) TableName() string { return "audit_chain_heads" }

// chainContent is what a record's hash covers besides prev_hash: every field the record
// shows, except prev_hash and hash themselves.
type chainContent struct {
	UUID           string         `json:"uuid"`
	Seq            int64          `json:"seq"`
	EntityUUID     *string        `json:"entity_uuid"`
	VendorData     *string        `json:"vendor_data"`
	Kind           *string        `json:"kind"`
	PreviousStatus *string        `json:"previous_status"`
	Status         string         `json:"status"`
	Reason         string         `json:"reason"`
	Actor          string         `json:"actor"`
	Rule           string         `json:"rule"`
	Inputs         map[string]any `json:"inputs"`
	CreatedAt      string         `json:"created_at"`
}

func (c *StatusChange) content() chainContent {
	inputs := c.Inputs
	if inputs == nil {
		inputs = map[string]any{}
	}
	return chainContent{
		UUID: c.ID, Seq: c.Seq, EntityUUID: c.EntityID, VendorData: c.VendorData, Kind: c.Kind,
		PreviousStatus: c.FromStatus, Status: c.ToStatus, Reason: c.Reason, Actor: c.Actor,
		Rule: c.Rule, Inputs: inputs, CreatedAt: FormatTime(c.CreatedAt),
	}
}

// ChainHash returns the hash a record must carry after prevHash: hex SHA-256 of
// prevHash followed by the canonical JSON of content (an object of the record's fields
// other than prev_hash and hash).
func ChainHash(prevHash string, content []byte) (string, error) {
	canon, err := webhooks.Canonical(content)
	if err != nil {
		return "", fmt.Errorf("canonical JSON of an audit record: %w", err)
	}
	h := sha256.New()
	h.Write([]byte(prevHash))
	h.Write(canon)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// computeHash returns the hash the record must carry after its prev_hash.
func (c *StatusChange) computeHash() (string, error) {
	b, err := json.Marshal(c.content())
	if err != nil {
		return "", fmt.Errorf("encode audit record %s: %w", c.ID, err)
	}
	return ChainHash(c.PrevHash, b)
}

// normaliseInputs returns inputs as they read back from the database (a JSON round
// trip), so that the hash computed at write time is the one verification recomputes.
func normaliseInputs(inputs map[string]any) (map[string]any, error) {
	out := map[string]any{}
	if len(inputs) == 0 {
		return out, nil
	}
	b, err := json.Marshal(inputs)
	if err != nil {
		return nil, fmt.Errorf("encode audit inputs: %w", err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode audit inputs: %w", err)
	}
	return out, nil
}

// lockChainHead locks the application's chain head, creating it when the application
// has no record yet, and returns it. The upsert takes the row lock whether the row is
// new or not (PostgreSQL), and returns the latest committed values.
func lockChainHead(tx *gorm.DB, appID string) (ChainHead, error) {
	head := ChainHead{ApplicationID: appID}
	err := tx.Raw(`INSERT INTO audit_chain_heads (application_id, seq, hash) VALUES (?, 0, '')
		ON CONFLICT (application_id) DO UPDATE SET seq = audit_chain_heads.seq
		RETURNING seq, hash`, appID).Row().Scan(&head.Seq, &head.Hash)
	if err != nil {
		return head, fmt.Errorf("lock the audit chain of application %s: %w", appID, err)
	}
	return head, nil
}

// appendChain links the records a transaction wrote into their applications' chains
// and stores them; it runs last in the transaction, so the head lock is the last lock.
func appendChain(tx *txn, records []*StatusChange) error {
	if len(records) == 0 {
		return nil
	}
	byApp := map[string][]*StatusChange{}
	var apps []string
	for _, r := range records {
		if _, ok := byApp[r.ApplicationID]; !ok {
			apps = append(apps, r.ApplicationID)
		}
		byApp[r.ApplicationID] = append(byApp[r.ApplicationID], r)
	}
	for _, appID := range apps {
		head, err := lockChainHead(tx.DB, appID)
		if err != nil {
			return err
		}
		for _, r := range byApp[appID] {
			head.Seq++
			r.Seq, r.PrevHash = head.Seq, head.Hash
			if r.Hash, err = r.computeHash(); err != nil {
				return err
			}
			head.Hash = r.Hash
		}
		if err := tx.Create(byApp[appID]).Error; err != nil {
			return fmt.Errorf("write audit records: %w", err)
		}
		err = tx.Model(&ChainHead{}).Where("application_id = ?", appID).
			Updates(map[string]any{"seq": head.Seq, "hash": head.Hash}).Error
		if err != nil {
			return fmt.Errorf("move the audit chain head: %w", err)
		}
	}
	return nil
}

// tombstoneStatusChanges turns every audit record of the given entities into a
// tombstone: the record keeps its id, application, time, seq, prev_hash and hash (so the
// chain stays verifiable through it) and loses its content and any personal data. The
// retention purge calls it, in its transaction, before deleting the entities. Records
// already tombstoned are left alone; it returns how many it tombstoned.
func tombstoneStatusChanges(tx *txn, entityIDs []string) (int64, error) {
	if len(entityIDs) == 0 {
		return 0, nil
	}
	res := tx.Model(&StatusChange{}).Where("entity_id IN ? AND NOT tombstone", entityIDs).
		Updates(map[string]any{
			"tombstone": true, "entity_id": nil, "vendor_data": nil, "kind": nil,
			"previous_status": nil, "status": "", "reason": "", "actor": "", "rule": "", "inputs": "{}",
		})
	if res.Error != nil {
		return 0, fmt.Errorf("tombstone audit records: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// BrokenLink names the first record of a chain that does not hold.
type BrokenLink struct {
	ApplicationID string
	RecordID      string
	Seq           int64
	Problem       string
}

// Error describes the broken link.
func (b *BrokenLink) Error() string {
	return fmt.Sprintf("application %s: audit record %s (seq %d) %s", b.ApplicationID, b.RecordID, b.Seq, b.Problem)
}

// ChainReport is the outcome of VerifyChains.
type ChainReport struct {
	Applications int
	Records      int64
	Tombstones   int64
	// Broken is the first record that does not hold, nil when every chain holds.
	Broken *BrokenLink
}

// VerifyChains recomputes the audit chain of application appID, or of every
// application when appID is empty, reading the records in chain order from a database
// cursor (constant memory). It stops at the first record that does not hold.
func (s *Store) VerifyChains(ctx context.Context, appID string) (ChainReport, error) {
	var report ChainReport
	var heads []ChainHead
	q := s.db.WithContext(ctx).Order("application_id")
	if appID != "" {
		q = q.Where("application_id = ?", appID)
	}
	if err := q.Find(&heads).Error; err != nil {
		return report, fmt.Errorf("read the audit chain heads: %w", err)
	}
	for _, head := range heads {
		report.Applications++
		broken, err := s.verifyChain(ctx, head, &report)
		if err != nil || broken != nil {
			report.Broken = broken
			return report, err
		}
	}
	// Records of an application without a head were written around the chain.
	var stray StatusChange
	q = s.db.WithContext(ctx).Where("application_id NOT IN (?)", s.db.Model(&ChainHead{}).Select("application_id"))
	if appID != "" {
		q = q.Where("application_id = ?", appID)
	}
	err := q.Order("application_id, seq").Limit(1).Find(&stray).Error
	if err != nil {
		return report, fmt.Errorf("look for records outside the chains: %w", err)
	}
	if stray.ID != "" {
		report.Broken = &BrokenLink{ApplicationID: stray.ApplicationID, RecordID: stray.ID, Seq: stray.Seq,
			Problem: "belongs to no chain (its application has no chain head)"}
	}
	return report, nil
}

// verifyChain checks one application's chain against its head.
func (s *Store) verifyChain(ctx context.Context, head ChainHead, report *ChainReport) (*BrokenLink, error) {
	rows, err := s.db.WithContext(ctx).Model(&StatusChange{}).
		Where("application_id = ?", head.ApplicationID).Order("seq").Rows()
	if err != nil {
		return nil, fmt.Errorf("read the audit chain of application %s: %w", head.ApplicationID, err)
	}
	defer rows.Close()
	prev, last := "", StatusChange{}
	for rows.Next() {
		var r StatusChange
		if err := s.db.ScanRows(rows, &r); err != nil {
			return nil, fmt.Errorf("read an audit record: %w", err)
		}
		if problem := checkLink(&r, last.Seq, prev); problem != "" {
			return &BrokenLink{ApplicationID: head.ApplicationID, RecordID: r.ID, Seq: r.Seq, Problem: problem}, nil
		}
		report.Records++
		if r.Tombstone {
			report.Tombstones++
		}
		prev, last = r.Hash, r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the audit chain of application %s: %w", head.ApplicationID, err)
	}
	if last.Seq != head.Seq || prev != head.Hash {
		id := last.ID
		if id == "" {
			id = "(none)"
		}
		return &BrokenLink{ApplicationID: head.ApplicationID, RecordID: id, Seq: last.Seq,
			Problem: fmt.Sprintf("is the last record, but the chain head says seq %d with hash %s: records were removed or added around the chain", head.Seq, head.Hash)}, nil
	}
	return nil, nil
}

// checkLink returns what is wrong with record r following the record at seq prevSeq
// with hash prev, or "" when the link holds.
func checkLink(r *StatusChange, prevSeq int64, prev string) string {
	switch {
	case r.Seq != prevSeq+1:
		return fmt.Sprintf("follows seq %d: the records between are missing", prevSeq)
	case r.PrevHash != prev:
		return fmt.Sprintf("has prev_hash %q, but the record before has hash %q", r.PrevHash, prev)
	case r.Tombstone:
		if r.Hash == "" {
			return "is a tombstone without a hash"
		}
		return ""
	}
	want, err := r.computeHash()
	if err != nil {
		return "cannot be encoded: " + err.Error()
	}
	if want != r.Hash {
		return fmt.Sprintf("has hash %s, but its content hashes to %s: it was altered", r.Hash, want)
	}
	return ""
}

// sealUnchainedRecords computes the hashes of records written before the chain existed
// (migration 00010 gave them their seq and left hash empty), application by application
// under the chain head's lock, so that verification covers them too.
func (s *Store) sealUnchainedRecords(ctx context.Context) error {
	var apps []string
	err := s.db.WithContext(ctx).Model(&StatusChange{}).Distinct("application_id").
		Where("hash = '' AND NOT tombstone").Pluck("application_id", &apps).Error
	if err != nil {
		return fmt.Errorf("look for unchained audit records: %w", err)
	}
	for _, appID := range apps {
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			head, err := lockChainHead(tx, appID)
			if err != nil {
				return err
			}
			var records []StatusChange
			if err := tx.Where("application_id = ?", appID).Order("seq").Find(&records).Error; err != nil {
				return err
			}
			prev := ""
			for i := range records {
				r := &records[i]
				if r.Hash == "" && !r.Tombstone {
					r.PrevHash = prev
					if r.Hash, err = r.computeHash(); err != nil {
						return err
					}
					err = tx.Model(r).Updates(map[string]any{"prev_hash": r.PrevHash, "hash": r.Hash}).Error
					if err != nil {
						return err
					}
				}
				prev = r.Hash
				if r.Seq == head.Seq && head.Hash == "" {
					if err := tx.Model(&ChainHead{}).Where("application_id = ?", appID).Update("hash", r.Hash).Error; err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seal the audit records of application %s: %w", appID, err)
		}
	}
	return nil
}

// pendingAudit queues a record to be linked into the chain when the transaction ends.
func pendingAudit(tx *txn, r *StatusChange) error {
	tx.audits = append(tx.audits, r)
	return nil
}
