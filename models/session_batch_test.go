package models_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/internal/testkit"
	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/rules"
)

// sessionHistory is the session events of an entity: every session's history length and
// current status, by the session id without its per-run prefix.
func sessionHistory(t *testing.T, b bundle, vd string, sessions int) map[string][2]any {
	t.Helper()
	out := map[string][2]any{}
	for s := range sessions {
		sid := fmt.Sprintf("%s-s-%d", vd, s)
		r, err := b.store.GetSession(context.Background(), b.app.ID, sid)
		require.NoError(t, err)
		out[fmt.Sprintf("s-%d", s)] = [2]any{len(r.History), r.Status}
	}
	return out
}

// ingestShuffled stores events (not applied) in a random order and returns their inbox
// ids in that order.
func ingestShuffled(t *testing.T, b bundle, events []models.SessionEventInput) []string {
	t.Helper()
	rand.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	ids := make([]string, 0, len(events))
	for _, in := range events {
		item, _, err := b.store.IngestSessionEvent(context.Background(), b.app.ID, in)
		require.NoError(t, err)
		ids = append(ids, item.ID)
	}
	return ids
}

// One job applies every pending session event in one transaction: the entity, its
// sessions' histories and its events come out as when the events are applied one by
// one, each event exactly once, and the other events' jobs find their items applied.
func TestABatchOfSessionEventsIsAppliedAsOneByOne(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		load := func(vd string) []models.SessionEventInput {
			var evs []models.SessionEventInput
			finals := []string{rules.SessionApproved, rules.SessionDeclined, rules.SessionInReview}
			for s := range 6 {
				sid := fmt.Sprintf("%s-s-%d", vd, s)
				at := base + int64(s*100)
				evs = append(evs, ev(vd, sid, rules.SessionInProgress, at, nil))
				final := finals[s%len(finals)]
				evs = append(evs, ev(vd, sid, final, at+10, idv(final, fmt.Sprintf("Name %d", s))))
			}
			return evs
		}
		apply(t, b, load("single")...)

		ids := ingestShuffled(t, b, load("batched"))
		outcome, err := b.store.ApplySessionEvent(ctx, ids[len(ids)-1])
		require.NoError(t, err)
		require.Contains(t, []models.SessionOutcome{models.SessionCurrent, models.SessionHistory}, outcome)
		for _, id := range ids {
			item, err := b.store.InboxItem(ctx, b.app.ID, id)
			require.NoError(t, err)
			require.Equal(t, models.InboxApplied, item.State, "one job applied the whole batch")
			require.Equal(t, 1, item.Attempts)
			outcome, err := b.store.ApplySessionEvent(ctx, id)
			require.NoError(t, err)
			require.Equal(t, models.SessionAlreadyApplied, outcome)
		}

		single, batch := entity(t, b, "single"), entity(t, b, "batched")
		want, got := comparable(single), comparable(batch)
		want.VendorData, got.VendorData = "", ""
		require.Equal(t, want, got)
		require.Equal(t, 6, batch.SessionCount)
		require.Equal(t, 2, batch.ApprovedCount)
		require.Equal(t, 2, batch.DeclinedCount)
		require.Equal(t, sessionHistory(t, b, "single", 6), sessionHistory(t, b, "batched", 6))

		// The batch wrote the same kinds of events, numbered 1, 2, … without gaps.
		kinds := func(e *models.Entity) []string {
			evs, _ := events(t, b, e.ID)
			var out []string
			for i, ev := range evs {
				require.Equal(t, int64(i+1), ev.Sequence)
				out = append(out, ev.Type)
			}
			return out
		}
		require.ElementsMatch(t, kinds(single), kinds(batch))
	})
}

