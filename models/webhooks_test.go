package models_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/internal/testkit"
	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/webhooks"
)

// clock is a settable clock for stores under test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var policy = webhooks.Policy{
	MaxAttempts:  4,
	MaxAge:       30 * 24 * time.Hour,
	Backoff:      func(attempt int) time.Duration { return time.Duration(attempt) * time.Minute },
	MaxInterval:  time.Hour,
	DisableAfter: 5 * 24 * time.Hour,
}

// deliveryFixture is an application with two destinations and an event that fans out.
type deliveryFixture struct {
	store   *models.Store
	clock   *clock
	refs    *[]models.DeliveryRef
	app     models.Application
	failing *models.Destination
	other   *models.Destination
}

func newDeliveryFixture(t *testing.T, engine testkit.Engine) deliveryFixture {
	t.Helper()
	c := &clock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	var mu sync.Mutex
	var refs []models.DeliveryRef
	s := engine.Open(t, models.WithClock(c.Now), models.WithAfterCommit(func(_ context.Context, due models.Committed) {
		mu.Lock()
		defer mu.Unlock()
		refs = append(refs, due.Deliveries...)
	}))
	ctx := context.Background()
	app, err := s.CreateApplication(ctx, "hooks", "")
	require.NoError(t, err)
	failing, err := s.CreateDestination(ctx, app.Application.ID, models.NewDestination{
		URL: "https://failing.example.com/hook", SubscribedEvents: []string{"user.data.updated"}, Enabled: true})
	require.NoError(t, err)
	other, err := s.CreateDestination(ctx, app.Application.ID, models.NewDestination{
		URL: "https://other.example.com/hook", SubscribedEvents: []string{"*"}, Enabled: true})
	require.NoError(t, err)
	return deliveryFixture{store: s, clock: c, refs: &refs, app: app.Application, failing: failing, other: other}
}

// job creates a user and returns the claimed delivery of its data event to the failing
// destination.
func (f deliveryFixture) job(t *testing.T, vd string) *models.DeliveryJob {
	t.Helper()
	job, err := f.store.ClaimDelivery(context.Background(), f.pendingDelivery(t, vd), time.Minute)
	require.NoError(t, err)
	require.NotNil(t, job)
	return job
}

func TestFanOutFollowsSubscriptions(t *testing.T) {
	t.Parallel()
	for _, engine := range testkit.Engines() {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			f := newDeliveryFixture(t, engine)
			ctx := context.Background()
			e, err := f.store.CreateEntity(ctx, f.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "u"})
			require.NoError(t, err)
			evs, err := f.store.EventsForEntity(ctx, f.app.ID, e.ID)
			require.NoError(t, err)
			require.Len(t, evs, 2) // user.data.updated, activity.created
			data, err := f.store.Deliveries(ctx, evs[0].ID)
			require.NoError(t, err)
			require.Len(t, data, 2, "both destinations take user.data.updated")
			activity, err := f.store.Deliveries(ctx, evs[1].ID)
			require.NoError(t, err)
			require.Len(t, activity, 1, "only the * destination takes activity.created")
			require.Equal(t, f.other.ID, activity[0].DestinationID)
			require.Len(t, *f.refs, 3, "the hook is told of every delivery after the commit")

			disabled := false
			_, err = f.store.UpdateDestination(ctx, f.app.ID, f.other.ID, models.DestinationPatch{Enabled: &disabled})
			require.NoError(t, err)
			e2, err := f.store.CreateEntity(ctx, f.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "u2"})
			require.NoError(t, err)
			evs, err = f.store.EventsForEntity(ctx, f.app.ID, e2.ID)
			require.NoError(t, err)
			none, err := f.store.Deliveries(ctx, evs[1].ID)
			require.NoError(t, err)
			require.Empty(t, none, "a disabled destination gets no deliveries")
		})
	}
}

func TestRetriesGiveUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	for _, engine := range testkit.Engines() {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			f := newDeliveryFixture(t, engine)
			ctx := context.Background()
			job := f.job(t, "u")
			again, err := f.store.ClaimDelivery(ctx, job.Delivery.ID, time.Minute)
			require.NoError(t, err)
			require.Nil(t, again, "a claimed delivery is not attempted twice at once")

			fail := models.AttemptResult{Outcome: webhooks.Retry, Status: 503, Error: "HTTP 503", RequestURL: job.Destination.URL}
			for attempt := 1; attempt <= 3; attempt++ {
				dec, err := f.store.RecordAttempt(ctx, job, fail, policy)
				require.NoError(t, err)
				require.Equal(t, models.DeliveryPending, dec.State)
				require.Equal(t, attempt, dec.Attempt)
				require.Equal(t, time.Duration(attempt)*time.Minute, dec.RetryIn, "the policy's backoff")
				f.clock.Advance(dec.RetryIn)
				job, err = f.store.ClaimDelivery(ctx, job.Delivery.ID, time.Minute)
				require.NoError(t, err)
				require.NotNil(t, job)
			}
			dec, err := f.store.RecordAttempt(ctx, job, fail, policy)
			require.NoError(t, err)
			require.Equal(t, models.DeliveryFailed, dec.State, "the fourth failure is the last")
			d, err := f.store.GetDelivery(ctx, job.Delivery.ID)
			require.NoError(t, err)
			require.Equal(t, 4, d.Attempts)
			require.Contains(t, d.LastError, "gave up after 4 attempts")
			attempts, total, err := f.store.ListAttempts(ctx, f.app.ID, f.failing.ID, 50, 0)
			require.NoError(t, err)
			require.EqualValues(t, 4, total)
			require.Equal(t, 4, attempts[0].Attempt, "newest first")
			require.Equal(t, job.Event.ID, attempts[0].EventID)

			// Retry-After is honoured, up to the policy's longest interval.
			job2 := f.job(t, "u2")
			dec, err = f.store.RecordAttempt(ctx, job2, models.AttemptResult{Outcome: webhooks.Retry, Status: 429, RetryAfter: 17 * time.Minute}, policy)
			require.NoError(t, err)
			require.Equal(t, 17*time.Minute, dec.RetryIn)
			job3 := f.job(t, "u3")
			dec, err = f.store.RecordAttempt(ctx, job3, models.AttemptResult{Outcome: webhooks.Retry, Status: 429, RetryAfter: 48 * time.Hour}, policy)
			require.NoError(t, err)
			require.Equal(t, time.Hour, dec.RetryIn)
		})
	}
}

func TestADestinationFailingFiveDaysIsDisabled(t *testing.T) {
	t.Parallel()
	for _, engine := range testkit.Engines() {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			f := newDeliveryFixture(t, engine)
			ctx := context.Background()
			long := policy
			long.MaxAttempts = 1000
			fail := models.AttemptResult{Outcome: webhooks.Retry, Error: "timed out"}

			_, err := f.store.RecordAttempt(ctx, f.job(t, "u1"), fail, long)
			require.NoError(t, err)
			d, err := f.store.GetDestination(ctx, f.app.ID, f.failing.ID)
			require.NoError(t, err)
			require.True(t, d.Enabled)
			require.Equal(t, f.clock.Now(), d.FailingSince.UTC())

			f.clock.Advance(4 * 24 * time.Hour)
			_, err = f.store.RecordAttempt(ctx, f.job(t, "u2"), models.AttemptResult{Outcome: webhooks.Delivered, Status: 200}, long)
			require.NoError(t, err)
			d, err = f.store.GetDestination(ctx, f.app.ID, f.failing.ID)
			require.NoError(t, err)
			require.Nil(t, d.FailingSince, "a success ends the streak")

			_, err = f.store.RecordAttempt(ctx, f.job(t, "u3"), fail, long)
			require.NoError(t, err)
			f.clock.Advance(5*24*time.Hour - time.Minute)
			_, err = f.store.RecordAttempt(ctx, f.job(t, "u4"), fail, long)
			require.NoError(t, err)
			d, err = f.store.GetDestination(ctx, f.app.ID, f.failing.ID)
			require.NoError(t, err)
			require.True(t, d.Enabled, "not yet five days")

			f.clock.Advance(2 * time.Minute)
			_, err = f.store.RecordAttempt(ctx, f.job(t, "u5"), fail, long)
			require.NoError(t, err)
			d, err = f.store.GetDestination(ctx, f.app.ID, f.failing.ID)
			require.NoError(t, err)
			require.False(t, d.Enabled)
			require.Contains(t, d.DisabledReason, "failing without a success since")

			events, _, err := f.store.ListEvents(ctx, f.app.ID, models.EventFilter{Type: models.EventDestinationDisabled, Limit: 10})
			require.NoError(t, err)
			require.Len(t, events, 1)
			deliveries, err := f.store.Deliveries(ctx, events[0].ID)
			require.NoError(t, err)
			require.Len(t, deliveries, 1)
			require.Equal(t, f.other.ID, deliveries[0].DestinationID, "destination.disabled goes to the other destinations")
		})
	}
}

func TestGoneDisablesAtOnceAndRecoverRestarts(t *testing.T) {
	t.Parallel()
	for _, engine := range testkit.Engines() {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			f := newDeliveryFixture(t, engine)
			ctx := context.Background()
			since := f.clock.Now()
			job := f.job(t, "u1")
			dec, err := f.store.RecordAttempt(ctx, job, models.AttemptResult{Outcome: webhooks.Gone, Status: 410, Error: "HTTP 410"}, policy)
			require.NoError(t, err)
			require.Equal(t, models.DeliveryFailed, dec.State)
			d, err := f.store.GetDestination(ctx, f.app.ID, f.failing.ID)
			require.NoError(t, err)
			require.False(t, d.Enabled)
			require.Equal(t, "the endpoint answered 410 Gone", d.DisabledReason)

			enabled := true
			_, err = f.store.UpdateDestination(ctx, f.app.ID, f.failing.ID, models.DestinationPatch{Enabled: &enabled})
			require.NoError(t, err)
			*f.refs = nil
			n, err := f.store.RecoverDeliveries(ctx, f.app.ID, f.failing.ID, since)
			require.NoError(t, err)
			require.Equal(t, 1, n)
			require.Len(t, *f.refs, 1, "recovered deliveries are handed to the hook")
			back, err := f.store.GetDelivery(ctx, job.Delivery.ID)
			require.NoError(t, err)
			require.Equal(t, models.DeliveryPending, back.State)
			require.Zero(t, back.Attempts, "a new cycle of attempts")
		})
	}
}

