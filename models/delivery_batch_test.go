package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/internal/testkit"
	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/webhooks"
)

// pendingDelivery creates a user and returns the id of its data event's delivery to
// the failing destination, unclaimed.
func (f deliveryFixture) pendingDelivery(t *testing.T, vd string) string {
	t.Helper()
	ctx := context.Background()
	e, err := f.store.CreateEntity(ctx, f.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: vd})
	require.NoError(t, err)
	evs, err := f.store.EventsForEntity(ctx, f.app.ID, e.ID)
	require.NoError(t, err)
	deliveries, err := f.store.Deliveries(ctx, evs[0].ID)
	require.NoError(t, err)
	for _, d := range deliveries {
		if d.DestinationID == f.failing.ID {
			return d.ID
		}
	}
	t.Fatal("no delivery to the failing destination")
	return ""
}

func TestABatchOfAttemptsIsClaimedAndRecordedTogether(t *testing.T) {
	t.Parallel()
	for _, engine := range testkit.Engines() {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			f := newDeliveryFixture(t, engine)
			ctx := context.Background()
			ids := []string{f.pendingDelivery(t, "ok"), f.pendingDelivery(t, "busy"), f.pendingDelivery(t, "bad")}

			jobs, err := f.store.ClaimFirstAttempts(ctx, append([]string{"not-a-uuid"}, ids...), time.Minute)
			require.NoError(t, err)
			require.Len(t, jobs, 4)
			require.Nil(t, jobs[0], "an id that is no delivery claims nothing")
			for i, id := range ids {
				require.NotNil(t, jobs[i+1])
				require.Equal(t, id, jobs[i+1].Delivery.ID, "jobs come back in the order of the ids")
				require.Equal(t, f.failing.ID, jobs[i+1].Destination.ID)
				require.Equal(t, "user.data.updated", jobs[i+1].Event.Type)
			}
			again, err := f.store.ClaimFirstAttempts(ctx, ids, time.Minute)
			require.NoError(t, err)
			require.Equal(t, []*models.DeliveryJob{nil, nil, nil}, again, "claimed deliveries are not claimed twice")

			recorded, err := f.store.RecordAttempts(ctx, []models.AttemptRecord{
				{Job: jobs[1], Result: models.AttemptResult{Outcome: webhooks.Delivered, Status: 204}},
				{Job: jobs[2], Result: models.AttemptResult{Outcome: webhooks.Retry, Status: 503, Error: "HTTP 503"}},
				{Job: jobs[3], Result: models.AttemptResult{Outcome: webhooks.Rejected, Status: 400, Error: "HTTP 400"}},
			}, policy)
			require.NoError(t, err)
			require.Len(t, recorded, 3)
			for _, r := range recorded {
				require.NoError(t, r.Err)
				require.Equal(t, 1, r.Decision.Attempt)
			}
			require.Equal(t, models.DeliveryDelivered, recorded[0].Decision.State)
			require.Equal(t, models.DeliveryPending, recorded[1].Decision.State)
			require.Equal(t, time.Minute, recorded[1].Decision.RetryIn, "the policy's backoff after attempt 1")
			require.Equal(t, models.DeliveryFailed, recorded[2].Decision.State)

			now := f.clock.Now()
			ok, err := f.store.GetDelivery(ctx, ids[0])
			require.NoError(t, err)
			require.Equal(t, models.DeliveryDelivered, ok.State)
			require.Equal(t, 1, ok.Attempts)
			require.Equal(t, 204, *ok.LastStatus)
			require.NotNil(t, ok.DeliveredAt)
			require.True(t, ok.DeliveredAt.Equal(now))
			require.Nil(t, ok.AttemptingUntil, "the claim ends with the record")
			busy, err := f.store.GetDelivery(ctx, ids[1])
			require.NoError(t, err)
			require.Equal(t, models.DeliveryPending, busy.State)
			require.Equal(t, 503, *busy.LastStatus)
			require.Equal(t, "HTTP 503", busy.LastError)
			require.True(t, busy.NextAttemptAt.Equal(now.Add(time.Minute)), "next attempt at %s", busy.NextAttemptAt)
			require.Nil(t, busy.DeliveredAt)
			bad, err := f.store.GetDelivery(ctx, ids[2])
			require.NoError(t, err)
			require.Equal(t, models.DeliveryFailed, bad.State)
			require.Equal(t, 400, *bad.LastStatus)
			attempts, _, err := f.store.ListAttempts(ctx, f.app.ID, f.failing.ID, 10, 0)
			require.NoError(t, err)
			require.Len(t, attempts, 3, "one log row per attempt")

			// A batch job run again after its attempts were made claims nothing: the
			// retry of the 503 is its own job's, at its own time.
			f.clock.Advance(2 * time.Minute)
			rerun, err := f.store.ClaimFirstAttempts(ctx, ids, time.Minute)
			require.NoError(t, err)
			require.Equal(t, []*models.DeliveryJob{nil, nil, nil}, rerun)
			single, err := f.store.ClaimFirstAttempt(ctx, ids[1], time.Minute)
			require.NoError(t, err)
			require.Nil(t, single, "a first-attempt job the relay made meanwhile does not attempt it before its retry time")
			retry, err := f.store.ClaimDelivery(ctx, ids[1], time.Minute)
			require.NoError(t, err)
			require.NotNil(t, retry, "the delivery's own retry job still claims its retry")
		})
	}
}