// A batch on entities that exist already reads them, their sessions and their
// allowlisting up front: the entities come out as when the events are applied one by
// one, with several events per session in the batch, an allowlisted entity spared the
// auto-block and the other blocked.
func TestABatchOnKnownEntitiesIsAppliedAsOneByOne(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		_, problems, err := b.store.UpdateSettings(ctx, b.app.ID, map[string]any{"auto_block_on_decline": true})
		require.NoError(t, err)
		require.Empty(t, problems)
		vip, err := b.store.CreateList(ctx, b.app.ID, "vip", rules.ListAllowlist, models.KindUser)
		require.NoError(t, err)
		for _, vd := range []string{"single-vip", "batched-vip"} {
			_, _, err := b.store.AddEntry(ctx, b.app.ID, vip.ID, models.NewListEntry{Value: vd, Actor: "test"})
			require.NoError(t, err)
		}
		decision := func(vd, status string, s int) map[string]any {
			return map[string]any{"id_verification": map[string]any{"status": status,
				"full_name": fmt.Sprintf("Name %d", s), "document_number": fmt.Sprintf("%s-doc-%d", vd, s)}}
		}
		// Every session's first event is applied before: the entity and its sessions exist.
		first := func(vd string) []models.SessionEventInput {
			var evs []models.SessionEventInput
			for s := range 4 {
				evs = append(evs, ev(vd, fmt.Sprintf("%s-s-%d", vd, s), rules.SessionNotStarted, base+int64(s*100), nil))
			}
			return evs
		}
		rest := func(vd string) []models.SessionEventInput {
			var evs []models.SessionEventInput
			finals := []string{rules.SessionApproved, rules.SessionInReview, rules.SessionApproved, rules.SessionDeclined}
			for s := range 4 {
				sid, at := fmt.Sprintf("%s-s-%d", vd, s), base+int64(s*100)
				evs = append(evs, ev(vd, sid, rules.SessionInProgress, at+5, nil),
					ev(vd, sid, finals[s], at+10, decision(vd, finals[s], s)))
			}
			return evs
		}
		for _, vd := range []string{"single", "single-vip"} {
			apply(t, b, first(vd)...)
			apply(t, b, rest(vd)...)
		}
		var batched []models.SessionEventInput
		for _, vd := range []string{"batched", "batched-vip"} {
			apply(t, b, first(vd)...)
			batched = append(batched, rest(vd)...)
		}
		ids := ingestShuffled(t, b, batched)
		_, err = b.store.ApplySessionEvent(ctx, ids[0])
		require.NoError(t, err)
		for _, id := range ids {
			item, err := b.store.InboxItem(ctx, b.app.ID, id)
			require.NoError(t, err)
			require.Equal(t, models.InboxApplied, item.State, "one job applied the whole batch")
		}

		for _, pair := range [][2]string{{"single", "batched"}, {"single-vip", "batched-vip"}} {
			single, batch := entity(t, b, pair[0]), entity(t, b, pair[1])
			want, got := comparable(single), comparable(batch)
			want.VendorData, got.VendorData = "", ""
			require.Equal(t, pair[1]+"-doc-2", *got.UserProfile.DocumentNumber, "the latest approved session's document")
			for _, r := range []*models.EntityResource{&want, &got} {
				r.UserProfile.DocumentNumber = nil // named after the entity
				for i := range r.RiskSignals {
					r.RiskSignals[i].Source = "" // names the per-entity session
				}
			}
			require.Equal(t, want, got, pair[1])
			require.Equal(t, 4, batch.SessionCount)
			require.Equal(t, 2, batch.ApprovedCount)
			require.Equal(t, 1, batch.DeclinedCount)
			require.Equal(t, 1, batch.InReviewCount)
			require.Equal(t, sessionHistory(t, b, pair[0], 4), sessionHistory(t, b, pair[1], 4))
			for s := range 4 {
				r, err := b.store.GetSession(ctx, b.app.ID, fmt.Sprintf("%s-s-%d", pair[1], s))
				require.NoError(t, err)
				require.Len(t, r.History, 3, "each session's three events, once each")
			}
		}
		require.Equal(t, rules.EntityBlocked, entity(t, b, "batched").Status, "declined, with auto-block on")
		require.Equal(t, rules.EntityActive, entity(t, b, "batched-vip").Status, "allowlisted: spared the auto-block")
	})
}

// A batch finds the sessions its events name whatever characters their ids hold (they
// go to PostgreSQL as one array literal): each session keeps one history, not two.
func TestABatchFindsSessionsWhateverTheirIDs(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		sids := []string{`quote"d`, `back\slash`, `com,ma`, `{braces}`, `sp ace`, `NULL`, `ünï-cödé`, `''`}
		var rest []models.SessionEventInput
		for i, sid := range sids {
			vd := fmt.Sprintf("odd-%d", i%3)
			apply(t, b, ev(vd, sid, rules.SessionNotStarted, base+int64(i), nil))
			rest = append(rest, ev(vd, sid, rules.SessionInProgress, base+int64(i)+50, nil))
		}
		ids := ingestShuffled(t, b, rest)
		_, err := b.store.ApplySessionEvent(ctx, ids[0])
		require.NoError(t, err)
		for _, id := range ids {
			item, err := b.store.InboxItem(ctx, b.app.ID, id)
			require.NoError(t, err)
			require.Equal(t, models.InboxApplied, item.State, "one job applied the whole batch")
		}
		for _, sid := range sids {
			r, err := b.store.GetSession(ctx, b.app.ID, sid)
			require.NoError(t, err, sid)
			require.Len(t, r.History, 2, sid)
			require.Equal(t, rules.SessionInProgress, r.Status, sid)
		}
		for i := range 3 {
			require.Equal(t, 3-i/2, entity(t, b, fmt.Sprintf("odd-%d", i)).SessionCount)
		}
	})
}

