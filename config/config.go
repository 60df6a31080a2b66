// Package config reads Standing's typed configuration from STANDING_* environment
// variables, applies the defaults of the mode a process runs in and validates every value,
// so that a bad value stops start-up with one line naming the variable.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Prefix is the prefix of every variable Standing reads.
const Prefix = "STANDING_"

// Mode is the kind of process being configured; some defaults depend on it.
type Mode string

// The modes a process can run in.
const (
	// ModeDev runs everything in one process on an embedded store and Redis.
	ModeDev Mode = "dev"
	// ModeProduction runs one role (ingest, work, migrate, apps) on PostgreSQL and Redis.
	ModeProduction Mode = "production"
)

// Config is the whole configuration of a Standing process.
type Config struct {
	// Mode is the mode the configuration was loaded for.
	Mode Mode `env:"-"`

	// Addr is the HTTP listen address of the API (ingest, dev).
	Addr string `env:"ADDR"`
	// MetricsAddr is the listen address of a work process's /healthz, /readyz and
	// /metrics; empty means a work process does not listen.
	MetricsAddr string `env:"METRICS_ADDR"`
	// DatabaseURL is a postgres:// URL or, for the embedded store, a SQLite file path.
	DatabaseURL string `env:"DATABASE_URL"`
	// RedisURL is a redis:// URL; empty in dev mode means an in-process Redis.
	RedisURL string `env:"REDIS_URL"`
	// DataDir holds dev mode's files (database, credentials).
	DataDir string `env:"DATA_DIR" envDefault:"./.standing"`
	// APIKey is the API key of the application dev mode seeds.
	APIKey string `env:"API_KEY"`
	// IngestSecret is the upstream signing secret of the application dev mode seeds
	// (the vendor's webhook "secret shared key"); generated when empty.
	IngestSecret string `env:"INGEST_SECRET"`
	// AdminToken guards the admin endpoints and /ops/ pages.
	AdminToken string `env:"ADMIN_TOKEN"`

	// DatabasePool is the most PostgreSQL connections one process holds open; they are
	// kept open while idle, since opening one costs PostgreSQL a process.
	DatabasePool int `env:"DATABASE_POOL" envDefault:"20"`

	// WorkerConcurrency is the number of handlers of the apply queue (inbox items) per
	// work process; deliveries have their own (WebhookConcurrency).
	WorkerConcurrency int `env:"WORKER_CONCURRENCY"`
	// ApplyBatch is the most pending session events one transaction applies (1: each
	// event in its own transaction).
	ApplyBatch int `env:"APPLY_BATCH" envDefault:"64"`
	// RelayAfter is the age after which a pending inbox row or delivery is re-enqueued.
	RelayAfter time.Duration `env:"RELAY_AFTER" envDefault:"30s"`

	// WebhookTimeout bounds one delivery attempt.
	WebhookTimeout time.Duration `env:"WEBHOOK_TIMEOUT" envDefault:"15s"`
	// WebhookRetryInitial is the first retry interval.
	WebhookRetryInitial time.Duration `env:"WEBHOOK_RETRY_INITIAL" envDefault:"5s"`
	// WebhookRetryMaxInterval caps the interval between two attempts.
	WebhookRetryMaxInterval time.Duration `env:"WEBHOOK_RETRY_MAX_INTERVAL" envDefault:"10h"`
	// WebhookMaxAttempts is the number of attempts before a delivery fails for good.
	WebhookMaxAttempts int `env:"WEBHOOK_MAX_ATTEMPTS" envDefault:"8"`
	// WebhookMaxAge is the age after which a delivery is not retried any more.
	WebhookMaxAge time.Duration `env:"WEBHOOK_MAX_AGE" envDefault:"72h"`
	// WebhookConcurrency is the number of delivery handlers per work process. Deliveries
	// wait on the network, not the CPU, so it is not tied to the CPU count.
	WebhookConcurrency int `env:"WEBHOOK_CONCURRENCY" envDefault:"128"`
	// WebhookDestinationConcurrency caps the delivery handlers one destination holds per
	// work process, so that a destination that hangs leaves the others handlers; zero
	// means half of WebhookConcurrency (at least 1).
	WebhookDestinationConcurrency int `env:"WEBHOOK_DESTINATION_CONCURRENCY"`
	// WebhookDestinationRequests caps one destination's requests in flight per work
	// process: a batch job holds one handler and posts many requests at once. Zero means
	// 256, or WebhookDestinationConcurrency when that is set (before this setting existed
	// it capped requests too, and an operator who lowered it to spare a receiver keeps
	// that cap).
	WebhookDestinationRequests int `env:"WEBHOOK_DESTINATION_REQUESTS"`
	// WebhookAllowCIDRs are webhook targets allowed despite the SSRF guard.
	WebhookAllowCIDRs CIDRList `env:"WEBHOOK_ALLOW_CIDRS"`

	// RateLimitRead is the number of read requests per API key per minute.
	RateLimitRead int `env:"RATE_LIMIT_READ" envDefault:"600"`
	// RateLimitWrite is the number of write requests per API key per minute.
	RateLimitWrite int `env:"RATE_LIMIT_WRITE" envDefault:"300"`
	// RateLimitIntake is the number of intake requests per API key per minute.
	RateLimitIntake int `env:"RATE_LIMIT_INTAKE" envDefault:"60000"`

	// IntakeGroupCommit lets concurrent intake requests share a commit (PostgreSQL).
	// Off by default: make bench measured no gain on a 2-core machine (README).
	IntakeGroupCommit bool `env:"INTAKE_GROUP_COMMIT" envDefault:"false"`

	// Pprof serves Go's runtime profiles under /debug/pprof/ on the process's HTTP
	// listener. Off by default: the profiles are served without authentication.
	Pprof bool `env:"PPROF"`

	// LogLevel is one of debug, info, warn, error.
	LogLevel slog.Level `env:"LOG_LEVEL" envDefault:"info"`
	// LogFormat is json or text.
	LogFormat string `env:"LOG_FORMAT"`
}

