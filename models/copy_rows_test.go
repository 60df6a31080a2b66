package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/internal/testkit"
	"github.com/standinghq/standing/models"
)

// Every field of the append-only rows a transaction writes through COPY (PostgreSQL)
// reads back as it was written: values in the order of their columns, nulls as nulls,
// JSON columns as gorm's serializer reads them.
func TestCopyWritesEveryFieldInItsColumn(t *testing.T) {
	t.Parallel()
	s := testkit.PostgresStore(t)
	at := func(s int) time.Time { return time.Date(2026, 12, 4, 1, 2, s, 123456000, time.UTC) }
	ptr := func(t time.Time) *time.Time { return &t }
	entity, inbox, status := "01a23ece-0000-7000-8000-000000000001", "01a23ece-0000-7000-8000-000000000002", 502
	in := models.CopiedRows{
		Event: models.OutboxEvent{ID: "01a23ece-0000-7000-8000-000000000010", ApplicationID: "01a23ece-0000-7000-8000-000000000011",
			EntityID: &entity, Type: "user.status.updated", Sequence: 42, Body: `{"a":"ü","b":[1,2]}`, BodyCanonical: true, CreatedAt: at(1)},
		Delivery: models.Delivery{ID: "01a23ece-0000-7000-8000-000000000020", ApplicationID: "01a23ece-0000-7000-8000-000000000021",
			EventID: "01a23ece-0000-7000-8000-000000000022", DestinationID: "01a23ece-0000-7000-8000-000000000023", State: "pending",
			Attempts: 3, LastStatus: &status, LastError: "boom", CreatedAt: at(2), UpdatedAt: at(3), EnqueuedAt: at(4),
			DeliveredAt: ptr(at(5)), NextAttemptAt: ptr(at(6)), AttemptingUntil: ptr(at(7)), CycleStartedAt: ptr(at(8))},
		Activity: models.Activity{ID: "01a23ece-0000-7000-8000-000000000030", ApplicationID: "01a23ece-0000-7000-8000-000000000031",
			EntityID: entity, Type: "status_changed", Details: map[string]any{"from": "ACTIVE", "n": float64(2)}, CreatedAt: at(9)},
		History: models.SessionEvent{ID: "01a23ece-0000-7000-8000-000000000040", SessionPK: "01a23ece-0000-7000-8000-000000000041",
			InboxID: &inbox, ReportedStatus: "Approved", Status: "Declined", Reason: "why", EventAt: at(10), Current: true, ReceivedAt: at(11)},
		Attempt: models.DeliveryAttempt{ID: "01a23ece-0000-7000-8000-000000000050", DeliveryID: "01a23ece-0000-7000-8000-000000000051",
			DestinationID: "01a23ece-0000-7000-8000-000000000052", EventID: "01a23ece-0000-7000-8000-000000000053",
			WebhookType: "data.updated", Attempt: 2, RequestURL: "https://example.com/hook",
			RequestHeaders: map[string]string{"webhook-id": "x"}, ResponseStatus: &status, ResponseBody: "nope",
			ResponseTimeMs: 17, Error: "HTTP 502", CreatedAt: at(12)},
	}
	roundTrip := func(in models.CopiedRows) {
		t.Helper()
		out, err := s.CopyRoundTripForTest(context.Background(), in)
		require.NoError(t, err)
		utc := func(ts ...*time.Time) {
			for _, t := range ts {
				if t != nil {
					*t = t.UTC()
				}
			}
		}
		d := &out.Delivery
		utc(&out.Event.CreatedAt, &d.CreatedAt, &d.UpdatedAt, &d.EnqueuedAt, d.DeliveredAt, d.NextAttemptAt, d.AttemptingUntil,
			d.CycleStartedAt, &out.Activity.CreatedAt, &out.History.EventAt, &out.History.ReceivedAt, &out.Attempt.CreatedAt)
		require.Equal(t, in, out)
	}
	roundTrip(in)
	// The nullable columns as nulls.
	in.Event.EntityID, in.History.InboxID, in.Attempt.ResponseStatus = nil, nil, nil
	in.Delivery.LastStatus, in.Delivery.DeliveredAt, in.Delivery.NextAttemptAt = nil, nil, nil
	in.Delivery.AttemptingUntil, in.Delivery.CycleStartedAt = nil, nil
	roundTrip(in)
}

// A transaction whose context ends before its COPY says so: the caller gave up, the
// database is not unavailable (database/sql closes the connection of a cancelled
// transaction, and COPY on it would report the closed connection).
func TestCopyAfterTheContextEndedSaysSo(t *testing.T) {
	t.Parallel()
	err := testkit.PostgresStore(t).CopyAfterCancelForTest()
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, models.IsUnavailable(err), "%v", err)
}