// An item of a batch that holds no valid session event fails for good on its own; the
// others of its batch are applied.
func TestAnInvalidItemInABatchFailsAlone(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		var ids []string
		for s := range 3 {
			item, _, err := b.store.IngestSessionEvent(ctx, b.app.ID,
				ev("u-bad", fmt.Sprintf("bad-s-%d", s), rules.SessionInProgress, base+int64(s), nil))
			require.NoError(t, err)
			ids = append(ids, item.ID)
		}
		_, err := b.store.ExecForTest(ctx, `UPDATE inbox SET payload = '{"kind":"robot"}' WHERE id = ?`, ids[1])
		require.NoError(t, err)

		outcome, err := b.store.ApplySessionEvent(ctx, ids[1])
		require.NoError(t, err)
		require.Equal(t, models.SessionInvalid, outcome)
		for i, id := range ids {
			item, err := b.store.InboxItem(ctx, b.app.ID, id)
			require.NoError(t, err)
			if i == 1 {
				require.Equal(t, models.InboxFailed, item.State)
				require.Equal(t, "the stored event is not a valid session event", item.LastError)
				continue
			}
			require.Equal(t, models.InboxApplied, item.State)
		}
		require.Equal(t, 2, entity(t, b, "u-bad").SessionCount)
	})
}

// Jobs racing over the same pending events (each batching whatever is free) apply every
// event exactly once: no item is applied twice, none is left pending, and the counters
// are those of the events.
func TestRacingBatchesApplyEveryEventOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		var ids []string
		for s := range 40 {
			vd := fmt.Sprintf("race-%d", s%4)
			item, _, err := b.store.IngestSessionEvent(ctx, b.app.ID,
				ev(vd, fmt.Sprintf("race-s-%d", s), rules.SessionApproved, base+int64(s), nil))
			require.NoError(t, err)
			ids = append(ids, item.ID)
		}
		var wg sync.WaitGroup
		for range 8 {
			order := append([]string(nil), ids...)
			rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			wg.Go(func() {
				for _, id := range order {
					if _, err := applyAsJob(ctx, b.store, id); !assert.NoError(t, err) {
						return
					}
				}
			})
		}
		wg.Wait()
		for _, id := range ids {
			item, err := b.store.InboxItem(ctx, b.app.ID, id)
			require.NoError(t, err)
			require.Equal(t, models.InboxApplied, item.State)
			require.Equal(t, 1, item.Attempts, "applied once")
		}
		for e := range 4 {
			got := entity(t, b, fmt.Sprintf("race-%d", e))
			require.Equal(t, 10, got.SessionCount)
			require.Equal(t, 10, got.ApprovedCount)
			evs, _ := events(t, b, got.ID)
			for i, ev := range evs {
				require.Equal(t, int64(i+1), ev.Sequence, "one event per sequence number")
			}
		}
	})
}

// A job whose event's entity another transaction holds applies the other pending
// events first, then waits for the entity with its own event alone.
func TestAJobWhoseEntityIsHeldElsewhereAppliesTheOthersFirst(t *testing.T) {
	b := setup(t, testkit.Engines()[0]) // PostgreSQL: SQLite's one writer holds no row locks
	ctx := context.Background()
	apply(t, b, ev("held", "held-s-0", rules.SessionInProgress, base, nil), ev("free", "free-s-0", rules.SessionInProgress, base, nil))
	heldItem, _, err := b.store.IngestSessionEvent(ctx, b.app.ID, ev("held", "held-s-0", rules.SessionApproved, base+10, nil))
	require.NoError(t, err)
	freeItem, _, err := b.store.IngestSessionEvent(ctx, b.app.ID, ev("free", "free-s-0", rules.SessionApproved, base+10, nil))
	require.NoError(t, err)
	release, err := b.store.HoldForTest(ctx, "SELECT id FROM entities WHERE application_id = ? AND vendor_data = ? FOR UPDATE", b.app.ID, "held")
	require.NoError(t, err)

	type result struct {
		outcome models.SessionOutcome
		err     error
	}
	done := make(chan result, 1)
	go func() {
		outcome, err := b.store.ApplySessionEvent(ctx, heldItem.ID)
		done <- result{outcome, err}
	}()
	require.Eventually(t, func() bool {
		item, err := b.store.InboxItem(ctx, b.app.ID, freeItem.ID)
		return err == nil && item.State == models.InboxApplied
	}, 5*time.Second, 5*time.Millisecond, "the job applied the other pending event meanwhile")
	item, err := b.store.InboxItem(ctx, b.app.ID, heldItem.ID)
	require.NoError(t, err)
	require.Equal(t, models.InboxPending, item.State, "its own event waits for the entity")
	select {
	case r := <-done:
		t.Fatalf("the job did not wait for the entity: %v %v", r.outcome, r.err)
	case <-time.After(100 * time.Millisecond):
	}

	release()
	r := <-done
	require.NoError(t, r.err)
	require.Equal(t, models.SessionCurrent, r.outcome)
	require.Equal(t, rules.SessionApproved, sessionHistory(t, b, "held", 1)["s-0"][1])
	require.Equal(t, 1, entity(t, b, "held").ApprovedCount)
}

