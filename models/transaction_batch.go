package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/standinghq/standing/rules"
	"github.com/standinghq/standing/tasks"
)

// invalidTransactionJob is the error kept on an inbox item that names no transaction.
const invalidTransactionJob = "the stored job names no transaction"

// EvaluateTransaction evaluates the transaction of inbox item id, once, under the row
// locks of its subject and counterparty (created when unknown): it computes the velocity
// and volume windows with indexed queries, applies the rules, stores the status, score
// and matched rules, flags an ACTIVE subject that crossed the review threshold, and
// writes transaction.created with the outcome.
//
// The same transaction also evaluates up to WithApplyBatch-1 other pending evaluations
// that no other transaction holds and that never failed (their own jobs then find them
// evaluated), in the order they arrived, each seeing what the ones before it stored:
// under load, many evaluations share one commit and one multi-row insert per table.
// The parties of the whole batch are locked up front in one fixed order, so that two
// batches over the same parties cannot deadlock. When the batch fails, the item is
// evaluated alone, so that an evaluation the database refuses fails only its own job.
func (s *Store) EvaluateTransaction(ctx context.Context, id string) (TxOutcome, error) {
	if s.settled.has(id) {
		return TxAlreadyEvaluated, nil // a batch of this process evaluated it
	}
	// While another transaction holds the item (in its batch), this job evaluates other
	// pending transactions rather than wait, then says the item is busy: its job runs
	// again shortly and finds it evaluated (or evaluates it, if that batch failed).
	outcome, err := s.evaluateTransactions(ctx, id, max(1, s.applyBatch), false)
	switch {
	case err == nil && outcome == txItemElsewhere:
		// Held elsewhere, or no such item (the lock skips both): one read tells which.
		switch settled, err := s.inboxSettled(ctx, id); {
		case err != nil:
			return "", err
		case settled:
			return TxAlreadyEvaluated, nil
		}
		return "", ErrInboxItemBusy
	case err == nil && outcome != txPartyElsewhere, errors.Is(err, ErrUnknownJob), IsUnavailable(err):
		return outcome, err
	}
	// The batch failed (any of its items may be why), or another transaction holds one
	// of the item's parties: this item alone, waiting for its parties, so that an
	// evaluation the database refuses fails only its own job.
	return s.evaluateTransactions(ctx, id, 1, true)
}

// What the first pass of EvaluateTransaction reports when it did not evaluate the item.
const (
	// txItemElsewhere: another transaction holds the item.
	txItemElsewhere TxOutcome = ""
	// txPartyElsewhere: another transaction holds one of the item's parties.
	txPartyElsewhere TxOutcome = "party held elsewhere"
)

// queuedTransaction is an evaluation read from its locked inbox item, with its locked
// transaction.
type queuedTransaction struct {
	item *InboxItem
	t    *Transaction
}

// evaluateTransactions evaluates the transaction of inbox item id and up to limit-1
// other pending evaluations in one transaction, and returns what evaluating id did.
// Unless wait is set, an item another transaction holds is left to it: the batch holds
// only other evaluations, and the outcome is txItemElsewhere.
func (s *Store) evaluateTransactions(ctx context.Context, id string, limit int, wait bool) (TxOutcome, error) {
	var outcome TxOutcome
	var others []string // the items besides id the transaction settles
	err := s.transaction(ctx, func(tx *txn) error {
		own, items, err := claimBatch(tx, tasks.TypeTransactionEvaluate, id, limit, wait)
		if err != nil {
			return err
		}
		if own != nil && own.State != InboxPending {
			outcome = TxAlreadyEvaluated
			return nil
		}
		if s.dialect == Postgres {
			// The parties are written once each, at the transaction's end, however many of
			// the batch's transactions they take part in (session_deferred.go): nothing in
			// an evaluation reads an entity back from its table, each starts from parties.
			tx.batch = newBatchReads()
			tx.batch.deferred = true
		}
		queued, invalid, err := readEvaluations(tx, items)
		if err != nil {
			return err
		}
		if invalid[id] {
			outcome = TxInvalid
		}
		parties, err := s.lockEvaluationParties(tx, queued, wait)
		if err != nil {
			return err
		}
		// An evaluation whose party another transaction holds is left pending, and with
		// it every later one of its parties, so that each party's transactions are
		// evaluated in the order they arrived.
		left := map[entityRef]bool{}
		var done []*InboxItem
		for _, q := range queued {
			if q.t.Status == rules.TxPending && !available(parties, left, transactionParties(q.t)) {
				if q.item == own {
					outcome = txPartyElsewhere
				}
				continue
			}
			done = append(done, q.item)
			o, err := s.evaluateQueued(tx, q, parties)
			if err != nil {
				return fmt.Errorf("evaluate transaction %s: %w", q.t.TransactionID, err)
			}
			if q.item == own {
				outcome = o
			}
		}
		others, err = finishBatch(tx, id, items, done, invalid, invalidTransactionJob)
		return err
	})
	if err == nil {
		s.settled.add(others)
	}
	return outcome, err
}

