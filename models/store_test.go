package models_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/internal/testkit"
	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/rules"
)

// bundle is what each store test works with.
type bundle struct {
	store *models.Store
	app   models.Application
	key   string
}

func setup(t *testing.T, engine testkit.Engine) bundle {
	t.Helper()
	s := engine.Open(t)
	created, err := s.CreateApplication(context.Background(), "test app", "")
	require.NoError(t, err)
	return bundle{store: s, app: created.Application, key: created.APIKey}
}

// forEachEngine runs fn as a parallel subtest on PostgreSQL and on SQLite.
func forEachEngine(t *testing.T, fn func(t *testing.T, b bundle)) {
	t.Helper()
	testkit.ForEachEngine(t, setup, fn)
}

func str(s string) *string { return &s }

type eventBody map[string]any

func events(t *testing.T, b bundle, entityID string) ([]models.OutboxEvent, []eventBody) {
	t.Helper()
	evs, err := b.store.EventsForEntity(context.Background(), b.app.ID, entityID)
	require.NoError(t, err)
	bodies := make([]eventBody, len(evs))
	for i, ev := range evs {
		require.NoError(t, json.Unmarshal([]byte(ev.Body), &bodies[i]))
	}
	return evs, bodies
}

func TestMigrateIsIdempotent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		n, err := b.store.Migrate(ctx)
		require.NoError(t, err)
		require.Zero(t, n, "a second migrate applies nothing")
		pending, err := b.store.PendingMigrations(ctx)
		require.NoError(t, err)
		require.Zero(t, pending)
	})
}

func TestApplicationsAndAPIKeys(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		got, err := b.store.ApplicationByAPIKey(ctx, b.key)
		require.NoError(t, err)
		require.Equal(t, b.app.ID, got.ID)
		require.Equal(t, models.DefaultSettings(), got.Settings)
		require.Contains(t, got.IngestSecret, "isk_")

		_, err = b.store.ApplicationByAPIKey(ctx, b.key+"x")
		require.ErrorIs(t, err, models.ErrNotFound)
		_, err = b.store.ApplicationByAPIKey(ctx, "")
		require.ErrorIs(t, err, models.ErrNotFound)

		// A chosen key works, adding it again is a no-op, and another application cannot take it.
		other, err := b.store.CreateApplication(ctx, "other", "chosen-key-0123456789")
		require.NoError(t, err)
		require.Equal(t, "chosen-key-0123456789", other.APIKey)
		require.NoError(t, b.store.AddAPIKey(ctx, other.Application.ID, "chosen-key-0123456789"))
		require.ErrorIs(t, b.store.AddAPIKey(ctx, b.app.ID, "chosen-key-0123456789"), models.ErrConflict)
		_, err = b.store.CreateApplication(ctx, "third", "chosen-key-0123456789")
		require.ErrorIs(t, err, models.ErrConflict)
		_, err = b.store.CreateApplication(ctx, "short", "short")
		require.Error(t, err)

		apps, err := b.store.ListApplications(ctx)
		require.NoError(t, err)
		require.Len(t, apps, 2, "the failed creations left nothing behind")
	})
}