// Load reads the configuration for mode from getenv (os.Getenv in production) and
// validates it. The error names the offending variable.
func Load(mode Mode, getenv func(string) string) (Config, error) {
	cfg := Config{Mode: mode}
	params, err := env.GetFieldParamsWithOptions(&cfg, env.Options{Prefix: Prefix})
	if err != nil {
		return cfg, err
	}
	environment := make(map[string]string, len(params))
	for _, p := range params {
		if v := getenv(p.Key); v != "" {
			environment[p.Key] = v
		}
	}
	err = env.ParseWithOptions(&cfg, env.Options{
		Prefix:      Prefix,
		Environment: environment,
		FuncMap: map[reflect.Type]env.ParserFunc{
			reflect.TypeOf(slog.LevelInfo): parseLevel,
		},
	})
	if err != nil {
		return cfg, explain(err, environment)
	}
	cfg.applyModeDefaults()
	return cfg, cfg.validate()
}

// CIDRList is a comma-separated list of CIDRs; a bare address is a single-address prefix.
type CIDRList []netip.Prefix

// UnmarshalText reads the list.
func (l *CIDRList) UnmarshalText(text []byte) error {
	*l = nil
	for _, part := range strings.Split(string(text), ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		p, err := parsePrefix(part)
		if err != nil {
			return err
		}
		*l = append(*l, p)
	}
	return nil
}

// Contains reports whether addr is in one of the prefixes.
func (l CIDRList) Contains(addr netip.Addr) bool {
	for _, p := range l {
		if p.Contains(addr.Unmap()) {
			return true
		}
	}
	return false
}

func parsePrefix(v string) (netip.Prefix, error) {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "/") {
		addr, err := netip.ParseAddr(v)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR like 10.0.0.0/8", v)
		}
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}
	p, err := netip.ParsePrefix(v)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR like 10.0.0.0/8", v)
	}
	return p.Masked(), nil
}

func parseLevel(v string) (any, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		return nil, fmt.Errorf("%q is not one of debug, info, warn, error", v)
	}
	return l, nil
}

