package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/internal/testkit"
	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/rules"
	"github.com/standinghq/standing/webhooks"
)

// purgeFixture is a store on a settable clock with one application whose retention is
// 30 days, and a destination that takes every event.
type purgeFixture struct {
	bundle
	clock *clock
	dest  *models.Destination
}

func newPurgeFixture(t *testing.T, engine testkit.Engine, retentionDays int) purgeFixture {
	t.Helper()
	c := &clock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	s := engine.Open(t, models.WithClock(c.Now))
	ctx := context.Background()
	app, err := s.CreateApplication(ctx, "purge", "")
	require.NoError(t, err)
	_, problems, err := s.UpdateSettings(ctx, app.Application.ID, map[string]any{"retention_days": float64(retentionDays)})
	require.NoError(t, err)
	require.Empty(t, problems)
	dest, err := s.CreateDestination(ctx, app.Application.ID, models.NewDestination{
		URL: "https://hooks.example.com/in", SubscribedEvents: []string{"*"}, Enabled: true})
	require.NoError(t, err)
	return purgeFixture{bundle: bundle{store: s, app: app.Application, key: app.APIKey}, clock: c, dest: dest}
}

// history gives user vd a session, a transaction and a manual status change, and
// delivers every event of it so far; it returns the entity, its session id and its
// transaction's uuid.
func (f purgeFixture) history(t *testing.T, vd string) (*models.Entity, string, string) {
	t.Helper()
	ctx := context.Background()
	sessionID := "sess-" + vd
	apply(t, f.bundle, ev(vd, sessionID, "Approved", base, idv("Approved", "Ana "+vd)))
	tx := submitAndEvaluate(t, f.bundle, newTx("t-"+vd, vd, "10", "USD", f.clock.Now()))
	item, err := f.store.RequestStatusChange(ctx, f.app.ID, models.KindUser, vd,
		models.StatusRequest{Status: rules.EntityFlagged, Reason: "review", Actor: "ops@example.com"})
	require.NoError(t, err)
	_, err = f.store.ApplyStatusChange(ctx, item.ID)
	require.NoError(t, err)
	e := entity(t, f.bundle, vd)
	f.deliverAll(t, e.ID)
	return e, sessionID, tx.ID
}

// deliverAll records a successful attempt for every pending delivery of the entity's
// events.
func (f purgeFixture) deliverAll(t *testing.T, entityID string) {
	t.Helper()
	ctx := context.Background()
	evs, err := f.store.EventsForEntity(ctx, f.app.ID, entityID)
	require.NoError(t, err)
	for _, ev := range evs {
		ds, err := f.store.Deliveries(ctx, ev.ID)
		require.NoError(t, err)
		for _, d := range ds {
			if d.State != models.DeliveryPending {
				continue
			}
			job, err := f.store.ClaimDelivery(ctx, d.ID, time.Minute)
			require.NoError(t, err)
			require.NotNil(t, job)
			_, err = f.store.RecordAttempt(ctx, job, models.AttemptResult{Outcome: webhooks.Delivered, Status: 200}, policy)
			require.NoError(t, err)
		}
	}
}

func (f purgeFixture) purge(t *testing.T) models.PurgeCounts {
	t.Helper()
	counts, err := f.store.Purge(context.Background(), 2, nil)
	require.NoError(t, err)
	return counts
}

func TestPurgeRemovesEverythingAtTheEndOfTheRetentionWindowAndNothingBefore(t *testing.T) {
	t.Parallel()
	for _, engine := range testkit.Engines() {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newPurgeFixture(t, engine, 30)
			gone, goneSession, goneTx := f.history(t, "gone")
			kept, keptSession, keptTx := f.history(t, "kept")
			// Three entities deleted at once, so that the purge takes more than one batch.
			for _, vd := range []string{"gone-2", "gone-3"} {
				_, err := f.store.CreateEntity(ctx, f.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: vd})
				require.NoError(t, err)
			}
			deletedAt := f.clock.Now()
			n, err := f.store.DeleteEntities(ctx, f.app.ID, models.KindUser, []string{"gone", "gone-2", "gone-3"}, false)
			require.NoError(t, err)
			require.Equal(t, 3, n)
			f.deliverAll(t, gone.ID) // the deletion's own events too
			auditBefore, err := f.store.StatusChanges(ctx, f.app.ID, gone.ID)
			require.NoError(t, err)
			require.NotEmpty(t, auditBefore)

			f.clock.now = deletedAt.Add(30*24*time.Hour - time.Second)
			require.Zero(t, f.purge(t)["entities"], "nothing is purged a second before the window ends")
			e := entity(t, f.bundle, "gone")
			require.NotNil(t, e.DeletedAt, "the deleted entity is still readable, with deleted_at")

			f.clock.Advance(time.Second)
			counts := f.purge(t)
			require.Equal(t, int64(3), counts["entities"])
			require.Equal(t, int64(1), counts["sessions"])
			require.Equal(t, int64(1), counts["session_events"])
			require.Equal(t, int64(1), counts["inbox_items"], "the stored upstream event went with its session")
			require.Equal(t, int64(1), counts["transactions"])
			require.Positive(t, counts["activities"])
			require.Positive(t, counts["events"])
			require.Equal(t, counts["events"], counts["deliveries"], "one destination: one delivery per event")
			require.GreaterOrEqual(t, counts["audit_records"], int64(len(auditBefore)), "the purged entities' audit records become tombstones")

			_, err = f.store.GetEntity(ctx, f.app.ID, models.KindUser, "gone")
			require.True(t, errors.Is(err, models.ErrNotFound), "a purged entity is not found: %v", err)
			_, err = f.store.GetSession(ctx, f.app.ID, goneSession)
			require.True(t, errors.Is(err, models.ErrNotFound))
			_, err = f.store.GetTransaction(ctx, f.app.ID, goneTx)
			require.True(t, errors.Is(err, models.ErrNotFound))
			acts, total, err := f.store.ListActivities(ctx, f.app.ID, gone.ID, 50, 0)
			require.NoError(t, err)
			require.Zero(t, total)
			require.Empty(t, acts)
			evs, _ := events(t, f.bundle, gone.ID)
			require.Empty(t, evs, "the entity's delivered events are gone")
			// The audit records are content-free tombstones now, and the chain still holds.
			auditAfter, err := f.store.StatusChanges(ctx, f.app.ID, gone.ID)
			require.NoError(t, err)
			require.Empty(t, auditAfter, "no record names the purged entity any more")
			report, err := f.store.VerifyChains(ctx, f.app.ID)
			require.NoError(t, err)
			require.Nil(t, report.Broken, "the chain verifies through the tombstones")
			require.Equal(t, counts["audit_records"], report.Tombstones)

			// The live entity kept everything.
			require.Nil(t, entity(t, f.bundle, "kept").DeletedAt)
			_, err = f.store.GetSession(ctx, f.app.ID, keptSession)
			require.NoError(t, err)
			_, err = f.store.GetTransaction(ctx, f.app.ID, keptTx)
			require.NoError(t, err)
			keptEvents, _ := events(t, f.bundle, kept.ID)
			require.NotEmpty(t, keptEvents)

			again := f.purge(t)
			require.Zero(t, again["entities"], "a second pass finds nothing more")
		})
	}
}

