package workers_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/tasks"
	"github.com/standinghq/standing/webhooks"
	"github.com/standinghq/standing/workers"
)

// batchDeliverer is a Deliverer with caps of perDestination (handlers and requests), run by calling its
// handler directly.
func (b deliveryBundle) batchDeliverer(perDestination int) *workers.Deliverer {
	guard := webhooks.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	return &workers.Deliverer{
		Store: b.store, Sender: webhooks.NewSender(2*time.Second, guard), Enqueuer: b.enqueuer,
		Policy: webhooks.Policy{
			MaxAttempts: 5, MaxAge: time.Hour, MaxInterval: time.Minute, DisableAfter: 120 * time.Hour,
			Backoff: webhooks.Backoff{Initial: 30 * time.Second, Max: time.Minute}.Delay,
		},
		Limiter: workers.NewLimiter(perDestination, perDestination), Log: b.log,
	}
}

// userDeliveries creates users named names and returns their data events' deliveries
// (to the bundle's only destination), in order, and the events' bodies by id.
func (b deliveryBundle) userDeliveries(t *testing.T, names ...string) ([]models.Delivery, map[string]string) {
	t.Helper()
	ctx := context.Background()
	var out []models.Delivery
	events := map[string]string{}
	for _, name := range names {
		e, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: "user", VendorData: name})
		require.NoError(t, err)
		ev, ds := b.firstEvent(t, e.ID)
		require.Len(t, ds, 1)
		out = append(out, ds[0])
		events[ev.ID] = ev.Body
	}
	return out, events
}

// firstEvent returns an entity's first event and its deliveries.
func (b deliveryBundle) firstEvent(t *testing.T, entityID string) (models.OutboxEvent, []models.Delivery) {
	t.Helper()
	ctx := context.Background()
	evs, err := b.store.EventsForEntity(ctx, b.app.ID, entityID)
	require.NoError(t, err)
	require.NotEmpty(t, evs)
	ds, err := b.store.Deliveries(ctx, evs[0].ID)
	require.NoError(t, err)
	return evs[0], ds
}

func deliveryIDs(ds []models.Delivery) []string {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return ids
}

func TestABatchJobMakesEachFirstAttemptOnceWithinTheDestinationsCap(t *testing.T) {
	t.Parallel()
	// RelayAfter 0 claims every delivery; 5 minutes takes these fresh ones without a claim.
	for name, relayAfter := range map[string]time.Duration{"claimed": 0, "unclaimed": 5 * time.Minute} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			batchJobMakesEachFirstAttemptOnce(t, relayAfter)
		})
	}
}

// batchJobMakesEachFirstAttemptOnce runs a batch job of nine deliveries, two of them to
// be retried, with a Deliverer of that RelayAfter, and then the same job again.
func batchJobMakesEachFirstAttemptOnce(t *testing.T, relayAfter time.Duration) {
	b := setupDelivery(t)
	var inFlight, peak, requests atomic.Int32
	var mu sync.Mutex
	bodies := map[string]string{} // event_id -> body
	rec := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		requests.Add(1)
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			EventID string `json:"event_id"`
		}
		_ = json.Unmarshal(body, &ev)
		mu.Lock()
		bodies[ev.EventID] = string(body)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond) // long enough for the cap to matter
		if strings.Contains(string(body), "flaky-") {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	b.destination(t, rec.srv.URL+"/hook")
	ds, events := b.userDeliveries(t, "u-0", "u-1", "u-2", "u-3", "u-4", "u-5", "u-6", "flaky-0", "flaky-1")
	dest := ds[0].DestinationID
	d := b.batchDeliverer(3)
	d.RelayAfter = relayAfter
	task := tasks.NewDeliveryBatchTask(b.queues, dest, deliveryIDs(ds), time.Minute)
	ctx := context.Background()

	require.NoError(t, d.HandleDeliverBatch(ctx, task))
	require.Equal(t, int32(9), requests.Load(), "one request per delivery")
	require.Equal(t, 9, rec.count(), "each event once")
	require.LessOrEqual(t, peak.Load(), int32(3), "never more concurrent requests than the destination's cap")
	require.Greater(t, peak.Load(), int32(1), "the requests of a round run concurrently")
	for _, del := range ds {
		got, err := b.store.GetDelivery(ctx, del.ID)
		require.NoError(t, err)
		require.Equal(t, 1, got.Attempts)
		require.Nil(t, got.AttemptingUntil)
		mu.Lock()
		require.Equal(t, events[del.EventID], bodies[del.EventID], "the receiver got the event's stored bytes")
		mu.Unlock()
		if !strings.Contains(events[del.EventID], "flaky-") {
			require.Equal(t, models.DeliveryDelivered, got.State)
			continue
		}
		require.Equal(t, models.DeliveryPending, got.State)
		require.Equal(t, 503, *got.LastStatus)
		info, err := b.inspector.GetTaskInfo(b.queues.WebhookRetries(), del.ID)
		require.NoError(t, err, "a failed first attempt's retry is a job of its own")
		require.Equal(t, asynq.TaskStateScheduled, info.State)
	}

	require.NoError(t, d.HandleDeliverBatch(ctx, task), "the same batch run again")
	require.Equal(t, int32(9), requests.Load(), "a batch run again makes no attempt twice, not even the retries")
}