// explain turns the library's parse errors, which name struct fields and carry Go's
// parser messages, into one line that names the environment variable and says in words
// what it accepts.
func explain(err error, environment map[string]string) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) || len(agg.Errors) == 0 {
		return err
	}
	first := agg.Errors[0]
	var pe env.ParseError
	if !errors.As(first, &pe) {
		return first
	}
	f, ok := reflect.TypeOf(Config{}).FieldByName(pe.Name)
	if !ok {
		return first
	}
	name := Prefix + f.Tag.Get("env")
	got := environment[name]
	switch f.Type {
	case reflect.TypeOf(time.Duration(0)):
		return fmt.Errorf("%s: must be a duration like 500ms, 30s, 5m or 1h (got %q)", name, got)
	case reflect.TypeOf(0):
		return fmt.Errorf("%s: must be a whole number like 8 (got %q)", name, got)
	case reflect.TypeOf(slog.LevelInfo):
		return fmt.Errorf("%s: must be one of debug, info, warn, error (got %q)", name, got)
	}
	// Standing's own parsers (log level, CIDR list) already say what they accept.
	var inner interface{ Unwrap() error }
	msg := pe.Err.Error()
	if errors.As(pe.Err, &inner) && inner.Unwrap() != nil {
		msg = inner.Unwrap().Error()
	}
	return fmt.Errorf("%s: %s", name, msg)
}

// defaultDestinationRequests is WebhookDestinationRequests when neither it nor
// WebhookDestinationConcurrency is set: hundreds of requests at once to a healthy
// destination.
const defaultDestinationRequests = 256

func (c *Config) applyModeDefaults() {
	dev := c.Mode == ModeDev
	if c.Addr == "" {
		c.Addr = ":8080"
		if dev {
			c.Addr = "127.0.0.1:8080"
		}
	}
	if c.LogFormat == "" {
		c.LogFormat = "json"
		if dev {
			c.LogFormat = "text"
		}
	}
	if c.WorkerConcurrency == 0 {
		c.WorkerConcurrency = 2 * runtime.NumCPU()
	}
	if c.WebhookDestinationRequests == 0 {
		c.WebhookDestinationRequests = defaultDestinationRequests
		if c.WebhookDestinationConcurrency != 0 {
			c.WebhookDestinationRequests = c.WebhookDestinationConcurrency
		}
	}
	if c.WebhookDestinationConcurrency == 0 {
		c.WebhookDestinationConcurrency = max(1, c.WebhookConcurrency/2)
	}
	if c.WebhookAllowCIDRs == nil && dev {
		c.WebhookAllowCIDRs = CIDRList{
			netip.MustParsePrefix("127.0.0.0/8"),
			netip.MustParsePrefix("::1/128"),
		}
	}
}

func (c *Config) validate() error {
	bad := func(name, format string, args ...any) error {
		return fmt.Errorf("%s%s: %s", Prefix, name, fmt.Sprintf(format, args...))
	}
	for _, a := range []struct{ name, addr string }{{"ADDR", c.Addr}, {"METRICS_ADDR", c.MetricsAddr}} {
		if a.addr == "" && a.name == "METRICS_ADDR" {
			continue
		}
		if _, port, err := net.SplitHostPort(a.addr); err != nil || !validPort(port) {
			return bad(a.name, "must be a listen address host:port like :8080 or 127.0.0.1:9090 (got %q)", a.addr)
		}
	}
	if c.DatabaseURL != "" && isPostgresURL(c.DatabaseURL) {
		if _, err := url.Parse(c.DatabaseURL); err != nil {
			return bad("DATABASE_URL", "not a valid URL")
		}
	}
	if c.RedisURL != "" {
		u, err := url.Parse(c.RedisURL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			return bad("REDIS_URL", "must be a redis:// or rediss:// URL with a host")
		}
	}
	positive := []struct {
		name string
		d    time.Duration
	}{
		{"RELAY_AFTER", c.RelayAfter},
		{"WEBHOOK_TIMEOUT", c.WebhookTimeout},
		{"WEBHOOK_RETRY_INITIAL", c.WebhookRetryInitial},
		{"WEBHOOK_RETRY_MAX_INTERVAL", c.WebhookRetryMaxInterval},
		{"WEBHOOK_MAX_AGE", c.WebhookMaxAge},
	}
	for _, p := range positive {
		if p.d <= 0 {
			return bad(p.name, "must be a positive duration like 30s (got %s)", p.d)
		}
	}
	if c.WebhookRetryMaxInterval < c.WebhookRetryInitial {
		return bad("WEBHOOK_RETRY_MAX_INTERVAL", "must not be shorter than STANDING_WEBHOOK_RETRY_INITIAL")
	}
	counts := []struct {
		name string
		n    int
	}{
		{"DATABASE_POOL", c.DatabasePool},
		{"WORKER_CONCURRENCY", c.WorkerConcurrency},
		{"APPLY_BATCH", c.ApplyBatch},
		{"WEBHOOK_CONCURRENCY", c.WebhookConcurrency},
		{"WEBHOOK_DESTINATION_CONCURRENCY", c.WebhookDestinationConcurrency},
		{"WEBHOOK_DESTINATION_REQUESTS", c.WebhookDestinationRequests},
		{"WEBHOOK_MAX_ATTEMPTS", c.WebhookMaxAttempts},
		{"RATE_LIMIT_READ", c.RateLimitRead},
		{"RATE_LIMIT_WRITE", c.RateLimitWrite},
		{"RATE_LIMIT_INTAKE", c.RateLimitIntake},
	}
	for _, n := range counts {
		if n.n < 1 {
			return bad(n.name, "must be a whole number of at least 1 (got %d)", n.n)
		}
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return bad("LOG_FORMAT", "must be json or text (got %q)", c.LogFormat)
	}
	if c.APIKey != "" && len(c.APIKey) < 16 {
		return bad("API_KEY", "must be at least 16 characters")
	}
	if c.IngestSecret != "" && (len(c.IngestSecret) < 16 || len(c.IngestSecret) > 512 || strings.ContainsAny(c.IngestSecret, " \t\r\n")) {
		return bad("INGEST_SECRET", "must be 16 to 512 characters without spaces")
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		return bad("ADMIN_TOKEN", "must be at least 16 characters")
	}
	return nil
}

