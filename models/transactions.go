package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/standinghq/standing/rules"
	"github.com/standinghq/standing/tasks"
)

// Transaction is a payment or other event of a subject entity, with an optional
// counterparty, evaluated by the transaction rules.
type Transaction struct {
	ID                     string `gorm:"primaryKey"`
	ApplicationID          string `gorm:"not null"`
	TransactionID          string `gorm:"not null"`
	SubjectKind            string `gorm:"not null"`
	SubjectVendorData      string `gorm:"not null"`
	SubjectID              *string
	CounterpartyKind       *string
	CounterpartyVendorData *string
	CounterpartyID         *string
	Amount                 string         `gorm:"not null"`
	Currency               string         `gorm:"not null"`
	DefaultCurrency        string         `gorm:"not null"`
	AmountDefaultMicros    int64          `gorm:"not null"`
	Direction              string         `gorm:"not null"`
	TransactionAt          time.Time      `gorm:"not null"`
	Metadata               map[string]any `gorm:"serializer:json;not null"`
	Status                 string         `gorm:"not null"`
	Score                  int            `gorm:"not null"`
	MatchedRules           []rules.Match  `gorm:"serializer:json;not null"`
	StatusReason           string         `gorm:"not null"`
	ReviewedBy             string         `gorm:"not null"`
	ReviewReason           string         `gorm:"not null"`
	EvaluatedAt            *time.Time
	CreatedAt              time.Time `gorm:"not null"`
	UpdatedAt              time.Time `gorm:"not null"`
}

// Party is an entity named in a transaction.
type Party struct {
	VendorData string `json:"vendor_data"`
	Kind       string `json:"kind"`
}

// TransactionResource is the JSON shape of a transaction.
type TransactionResource struct {
	UUID            string         `json:"uuid"`
	TransactionID   string         `json:"transaction_id"`
	VendorData      string         `json:"vendor_data"`
	SubjectKind     string         `json:"subject_kind"`
	Counterparty    *Party         `json:"counterparty"`
	Amount          string         `json:"amount"`
	Currency        string         `json:"currency"`
	AmountDefault   string         `json:"amount_default"`
	DefaultCurrency string         `json:"default_currency"`
	Direction       string         `json:"direction"`
	TransactionAt   string         `json:"transaction_at"`
	Metadata        map[string]any `json:"metadata"`
	Status          string         `json:"status"`
	Score           int            `json:"score"`
	MatchedRules    []rules.Match  `json:"matched_rules"`
	StatusReason    string         `json:"status_reason"`
	ReviewedBy      string         `json:"reviewed_by"`
	ReviewReason    string         `json:"review_reason"`
	EvaluatedAt     *string        `json:"evaluated_at"`
	CreatedAt       string         `json:"created_at"`
	UpdatedAt       string         `json:"updated_at"`
}

// Resource returns the transaction's JSON shape.
func (t *Transaction) Resource() TransactionResource {
	r := TransactionResource{
		UUID: t.ID, TransactionID: t.TransactionID, VendorData: t.SubjectVendorData, SubjectKind: t.SubjectKind,
		Amount: t.Amount, Currency: t.Currency, AmountDefault: rules.FromMicros(t.AmountDefaultMicros).String(),
		DefaultCurrency: t.DefaultCurrency, Direction: t.Direction, TransactionAt: FormatTime(t.TransactionAt),
		Metadata: t.Metadata, Status: t.Status, Score: t.Score, MatchedRules: t.MatchedRules,
		StatusReason: t.StatusReason, ReviewedBy: t.ReviewedBy, ReviewReason: t.ReviewReason,
		EvaluatedAt: FormatTimePtr(t.EvaluatedAt), CreatedAt: FormatTime(t.CreatedAt), UpdatedAt: FormatTime(t.UpdatedAt),
	}
	if t.CounterpartyVendorData != nil {
		r.Counterparty = &Party{VendorData: *t.CounterpartyVendorData, Kind: *t.CounterpartyKind}
	}
	if r.Metadata == nil {
		r.Metadata = map[string]any{}
	}
	if r.MatchedRules == nil {
		r.MatchedRules = []rules.Match{}
	}
	return r
}