func TestCreateEntityWritesAuditActivityAndEvents(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		e, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{
			Kind: models.KindUser, VendorData: "user-1", Status: rules.EntityBlocked,
			Reason: "fraud ring", Actor: "ops@example.com",
			Profile:  map[string]*string{"full_name": str("Ana Ruiz"), "email": str("ana@example.com")},
			Metadata: map[string]any{"tier": "gold"},
		})
		require.NoError(t, err)

		got, err := b.store.GetEntity(ctx, b.app.ID, models.KindUser, "user-1")
		require.NoError(t, err)
		require.Equal(t, e.ID, got.ID)
		require.Equal(t, rules.EntityBlocked, got.Status)
		require.Equal(t, "fraud ring", *got.StatusReason)
		require.Equal(t, "Ana Ruiz", *got.FullName)
		require.Nil(t, got.Phone)
		require.Equal(t, map[string]any{"tier": "gold"}, got.Metadata)
		require.Equal(t, int64(2), got.EventSequence)
		require.NotNil(t, got.LastActivityAt)

		changes, err := b.store.StatusChanges(ctx, b.app.ID, e.ID)
		require.NoError(t, err)
		require.Len(t, changes, 1)
		require.Nil(t, changes[0].FromStatus)
		require.Equal(t, rules.EntityBlocked, changes[0].ToStatus)
		require.Equal(t, "ops@example.com", changes[0].Actor)

		evs, bodies := events(t, b, e.ID)
		require.Len(t, evs, 2)
		require.Equal(t, "user.data.updated", evs[0].Type)
		require.Equal(t, float64(1), bodies[0]["sequence"])
		require.Equal(t, evs[0].ID, bodies[0]["event_id"])
		require.Equal(t, "user.data.updated", bodies[0]["webhook_type"])
		require.Equal(t, b.app.ID, bodies[0]["application_id"])
		require.Equal(t, []any{"vendor_data", "status", "full_name", "email", "metadata"}, bodies[0]["changed_fields"])
		require.Equal(t, "Ana Ruiz", bodies[0]["entity"].(map[string]any)["full_name"])
		require.Equal(t, models.EventActivityCreated, evs[1].Type)
		require.Equal(t, float64(2), bodies[1]["sequence"])
		require.Equal(t, "created", bodies[1]["activity"].(map[string]any)["type"])

		acts, total, err := b.store.ListActivities(ctx, b.app.ID, e.ID, 50, 0)
		require.NoError(t, err)
		require.EqualValues(t, 1, total)
		require.Equal(t, models.ActivityCreated, acts[0].Type)

		// A second live entity with the same vendor_data is a conflict, and stores nothing.
		_, err = b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "user-1"})
		require.ErrorIs(t, err, models.ErrConflict)
		// The same vendor_data as a business, or in another application, is another entity.
		_, err = b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindBusiness, VendorData: "user-1"})
		require.NoError(t, err)
		other, err := b.store.CreateApplication(ctx, "other", "")
		require.NoError(t, err)
		_, err = b.store.CreateEntity(ctx, other.Application.ID, models.NewEntity{Kind: models.KindUser, VendorData: "user-1"})
		require.NoError(t, err)
		list, total, err := b.store.ListEntities(ctx, b.app.ID, models.KindUser, models.EntityFilter{Limit: 50})
		require.NoError(t, err)
		require.EqualValues(t, 1, total)
		require.Len(t, list, 1)
	})
}

func TestListEntitiesFiltersAndPages(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		for i := range 7 {
			status := rules.EntityActive
			if i%3 == 0 {
				status = rules.EntityFlagged
			}
			_, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{
				Kind: models.KindUser, VendorData: fmt.Sprintf("u-%d", i), Status: status,
				Profile: map[string]*string{"full_name": str(fmt.Sprintf("Person %d", i))},
			})
			require.NoError(t, err)
		}
		_, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{
			Kind: models.KindUser, VendorData: "100%_literal", Profile: map[string]*string{"email": str("MiXeD@Example.com")},
		})
		require.NoError(t, err)

		page, total, err := b.store.ListEntities(ctx, b.app.ID, models.KindUser, models.EntityFilter{Limit: 3, Offset: 0})
		require.NoError(t, err)
		require.EqualValues(t, 8, total)
		require.Equal(t, "100%_literal", page[0].VendorData, "newest first")
		require.Equal(t, "u-6", page[1].VendorData)

		page, total, err = b.store.ListEntities(ctx, b.app.ID, models.KindUser, models.EntityFilter{Limit: 3, Offset: 6})
		require.NoError(t, err)
		require.EqualValues(t, 8, total)
		require.Len(t, page, 2)
		require.Equal(t, "u-0", page[1].VendorData)

		flagged, total, err := b.store.ListEntities(ctx, b.app.ID, models.KindUser, models.EntityFilter{Status: rules.EntityFlagged, Limit: 50})
		require.NoError(t, err)
		require.EqualValues(t, 3, total)
		for _, e := range flagged {
			require.Equal(t, rules.EntityFlagged, e.Status)
		}

		found, _, err := b.store.ListEntities(ctx, b.app.ID, models.KindUser, models.EntityFilter{Search: "PERSON 4", Limit: 50})
		require.NoError(t, err)
		require.Len(t, found, 1)
		require.Equal(t, "u-4", found[0].VendorData)

		found, _, err = b.store.ListEntities(ctx, b.app.ID, models.KindUser, models.EntityFilter{Search: "%", Limit: 50})
		require.NoError(t, err)
		require.Len(t, found, 1, "% is matched literally")
		found, _, err = b.store.ListEntities(ctx, b.app.ID, models.KindUser, models.EntityFilter{Search: "mixed@", Limit: 50})
		require.NoError(t, err)
		require.Len(t, found, 1, "e-mail is searched case-insensitively")
	})
}