// RequireDatabase reports, naming the variable, a process started without a database.
// A SQLite file path is accepted only when sqliteOK (migrate and apps may work on dev
// mode's file; ingest and work need PostgreSQL's row locks to run side by side).
func (c Config) RequireDatabase(sqliteOK bool) error {
	if c.DatabaseURL == "" {
		return fmt.Errorf("%sDATABASE_URL: required (postgres://user@host:5432/db)", Prefix)
	}
	if !sqliteOK && !isPostgresURL(c.DatabaseURL) {
		return fmt.Errorf("%sDATABASE_URL: must be a postgres:// URL (SQLite is for `standing dev` only)", Prefix)
	}
	return nil
}

// RequireRedis reports, naming the variable, a process started without Redis.
func (c Config) RequireRedis() error {
	if c.RedisURL == "" {
		return fmt.Errorf("%sREDIS_URL: required (redis://host:6379/0)", Prefix)
	}
	return nil
}

// validPort reports whether port is a number from 0 to 65535 (0: any free port).
func validPort(port string) bool {
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}

func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// LogValue implements slog.LogValuer so that a logged configuration never shows secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("mode", string(c.Mode)),
		slog.String("addr", c.Addr),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.String("database_url", RedactURL(c.DatabaseURL)),
		slog.String("redis_url", RedactURL(c.RedisURL)),
		slog.Int("database_pool", c.DatabasePool),
		slog.Int("worker_concurrency", c.WorkerConcurrency),
		slog.Int("apply_batch", c.ApplyBatch),
		slog.Int("webhook_concurrency", c.WebhookConcurrency),
		slog.Int("webhook_destination_concurrency", c.WebhookDestinationConcurrency),
		slog.Int("webhook_destination_requests", c.WebhookDestinationRequests),
		slog.Duration("relay_after", c.RelayAfter),
		slog.Bool("api_key_set", c.APIKey != ""),
		slog.Bool("admin_token_set", c.AdminToken != ""),
	)
}

// secretParam matches the names of query parameters and key=value settings that carry
// secrets (password, sslpassword, token, secret, api_key, …).
var secretParam = regexp.MustCompile(`(?i)(pass|secret|token|key)`)

// keyValueSecret matches a secret in a key=value connection string ("host=db
// password=…").
var keyValueSecret = regexp.MustCompile(`(?i)\b(\w*(?:pass|secret|token|key)\w*)\s*=\s*('[^']*'|\S+)`)

// RedactURL hides every secret of a database or Redis URL for logging: the password of
// its user info, and the values of query parameters such as password or sslpassword.
// A key=value connection string has its secret settings hidden; a plain file path is
// returned as is.
func RedactURL(s string) string {
	if !strings.Contains(s, "://") {
		return keyValueSecret.ReplaceAllString(s, "$1=xxxxx")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(not a valid URL; hidden)"
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if secretParam.MatchString(k) {
				q[k] = []string{"xxxxx"}
			}
		}
		u.RawQuery = q.Encode()
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	return u.String()
}