// NewTransaction is a validated transaction to submit.
type NewTransaction struct {
	TransactionID string
	Subject       Party
	Counterparty  *Party
	Amount        decimal.Decimal
	Currency      string
	Direction     string
	TransactionAt time.Time
	Metadata      map[string]any
}

// transactionPayload is the inbox payload of an evaluation.
type transactionPayload struct {
	TransactionUUID string `json:"transaction_uuid"`
}

// SubmitTransaction stores a transaction (PENDING) and, in the same database
// transaction, the inbox item of its evaluation by a transaction:evaluate job. A transaction_id
// already stored returns the stored transaction and existing true, and stores nothing. A
// currency without a rate in fx_rates is rules.ErrUnknownCurrency.
//
// On PostgreSQL both rows are one statement after the application's read (two round
// trips; submitTransactionAtOnce); elsewhere one transaction holds them.
func (s *Store) SubmitTransaction(ctx context.Context, appID string, in NewTransaction) (*Transaction, *InboxItem, bool, error) {
	if s.dialect == Postgres {
		return s.submitTransactionAtOnce(ctx, appID, in)
	}
	var t *Transaction
	var item *InboxItem
	existing := false
	err := s.transaction(ctx, func(tx *txn) error {
		prior, err := priorTransaction(tx.DB, appID, in.TransactionID)
		if err != nil || prior != nil {
			t, existing = prior, prior != nil
			return err
		}
		var app Application
		if err := tx.Where("id = ?", appID).Take(&app).Error; err != nil {
			return notFound(err, "application")
		}
		now := s.Now()
		if t, err = newTransaction(appID, in, &app, now); err != nil {
			return err
		}
		res := tx.Clauses(clause.OnConflict{
			Columns: []clause.Column{{Name: "application_id"}, {Name: "transaction_id"}}, DoNothing: true,
		}).Create(t)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 { // a concurrent submission of the same id won
			t, existing, err = storedTransaction(tx.DB, appID, in.TransactionID)
			return err
		}
		item, err = newInboxItem(appID, tasks.TypeTransactionEvaluate, transactionPayload{TransactionUUID: t.ID}, now)
		if err != nil {
			return err
		}
		return tx.addInbox(item)
	})
	if err != nil {
		return nil, nil, false, err
	}
	return t, item, existing, nil
}

// newTransaction is the PENDING transaction of in, its amount converted with app's
// rates.
func newTransaction(appID string, in NewTransaction, app *Application, now time.Time) (*Transaction, error) {
	converted, err := rules.Convert(in.Amount, in.Currency, app.Settings.FXRates)
	if err != nil {
		return nil, conversionError(err, in.Currency)
	}
	t := &Transaction{
		ID: newID(), ApplicationID: appID, TransactionID: in.TransactionID,
		SubjectKind: in.Subject.Kind, SubjectVendorData: in.Subject.VendorData,
		Amount: in.Amount.String(), Currency: in.Currency, DefaultCurrency: app.Settings.DefaultCurrency,
		AmountDefaultMicros: rules.ToMicros(converted), Direction: in.Direction,
		TransactionAt: in.TransactionAt.UTC().Truncate(time.Microsecond), Metadata: in.Metadata,
		Status: rules.TxPending, MatchedRules: []rules.Match{}, CreatedAt: now, UpdatedAt: now,
	}
	if t.Metadata == nil {
		t.Metadata = map[string]any{}
	}
	if in.Counterparty != nil {
		t.CounterpartyKind, t.CounterpartyVendorData = &in.Counterparty.Kind, &in.Counterparty.VendorData
	}
	return t, nil
}

// priorTransaction returns the stored transaction of transactionID, or nil.
func priorTransaction(db *gorm.DB, appID, transactionID string) (*Transaction, error) {
	var prior Transaction
	err := db.Where("application_id = ? AND transaction_id = ?", appID, transactionID).Take(&prior).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &prior, nil
}

// storedTransaction returns the transaction of transactionID that a concurrent
// submission stored, and existing true.
func storedTransaction(db *gorm.DB, appID, transactionID string) (*Transaction, bool, error) {
	prior, err := priorTransaction(db, appID, transactionID)
	if err == nil && prior == nil {
		err = fmt.Errorf("transaction %q: stored by another submission, then gone", transactionID)
	}
	return prior, prior != nil, err
}

