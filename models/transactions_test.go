package models_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/rules"
)

var txBase = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func newTx(id, vd, amount, currency string, at time.Time) models.NewTransaction {
	return models.NewTransaction{
		TransactionID: id, Subject: models.Party{Kind: models.KindUser, VendorData: vd},
		Amount: decimal.RequireFromString(amount), Currency: currency, Direction: "outbound", TransactionAt: at,
	}
}

// submitAndEvaluate submits a transaction, evaluates it and returns it.
func submitAndEvaluate(t *testing.T, b bundle, in models.NewTransaction) *models.Transaction {
	t.Helper()
	ctx := context.Background()
	submitted, item, existing, err := b.store.SubmitTransaction(ctx, b.app.ID, in)
	require.NoError(t, err)
	require.False(t, existing)
	outcome, err := b.store.EvaluateTransaction(ctx, item.ID)
	require.NoError(t, err)
	require.Equal(t, models.TxEvaluated, outcome)
	outcome, err = b.store.EvaluateTransaction(ctx, item.ID)
	require.NoError(t, err)
	require.Equal(t, models.TxAlreadyEvaluated, outcome, "a duplicate job changes nothing")
	tx, err := b.store.GetTransaction(ctx, b.app.ID, submitted.ID)
	require.NoError(t, err)
	return tx
}

func matched(tx *models.Transaction) []string {
	var out []string
	for _, m := range tx.MatchedRules {
		out = append(out, m.Rule)
	}
	return out
}

func TestSubmitTransactionIsIdempotentAndValidatesCurrency(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		first, item, existing, err := b.store.SubmitTransaction(ctx, b.app.ID, newTx("t-1", "u", "1500.00", "EUR", txBase))
		require.NoError(t, err)
		require.False(t, existing)
		require.NotNil(t, item)
		require.Equal(t, rules.TxPending, first.Status)
		require.Equal(t, "1500", first.Amount)
		require.Equal(t, "1620", first.Resource().AmountDefault, "1500 EUR at 1.08")
		require.Equal(t, "USD", first.DefaultCurrency)

		again, item2, existing, err := b.store.SubmitTransaction(ctx, b.app.ID, newTx("t-1", "other", "9", "USD", txBase))
		require.NoError(t, err)
		require.True(t, existing, "the same transaction_id is the same transaction")
		require.Nil(t, item2)
		require.Equal(t, first.ID, again.ID)
		require.Equal(t, "u", again.SubjectVendorData)

		_, _, _, err = b.store.SubmitTransaction(ctx, b.app.ID, newTx("t-2", "u", "5", "JPY", txBase))
		require.ErrorIs(t, err, rules.ErrUnknownCurrency)
		_, total, err := b.store.ListTransactions(ctx, b.app.ID, models.TransactionFilter{Limit: 50})
		require.NoError(t, err)
		require.EqualValues(t, 1, total, "nothing stored for the unknown currency")
		pending, err := b.store.CountInbox(ctx, b.app.ID, models.InboxPending)
		require.NoError(t, err)
		require.EqualValues(t, 1, pending)

		replay, _, existing, err := b.store.SubmitTransaction(ctx, b.app.ID, newTx("t-1", "u", "5", "JPY", txBase))
		require.NoError(t, err, "a replay is answered with the stored transaction whatever its currency now")
		require.True(t, existing)
		require.Equal(t, first.ID, replay.ID)

		// Every field as submitted, read back from the database.
		in := newTx("t-3", "u", "12.345", "USD", txBase.Add(time.Minute))
		in.Counterparty = &models.Party{Kind: models.KindBusiness, VendorData: "shop ü"}
		in.Metadata = map[string]any{"channel": "card", "n": float64(3)}
		stored, item, existing, err := b.store.SubmitTransaction(ctx, b.app.ID, in)
		require.NoError(t, err)
		require.False(t, existing)
		got, err := b.store.GetTransaction(ctx, b.app.ID, stored.ID)
		require.NoError(t, err)
		require.Equal(t, "t-3", got.TransactionID)
		require.Equal(t, "u", got.SubjectVendorData)
		require.Equal(t, models.KindBusiness, *got.CounterpartyKind)
		require.Equal(t, "shop ü", *got.CounterpartyVendorData)
		require.Equal(t, "12.345", got.Amount)
		require.EqualValues(t, 12_345_000, got.AmountDefaultMicros)
		require.Equal(t, "outbound", got.Direction)
		require.True(t, txBase.Add(time.Minute).Equal(got.TransactionAt))
		require.Equal(t, in.Metadata, got.Metadata)
		require.Equal(t, rules.TxPending, got.Status)
		require.Empty(t, got.MatchedRules)
		require.Nil(t, got.EvaluatedAt)
		outcome, err := b.store.EvaluateTransaction(ctx, item.ID)
		require.NoError(t, err)
		require.Equal(t, models.TxEvaluated, outcome, "its inbox item names it")
	})
}