func TestUpdateEntityWritesOnlyWhatChanged(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		e, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{
			Kind: models.KindBusiness, VendorData: "biz-1",
			Profile:  map[string]*string{"legal_name": str("Acme SL"), "region": str("Madrid")},
			Metadata: map[string]any{"a": float64(1), "b": "x"},
		})
		require.NoError(t, err)

		updated, err := b.store.UpdateEntity(ctx, b.app.ID, models.KindBusiness, "biz-1", models.EntityPatch{
			Profile:     map[string]*string{"legal_name": str("Acme SL"), "region": nil, "country_code": str("ESP")},
			Metadata:    map[string]any{"c": true},
			MetadataSet: true,
		})
		require.NoError(t, err)
		require.Equal(t, "Acme SL", *updated.LegalName)
		require.Nil(t, updated.Region, "null clears a field")
		require.Equal(t, "ESP", *updated.CountryCode)
		require.Equal(t, map[string]any{"c": true}, updated.Metadata, "metadata is replaced wholesale")

		got, err := b.store.GetEntity(ctx, b.app.ID, models.KindBusiness, "biz-1")
		require.NoError(t, err)
		require.Nil(t, got.Region)
		require.Equal(t, "ESP", *got.CountryCode)
		require.Equal(t, map[string]any{"c": true}, got.Metadata)
		require.True(t, got.UpdatedAt.After(e.CreatedAt) || got.UpdatedAt.Equal(e.CreatedAt))

		evs, bodies := events(t, b, e.ID)
		require.Len(t, evs, 4)
		require.Equal(t, "business.data.updated", evs[2].Type)
		require.Equal(t, []any{"country_code", "region", "metadata"}, bodies[2]["changed_fields"])

		// A patch that changes nothing writes nothing.
		_, err = b.store.UpdateEntity(ctx, b.app.ID, models.KindBusiness, "biz-1", models.EntityPatch{
			Profile: map[string]*string{"legal_name": str("Acme SL")}, Metadata: map[string]any{"c": true}, MetadataSet: true,
		})
		require.NoError(t, err)
		evs, _ = events(t, b, e.ID)
		require.Len(t, evs, 4)

		_, err = b.store.UpdateEntity(ctx, b.app.ID, models.KindBusiness, "nobody", models.EntityPatch{})
		require.ErrorIs(t, err, models.ErrNotFound)
	})
}

func TestDeleteEntities(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		for i := range 5 {
			_, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: fmt.Sprintf("u-%d", i)})
			require.NoError(t, err)
		}
		n, err := b.store.DeleteEntities(ctx, b.app.ID, models.KindUser, []string{"u-0", "u-1", "missing"}, false)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		n, err = b.store.DeleteEntities(ctx, b.app.ID, models.KindUser, []string{"u-0", "u-1"}, false)
		require.NoError(t, err)
		require.Zero(t, n, "repeating the call is harmless")

		gone, err := b.store.GetEntity(ctx, b.app.ID, models.KindUser, "u-0")
		require.NoError(t, err)
		require.NotNil(t, gone.DeletedAt, "a deleted entity is still readable until purged")
		evs, bodies := events(t, b, gone.ID)
		require.Equal(t, "user.data.updated", evs[len(evs)-2].Type)
		require.Equal(t, []any{"deleted_at"}, bodies[len(bodies)-2]["changed_fields"])
		require.NotNil(t, bodies[len(bodies)-2]["entity"].(map[string]any)["deleted_at"])

		// A new live entity with that vendor_data takes its place.
		fresh, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "u-0"})
		require.NoError(t, err)
		got, err := b.store.GetEntity(ctx, b.app.ID, models.KindUser, "u-0")
		require.NoError(t, err)
		require.Equal(t, fresh.ID, got.ID)
		require.Nil(t, got.DeletedAt)

		n, err = b.store.DeleteEntities(ctx, b.app.ID, models.KindUser, nil, true)
		require.NoError(t, err)
		require.Equal(t, 4, n)
		_, total, err := b.store.ListEntities(ctx, b.app.ID, models.KindUser, models.EntityFilter{Limit: 50})
		require.NoError(t, err)
		require.Zero(t, total)
	})
}

func TestApplyStatusChangeOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		e, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "u-1"})
		require.NoError(t, err)

		_, err = b.store.RequestStatusChange(ctx, b.app.ID, models.KindUser, "nobody", models.StatusRequest{Status: rules.EntityBlocked})
		require.ErrorIs(t, err, models.ErrNotFound)

		item, err := b.store.RequestStatusChange(ctx, b.app.ID, models.KindUser, "u-1",
			models.StatusRequest{Status: rules.EntityBlocked, Reason: "chargebacks", Actor: "analyst-7"})
		require.NoError(t, err)
		require.Equal(t, models.InboxPending, item.State)

		outcome, err := b.store.ApplyStatusChange(ctx, item.ID)
		require.NoError(t, err)
		require.Equal(t, models.StatusChanged, outcome)
		outcome, err = b.store.ApplyStatusChange(ctx, item.ID)
		require.NoError(t, err)
		require.Equal(t, models.StatusAlreadyApplied, outcome, "a duplicate job changes nothing")

		got, err := b.store.GetEntity(ctx, b.app.ID, models.KindUser, "u-1")
		require.NoError(t, err)
		require.Equal(t, rules.EntityBlocked, got.Status)
		require.Equal(t, "chargebacks", *got.StatusReason)

		changes, err := b.store.StatusChanges(ctx, b.app.ID, e.ID)
		require.NoError(t, err)
		require.Len(t, changes, 2)
		require.Equal(t, rules.EntityActive, *changes[1].FromStatus)
		require.Equal(t, rules.EntityBlocked, changes[1].ToStatus)
		require.Equal(t, "chargebacks", changes[1].Reason)
		require.Equal(t, "analyst-7", changes[1].Actor)

		evs, bodies := events(t, b, e.ID)
		require.Len(t, evs, 4)
		require.Equal(t, "user.status.updated", evs[2].Type)
		require.Equal(t, "BLOCKED", bodies[2]["status"])
		require.Equal(t, "ACTIVE", bodies[2]["previous_status"])
		require.Equal(t, "chargebacks", bodies[2]["reason"])
		require.Equal(t, "analyst-7", bodies[2]["actor"])
		require.Equal(t, "u-1", bodies[2]["vendor_data"])
		require.Equal(t, e.ID, bodies[2]["uuid"])

		job, err := b.store.InboxItem(ctx, b.app.ID, item.ID)
		require.NoError(t, err)
		require.Equal(t, models.InboxApplied, job.State)
		require.NotNil(t, job.AppliedAt)

		// The same status again is recorded as applied without a transition.
		again, err := b.store.RequestStatusChange(ctx, b.app.ID, models.KindUser, "u-1", models.StatusRequest{Status: rules.EntityBlocked})
		require.NoError(t, err)
		outcome, err = b.store.ApplyStatusChange(ctx, again.ID)
		require.NoError(t, err)
		require.Equal(t, models.StatusUnchanged, outcome)
		evs, _ = events(t, b, e.ID)
		require.Len(t, evs, 4)

		// A change whose entity was deleted meanwhile fails for good, with a reason.
		late, err := b.store.RequestStatusChange(ctx, b.app.ID, models.KindUser, "u-1", models.StatusRequest{Status: rules.EntityActive})
		require.NoError(t, err)
		_, err = b.store.DeleteEntities(ctx, b.app.ID, models.KindUser, []string{"u-1"}, false)
		require.NoError(t, err)
		outcome, err = b.store.ApplyStatusChange(ctx, late.ID)
		require.NoError(t, err)
		require.Equal(t, models.StatusEntityGone, outcome)
		job, err = b.store.InboxItem(ctx, b.app.ID, late.ID)
		require.NoError(t, err)
		require.Equal(t, models.InboxFailed, job.State)
		require.Contains(t, job.LastError, "deleted")

		_, err = b.store.ApplyStatusChange(ctx, "not-a-uuid")
		require.ErrorIs(t, err, models.ErrNotFound)
	})
}

func TestConcurrentStatusChangesSerialiseOnTheEntity(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		e, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "u-1"})
		require.NoError(t, err)
		statuses := []string{rules.EntityFlagged, rules.EntityBlocked, rules.EntityActive}
		const n = 30
		ids := make([]string, n)
		for i := range n {
			item, err := b.store.RequestStatusChange(ctx, b.app.ID, models.KindUser, "u-1",
				models.StatusRequest{Status: statuses[i%3]})
			require.NoError(t, err)
			ids[i] = item.ID
		}
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for _, id := range ids {
			wg.Go(func() {
				if _, err := b.store.ApplyStatusChange(ctx, id); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}

		// Every audit record starts where the previous one ended, and the event sequence
		// has no gap and no repeat.
		changes, err := b.store.StatusChanges(ctx, b.app.ID, e.ID)
		require.NoError(t, err)
		for i := 1; i < len(changes); i++ {
			require.Equal(t, changes[i-1].ToStatus, *changes[i].FromStatus)
		}
		got, err := b.store.GetEntity(ctx, b.app.ID, models.KindUser, "u-1")
		require.NoError(t, err)
		require.Equal(t, changes[len(changes)-1].ToStatus, got.Status)
		evs, _ := events(t, b, e.ID)
		for i, ev := range evs {
			require.Equal(t, int64(i+1), ev.Sequence)
		}
		require.Equal(t, int64(len(evs)), got.EventSequence)
	})
}