func TestABatchJobWithoutASlotGoesBackUntouched(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t)
	rec := newReceiver(t, nil)
	b.destination(t, rec.srv.URL+"/hook")
	ds, _ := b.userDeliveries(t, "a", "b")
	dest := ds[0].DestinationID
	d := b.batchDeliverer(2)
	held := d.Limiter.TryRequests(dest, 5)
	require.Len(t, held, 2, "TryRequests takes at most the cap")
	task := tasks.NewDeliveryBatchTask(b.queues, dest, deliveryIDs(ds), time.Minute)
	ctx := context.Background()

	require.ErrorIs(t, d.HandleDeliverBatch(ctx, task), workers.ErrDestinationBusy)
	require.False(t, workers.IsFailure(workers.ErrDestinationBusy), "a busy destination is no failed attempt")
	var handlers []func()
	for range 2 {
		release, ok := d.Limiter.Hold(ctx, dest, 0)
		require.True(t, ok, "the busy batch gave back its handler slot")
		handlers = append(handlers, release)
	}
	for _, release := range handlers {
		release()
	}
	require.Zero(t, rec.count())
	for _, del := range ds {
		got, err := b.store.GetDelivery(ctx, del.ID)
		require.NoError(t, err)
		require.Equal(t, 0, got.Attempts)
		require.Nil(t, got.AttemptingUntil, "nothing was claimed")
	}
	for _, release := range held {
		release()
	}
	require.NoError(t, d.HandleDeliverBatch(ctx, task))
	require.Equal(t, 2, rec.count())
}

func TestFirstAttemptsToOneDestinationAreEnqueuedAsOneBatch(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t)
	ids := []string{uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()}
	destA, destB := uuid.NewString(), uuid.NewString()
	b.enqueuer.EnqueueBatched(context.Background(), []models.DeliveryRef{
		{ID: ids[0], DestinationID: destA}, {ID: ids[1], DestinationID: destB}, {ID: ids[2], DestinationID: destA},
		{ID: ids[3], DestinationID: destA, Retry: true, At: time.Now().Add(time.Minute)}, {ID: ids[4], DestinationID: destA},
	})
	pending, err := b.inspector.ListPendingTasks(b.queues.Webhooks())
	require.NoError(t, err)
	require.Len(t, pending, 2, "one batch for destination A, one job for B's only delivery")
	byType := map[string]*asynq.TaskInfo{}
	for _, info := range pending {
		byType[info.Type] = info
	}
	var batch tasks.DeliveryBatchPayload
	require.NoError(t, json.Unmarshal(byType[tasks.TypeWebhookBatch].Payload, &batch))
	require.Equal(t, tasks.DeliveryBatchPayload{DestinationID: destA, DeliveryIDs: []string{ids[0], ids[2], ids[4]}}, batch)
	require.Equal(t, ids[1], byType[tasks.TypeWebhookDeliver].ID, "a delivery alone keeps its own job")
	retry, err := b.inspector.GetTaskInfo(b.queues.WebhookRetries(), ids[3])
	require.NoError(t, err, "a retry keeps its own job, at its own time")
	require.Equal(t, asynq.TaskStateScheduled, retry.State)
}