func TestConcurrentSubmissionsOfOneTransactionStoreItOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		const n = 8
		var wg sync.WaitGroup
		ids := make([]string, n)
		fresh := make([]bool, n)
		for i := range n {
			wg.Go(func() {
				tx, item, existing, err := b.store.SubmitTransaction(ctx, b.app.ID, newTx("same", "u", "10", "USD", txBase))
				require.NoError(t, err)
				ids[i], fresh[i] = tx.ID, !existing
				require.Equal(t, existing, item == nil)
			})
		}
		wg.Wait()
		stored := 0
		for i := range n {
			require.Equal(t, ids[0], ids[i], "one transaction")
			if fresh[i] {
				stored++
			}
		}
		require.Equal(t, 1, stored, "one submission stored it")
		pending, err := b.store.CountInbox(ctx, b.app.ID, models.InboxPending)
		require.NoError(t, err)
		require.EqualValues(t, 1, pending, "one evaluation")
	})
}

func TestEvaluationScoresFlagsAndAnnounces(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		quiet := submitAndEvaluate(t, b, newTx("t-1", "ana", "100", "USD", txBase))
		require.Equal(t, rules.TxApproved, quiet.Status)
		require.Zero(t, quiet.Score)
		require.NotNil(t, quiet.EvaluatedAt)
		require.Equal(t, rules.EntityActive, entity(t, b, "ana").Status, "the subject was auto-created ACTIVE")

		// 9259.26 EUR is 10000.0008 USD: at the large-amount edge.
		big := submitAndEvaluate(t, b, newTx("t-2", "ana", "9259.26", "EUR", txBase.Add(time.Minute)))
		require.Equal(t, rules.TxInReview, big.Status)
		require.Equal(t, 60, big.Score)
		require.Equal(t, []string{"large_amount"}, matched(big))
		e := entity(t, b, "ana")
		require.Equal(t, rules.EntityFlagged, e.Status, "crossing the review threshold flags an ACTIVE subject")
		require.Equal(t, rules.ReasonTransactionRule, *e.StatusReason)

		_, bodies := events(t, b, e.ID)
		var created []eventBody
		for _, body := range bodies {
			if body["webhook_type"] == "transaction.created" {
				created = append(created, body)
			}
		}
		require.Len(t, created, 2)
		require.Equal(t, "t-2", created[1]["transaction_id"])
		require.Equal(t, "IN_REVIEW", created[1]["status"])
		require.Equal(t, float64(60), created[1]["score"])
		require.Equal(t, "large_amount", created[1]["matched_rules"].([]any)[0].(map[string]any)["rule"])

		// A FLAGGED subject's next quiet transaction is escalated to review.
		next := submitAndEvaluate(t, b, newTx("t-3", "ana", "5", "USD", txBase.Add(2*time.Minute)))
		require.Equal(t, rules.TxInReview, next.Status)
		require.Equal(t, []string{"flagged_subject"}, matched(next))

		// Analyst review: IN_REVIEW → APPROVED, then final.
		reviewed, err := b.store.ReviewTransaction(ctx, b.app.ID, big.ID, rules.TxApproved, "analyst-7", "known customer")
		require.NoError(t, err)
		require.Equal(t, rules.TxApproved, reviewed.Status)
		require.Equal(t, "analyst-7", reviewed.ReviewedBy)
		_, err = b.store.ReviewTransaction(ctx, b.app.ID, big.ID, rules.TxDeclined, "analyst-7", "")
		require.ErrorIs(t, err, models.ErrConflict, "APPROVED is final")
		_, err = b.store.ReviewTransaction(ctx, b.app.ID, quiet.ID, rules.TxDeclined, "analyst-7", "")
		require.ErrorIs(t, err, models.ErrConflict, "only IN_REVIEW can be reviewed")
		_, bodies = events(t, b, e.ID)
		last := bodies[len(bodies)-1]
		require.Equal(t, "transaction.status.updated", last["webhook_type"])
		require.Equal(t, "IN_REVIEW", last["previous_status"])
		require.Equal(t, "APPROVED", last["status"])
		require.Equal(t, "analyst-7", last["actor"])
	})
}

