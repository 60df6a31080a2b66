// Package testkit gives tests real, isolated backing services: a migrated PostgreSQL
// schema or SQLite file per test, and per-test queue names on a real Redis.
//
// PostgreSQL is found at STANDING_TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/standing_test), Redis at STANDING_TEST_REDIS_URL
// (default redis://127.0.0.1:6379/0). `make test` makes sure both are running.
package testkit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the pgx database/sql driver, to create the test database
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/tasks"
	"github.com/standinghq/standing/workers"
)

// PostgresURL is the URL of the test database.
func PostgresURL() string {
	if v := os.Getenv("STANDING_TEST_DATABASE_URL"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/standing_test?sslmode=disable"
}

// RedisURL is the URL of the test Redis.
func RedisURL() string {
	if v := os.Getenv("STANDING_TEST_REDIS_URL"); v != "" {
		return v
	}
	return "redis://127.0.0.1:6379/0"
}

// Engine is a database engine a store test runs on.
type Engine struct {
	Name string
	// Open returns a fresh, migrated store that is removed when the test ends.
	Open func(t testing.TB, opts ...models.Option) *models.Store
}

// Engines are the engines every store test runs on: PostgreSQL and SQLite.
func Engines() []Engine {
	return []Engine{
		{Name: "postgres", Open: PostgresStore},
		{Name: "sqlite", Open: SQLiteStore},
	}
}

// ForEachEngine runs fn as a parallel subtest on each engine (PostgreSQL and SQLite),
// with what setup builds on that engine.
func ForEachEngine[T any](t *testing.T, setup func(*testing.T, Engine) T, fn func(*testing.T, T)) {
	t.Helper()
	t.Parallel()
	for _, engine := range Engines() {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, setup(t, engine))
		})
	}
}

// RandomName returns prefix followed by 12 random hex digits.
func RandomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

var createDatabase sync.Once

// ensureDatabase creates the test database if it does not exist.
func ensureDatabase(t testing.TB) {
	createDatabase.Do(func() {
		u, err := url.Parse(PostgresURL())
		require.NoError(t, err)
		name := strings.TrimPrefix(u.Path, "/")
		admin := *u
		admin.Path = "/postgres"
		db, err := sql.Open("pgx", admin.String())
		require.NoError(t, err)
		defer db.Close()
		_, err = db.Exec(`CREATE DATABASE "` + name + `"`)
		var pgErr *pgconn.PgError
		if err != nil && !(errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505")) {
			require.NoError(t, err, "create the test database (is PostgreSQL running? run `make test`)")
		}
	})
}

// PostgresSchemaURL creates an empty schema for the test and returns a database URL that
// uses it; the schema is dropped when the test ends.
func PostgresSchemaURL(t testing.TB) string {
	t.Helper()
	ensureDatabase(t)
	schema := RandomName("t_")
	db, err := sql.Open("pgx", PostgresURL())
	require.NoError(t, err)
	_, err = db.Exec("CREATE SCHEMA " + schema)
	require.NoError(t, err, "create a test schema (is PostgreSQL running? run `make test`)")
	t.Cleanup(func() {
		_, _ = db.Exec("DROP SCHEMA " + schema + " CASCADE")
		_ = db.Close()
	})
	u, err := url.Parse(PostgresURL())
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// PostgresStore returns a migrated store in a schema of its own.
func PostgresStore(t testing.TB, opts ...models.Option) *models.Store {
	t.Helper()
	return OpenMigrated(t, PostgresSchemaURL(t), opts...)
}

// SQLiteStore returns a migrated store in a file of its own.
func SQLiteStore(t testing.TB, opts ...models.Option) *models.Store {
	t.Helper()
	return OpenMigrated(t, filepath.Join(t.TempDir(), "standing.db"), opts...)
}

// OpenMigrated returns a migrated store on dsn (a test's own schema or file), closed
// when the test ends.
func OpenMigrated(t testing.TB, dsn string, opts ...models.Option) *models.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := models.Open(ctx, dsn, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	_, err = s.Migrate(ctx)
	require.NoError(t, err)
	return s
}

// Dispatch returns the store option that, as in production, enqueues after each commit
// the jobs of the work it made due: inbox jobs on q's queues of the test Redis, and
// deliveries through deliveries (whose Queue and Queues are filled in when empty).
func Dispatch(t testing.TB, q tasks.Queues, deliveries workers.DeliveryEnqueuer) models.Option {
	t.Helper()
	client := asynq.NewClient(RedisOpt(t))
	t.Cleanup(func() { _ = client.Close() })
	if deliveries.Queue == nil {
		deliveries.Queue, deliveries.Queues = client, q
	}
	if deliveries.Log == nil {
		deliveries.Log = slog.New(slog.DiscardHandler)
	}
	d := &workers.Dispatcher{Queue: client, Queues: q, Deliveries: deliveries, Log: slog.New(slog.DiscardHandler)}
	t.Cleanup(d.Close) // after the store's, which was opened later
	return models.WithAfterCommit(d.Committed)
}

// RedisOpt returns the connection options of the test Redis.
func RedisOpt(t testing.TB) asynq.RedisConnOpt {
	t.Helper()
	opt, err := asynq.ParseRedisURI(RedisURL())
	require.NoError(t, err)
	return opt
}

// Queues returns queue names of the test's own and removes the queues when it ends.
func Queues(t testing.TB) tasks.Queues {
	t.Helper()
	q := tasks.Queues{Prefix: RandomName("test-") + "-"}
	opt := RedisOpt(t)
	client := opt.MakeRedisClient().(redis.UniversalClient)
	require.NoError(t, client.Ping(context.Background()).Err(), "reach the test Redis (is it running? run `make test`)")
	t.Cleanup(func() {
		defer client.Close()
		FlushQueues(context.Background(), client, q)
	})
	return q
}

// FlushQueues deletes every key of q's queues, as a Redis that lost its data would.
func FlushQueues(ctx context.Context, client redis.UniversalClient, q tasks.Queues) {
	for _, name := range q.Names() {
		iter := client.Scan(ctx, 0, "asynq:{"+name+"}*", 1000).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
		client.SRem(ctx, "asynq:queues", name)
	}
}
