package models_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/internal/testkit"
	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/rules"
)

// evaluateAsJob evaluates as the job does: a busy item (in another batch) runs again
// shortly.
func evaluateAsJob(ctx context.Context, s *models.Store, id string) (models.TxOutcome, error) {
	for {
		outcome, err := s.EvaluateTransaction(ctx, id)
		if !errors.Is(err, models.ErrInboxItemBusy) {
			return outcome, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// evaluationLoad is the transactions of one run of TestABatchOfEvaluationsIsEvaluatedAsOneByOne,
// its parties' names prefixed with p: a burst that crosses the velocity window, a
// large amount that flags its ACTIVE subject (whose later transactions see it FLAGGED),
// two parties paying each other, a blocked and a watchlisted counterparty, and
// counterparties nobody knew.
func evaluationLoad(p string) []models.NewTransaction {
	var load []models.NewTransaction
	party := func(kind, vd string) *models.Party { return &models.Party{Kind: kind, VendorData: p + vd} }
	for i := range 12 {
		load = append(load, newTx(fmt.Sprintf("%s-burst-%02d", p, i), p+"-bursty", "10", "USD", txBase.Add(time.Duration(i)*time.Minute)))
	}
	large := newTx(p+"-large", p+"-whale", "20000", "USD", txBase)
	large.Counterparty = party(models.KindUser, "-new-peer")
	load = append(load, large, newTx(p+"-after-flag", p+"-whale", "5", "USD", txBase.Add(time.Minute)))
	ab := newTx(p+"-a-to-b", p+"-a", "7", "USD", txBase)
	ab.Counterparty = party(models.KindUser, "-b")
	ba := newTx(p+"-b-to-a", p+"-b", "8", "USD", txBase)
	ba.Counterparty = party(models.KindUser, "-a")
	shady := newTx(p+"-to-shady", p+"-a", "9", "USD", txBase.Add(time.Minute))
	shady.Counterparty = party(models.KindBusiness, "-shady")
	watched := newTx(p+"-to-watched", p+"-b", "9", "USD", txBase.Add(time.Minute))
	watched.Counterparty = party(models.KindBusiness, "-watched")
	return append(load, ab, ba, shady, watched)
}

// One job evaluates every pending transaction in one transaction: each transaction's
// status, score and matched rules, and its parties' status, risk and events, come out
// as when they are evaluated one by one; every item is settled once and the other jobs
// find their transactions evaluated.
func TestABatchOfEvaluationsIsEvaluatedAsOneByOne(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		watch, err := b.store.CreateList(ctx, b.app.ID, "watched businesses", "watchlist", "business")
		require.NoError(t, err)
		for _, p := range []string{"single", "batched"} {
			_, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindBusiness, VendorData: p + "-shady", Status: rules.EntityBlocked})
			require.NoError(t, err)
			_, _, err = b.store.AddListEntry(ctx, b.app.ID, watch.ID, p+"-watched", "")
			require.NoError(t, err)
		}
		for _, in := range evaluationLoad("single") {
			submitAndEvaluate(t, b, in)
		}
		var ids []string
		for _, in := range evaluationLoad("batched") {
			_, item, _, err := b.store.SubmitTransaction(ctx, b.app.ID, in)
			require.NoError(t, err)
			ids = append(ids, item.ID)
		}
		outcome, err := b.store.EvaluateTransaction(ctx, ids[len(ids)-1])
		require.NoError(t, err)
		require.Equal(t, models.TxEvaluated, outcome)
		for _, id := range ids {
			item, err := b.store.InboxItem(ctx, b.app.ID, id)
			require.NoError(t, err)
			require.Equal(t, models.InboxApplied, item.State, "one job evaluated the whole batch")
			require.Equal(t, 1, item.Attempts)
			outcome, err := b.store.EvaluateTransaction(ctx, id)
			require.NoError(t, err)
			require.Equal(t, models.TxAlreadyEvaluated, outcome)
		}

		decided := func(p string) map[string]string {
			all, _, err := b.store.ListTransactions(ctx, b.app.ID, models.TransactionFilter{Limit: 200})
			require.NoError(t, err)
			out := map[string]string{}
			for _, tx := range all {
				if id, ok := strings.CutPrefix(tx.TransactionID, p+"-"); ok {
					out[id] = fmt.Sprintf("%s %d %v", tx.Status, tx.Score, matched(&tx))
				}
			}
			return out
		}
		want := decided("single")
		require.Len(t, want, 18)
		require.Equal(t, want, decided("batched"))
		require.Equal(t, "IN_REVIEW 60 [large_amount]", want["large"])
		require.Equal(t, "APPROVED 30 [velocity]", want["burst-11"])
		require.True(t, strings.HasPrefix(want["to-shady"], "DECLINED"), want["to-shady"])

		for _, vd := range []string{"-bursty", "-whale", "-new-peer", "-a", "-b"} {
			single, batch := entity(t, b, "single"+vd), entity(t, b, "batched"+vd)
			require.Equal(t, single.Status, batch.Status, vd)
			require.Equal(t, single.RiskScore, batch.RiskScore, vd)
			kinds := func(e *models.Entity) []string {
				evs, _ := events(t, b, e.ID)
				var out []string
				for i, ev := range evs {
					require.Equal(t, int64(i+1), ev.Sequence, "one event per sequence number")
					out = append(out, ev.Type)
				}
				return out
			}
			require.Equal(t, kinds(single), kinds(batch), vd)
		}
		require.Equal(t, rules.EntityFlagged, entity(t, b, "batched-whale").Status, "the large amount flagged its subject")
	})
}