// failFirst fails its first enqueue, as a Redis hiccup would, and passes the rest on.
type failFirst struct {
	next   workers.Enqueuer
	failed bool
}

func (f *failFirst) EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	if !f.failed {
		f.failed = true
		return nil, errors.New("a hiccup")
	}
	return f.next.EnqueueContext(ctx, task, opts...)
}

// One batch that fails to enqueue leaves its deliveries to the relay, not the others'.
func TestAFailedBatchEnqueueLeavesTheOthers(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t)
	e := b.enqueuer
	e.Queue = &failFirst{next: b.enqueuer.Queue}
	destA, destB := uuid.NewString(), uuid.NewString()
	e.EnqueueBatched(context.Background(), []models.DeliveryRef{
		{ID: uuid.NewString(), DestinationID: destA}, {ID: uuid.NewString(), DestinationID: destA},
		{ID: uuid.NewString(), DestinationID: destB}, {ID: uuid.NewString(), DestinationID: destB},
	})
	pending, err := b.inspector.ListPendingTasks(b.queues.Webhooks())
	require.NoError(t, err)
	require.Len(t, pending, 1, "destination B's batch is enqueued though A's failed")
	var batch tasks.DeliveryBatchPayload
	require.NoError(t, json.Unmarshal(pending[0].Payload, &batch))
	require.Equal(t, destB, batch.DestinationID)
}

func TestAnEventStoredBeforeCanonicalBodiesIsSignedOverItsCanonicalForm(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t)
	ctx := context.Background()
	headers := map[string]http.Header{} // event_id -> the request's headers
	var mu sync.Mutex
	rec := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			EventID string `json:"event_id"`
		}
		_ = json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		headers[ev.EventID] = r.Header.Clone()
		mu.Unlock()
	})
	dest, err := b.store.CreateDestination(ctx, b.app.ID, models.NewDestination{
		URL: rec.srv.URL + "/hook", SubscribedEvents: []string{"user.data.updated"}, Enabled: true})
	require.NoError(t, err)
	ds, events := b.userDeliveries(t, "written-now", "written-before")
	for _, name := range []string{"written-now", "written-before"} {
		e, err := b.store.GetEntity(ctx, b.app.ID, "user", name)
		require.NoError(t, err)
		ev, _ := b.firstEvent(t, e.ID)
		require.True(t, ev.BodyCanonical, "an event written now is marked canonical")
	}
	// The second event as a body stored before migration 00019 may be: same JSON, other bytes.
	legacy := ds[1].EventID
	var indented bytes.Buffer
	require.NoError(t, json.Indent(&indented, []byte(events[legacy]), "", "  "))
	db, err := sql.Open("pgx", b.dsn)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec("UPDATE outbox_events SET body = $1, body_canonical = false WHERE id = $2", indented.String(), legacy)
	require.NoError(t, err)

	d := b.batchDeliverer(4)
	require.NoError(t, d.HandleDeliverBatch(ctx, tasks.NewDeliveryBatchTask(b.queues, dest.ID, deliveryIDs(ds), time.Minute)))
	require.Equal(t, 2, rec.count())
	sign := func(body string) string { return hexMAC(dest.Secret, body) }
	fresh := headers[ds[0].EventID]
	require.Equal(t, sign(events[ds[0].EventID]), fresh.Get("X-Signature"))
	require.Equal(t, sign(events[ds[0].EventID]), fresh.Get("X-Signature-V2"), "a canonical body: V2 signs the same bytes")
	old := headers[legacy]
	require.Equal(t, sign(indented.String()), old.Get("X-Signature"), "X-Signature signs the bytes sent")
	require.Equal(t, sign(events[legacy]), old.Get("X-Signature-V2"), "X-Signature-V2 signs the canonical form")
	require.NoError(t, webhooks.VerifyV2(dest.Secret, indented.Bytes(), old.Get("X-Timestamp"), old.Get("X-Signature-V2"), time.Now(), time.Minute))
}

func hexMAC(key, msg string) string {
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte(msg))
	return hex.EncodeToString(h.Sum(nil))
}