// TxOutcome says what evaluating a transaction did.
type TxOutcome string

// The outcomes of EvaluateTransaction.
const (
	// TxEvaluated: the transaction was scored and got its status.
	TxEvaluated TxOutcome = "evaluated"
	// TxAlreadyEvaluated: a duplicate job.
	TxAlreadyEvaluated TxOutcome = "already_evaluated"
	// TxInvalid: the stored job could not be read.
	TxInvalid TxOutcome = "invalid"
)

// txFacts gathers what the rules need: the windows (indexed range queries over the
// subject's transactions) and the parties' standing.
func (s *Store) txFacts(tx *txn, app *Application, t *Transaction, subject, counterparty *Entity) (rules.TxFacts, error) {
	f := rules.TxFacts{Amount: rules.FromMicros(t.AmountDefaultMicros), SubjectStatus: subject.Status,
		TransactionUUID: t.ID, TransactionID: t.TransactionID}
	allowlisted, allowErr := isAllowlisted(tx, subject.ApplicationID, subject.Kind, subject.VendorData)
	if allowErr != nil {
		return f, allowErr
	}
	f.SubjectAllowlisted = allowlisted
	velocity, _ := time.ParseDuration(app.Settings.Rules.Velocity.Window)
	volume, _ := time.ParseDuration(app.Settings.Rules.Volume.Window)
	// Both windows end at the transaction's time and are read in one statement: the count
	// of the velocity window and, as whole units and leftover millionths (two integer
	// sums that cannot overflow, where a single sum of millionths could at ten maximal
	// amounts), the volume of the volume window's transactions not declined.
	velocityFrom, volumeFrom := t.TransactionAt.Add(-velocity), t.TransactionAt.Add(-volume)
	var w struct{ Count, Units, Micros int64 }
	err := tx.Model(&Transaction{}).
		Select("COUNT(*) FILTER (WHERE transaction_at > ?) AS count, "+
			"COALESCE(SUM(amount_default_micros / 1000000) FILTER (WHERE transaction_at > ? AND status <> ?), 0) AS units, "+
			"COALESCE(SUM(amount_default_micros % 1000000) FILTER (WHERE transaction_at > ? AND status <> ?), 0) AS micros",
			velocityFrom, volumeFrom, rules.TxDeclined, volumeFrom, rules.TxDeclined).
		Where("application_id = ? AND subject_kind = ? AND subject_vendor_data = ? AND transaction_at <= ? AND transaction_at > ?",
			t.ApplicationID, t.SubjectKind, t.SubjectVendorData, t.TransactionAt, minTime(velocityFrom, volumeFrom)).
		Find(&w).Error
	if err != nil {
		return f, err
	}
	f.WindowCount = int(w.Count)
	f.WindowVolume = decimal.NewFromInt(w.Units).Add(rules.FromMicros(w.Micros))
	if counterparty != nil {
		f.CounterpartyStatus = counterparty.Status
		var n int64
		err := tx.Model(&ListEntry{}).
			Where("application_id = ? AND entry_type = ? AND value = ? AND list_type = ?",
				t.ApplicationID, counterparty.Kind, counterparty.VendorData, rules.ListWatchlist).
			Count(&n).Error
		if err != nil {
			return f, err
		}
		f.CounterpartyWatchlisted = n > 0
	}
	return f, nil
}

// minTime returns the earlier of a and b.
func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// txSettings parses the settings the transaction rules use.
func txSettings(st Settings) (rules.TxSettings, error) {
	large, err1 := decimal.NewFromString(st.Rules.LargeAmount.Amount)
	volume, err2 := decimal.NewFromString(st.Rules.Volume.Amount)
	if err := errors.Join(err1, err2); err != nil {
		return rules.TxSettings{}, fmt.Errorf("stored settings: %w", err)
	}
	return rules.TxSettings{
		ReviewThreshold: st.ReviewThreshold, DeclineThreshold: st.DeclineThreshold,
		EscalateWhenFlagged: st.EscalateTransactionsWhenFlagged,
		LargeAmount:         large, LargeAmountScore: st.Rules.LargeAmount.Score,
		VelocityCount: st.Rules.Velocity.Count, VelocityScore: st.Rules.Velocity.Score,
		VolumeAmount: volume, VolumeScore: st.Rules.Volume.Score,
		WatchlistedScore: st.Rules.WatchlistedCounterparty.Score,
	}, nil
}