func TestAnAttemptThatOutlivedItsClaimIsNotRecorded(t *testing.T) {
	t.Parallel()
	for _, engine := range testkit.Engines() {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			f := newDeliveryFixture(t, engine)
			ctx := context.Background()
			late, other := f.pendingDelivery(t, "late"), f.pendingDelivery(t, "other")
			first, err := f.store.ClaimFirstAttempts(ctx, []string{late, other}, time.Minute)
			require.NoError(t, err)
			f.clock.Advance(2 * time.Minute) // the claim on both expires
			takeover, err := f.store.ClaimDelivery(ctx, late, time.Minute)
			require.NoError(t, err)
			require.NotNil(t, takeover)

			// The late attempt and the one that took over, recorded in one batch.
			recorded, err := f.store.RecordAttempts(ctx, []models.AttemptRecord{
				{Job: first[0], Result: models.AttemptResult{Outcome: webhooks.Rejected, Status: 400}},
				{Job: first[1], Result: models.AttemptResult{Outcome: webhooks.Delivered, Status: 200}},
				{Job: takeover, Result: models.AttemptResult{Outcome: webhooks.Delivered, Status: 204}},
			}, policy)
			require.NoError(t, err)
			require.ErrorIs(t, recorded[0].Err, models.ErrClaimLost, "the delivery another attempt took over")
			require.NoError(t, recorded[1].Err, "an expired claim nobody took over still records")
			require.NoError(t, recorded[2].Err, "the attempt that took over records")
			d, err := f.store.GetDelivery(ctx, late)
			require.NoError(t, err)
			require.Equal(t, models.DeliveryDelivered, d.State, "the late attempt did not overwrite the delivery")
			require.Equal(t, 204, *d.LastStatus)
			require.Equal(t, 1, d.Attempts)
			attempts, _, err := f.store.ListAttempts(ctx, f.app.ID, f.failing.ID, 10, 0)
			require.NoError(t, err)
			require.Len(t, attempts, 2, "the late attempt is not in the log")
			for _, a := range attempts {
				require.NotEqual(t, 400, *a.ResponseStatus)
			}
		})
	}
}

