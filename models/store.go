// Package models holds Standing's data model and every query on it. It is the only
// package that talks to the database: the rest of the program calls Store methods, each of
// which opens and closes its own transaction.
package models

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/google/uuid"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	"github.com/standinghq/standing/internal/group"
)

// Dialect names the database engine behind a Store.
type Dialect string

// The engines Standing runs on.
const (
	// Postgres is the production system of record.
	Postgres Dialect = "postgres"
	// SQLite is the embedded store of dev mode.
	SQLite Dialect = "sqlite"
)

//go:embed migrations
var migrations embed.FS

// Store is Standing's system of record.
type Store struct {
	db      *gorm.DB
	dialect Dialect
	now     func() time.Time
	// afterCommit is told, after each commit, of the work the commit made due.
	afterCommit AfterCommit
	// noIntakeBatching stores each intake row in a commit of its own.
	noIntakeBatching bool
	// applyBatch is the most session events one transaction applies.
	applyBatch int
	// poolSize is the most PostgreSQL connections held open.
	poolSize int
	// intake shares commits between concurrent intake requests (PostgreSQL only).
	intake *group.Group[*InboxItem, bool]
	// deliveries share claims and attempt records between concurrent attempts.
	deliveries deliveryGroups
	// apiKeys answers API keys from memory for a moment (appcache.go).
	apiKeys *apiKeyCache
	// settled are inbox items this process's session batches applied (settled.go).
	settled *settledItems
}

// Option configures a Store.
type Option func(*Store)

// WithClock replaces the wall clock, for tests that control time.
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// WithPoolSize sets the most PostgreSQL connections the store holds open (default 20).
func WithPoolSize(n int) Option {
	return func(s *Store) { s.poolSize = n }
}

// WithApplyBatch sets the most pending session events one transaction applies
// (default 64; 1 applies each in its own transaction).
func WithApplyBatch(n int) Option {
	return func(s *Store) { s.applyBatch = n }
}

// WithIntakeBatching turns intake group commit on (the default on PostgreSQL) or off.
func WithIntakeBatching(on bool) Option {
	return func(s *Store) { s.noIntakeBatching = !on }
}

// Open connects to dsn: a postgres:// URL, or a SQLite file path for the embedded store.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	s := &Store{now: time.Now, applyBatch: defaultApplyBatch}
	for _, o := range opts {
		o(s)
	}
	cfg := &gorm.Config{
		Logger:                 logger.Discard,
		TranslateError:         true,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return s.Now() },
	}
	var dialector gorm.Dialector
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		s.dialect = Postgres
		dialector = postgres.Open(withConnectTimeout(dsn))
	} else {
		s.dialect = SQLite
		dialector = sqlite.Open(sqliteDSN(dsn))
	}
	db, err := gorm.Open(dialector, cfg)
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", s.dialect, err)
	}
	if err := registerClassifier(db); err != nil {
		return nil, fmt.Errorf("register the error classifier: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	if s.dialect == SQLite {
		// SQLite has no row locks: one connection makes every transaction the only
		// writer, so the same locking code stays correct.
		sqlDB.SetMaxOpenConns(1)
	} else {
		// Idle connections stay open: a connection closed after a burst is a
		// PostgreSQL process forked again for the next one.
		pool := s.poolSize
		if pool <= 0 {
			pool = 20
		}
		sqlDB.SetMaxOpenConns(pool)
		sqlDB.SetMaxIdleConns(pool)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("connect to %s database: %w", s.dialect, err)
	}
	s.db = db
	s.apiKeys = newAPIKeyCache()
	s.settled = newSettledItems(settledRemembered)
	s.startDeliveryGroups()
	if s.dialect == Postgres && !s.noIntakeBatching {
		s.intake = newIntakeGroup(db)
	}
	return s, nil
}

// withConnectTimeout adds connect_timeout=5 (seconds) to a PostgreSQL URL without one, so
// that an unreachable server fails a request in seconds (503) instead of the minutes a
// TCP connect can take.
func withConnectTimeout(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Query().Has("connect_timeout") {
		return dsn
	}
	q := u.Query()
	q.Set("connect_timeout", "5")
	u.RawQuery = q.Encode()
	return u.String()
}

// sqliteDSN adds the pragmas the embedded store needs to a file path.
func sqliteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_txlock", "immediate")
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return "file:" + path + sep + q.Encode()
}