func TestVelocityAndVolumeWindows(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		// 40 small transactions spread over 4 hours (one every 6 minutes): the hourly
		// window holds 10 of them, so velocity (more than 10) never matches...
		for i := range 40 {
			tx := submitAndEvaluate(t, b, newTx(fmt.Sprintf("spread-%d", i), "steady", "10", "USD", txBase.Add(time.Duration(i)*6*time.Minute)))
			require.Empty(t, matched(tx), "transaction %d", i)
		}
		// ...while 11 within one hour match on the 11th.
		for i := range 11 {
			tx := submitAndEvaluate(t, b, newTx(fmt.Sprintf("burst-%d", i), "bursty", "10", "USD", txBase.Add(time.Duration(i)*time.Minute)))
			if i < 10 {
				require.Empty(t, matched(tx), "transaction %d", i)
			} else {
				require.Equal(t, []string{"velocity"}, matched(tx))
				require.Equal(t, 30, tx.Score)
			}
		}
		// Volume: 49999.95 within 24 h does not match; five more cents do.
		for i := range 5 {
			tx := submitAndEvaluate(t, b, newTx(fmt.Sprintf("v-%d", i+1), "whale", "9999.99", "USD", txBase.Add(time.Duration(i)*time.Hour)))
			require.Empty(t, matched(tx))
		}
		edge := submitAndEvaluate(t, b, newTx("v-6", "whale", "0.05", "USD", txBase.Add(5*time.Hour)))
		require.Equal(t, []string{"volume"}, matched(edge))
		outside := submitAndEvaluate(t, b, newTx("v-7", "whale", "0.01", "USD", txBase.Add(30*time.Hour)))
		require.Empty(t, matched(outside), "a day later the window is empty again")
	})
}

func TestVolumeLeavesDeclinedTransactionsOut(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		_, err := b.store.CreateEntity(context.Background(), b.app.ID,
			models.NewEntity{Kind: models.KindBusiness, VendorData: "shady", Status: rules.EntityBlocked})
		require.NoError(t, err)
		// Six of 9,999.99 within a day, the third declined (its counterparty is blocked):
		// the volume window holds the five others, 49,999.95, and does not match, as it
		// would with the declined one counted...
		for i := range 6 {
			in := newTx(fmt.Sprintf("c-%d", i+1), "careful", "9999.99", "USD", txBase.Add(time.Duration(i)*time.Hour))
			if i == 2 {
				in.Counterparty = &models.Party{Kind: models.KindBusiness, VendorData: "shady"}
			}
			tx := submitAndEvaluate(t, b, in)
			if i == 2 {
				require.Equal(t, rules.TxDeclined, tx.Status)
				continue
			}
			require.Empty(t, matched(tx), "transaction %d", i+1)
		}
		// ...and five more cents do.
		edge := submitAndEvaluate(t, b, newTx("c-7", "careful", "0.05", "USD", txBase.Add(6*time.Hour)))
		require.Equal(t, []string{"volume"}, matched(edge))
	})
}