func TestPurgeWithZeroRetentionAndPendingDeliveries(t *testing.T) {
	t.Parallel()
	for _, engine := range testkit.Engines() {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newPurgeFixture(t, engine, 0)
			e, err := f.store.CreateEntity(ctx, f.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "u-1"})
			require.NoError(t, err)
			_, err = f.store.DeleteEntities(ctx, f.app.ID, models.KindUser, []string{"u-1"}, false)
			require.NoError(t, err)
			evs, _ := events(t, f.bundle, e.ID)
			require.NotEmpty(t, evs)

			// retention_days 0: the next pass purges it, but its events still wait for
			// their deliveries and stay.
			counts := f.purge(t)
			require.Equal(t, int64(1), counts["entities"])
			require.Zero(t, counts["events"])
			_, err = f.store.GetEntity(ctx, f.app.ID, models.KindUser, "u-1")
			require.True(t, errors.Is(err, models.ErrNotFound))
			left, _ := events(t, f.bundle, e.ID)
			require.Len(t, left, len(evs), "pending events are kept for their deliveries")

			require.Zero(t, f.purge(t)["events"], "still pending: still kept")
			f.deliverAll(t, e.ID)
			counts = f.purge(t)
			require.Equal(t, int64(len(evs)), counts["events"], "delivered, the events go at the next pass")
			left, _ = events(t, f.bundle, e.ID)
			require.Empty(t, left)
		})
	}
}

func TestJobRunsRunOncePerPeriodAndARunThatDiedIsRedone(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		run, claimed, err := b.store.ClaimJobRun(ctx, "purge", "2026-12-02T05", models.TriggerSchedule, time.Minute)
		require.NoError(t, err)
		require.True(t, claimed)
		_, again, err := b.store.ClaimJobRun(ctx, "purge", "2026-12-02T05", models.TriggerSchedule, time.Minute)
		require.NoError(t, err)
		require.False(t, again, "a run in progress is not taken twice")
		// The run fails: its lease ends and the next claim redoes it.
		require.NoError(t, b.store.FinishJobRun(ctx, run.ID, map[string]int64{"entities": 1}, errors.New("database went away")))
		redo, claimed, err := b.store.ClaimJobRun(ctx, "purge", "2026-12-02T05", models.TriggerSchedule, time.Minute)
		require.NoError(t, err)
		require.True(t, claimed, "a failed run is redone")
		require.Equal(t, run.ID, redo.ID)
		require.Equal(t, 2, redo.Attempts)
		require.NoError(t, b.store.FinishJobRun(ctx, redo.ID, map[string]int64{"entities": 3}, nil))
		_, claimed, err = b.store.ClaimJobRun(ctx, "purge", "2026-12-02T05", models.TriggerSchedule, time.Minute)
		require.NoError(t, err)
		require.False(t, claimed, "a finished run is never redone")
		_, claimed, err = b.store.ClaimJobRun(ctx, "purge", "2026-12-02T06", models.TriggerSchedule, time.Minute)
		require.NoError(t, err)
		require.True(t, claimed, "the next period has its own run")

		done, err := b.store.JobRunFor(ctx, "purge", "2026-12-02T05")
		require.NoError(t, err)
		require.NotNil(t, done.FinishedAt)
		require.Equal(t, map[string]int64{"entities": 3}, done.Counts)
		runs, total, err := b.store.JobRuns(ctx, "purge", 10, 0)
		require.NoError(t, err)
		require.Equal(t, int64(2), total)
		require.Len(t, runs, 2)
	})
}