// Now is the store's clock, in UTC and truncated to the microseconds both engines keep.
func (s *Store) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Close stops the intake batches and closes the connection pool.
func (s *Store) Close() error {
	if s.intake != nil {
		s.intake.Close()
	}
	s.deliveries.close()
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// MigrateOption configures Migrate.
type MigrateOption func(*migrateOptions)

type migrateOptions struct {
	lock bool
	log  *slog.Logger
}

// WithMigrationLock takes a PostgreSQL advisory lock around the migrations, so that
// several processes running `standing migrate` at once apply each migration once.
func WithMigrationLock() MigrateOption { return func(o *migrateOptions) { o.lock = true } }

// WithMigrationLog logs each migration applied.
func WithMigrationLog(l *slog.Logger) MigrateOption { return func(o *migrateOptions) { o.log = l } }

// Migrate applies the versioned migrations of the store's dialect that are not applied
// yet, and returns how many it applied.
func (s *Store) Migrate(ctx context.Context, opts ...MigrateOption) (int, error) {
	var o migrateOptions
	for _, opt := range opts {
		opt(&o)
	}
	var popts []goose.ProviderOption
	if o.lock && s.dialect == Postgres {
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return 0, err
		}
		popts = append(popts, goose.WithSessionLocker(locker))
	}
	if o.log != nil {
		popts = append(popts, goose.WithSlog(o.log))
	}
	provider, err := s.migrations(popts...)
	if err != nil {
		return 0, err
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return len(results), fmt.Errorf("apply migrations: %w", err)
	}
	if err := s.sealUnchainedRecords(ctx); err != nil {
		return len(results), err
	}
	return len(results), nil
}

// PendingMigrations reports how many migrations are not applied yet.
func (s *Store) PendingMigrations(ctx context.Context) (int, error) {
	provider, err := s.migrations()
	if err != nil {
		return 0, err
	}
	statuses, err := provider.Status(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, st := range statuses {
		if st.State == goose.StatePending {
			n++
		}
	}
	return n, nil
}

// migrations returns the migration provider of the store's dialect.
func (s *Store) migrations(opts ...goose.ProviderOption) (*goose.Provider, error) {
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, err
	}
	dir, dialect := "migrations/postgres", goose.DialectPostgres
	if s.dialect == SQLite {
		dir, dialect = "migrations/sqlite", goose.DialectSQLite3
	}
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return nil, err
	}
	// Out-of-order migrations are applied: migration numbers are handed out to branches
	// developed in parallel, so a database may be at 00012 before 00009 or 00010 lands.
	opts = append(opts, goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(renormaliseMigration(s.dialect)),
		goose.WithAllowOutofOrder(true))
	provider, err := goose.NewProvider(dialect, sqlDB, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return provider, nil
}

// newID returns a new time-ordered UUID, so that recent rows sit together in indexes.
func newID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// validUUID reports whether s is a UUID in canonical form; other strings can never
// match an id and would make PostgreSQL's uuid columns fail.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// forUpdate locks the selected rows until the transaction ends (PostgreSQL; on SQLite the
// single connection already makes the transaction the only writer). The lock is FOR NO
// KEY UPDATE: it excludes every other writer of the row, but not the key-share locks that
// inserting a row referencing it takes, so that two transactions that each insert a
// child row and then lock the parent cannot deadlock (measured: concurrent delivery
// attempts to one destination did, with FOR UPDATE).
func forUpdate(tx *txn) *gorm.DB {
	return tx.Clauses(clause.Locking{Strength: "NO KEY UPDATE"})
}

// skipLocked is forUpdate without waiting: rows another transaction holds are left out.
func skipLocked(q *gorm.DB) *gorm.DB {
	return q.Clauses(clause.Locking{Strength: "NO KEY UPDATE", Options: "SKIP LOCKED"})
}

// lockVendorData takes, until the transaction ends, a lock on one vendor_data of one
// kind in one application, whether or not an entity has it yet: creating an entity and
// adding that vendor_data to a list take it, so that neither misses the other (PostgreSQL
// advisory lock; SQLite has one writer anyway).
func (s *Store) lockVendorData(tx *txn, appID, kind, vendorData string) error {
	if s.dialect != Postgres {
		return nil
	}
	return tx.Exec("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", vendorDataLockKey(appID, kind, vendorData)).Error
}

// tryLockVendorData takes lockVendorData's lock unless another transaction holds it
// (then it reports false without waiting).
func (s *Store) tryLockVendorData(tx *txn, appID, kind, vendorData string) (bool, error) {
	if s.dialect != Postgres {
		return true, nil
	}
	var ok bool
	err := tx.Raw("SELECT pg_try_advisory_xact_lock(hashtextextended(?, 0))", vendorDataLockKey(appID, kind, vendorData)).
		Row().Scan(&ok)
	return ok, err
}

// vendorDataLockKey names the advisory lock of one vendor_data.
func vendorDataLockKey(appID, kind, vendorData string) string {
	return appID + "/" + kind + "/" + vendorData
}

// byteOrder is an ORDER BY of a text column in byte order (the order Go sorts strings
// in), so that rows locked in a loop are locked in the same order everywhere.
func (s *Store) byteOrder(column string) string {
	if s.dialect == Postgres {
		return column + ` COLLATE "C"`
	}
	return column
}

// notFound maps gorm's not-found error to a NotFound error naming what.
func notFound(err error, what string) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return errNotFound(what)
	}
	return err
}