func TestListEventsSinceAnyTimeZone(t *testing.T) {
	t.Parallel()
	for _, engine := range testkit.Engines() {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			f := newDeliveryFixture(t, engine)
			ctx := context.Background()
			since := f.clock.Now()
			_, err := f.store.CreateEntity(ctx, f.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "u"})
			require.NoError(t, err)
			utc, _, err := f.store.ListEvents(ctx, f.app.ID, models.EventFilter{Since: since, Limit: 50})
			require.NoError(t, err)
			require.Len(t, utc, 2)
			for _, zone := range []*time.Location{time.FixedZone("+05", 5*3600), time.FixedZone("-05", -5*3600)} {
				got, _, err := f.store.ListEvents(ctx, f.app.ID, models.EventFilter{Since: since.In(zone), Limit: 50})
				require.NoError(t, err)
				require.Len(t, got, 2, "the same instant in %s", zone)
			}
			later, _, err := f.store.ListEvents(ctx, f.app.ID, models.EventFilter{Since: since.Add(time.Second).In(time.FixedZone("+05", 5*3600)), Limit: 50})
			require.NoError(t, err)
			require.Empty(t, later)
		})
	}
}

// Deleting a destination deletes its deliveries and their log, and leaves the other
// destination's alone (PostgreSQL has no cascading key from a destination: 00017).
func TestDeletingADestinationDeletesItsDeliveriesAndLog(t *testing.T) {
	testkit.ForEachEngine(t, newDeliveryFixture, func(t *testing.T, f deliveryFixture) {
		ctx := context.Background()
		job := f.job(t, "gone")
		_, err := f.store.RecordAttempt(ctx, job, models.AttemptResult{Outcome: webhooks.Retry, Status: 503,
			Error: "HTTP 503", RequestURL: job.Destination.URL}, policy)
		require.NoError(t, err)
		deliveries, err := f.store.Deliveries(ctx, job.Event.ID)
		require.NoError(t, err)
		require.Len(t, deliveries, 2, "both destinations take the event")
		logged, err := f.store.CountForTest(ctx, "delivery_attempts", "destination_id = ?", f.failing.ID)
		require.NoError(t, err)
		require.EqualValues(t, 1, logged)

		require.NoError(t, f.store.DeleteDestination(ctx, f.app.ID, f.failing.ID))
		_, err = f.store.GetDelivery(ctx, job.Delivery.ID)
		require.Error(t, err, "the deleted destination's delivery is gone")
		left, err := f.store.Deliveries(ctx, job.Event.ID)
		require.NoError(t, err)
		require.Len(t, left, 1)
		require.Equal(t, f.other.ID, left[0].DestinationID, "the other destination's delivery stays")
		logged, err = f.store.CountForTest(ctx, "delivery_attempts", "destination_id = ?", f.failing.ID)
		require.NoError(t, err)
		require.Zero(t, logged, "its delivery log is gone")
		require.ErrorIs(t, f.store.DeleteDestination(ctx, f.app.ID, f.failing.ID), models.ErrNotFound)
	})
}

// A delivery that outlived its destination (a batch committed it after the destination
// was deleted: PostgreSQL has no cascading key from a destination) is removed when a
// job claims it, rather than offered by the relay forever.
func TestAClaimRemovesADeliveryWhoseDestinationIsGone(t *testing.T) {
	testkit.ForEachEngine(t, newDeliveryFixture, func(t *testing.T, f deliveryFixture) {
		ctx := context.Background()
		id := f.pendingDelivery(t, "orphan")
		_, err := f.store.ExecForTest(ctx, "DELETE FROM webhook_destinations WHERE id = ?", f.failing.ID)
		require.NoError(t, err)

		job, err := f.store.ClaimDelivery(ctx, id, time.Minute)
		require.NoError(t, err)
		require.Nil(t, job, "nothing to attempt")
		_, err = f.store.GetDelivery(ctx, id)
		require.ErrorIs(t, err, models.ErrNotFound, "the orphaned delivery is gone")
		left, err := f.store.CountForTest(ctx, "deliveries", "destination_id = ?", f.other.ID)
		require.NoError(t, err)
		require.NotZero(t, left, "the other destination's deliveries stay")
	})
}