func TestClaimStaleInbox(t *testing.T) {
	t.Parallel()
	for _, engine := range testkit.Engines() {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			var mu sync.Mutex
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			s := engine.Open(t, models.WithClock(clock))
			ctx := context.Background()
			app, err := s.CreateApplication(ctx, "a", "")
			require.NoError(t, err)
			_, err = s.CreateEntity(ctx, app.Application.ID, models.NewEntity{Kind: models.KindUser, VendorData: "u"})
			require.NoError(t, err)
			item, err := s.RequestStatusChange(ctx, app.Application.ID, models.KindUser, "u", models.StatusRequest{Status: rules.EntityFlagged})
			require.NoError(t, err)

			claimed, err := s.ClaimStaleInbox(ctx, 30*time.Second, 10)
			require.NoError(t, err)
			require.Empty(t, claimed, "a fresh item is left to its own job")

			mu.Lock()
			now = now.Add(31 * time.Second)
			mu.Unlock()
			claimed, err = s.ClaimStaleInbox(ctx, 30*time.Second, 10)
			require.NoError(t, err)
			require.Len(t, claimed, 1)
			require.Equal(t, item.ID, claimed[0].ID)
			claimed, err = s.ClaimStaleInbox(ctx, 30*time.Second, 10)
			require.NoError(t, err)
			require.Empty(t, claimed, "a claimed item waits another period")

			require.NoError(t, s.RecordInboxFailure(ctx, item.ID, errors.New("database went away")))
			job, err := s.InboxItem(ctx, app.Application.ID, item.ID)
			require.NoError(t, err)
			require.Equal(t, 1, job.Attempts)
			require.Equal(t, "database went away", job.LastError)

			_, err = s.ApplyStatusChange(ctx, item.ID)
			require.NoError(t, err)
			mu.Lock()
			now = now.Add(time.Hour)
			mu.Unlock()
			claimed, err = s.ClaimStaleInbox(ctx, 30*time.Second, 10)
			require.NoError(t, err)
			require.Empty(t, claimed, "applied items are never offered again")
		})
	}
}

func TestSettingsReadOverDefaults(t *testing.T) {
	t.Parallel()
	var s models.Settings
	require.NoError(t, s.Scan(`{"review_threshold": 70}`))
	want := models.DefaultSettings()
	want.ReviewThreshold = 70
	require.Equal(t, want, s)
	require.Empty(t, models.DefaultSettings().Validate())
}

func TestTheLastStatusRequestWinsWhateverTheApplyOrder(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		_, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "u"})
		require.NoError(t, err)
		var ids []string
		for _, st := range []string{rules.EntityBlocked, rules.EntityFlagged, rules.EntityActive} {
			item, err := b.store.RequestStatusChange(ctx, b.app.ID, models.KindUser, "u", models.StatusRequest{Status: st})
			require.NoError(t, err)
			ids = append(ids, item.ID)
		}
		// Workers apply them newest first.
		var outcomes []models.StatusOutcome
		for i := len(ids) - 1; i >= 0; i-- {
			outcome, err := b.store.ApplyStatusChange(ctx, ids[i])
			require.NoError(t, err)
			outcomes = append(outcomes, outcome)
		}
		require.Equal(t, []models.StatusOutcome{models.StatusUnchanged, models.StatusSuperseded, models.StatusSuperseded}, outcomes)
		e, err := b.store.GetEntity(ctx, b.app.ID, models.KindUser, "u")
		require.NoError(t, err)
		require.Equal(t, rules.EntityActive, e.Status, "the last request wins")
		changes, err := b.store.StatusChanges(ctx, b.app.ID, e.ID)
		require.NoError(t, err)
		require.Len(t, changes, 1, "no transition was written for the superseded requests")
	})
}