func TestBlockedPartiesDecline(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		_, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "bad", Status: rules.EntityBlocked})
		require.NoError(t, err)
		_, err = b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindBusiness, VendorData: "shady", Status: rules.EntityBlocked})
		require.NoError(t, err)

		tx := submitAndEvaluate(t, b, newTx("t-1", "bad", "1", "USD", txBase))
		require.Equal(t, rules.TxDeclined, tx.Status)
		require.Equal(t, rules.ReasonEntityBlocked, tx.StatusReason)

		in := newTx("t-2", "good", "1", "USD", txBase)
		in.Counterparty = &models.Party{Kind: models.KindBusiness, VendorData: "shady"}
		tx = submitAndEvaluate(t, b, in)
		require.Equal(t, rules.TxDeclined, tx.Status)
		require.Equal(t, []string{"blocked_counterparty"}, matched(tx))
		require.Equal(t, rules.EntityActive, entity(t, b, "good").Status, "declined without crossing the review threshold: not flagged")

		watch, err := b.store.CreateList(ctx, b.app.ID, "watched businesses", "watchlist", "business")
		require.NoError(t, err)
		_, _, err = b.store.AddListEntry(ctx, b.app.ID, watch.ID, "biz-watch", "")
		require.NoError(t, err)
		in = newTx("t-3", "other", "1", "USD", txBase)
		in.Counterparty = &models.Party{Kind: models.KindBusiness, VendorData: "biz-watch"}
		tx = submitAndEvaluate(t, b, in)
		require.Equal(t, rules.TxInReview, tx.Status)
		require.Equal(t, []string{"watchlisted_counterparty"}, matched(tx))
		cp, err := b.store.GetEntity(ctx, b.app.ID, models.KindBusiness, "biz-watch")
		require.NoError(t, err)
		require.Equal(t, rules.EntityFlagged, cp.Status, "the counterparty was auto-created, FLAGGED by its watchlist")
	})
}

func TestConcurrentTransactionsForOneSubject(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		const n = 30
		var items []string
		for i := range n {
			in := newTx(fmt.Sprintf("c-%02d", i), "busy", "100", "USD", txBase.Add(time.Duration(i)*time.Minute))
			in.Counterparty = &models.Party{Kind: models.KindUser, VendorData: fmt.Sprintf("peer-%d", i%3)}
			_, item, _, err := b.store.SubmitTransaction(ctx, b.app.ID, in)
			require.NoError(t, err)
			items = append(items, item.ID)
		}
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for _, id := range items {
			wg.Go(func() {
				if _, err := evaluateAsJob(ctx, b.store, id); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		all, total, err := b.store.ListTransactions(ctx, b.app.ID, models.TransactionFilter{VendorData: "busy", Limit: 200})
		require.NoError(t, err)
		require.EqualValues(t, n, total)
		velocity := 0
		for _, tx := range all {
			require.NotEqual(t, rules.TxPending, tx.Status)
			if len(tx.MatchedRules) > 0 && tx.MatchedRules[0].Rule == "velocity" {
				velocity++
			}
		}
		// Every transaction was stored before any evaluation, so each one's hourly
		// window holds the ones up to it: from the 11th of each hour on, velocity matches.
		require.Equal(t, 20, velocity)
		e := entity(t, b, "busy")
		evs, _ := events(t, b, e.ID)
		for i, ev := range evs {
			require.Equal(t, int64(i+1), ev.Sequence, "one event sequence, no gaps")
		}
	})
}

func TestVolumeOfMaximalAmountsDoesNotOverflow(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		_, problems, err := b.store.UpdateSettings(context.Background(), b.app.ID, map[string]any{
			"rules": map[string]any{"large_amount": map[string]any{"score": 0}, "volume": map[string]any{"score": 10}}})
		require.NoError(t, err)
		require.Empty(t, problems)
		// Ten amounts of 10^12 are 10^19 millionths: more than an int64 holds.
		for i := range 12 {
			tx := submitAndEvaluate(t, b, newTx(fmt.Sprintf("max-%d", i), "whale", "1000000000000", "USD", txBase.Add(time.Duration(i)*time.Second)))
			require.Contains(t, matched(tx), "volume", "transaction %d", i)
			require.Equal(t, rules.TxApproved, tx.Status, "scores 0 + 10: evaluated, approved")
		}
	})
}