// readEvaluations reads and locks the transactions that locked inbox items name, in
// the order the items arrived, and names the items that name none.
func readEvaluations(tx *txn, items []*InboxItem) ([]*queuedTransaction, map[string]bool, error) {
	invalid := map[string]bool{}
	uuids := make(map[string]string, len(items)) // inbox id → transaction uuid
	var ids []string
	for _, item := range items {
		var p transactionPayload
		if json.Unmarshal([]byte(item.Payload), &p) != nil || !validUUID(p.TransactionUUID) {
			invalid[item.ID] = true
			continue
		}
		uuids[item.ID] = p.TransactionUUID
		ids = append(ids, p.TransactionUUID)
	}
	byID := map[string]*Transaction{}
	if len(ids) > 0 {
		var found []*Transaction
		if err := forUpdate(tx).Where("id IN ?", ids).Order("id").Find(&found).Error; err != nil {
			return nil, nil, fmt.Errorf("lock the transactions to evaluate: %w", err)
		}
		for _, t := range found {
			byID[t.ID] = t
		}
	}
	var queued []*queuedTransaction
	for _, item := range items {
		if invalid[item.ID] {
			continue
		}
		t := byID[uuids[item.ID]]
		if t == nil || t.ApplicationID != item.ApplicationID {
			invalid[item.ID] = true
			continue
		}
		queued = append(queued, &queuedTransaction{item: item, t: t})
	}
	sort.SliceStable(queued, func(i, j int) bool { return queued[i].item.CreatedAt.Before(queued[j].item.CreatedAt) })
	return queued, invalid, nil
}

// lockEvaluationParties locks the subjects and counterparties of the pending
// evaluations of queued, creating those that do not exist, all of them before any is
// evaluated. With wait (and on SQLite, whose one writer holds every lock) it locks them
// all, by application and then (kind, vendor_data): the order every waiting locker of
// entities follows. Without, it takes only what no other transaction holds, as a
// session batch does: the parties it leaves out are missing from the map.
func (s *Store) lockEvaluationParties(tx *txn, queued []*queuedTransaction, wait bool) (map[entityRef]*Entity, error) {
	keys := map[string][]entityKey{}
	seen := map[entityRef]bool{}
	for _, q := range queued {
		if q.t.Status != rules.TxPending {
			continue
		}
		for _, ref := range transactionParties(q.t) {
			if !seen[ref] {
				seen[ref] = true
				keys[ref.appID] = append(keys[ref.appID], ref.entityKey)
			}
		}
	}
	parties := make(map[entityRef]*Entity, len(seen))
	if !wait && s.dialect == Postgres {
		var err error
		if keys, err = s.lockFreeParties(tx, keys, parties); err != nil {
			return nil, err
		}
	}
	apps := make([]string, 0, len(keys))
	for app := range keys {
		apps = append(apps, app)
	}
	sort.Strings(apps)
	for _, app := range apps {
		entities, _, err := s.lockOrCreateEntities(tx, app, "transaction", s.Now(), true, keys[app]...)
		if err != nil {
			return nil, err
		}
		for i, e := range entities {
			parties[entityRef{app, keys[app][i]}] = e
		}
	}
	return parties, nil
}

