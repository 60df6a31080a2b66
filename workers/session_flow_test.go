package workers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/ingest"
	"github.com/standinghq/standing/internal/testkit"
	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/workers"
)

// TestMain lets this test binary double as a separate work process, which a test can
// kill with SIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv("STANDING_TEST_WORKER_PROCESS") == "1" {
		os.Exit(runWorkerProcess())
	}
	os.Exit(m.Run())
}

// runWorkerProcess runs workers on the store and queues named by the environment, each
// job slowed down so that a kill lands mid-batch, until the process is killed.
func runWorkerProcess() int {
	ctx := context.Background()
	store, err := models.Open(ctx, os.Getenv("STANDING_TEST_DSN"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	opt, err := asynq.ParseRedisURI(testkit.RedisURL())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	log := discard()
	srv := workers.NewServer(opt, workers.ServerConfig{Concurrency: 4, Queues: queuesFromEnv(), Log: log})
	mux := workers.NewMux(&workers.Handlers{Store: store, Log: log})
	mux.Use(func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			time.Sleep(20 * time.Millisecond)
			return next.ProcessTask(ctx, t)
		})
	})
	if err := srv.Start(mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	select {} // until killed
}

// flow is the intake API and the store of one test, on PostgreSQL and a real Redis.
type flow struct {
	bundle
	dsn string
	url string
	key string
}

func newFlow(t *testing.T) flow { return newFlowVia(t, nil) }

// newFlowVia is newFlow whose commits enqueue their inbox jobs through via(client)
// when via is set.
func newFlowVia(t *testing.T, via func(workers.Enqueuer) workers.Enqueuer) flow {
	t.Helper()
	dsn := testkit.PostgresSchemaURL(t)
	queues := testkit.Queues(t)
	opt := testkit.RedisOpt(t)
	client := asynq.NewClient(opt)
	inspector := asynq.NewInspector(opt)
	t.Cleanup(func() { _ = client.Close(); _ = inspector.Close() })
	dispatch := testkit.Dispatch(t, queues, workers.DeliveryEnqueuer{})
	if via != nil {
		d := &workers.Dispatcher{Queue: via(client), Queues: queues, Log: discard(),
			Deliveries: workers.DeliveryEnqueuer{Queue: client, Queues: queues, Log: discard()}}
		t.Cleanup(d.Close)
		dispatch = models.WithAfterCommit(d.Committed)
	}
	store, err := models.Open(context.Background(), dsn, dispatch)
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	_, err = store.Migrate(context.Background())
	require.NoError(t, err)
	app, err := store.CreateApplication(context.Background(), "flow", "")
	require.NoError(t, err)
	b := bundle{store: store, app: app.Application, queues: queues, redisOpt: opt,
		client: client, inspector: inspector, log: discard()}
	srv := httptest.NewServer(ingest.New(ingest.Deps{Store: store, Log: b.log}))
	t.Cleanup(srv.Close)
	return flow{bundle: b, dsn: dsn, url: srv.URL, key: app.APIKey}
}

