package workers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/internal/testkit"
	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/tasks"
	"github.com/standinghq/standing/webhooks"
	"github.com/standinghq/standing/workers"
)

// receiver records the event ids it is sent, with when they arrived.
type receiver struct {
	mu      sync.Mutex
	arrived map[string]time.Time
	srv     *httptest.Server
}

func newReceiver(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rec := &receiver{arrived: map[string]time.Time{}}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body)) // handle reads it again
		var ev struct {
			EventID string `json:"event_id"`
		}
		_ = json.Unmarshal(body, &ev)
		rec.mu.Lock()
		if _, seen := rec.arrived[ev.EventID]; !seen {
			rec.arrived[ev.EventID] = time.Now()
		}
		rec.mu.Unlock()
		if handle != nil {
			handle(w, r)
		}
	}))
	t.Cleanup(func() { rec.srv.CloseClientConnections(); rec.srv.Close() })
	return rec
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.arrived)
}

func (r *receiver) last() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var last time.Time
	for _, at := range r.arrived {
		if at.After(last) {
			last = at
		}
	}
	return last
}

// deliveryBundle is a store wired to enqueue deliveries, and what runs them.
type deliveryBundle struct {
	bundle
	enqueuer workers.DeliveryEnqueuer
	dsn      string // the store's database, for what only SQL can set up
}

func setupDelivery(t *testing.T) deliveryBundle {
	t.Helper()
	opt := testkit.RedisOpt(t)
	client := asynq.NewClient(opt)
	inspector := asynq.NewInspector(opt)
	t.Cleanup(func() { _ = client.Close(); _ = inspector.Close() })
	queues := testkit.Queues(t)
	enq := workers.DeliveryEnqueuer{Queue: client, Inspector: inspector, Queues: queues, Timeout: 2 * time.Second, Retries: 5, Log: discard()}
	dsn := testkit.PostgresSchemaURL(t)
	store := testkit.OpenMigrated(t, dsn, testkit.Dispatch(t, queues, enq))
	app, err := store.CreateApplication(context.Background(), "deliveries", "")
	require.NoError(t, err)
	return deliveryBundle{
		bundle:   bundle{store: store, app: app.Application, queues: queues, redisOpt: opt, client: client, inspector: inspector, log: discard()},
		enqueuer: enq,
		dsn:      dsn,
	}
}

// startDelivering runs 4 workers with a cap of 2 per destination, as a work process
// with the default settings on a 2-core machine does.
func (b deliveryBundle) startDelivering(t *testing.T) {
	t.Helper()
	guard := webhooks.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	d := &workers.Deliverer{
		Store: b.store, Sender: webhooks.NewSender(2*time.Second, guard), Enqueuer: b.enqueuer,
		Policy: webhooks.Policy{
			MaxAttempts: 5, MaxAge: time.Hour, MaxInterval: time.Second, DisableAfter: 120 * time.Hour,
			Backoff: webhooks.Backoff{Initial: 100 * time.Millisecond, Max: time.Second}.Delay,
		},
		Limiter: workers.NewLimiter(2, 64), Log: b.log, // the hanging destination may hold 2 workers, whatever its requests
	}
	srv := workers.NewServer(b.redisOpt, workers.ServerConfig{Concurrency: 4, Queues: b.queues, Log: b.log})
	require.NoError(t, srv.Start(workers.NewMux(&workers.Handlers{Store: b.store, Log: b.log, Deliverer: d})))
	t.Cleanup(srv.Shutdown)
}

// destination creates a destination of user.data.updated at url and returns its id.
func (b deliveryBundle) destination(t *testing.T, url string) string {
	t.Helper()
	d, err := b.store.CreateDestination(context.Background(), b.app.ID, models.NewDestination{
		URL: url, SubscribedEvents: []string{"user.data.updated"}, Enabled: true})
	require.NoError(t, err)
	return d.ID
}

func (b deliveryBundle) createUsers(t *testing.T, prefix string, n int) {
	t.Helper()
	for i := range n {
		_, err := b.store.CreateEntity(context.Background(), b.app.ID, models.NewEntity{Kind: "user", VendorData: fmt.Sprintf("%s-%d", prefix, i)})
		require.NoError(t, err)
	}
}

// hangingReceiver answers nothing for longer than the tests' 2 s attempt timeout.
func hangingReceiver(t *testing.T) *receiver {
	return newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
}

func TestAHangingDestinationDoesNotDelayAHealthyOne(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t)
	hanging, healthy := hangingReceiver(t), newReceiver(t, nil)
	b.destination(t, hanging.srv.URL+"/hook")
	b.destination(t, healthy.srv.URL+"/hook")
	b.startDelivering(t)

	const n = 20
	b.createUsers(t, "u", n)
	// Measured from the last event's commit, so that a slow machine's commits do not
	// count against the deliveries.
	created := time.Now()
	require.Eventually(t, func() bool { return healthy.count() == n }, 20*time.Second, 10*time.Millisecond)
	took := healthy.last().Sub(created)
	t.Logf("healthy destination: all %d deliveries %s after the last commit while the other hangs", n, took)
	// The hanging destination holds at most 2 of the 4 workers at a time (its handler
	// cap; its request cap is higher), each for the 2 s timeout: working through its 20
	// events takes at least 20 s (and, were all 4 workers free to take them, 10 s). The
	// healthy one must not wait for them.
	require.Less(t, took, 2*time.Second, "the healthy destination was delayed by the hanging one")
	require.Less(t, hanging.count(), n, "the hanging destination is still being worked through")
}