// A job whose item another transaction holds (a batch evaluating it) does not wait: it
// evaluates the other pending transactions and says the item is busy, leaving it
// untouched.
func TestAnEvaluationInAnotherBatchIsBusy(t *testing.T) {
	b := setup(t, testkit.Engines()[0]) // PostgreSQL: SQLite's one writer holds no row locks
	ctx := context.Background()
	_, mine, _, err := b.store.SubmitTransaction(ctx, b.app.ID, newTx("mine", "mine", "1", "USD", txBase))
	require.NoError(t, err)
	_, other, _, err := b.store.SubmitTransaction(ctx, b.app.ID, newTx("other", "other", "1", "USD", txBase))
	require.NoError(t, err)
	release, err := b.store.HoldForTest(ctx, "SELECT id FROM inbox WHERE id = ? FOR UPDATE", mine.ID)
	require.NoError(t, err)
	t.Cleanup(release)

	_, err = b.store.EvaluateTransaction(ctx, mine.ID)
	require.ErrorIs(t, err, models.ErrInboxItemBusy)
	item, err := b.store.InboxItem(ctx, b.app.ID, mine.ID)
	require.NoError(t, err)
	require.Equal(t, models.InboxPending, item.State)
	require.Zero(t, item.Attempts, "busy is no failed attempt")
	item, err = b.store.InboxItem(ctx, b.app.ID, other.ID)
	require.NoError(t, err)
	require.Equal(t, models.InboxApplied, item.State, "the job evaluated the other pending transaction meanwhile")

	release() // the holder rolled back: the job, run again, evaluates the item
	outcome, err := b.store.EvaluateTransaction(ctx, mine.ID)
	require.NoError(t, err)
	require.Equal(t, models.TxEvaluated, outcome)
}

// A batch leaves an evaluation whose party another transaction holds, and every later
// evaluation of its parties (so that each party's transactions are evaluated in the
// order they arrived); a job whose own evaluation is left waits for its parties alone.
func TestABatchLeavesEvaluationsOfHeldParties(t *testing.T) {
	b := setup(t, testkit.Engines()[0]) // PostgreSQL: SQLite's one writer holds no row locks
	ctx := context.Background()
	_, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "held"})
	require.NoError(t, err)
	submit := func(id, subject, counterparty string) string {
		in := newTx(id, subject, "1", "USD", txBase)
		if counterparty != "" {
			in.Counterparty = &models.Party{Kind: models.KindUser, VendorData: counterparty}
		}
		_, item, _, err := b.store.SubmitTransaction(ctx, b.app.ID, in)
		require.NoError(t, err)
		return item.ID
	}
	toHeld := submit("p-to-held", "p", "held")
	pLater := submit("p-later", "p", "")
	free := submit("free", "free", "")
	ownHeld := submit("held-own", "held", "")
	release, err := b.store.HoldForTest(ctx, "SELECT id FROM entities WHERE application_id = ? AND vendor_data = ? FOR UPDATE", b.app.ID, "held")
	require.NoError(t, err)
	t.Cleanup(release)
	state := func(id string) string {
		item, err := b.store.InboxItem(ctx, b.app.ID, id)
		require.NoError(t, err)
		return item.State
	}

	outcome, err := b.store.EvaluateTransaction(ctx, free)
	require.NoError(t, err)
	require.Equal(t, models.TxEvaluated, outcome)
	require.Equal(t, models.InboxPending, state(toHeld), "its counterparty is held elsewhere")
	require.Equal(t, models.InboxPending, state(pLater), "it waits for the earlier transaction of its subject")
	require.Equal(t, models.InboxPending, state(ownHeld))

	done := make(chan error, 1)
	go func() {
		_, err := b.store.EvaluateTransaction(ctx, ownHeld)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the job did not wait for its subject: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	release()
	require.NoError(t, <-done)
	require.Equal(t, models.InboxApplied, state(ownHeld))
	for _, id := range []string{toHeld, pLater} {
		_, err := evaluateAsJob(ctx, b.store, id)
		require.NoError(t, err)
		require.Equal(t, models.InboxApplied, state(id))
	}
	evs, bodies := events(t, b, entity(t, b, "p").ID)
	var created []any
	for i, ev := range evs {
		if ev.Type == models.EventTransactionCreated {
			created = append(created, bodies[i]["transaction_id"])
		}
	}
	require.Equal(t, []any{"p-to-held", "p-later"}, created, "p's transactions in the order they arrived")
}