// lockFreeParties locks, without waiting, the live entities of keys (by application)
// that no other transaction holds, into parties, and returns the keys left to create:
// those with no live entity whose vendor_data lock it took (no other transaction is
// creating them).
func (s *Store) lockFreeParties(tx *txn, keys map[string][]entityKey, parties map[entityRef]*Entity) (map[string][]entityKey, error) {
	create := map[string][]entityKey{}
	for app, ks := range keys {
		pairs := make([][]any, len(ks))
		for i, k := range ks {
			pairs[i] = []any{k.Kind, k.VendorData}
		}
		found, exists, err := lockLiveEntities(tx, app, pairs)
		if err != nil {
			return nil, fmt.Errorf("lock the parties of the batch: %w", err)
		}
		for _, e := range found {
			parties[entityRef{app, entityKey{e.Kind, e.VendorData}}] = e
		}
		for _, k := range ks {
			if parties[entityRef{app, k}] != nil || exists[k] {
				continue // locked, or held by another transaction
			}
			free, err := s.tryLockVendorData(tx, app, k.Kind, k.VendorData)
			if err != nil {
				return nil, err
			}
			if free {
				create[app] = append(create[app], k)
			}
		}
	}
	return create, nil
}

// available reports whether the batch holds every one of refs and left none of them
// to another transaction; when not, it leaves them all.
func available(parties map[entityRef]*Entity, left map[entityRef]bool, refs []entityRef) bool {
	ok := true
	for _, ref := range refs {
		if parties[ref] == nil || left[ref] {
			ok = false
		}
	}
	if !ok {
		for _, ref := range refs {
			left[ref] = true
		}
	}
	return ok
}

// transactionParties names a transaction's subject and, when it has one, counterparty.
func transactionParties(t *Transaction) []entityRef {
	refs := []entityRef{{t.ApplicationID, entityKey{t.SubjectKind, t.SubjectVendorData}}}
	if t.CounterpartyVendorData != nil {
		refs = append(refs, entityRef{t.ApplicationID, entityKey{*t.CounterpartyKind, *t.CounterpartyVendorData}})
	}
	return refs
}

// evaluationColumns are the columns of a transaction its evaluation sets.
var evaluationColumns = []string{"status", "score", "matched_rules", "status_reason", "subject_id", "counterparty_id",
	"evaluated_at", "updated_at"}

// evaluateQueued evaluates one transaction of a batch under its parties' locks (parties
// holds them, as the evaluations before it in the batch left them).
func (s *Store) evaluateQueued(tx *txn, q *queuedTransaction, parties map[entityRef]*Entity) (TxOutcome, error) {
	t := q.t
	if t.Status != rules.TxPending {
		return TxAlreadyEvaluated, nil
	}
	app, err := tx.application(t.ApplicationID)
	if err != nil {
		return "", err
	}
	settings, err := txSettings(app.Settings)
	if err != nil {
		return "", err
	}
	refs := transactionParties(t)
	subject := parties[refs[0]]
	var counterparty *Entity
	if len(refs) == 2 {
		counterparty = parties[refs[1]]
	}
	tx.resetClock() // each evaluation is timed on its own
	now := tx.Now()
	facts, err := s.txFacts(tx, app, t, subject, counterparty)
	if err != nil {
		return "", err
	}
	d := rules.EvaluateTransaction(facts, settings)
	t.Status, t.Score, t.MatchedRules, t.StatusReason = d.Status, d.Score, d.Matched, d.Reason
	if t.MatchedRules == nil {
		t.MatchedRules = []rules.Match{}
	}
	t.SubjectID, t.EvaluatedAt, t.UpdatedAt = &subject.ID, &now, now
	if counterparty != nil {
		t.CounterpartyID = &counterparty.ID
	}
	if err := tx.Model(t).Select(evaluationColumns).Updates(t).Error; err != nil {
		return "", err
	}
	w := newEntityWriter(tx, subject)
	subject.LastActivityAt = &now
	if err := w.event(EventTransactionCreated, transactionFields(t)); err != nil {
		return "", err
	}
	details := map[string]any{"transaction_id": t.TransactionID, "uuid": t.ID, "status": t.Status, "score": t.Score}
	if err := w.activity(ActivityTransactionEvaluated, details); err != nil {
		return "", err
	}
	w.transactionSignal(app.Settings.Risk.Weights(), t)
	if d.Transition != nil {
		if err := w.transition(*d.Transition, "system"); err != nil {
			return "", err
		}
	}
	return TxEvaluated, w.save()
}