// A job whose item another transaction holds (a batch applying it) does not wait: it
// applies the other pending events and says the item is busy, leaving it untouched.
func TestAJobWhoseItemIsInAnotherBatchIsBusy(t *testing.T) {
	b := setup(t, testkit.Engines()[0]) // PostgreSQL: SQLite's one writer holds no row locks
	ctx := context.Background()
	mine, _, err := b.store.IngestSessionEvent(ctx, b.app.ID, ev("mine", "mine-s-0", rules.SessionApproved, base, nil))
	require.NoError(t, err)
	other, _, err := b.store.IngestSessionEvent(ctx, b.app.ID, ev("other", "other-s-0", rules.SessionApproved, base, nil))
	require.NoError(t, err)
	release, err := b.store.HoldForTest(ctx, "SELECT id FROM inbox WHERE id = ? FOR UPDATE", mine.ID)
	require.NoError(t, err)

	_, err = b.store.ApplySessionEvent(ctx, mine.ID)
	require.ErrorIs(t, err, models.ErrInboxItemBusy)
	item, err := b.store.InboxItem(ctx, b.app.ID, mine.ID)
	require.NoError(t, err)
	require.Equal(t, models.InboxPending, item.State)
	require.Zero(t, item.Attempts, "busy is no failed attempt")
	item, err = b.store.InboxItem(ctx, b.app.ID, other.ID)
	require.NoError(t, err)
	require.Equal(t, models.InboxApplied, item.State, "the job applied the other pending event meanwhile")

	release() // the holder rolled back: the job, run again, applies the item
	outcome, err := b.store.ApplySessionEvent(ctx, mine.ID)
	require.NoError(t, err)
	require.Equal(t, models.SessionCurrent, outcome)
}

// A session's history has exactly one current event, the latest by upstream time:
// whether its events are applied one by one (each a transaction of its own, the stored
// current event unset by the next) or together in one batch (the session created and
// moved on within the batch), and whatever their arrival order.
func TestASessionHasOneCurrentEventAppliedAloneOrInABatch(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		load := func(vd string) []models.SessionEventInput {
			sid := vd + "-s-0"
			return []models.SessionEventInput{
				ev(vd, sid, rules.SessionNotStarted, base, nil),
				ev(vd, sid, rules.SessionInProgress, base+10, nil),
				ev(vd, sid, rules.SessionApproved, base+20, idv(rules.SessionApproved, "Ada Lovelace")),
			}
		}
		check := func(vd string) {
			t.Helper()
			s, current := currentEvents(t, b, vd+"-s-0")
			require.Len(t, s.History, 3)
			require.Equal(t, []string{rules.SessionApproved}, current, vd)
			require.Equal(t, rules.SessionApproved, s.Status)
			e := entity(t, b, vd)
			require.Equal(t, [4]int{1, 1, 0, 0}, [4]int{e.SessionCount, e.ApprovedCount, e.DeclinedCount, e.InReviewCount})
		}
		apply(t, b, load("alone")...)
		check("alone")

		ids := ingestShuffled(t, b, load("batched"))
		_, err := b.store.ApplySessionEvent(ctx, ids[0])
		require.NoError(t, err)
		check("batched")

		// The stored session moves on in a later batch: its stored current event is unset.
		later := []models.SessionEventInput{ev("batched", "batched-s-0", rules.SessionInReview, base+30, nil),
			ev("other", "other-s-0", rules.SessionInProgress, base, nil)}
		ids = ingestShuffled(t, b, later)
		_, err = b.store.ApplySessionEvent(ctx, ids[0])
		require.NoError(t, err)
		_, current := currentEvents(t, b, "batched-s-0")
		require.Equal(t, []string{rules.SessionInReview}, current)
		e := entity(t, b, "batched")
		require.Equal(t, [4]int{1, 0, 0, 1}, [4]int{e.SessionCount, e.ApprovedCount, e.DeclinedCount, e.InReviewCount})
	})
}

// currentEvents returns a session and the statuses of its history's current events.
func currentEvents(t *testing.T, b bundle, sessionID string) (models.SessionResource, []string) {
	t.Helper()
	s, err := b.store.GetSession(context.Background(), b.app.ID, sessionID)
	require.NoError(t, err)
	var current []string
	for _, h := range s.History {
		if h.Current {
			current = append(current, h.Status)
		}
	}
	return s, current
}