func TestAFreshBatchIsTakenWithoutAClaim(t *testing.T) {
	t.Parallel()
	for _, engine := range testkit.Engines() {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			f := newDeliveryFixture(t, engine)
			ctx := context.Background()
			const hold, within, relayAfter = time.Minute, 15 * time.Second, 30 * time.Second
			old := f.pendingDelivery(t, "old")
			f.clock.Advance(20 * time.Second) // old's relay window no longer covers an attempt
			fresh, again, elsewhere := f.pendingDelivery(t, "fresh"), f.pendingDelivery(t, "again"), f.pendingDelivery(t, "elsewhere")
			claimed, err := f.store.ClaimDelivery(ctx, elsewhere, hold)
			require.NoError(t, err)
			require.NotNil(t, claimed)
			before, err := f.store.GetDelivery(ctx, fresh)
			require.NoError(t, err)

			f.clock.Advance(time.Second)
			jobs, err := f.store.TakeFirstAttempts(ctx, []string{old, fresh, elsewhere, again}, hold, within, relayAfter)
			require.NoError(t, err)
			require.Len(t, jobs, 4)
			require.NotNil(t, jobs[0])
			require.NotNil(t, jobs[0].Delivery.AttemptingUntil, "a delivery the relay may offer before the attempt ends is claimed")
			require.True(t, jobs[0].Delivery.AttemptingUntil.Equal(f.clock.Now().Add(hold)))
			require.NotNil(t, jobs[1])
			require.Nil(t, jobs[1].Delivery.AttemptingUntil, "a fresh delivery is taken without a claim")
			require.Equal(t, f.failing.ID, jobs[1].Destination.ID)
			require.Equal(t, "user.data.updated", jobs[1].Event.Type)
			require.Nil(t, jobs[2], "a delivery claimed elsewhere is not taken")
			require.NotNil(t, jobs[3])
			after, err := f.store.GetDelivery(ctx, fresh)
			require.NoError(t, err)
			require.Nil(t, after.AttemptingUntil)
			require.True(t, after.UpdatedAt.Equal(before.UpdatedAt), "taking without a claim writes nothing")
			stored, err := f.store.GetDelivery(ctx, old)
			require.NoError(t, err)
			require.NotNil(t, stored.AttemptingUntil, "the claim is stored")

			// A second run of the same batch takes the unclaimed delivery again; only the
			// first record of the two counts.
			rerun, err := f.store.TakeFirstAttempts(ctx, []string{again}, hold, within, relayAfter)
			require.NoError(t, err)
			require.NotNil(t, rerun[0])
			recorded, err := f.store.RecordAttempts(ctx, []models.AttemptRecord{
				{Job: jobs[0], Result: models.AttemptResult{Outcome: webhooks.Delivered, Status: 200}},
				{Job: jobs[3], Result: models.AttemptResult{Outcome: webhooks.Retry, Status: 503, Error: "HTTP 503"}},
			}, policy)
			require.NoError(t, err)
			require.NoError(t, recorded[0].Err)
			require.NoError(t, recorded[1].Err, "an attempt taken without a claim records")
			late, err := f.store.RecordAttempts(ctx, []models.AttemptRecord{
				{Job: rerun[0], Result: models.AttemptResult{Outcome: webhooks.Rejected, Status: 400}},
			}, policy)
			require.NoError(t, err)
			require.ErrorIs(t, late[0].Err, models.ErrClaimLost, "the delivery was attempted since it was taken")
			d, err := f.store.GetDelivery(ctx, again)
			require.NoError(t, err)
			require.Equal(t, models.DeliveryPending, d.State, "the first record's retry stands")
			require.Equal(t, 503, *d.LastStatus)
			require.Equal(t, 1, d.Attempts)
			require.Nil(t, d.AttemptingUntil)

			// The relay offers the fresh delivery once its window is over, and its job
			// claims it: the attempt taken without a claim, recorded after that, is lost.
			f.clock.Advance(relayAfter)
			takeover, err := f.store.ClaimFirstAttempt(ctx, fresh, hold)
			require.NoError(t, err)
			require.NotNil(t, takeover)
			recorded, err = f.store.RecordAttempts(ctx, []models.AttemptRecord{
				{Job: jobs[1], Result: models.AttemptResult{Outcome: webhooks.Rejected, Status: 400}},
				{Job: takeover, Result: models.AttemptResult{Outcome: webhooks.Delivered, Status: 204}},
			}, policy)
			require.NoError(t, err)
			require.ErrorIs(t, recorded[0].Err, models.ErrClaimLost, "another attempt claimed the delivery")
			require.NoError(t, recorded[1].Err)
			d, err = f.store.GetDelivery(ctx, fresh)
			require.NoError(t, err)
			require.Equal(t, models.DeliveryDelivered, d.State)
			require.Equal(t, 204, *d.LastStatus)
			attempts, _, err := f.store.ListAttempts(ctx, f.app.ID, f.failing.ID, 10, 0)
			require.NoError(t, err)
			require.Len(t, attempts, 3, "one log row per recorded attempt: old, again, fresh's takeover")
			for _, a := range attempts {
				require.NotEqual(t, 400, *a.ResponseStatus, "no lost attempt is in the log")
			}

			// A relay window no longer than the attempt claims everything.
			last := f.pendingDelivery(t, "last")
			all, err := f.store.TakeFirstAttempts(ctx, []string{last}, hold, within, within)
			require.NoError(t, err)
			require.NotNil(t, all[0])
			require.NotNil(t, all[0].Delivery.AttemptingUntil)
		})
	}
}
