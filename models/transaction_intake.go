package models

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/standinghq/standing/tasks"
)

// submitTransactionSQL stores a transaction and, only when it is new, the inbox item of
// its evaluation, in one statement: a transaction_id already stored inserts neither and
// returns no row.
const submitTransactionSQL = `WITH t AS (
	INSERT INTO transactions (id, application_id, transaction_id, subject_kind, subject_vendor_data,
		counterparty_kind, counterparty_vendor_data, amount, currency, default_currency, amount_default_micros,
		direction, transaction_at, metadata, status, score, matched_rules, status_reason, reviewed_by, review_reason,
		created_at, updated_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '[]', '', '', '', ?, ?)
	ON CONFLICT (application_id, transaction_id) DO NOTHING
	RETURNING id
)
INSERT INTO inbox (id, application_id, task_type, dedup_key, payload, state, attempts, last_error, created_at, enqueued_at)
SELECT CAST(? AS uuid), CAST(? AS uuid), CAST(? AS text), NULL, CAST(? AS jsonb), CAST(? AS text), 0, '',
	CAST(? AS timestamptz), CAST(? AS timestamptz) FROM t
RETURNING id`

// submitTransactionAtOnce is SubmitTransaction on PostgreSQL: the application's read,
// then the transaction and its inbox item in one statement (no BEGIN and COMMIT around
// them: intake had taken six round trips), and its job enqueued after it. A replay is
// answered with the stored transaction, even when the rates no longer convert it.
func (s *Store) submitTransactionAtOnce(ctx context.Context, appID string, in NewTransaction) (*Transaction, *InboxItem, bool, error) {
	app, err := s.ApplicationByID(ctx, appID)
	if err != nil {
		return nil, nil, false, err
	}
	db := s.db.WithContext(ctx)
	now := s.Now()
	t, err := newTransaction(appID, in, app, now)
	if err != nil {
		prior, priorErr := priorTransaction(db, appID, in.TransactionID)
		if priorErr != nil || prior != nil {
			return prior, nil, prior != nil, priorErr
		}
		return nil, nil, false, err
	}
	item, err := newInboxItem(appID, tasks.TypeTransactionEvaluate, transactionPayload{TransactionUUID: t.ID}, now)
	if err != nil {
		return nil, nil, false, err
	}
	metadata, err := json.Marshal(t.Metadata)
	if err != nil {
		return nil, nil, false, fmt.Errorf("encode the transaction's metadata: %w", err)
	}
	var inserted []string
	err = db.Raw(submitTransactionSQL,
		t.ID, t.ApplicationID, t.TransactionID, t.SubjectKind, t.SubjectVendorData,
		t.CounterpartyKind, t.CounterpartyVendorData, t.Amount, t.Currency, t.DefaultCurrency, t.AmountDefaultMicros,
		t.Direction, t.TransactionAt, string(metadata), t.Status, t.CreatedAt, t.UpdatedAt,
		item.ID, item.ApplicationID, item.TaskType, item.Payload, item.State, item.CreatedAt, item.EnqueuedAt,
	).Find(&inserted).Error // Find: Scan formats the SQL for a logger
	if err != nil {
		return nil, nil, false, fmt.Errorf("store a transaction: %w", err)
	}
	if len(inserted) == 0 { // stored before, or by a concurrent submission
		prior, existing, err := storedTransaction(db, appID, in.TransactionID)
		return prior, nil, existing, err
	}
	if s.afterCommit != nil {
		s.afterCommit(ctx, Committed{Inbox: []InboxRef{{ID: item.ID, TaskType: item.TaskType}}})
	}
	return t, item, false, nil
}