// post sends one session event and returns its event id.
func (f flow) post(t *testing.T, ev map[string]any) string {
	t.Helper()
	body, err := json.Marshal(ev)
	require.NoError(t, err)
	req, err := http.NewRequest("POST", f.url+"/v3/ingest/sessions/", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("x-api-key", f.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	require.Equal(t, http.StatusAccepted, res.StatusCode, string(data))
	var out map[string]string
	require.NoError(t, json.Unmarshal(data, &out))
	return out["event_id"]
}

// postAll sends events from 16 goroutines at once.
func (f flow) postAll(t *testing.T, events []map[string]any) {
	t.Helper()
	var wg sync.WaitGroup
	next := make(chan map[string]any)
	for range 16 {
		wg.Go(func() {
			for ev := range next {
				f.post(t, ev)
			}
		})
	}
	for _, ev := range events {
		next <- ev
	}
	close(next)
	wg.Wait()
}

func (f flow) applied(t *testing.T) int64 {
	t.Helper()
	n, err := f.store.CountInbox(context.Background(), f.app.ID, models.InboxApplied)
	require.NoError(t, err)
	return n
}

// sessionEvents returns n sessions' lifecycles for vendorData: Not Started, In Progress,
// In Review, then Approved (i%3 == 0), Declined (i%3 == 1) or still In Review, and the
// expected counters.
func sessionEvents(vendorData string, n int) ([]map[string]any, [3]int) {
	var events []map[string]any
	var want [3]int // approved, declined, in review
	at := time.Now().Add(time.Hour).Unix()
	for i := range n {
		sid := fmt.Sprintf("%s-s%d", vendorData, i)
		final := []string{"Approved", "Declined", "In Review"}[i%3]
		want[i%3]++
		for j, st := range []string{"Not Started", "In Progress", "In Review", final} {
			if j == 3 && final == "In Review" {
				break
			}
			events = append(events, map[string]any{
				"session_id": sid, "status": st, "vendor_data": vendorData, "timestamp": at + int64(i*10+j),
				"workflow_id": "wf", "decision": map[string]any{"liveness": map[string]any{"status": st}},
			})
		}
	}
	return events, want
}

func (f flow) requireCounters(t *testing.T, vendorData string, sessions int, want [3]int) {
	t.Helper()
	e, err := f.store.GetEntity(context.Background(), f.app.ID, "user", vendorData)
	require.NoError(t, err)
	require.Equal(t, sessions, e.SessionCount, vendorData)
	require.Equal(t, want[0], e.ApprovedCount, vendorData)
	require.Equal(t, want[1], e.DeclinedCount, vendorData)
	require.Equal(t, want[2], e.InReviewCount, vendorData)
	list, total, err := f.store.ListEntities(context.Background(), f.app.ID, "user", models.EntityFilter{Search: vendorData, Limit: 10})
	require.NoError(t, err)
	require.EqualValues(t, 1, total, "one entity, however many events raced to create it: %v", list)
}

func TestConcurrentEventsForOneEntityGiveExactCounters(t *testing.T) {
	t.Parallel()
	f := newFlow(t)
	events, want := sessionEvents("racer", 54)    // 54 sessions, 198 events
	events = append(events, events[0], events[1]) // and two duplicates: 200 posts
	rand.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	f.startWorkers(t)
	f.postAll(t, events)

	require.Eventually(t, func() bool { return f.applied(t) == 198 }, 60*time.Second, 50*time.Millisecond)
	f.requireCounters(t, "racer", 54, want)
	failed, err := f.store.CountInbox(context.Background(), f.app.ID, models.InboxFailed)
	require.NoError(t, err)
	require.Zero(t, failed)
}

func TestAcknowledgedEventsSurviveARedisFlush(t *testing.T) {
	t.Parallel()
	f := newFlow(t)
	events, want := sessionEvents("survivor", 12)
	f.postAll(t, events)
	rc := f.redisOpt.MakeRedisClient().(redis.UniversalClient)
	defer rc.Close()
	testkit.FlushQueues(context.Background(), rc, f.queues) // Redis loses every job

	f.startWorkers(t)
	relayCtx, stop := context.WithCancel(context.Background())
	defer stop()
	go f.relay(500 * time.Millisecond).Run(relayCtx)
	require.Eventually(t, func() bool { return f.applied(t) == int64(len(events)) }, 60*time.Second, 50*time.Millisecond)
	f.requireCounters(t, "survivor", 12, want)
}

func TestAWorkerKilledMidBatchLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for asynq to recover the killed worker's jobs (up to 90 s)")
	}
	t.Parallel()
	f := newFlow(t)
	var events []map[string]any
	wants := map[string][3]int{}
	for i := range 10 {
		vd := fmt.Sprintf("victim-%d", i)
		evs, want := sessionEvents(vd, 9)
		events = append(events, evs...)
		wants[vd] = want
	}
	f.postAll(t, events)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "STANDING_TEST_WORKER_PROCESS=1", "STANDING_TEST_DSN="+f.dsn,
		"STANDING_TEST_QUEUE_PREFIX="+f.queues.Prefix)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	require.Eventually(t, func() bool { return f.applied(t) >= 20 }, 30*time.Second, 5*time.Millisecond)
	require.NoError(t, cmd.Process.Kill()) // SIGKILL: no shutdown, jobs in flight
	_ = cmd.Wait()
	require.Less(t, f.applied(t), int64(len(events)), "the worker died mid-batch")

	f.startWorkers(t)
	relayCtx, stop := context.WithCancel(context.Background())
	defer stop()
	go f.relay(time.Second).Run(relayCtx)
	require.Eventually(t, func() bool { return f.applied(t) == int64(len(events)) }, 150*time.Second, 100*time.Millisecond)
	for vd, want := range wants {
		f.requireCounters(t, vd, 9, want)
	}
	history := 0
	for i := range 10 {
		for s := range 9 {
			sess, err := f.store.GetSession(context.Background(), f.app.ID, fmt.Sprintf("victim-%d-s%d", i, s))
			require.NoError(t, err)
			history += len(sess.History)
		}
	}
	require.Equal(t, len(events), history, "every event applied exactly once")
}