// transactionFields are the fields of transaction events.
func transactionFields(t *Transaction) map[string]any {
	return map[string]any{
		"uuid":           t.ID,
		"transaction_id": t.TransactionID,
		"vendor_data":    t.SubjectVendorData,
		"subject_kind":   t.SubjectKind,
		"status":         t.Status,
		"score":          t.Score,
		"matched_rules":  t.MatchedRules,
		"transaction":    t.Resource(),
	}
}

// conversionError is the Unprocessable error of an amount that cannot be converted to
// the default currency.
func conversionError(err error, currency string) error {
	switch {
	case errors.Is(err, rules.ErrAmountTooLarge), errors.Is(err, rules.ErrAmountTooSmall):
		return unprocessable("amount", "must be between 0.000001 and 1000000000000 in the default currency", err)
	case errors.Is(err, rules.ErrUnknownCurrency):
		return unprocessable("currency", currency+" has no rate in the fx_rates setting", err)
	}
	return err
}

// ReviewTransaction records an analyst's decision on an IN_REVIEW transaction
// (APPROVED or DECLINED, both final) and writes transaction.status.updated. Any other
// move is a Conflict.
func (s *Store) ReviewTransaction(ctx context.Context, appID, uuid, status, actor, reason string) (*Transaction, error) {
	if !validUUID(uuid) {
		return nil, errNotFound("transaction")
	}
	var t Transaction
	err := s.transaction(ctx, func(tx *txn) error {
		if err := tx.Where("id = ? AND application_id = ?", uuid, appID).Take(&t).Error; err != nil {
			return notFound(err, "transaction")
		}
		if t.SubjectID == nil {
			return conflictf("the transaction is still being evaluated")
		}
		// The subject's lock orders this event among the subject's others; then the
		// transaction's own lock, taken second everywhere.
		var subject Entity
		if err := forUpdate(tx).Where("id = ?", *t.SubjectID).Take(&subject).Error; err != nil {
			return err
		}
		if err := forUpdate(tx).Where("id = ?", t.ID).Take(&t).Error; err != nil {
			return err
		}
		if err := rules.ReviewTransition(t.Status, status); err != nil {
			return conflictf("%s", err.Error())
		}
		now := tx.Now()
		previous := t.Status
		t.Status, t.ReviewedBy, t.ReviewReason, t.StatusReason, t.UpdatedAt = status, actor, reason, "review", now
		if err := tx.Save(&t).Error; err != nil {
			return err
		}
		subject.LastActivityAt = &now
		w := newEntityWriter(tx, &subject)
		fields := transactionFields(&t)
		fields["previous_status"] = previous
		fields["actor"] = actor
		fields["reason"] = reason
		if err := w.event(EventTransactionStatusUpdated, fields); err != nil {
			return err
		}
		weights, err := riskWeights(tx, appID)
		if err != nil {
			return err
		}
		w.transactionSignal(weights, &t)
		return w.save()
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// GetTransaction returns one transaction.
func (s *Store) GetTransaction(ctx context.Context, appID, uuid string) (*Transaction, error) {
	if !validUUID(uuid) {
		return nil, errNotFound("transaction")
	}
	var t Transaction
	if err := s.db.WithContext(ctx).Where("id = ? AND application_id = ?", uuid, appID).Take(&t).Error; err != nil {
		return nil, notFound(err, "transaction")
	}
	return &t, nil
}

// TransactionFilter selects transactions.
type TransactionFilter struct {
	VendorData, Status string
	Limit, Offset      int
}

// ListTransactions returns one page of transactions, newest first, and their number.
func (s *Store) ListTransactions(ctx context.Context, appID string, f TransactionFilter) ([]Transaction, int64, error) {
	q := s.db.WithContext(ctx).Model(&Transaction{}).Where("application_id = ?", appID)
	if f.VendorData != "" {
		q = q.Where("subject_vendor_data = ?", f.VendorData)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var out []Transaction
	err := q.Order("created_at DESC, id DESC").Limit(f.Limit).Offset(f.Offset).Find(&out).Error
	return out, total, err
}