func TestBatchJobsToAHangingDestinationHoldNoMoreThanItsHandlers(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t)
	hanging, healthy := hangingReceiver(t), newReceiver(t, nil)
	hangingID := b.destination(t, hanging.srv.URL+"/hook")
	healthyID := b.destination(t, healthy.srv.URL+"/hook")
	const n = 16
	b.createUsers(t, "u", n)
	rc := b.redisOpt.MakeRedisClient().(redis.UniversalClient)
	defer rc.Close()
	testkit.FlushQueues(context.Background(), rc, b.queues) // the commits' own jobs go...
	// ...and the deliveries go out as batch jobs of two, eight per destination, the hanging
	// destination's first: more batch jobs to it than its handler cap (2) and the workers
	// (4).
	ctx := context.Background()
	byDestination := map[string][]string{}
	for i := range n {
		e, err := b.store.GetEntity(ctx, b.app.ID, models.KindUser, fmt.Sprintf("u-%d", i))
		require.NoError(t, err)
		_, ds := b.firstEvent(t, e.ID)
		require.Len(t, ds, 2)
		for _, d := range ds {
			byDestination[d.DestinationID] = append(byDestination[d.DestinationID], d.ID)
		}
	}
	for _, dest := range []string{hangingID, healthyID} {
		ids := byDestination[dest]
		for start := 0; start < len(ids); start += 2 {
			_, err := b.client.EnqueueContext(ctx, tasks.NewDeliveryBatchTask(b.queues, dest, ids[start:start+2], time.Minute))
			require.NoError(t, err)
		}
	}
	started := time.Now()
	b.startDelivering(t) // 4 workers, 2 handlers and 64 requests per destination
	require.Eventually(t, func() bool { return healthy.count() == n }, 20*time.Second, 10*time.Millisecond)
	took := healthy.last().Sub(started)
	t.Logf("healthy destination: all %d deliveries %s after the workers started while the other hangs", n, took)
	// The hanging destination's batch jobs hold at most 2 of the 4 workers for the 2 s
	// timeout (each posting its 2 requests at once); the others find no handler slot and
	// go back for a moment. Were its 8 batch jobs free to take all 4 workers, the healthy
	// destination would wait 2 s and more.
	require.Less(t, took, 2*time.Second, "the healthy destination was delayed by the hanging one")
	require.Less(t, hanging.count(), n, "the hanging destination is still being worked through")
}

func TestDeliveriesSurviveARedisFlush(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t)
	rec := newReceiver(t, nil)
	b.destination(t, rec.srv.URL+"/hook")
	b.createUsers(t, "u", 10) // the hook enqueues 10 deliveries...
	rc := b.redisOpt.MakeRedisClient().(redis.UniversalClient)
	defer rc.Close()
	testkit.FlushQueues(context.Background(), rc, b.queues) // ...and Redis loses them

	b.startDelivering(t)
	relay := &workers.Relay{Store: b.store, Queue: b.client, Inspector: b.inspector, Queues: b.queues,
		Log: b.log, After: 300 * time.Millisecond, Interval: 50 * time.Millisecond, Deliveries: &b.enqueuer}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go relay.Run(ctx)
	require.Eventually(t, func() bool { return rec.count() == 10 }, 20*time.Second, 20*time.Millisecond)
}

func TestAFlakyReceiverGetsTheSameEventUntilItAnswers(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t)
	var mu sync.Mutex
	var seen []string
	calls := 0
	rec := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		seen = append(seen, r.Header.Get("webhook-id"))
		if calls <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	b.destination(t, rec.srv.URL+"/hook")
	b.startDelivering(t)
	b.createUsers(t, "flaky", 1)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return calls == 3
	}, 20*time.Second, 20*time.Millisecond)
	require.Equal(t, seen[0], seen[1])
	require.Equal(t, seen[0], seen[2], "the same event_id on every attempt")

	dests, _, err := b.store.ListDestinations(context.Background(), b.app.ID, 10, 0)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		attempts, _, err := b.store.ListAttempts(context.Background(), b.app.ID, dests[0].ID, 10, 0)
		return err == nil && len(attempts) == 3 && attempts[0].ResponseStatus != nil && *attempts[0].ResponseStatus == 200
	}, 10*time.Second, 20*time.Millisecond, "the log shows three attempts, the last delivered")
}

func TestAResendAfterAPermanentFailureGoesOutAtOnce(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t)
	var mu sync.Mutex
	calls := 0
	rec := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusBadRequest) // permanent: the job is archived
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	b.destination(t, rec.srv.URL+"/hook")
	b.startDelivering(t)
	b.createUsers(t, "u", 1)
	ctx := context.Background()
	dests, _, err := b.store.ListDestinations(ctx, b.app.ID, 10, 0)
	require.NoError(t, err)
	var attempts []models.AttemptResource
	require.Eventually(t, func() bool {
		attempts, _, err = b.store.ListAttempts(ctx, b.app.ID, dests[0].ID, 10, 0)
		return err == nil && len(attempts) == 1
	}, 10*time.Second, 20*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	info, err := b.inspector.GetTaskInfo(b.queues.Webhooks(), attempts[0].DeliveryUUID)
	require.NoError(t, err)
	require.Equal(t, asynq.TaskStateArchived, info.State, "a permanent failure is archived with SkipRetry")

	_, err = b.store.ResendAttempt(ctx, b.app.ID, dests[0].ID, attempts[0].UUID)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return calls == 2
	}, 5*time.Second, 20*time.Millisecond, "the archived job was replaced without waiting for the relay")
}
