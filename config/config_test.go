package config_test

import (
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/config"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestDefaultsDependOnTheMode(t *testing.T) {
	t.Parallel()
	dev, err := config.Load(config.ModeDev, env(nil))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:8080", dev.Addr)
	require.Equal(t, "text", dev.LogFormat)
	require.Equal(t, "./.standing", dev.DataDir)
	require.Equal(t, config.CIDRList{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}, dev.WebhookAllowCIDRs)
	require.True(t, dev.WebhookAllowCIDRs.Contains(netip.MustParseAddr("127.0.0.9")))
	require.False(t, dev.WebhookAllowCIDRs.Contains(netip.MustParseAddr("10.0.0.1")))

	prod, err := config.Load(config.ModeProduction, env(nil))
	require.NoError(t, err)
	require.Equal(t, ":8080", prod.Addr)
	require.Equal(t, "json", prod.LogFormat)
	require.Empty(t, prod.WebhookAllowCIDRs)
	require.Equal(t, 2*runtime.NumCPU(), prod.WorkerConcurrency)
	require.Equal(t, 128, prod.WebhookConcurrency, "deliveries are not tied to the CPU count")
	require.Equal(t, 64, prod.WebhookDestinationConcurrency, "half of the delivery handlers")
	require.Equal(t, 256, prod.WebhookDestinationRequests, "hundreds of requests at once to a healthy destination")
	require.False(t, prod.IntakeGroupCommit)
	require.False(t, prod.Pprof, "profiles are off unless asked for")
	require.Equal(t, 30*time.Second, prod.RelayAfter)
	require.Equal(t, 15*time.Second, prod.WebhookTimeout)
	require.Equal(t, 5*time.Second, prod.WebhookRetryInitial)
	require.Equal(t, 10*time.Hour, prod.WebhookRetryMaxInterval)
	require.Equal(t, 8, prod.WebhookMaxAttempts)
	require.Equal(t, 72*time.Hour, prod.WebhookMaxAge)
	require.Equal(t, 600, prod.RateLimitRead)
	require.Equal(t, 300, prod.RateLimitWrite)
	require.Equal(t, 60000, prod.RateLimitIntake)
	require.Equal(t, slog.LevelInfo, prod.LogLevel)
}

func TestValuesAreRead(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(config.ModeProduction, env(map[string]string{
		"STANDING_ADDR":                         "0.0.0.0:9000",
		"STANDING_DATABASE_URL":                 "postgres://u:secret@db:5432/standing",
		"STANDING_REDIS_URL":                    "redis://cache:6379/2",
		"STANDING_WORKER_CONCURRENCY":           "3",
		"STANDING_WEBHOOK_CONCURRENCY":          "10",
		"STANDING_WEBHOOK_DESTINATION_REQUESTS": "40",
		"STANDING_PPROF":                        "true",
		"STANDING_RELAY_AFTER":                  "45s",
		"STANDING_WEBHOOK_ALLOW_CIDRS":          "10.0.0.0/8, 192.168.1.7",
		"STANDING_LOG_LEVEL":                    "debug",
		"STANDING_LOG_FORMAT":                   "text",
	}))
	require.NoError(t, err)
	require.Equal(t, "0.0.0.0:9000", cfg.Addr)
	require.Equal(t, 3, cfg.WorkerConcurrency)
	require.Equal(t, 10, cfg.WebhookConcurrency)
	require.Equal(t, 5, cfg.WebhookDestinationConcurrency)
	require.Equal(t, 40, cfg.WebhookDestinationRequests)
	require.True(t, cfg.Pprof)
	require.Equal(t, 45*time.Second, cfg.RelayAfter)
	require.Equal(t, config.CIDRList{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32")}, cfg.WebhookAllowCIDRs)
	require.Equal(t, slog.LevelDebug, cfg.LogLevel)
	require.NoError(t, cfg.RequireDatabase(false))
	require.NoError(t, cfg.RequireRedis())
}

func TestADestinationHandlerCapAloneStillCapsItsRequests(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(config.ModeProduction, env(map[string]string{"STANDING_WEBHOOK_DESTINATION_CONCURRENCY": "4"}))
	require.NoError(t, err)
	require.Equal(t, 4, cfg.WebhookDestinationConcurrency)
	require.Equal(t, 4, cfg.WebhookDestinationRequests, "set before requests had a cap of their own, it capped requests")
	cfg, err = config.Load(config.ModeProduction, env(map[string]string{
		"STANDING_WEBHOOK_DESTINATION_CONCURRENCY": "4", "STANDING_WEBHOOK_DESTINATION_REQUESTS": "100"}))
	require.NoError(t, err)
	require.Equal(t, 100, cfg.WebhookDestinationRequests)
}

func TestBadValuesNameTheVariable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, value string
	}{
		{"STANDING_RELAY_AFTER", "soon"},
		{"STANDING_RELAY_AFTER", "-5s"},
		{"STANDING_WORKER_CONCURRENCY", "many"},
		{"STANDING_WORKER_CONCURRENCY", "-1"},
		{"STANDING_WEBHOOK_TIMEOUT", "0s"},
		{"STANDING_WEBHOOK_MAX_ATTEMPTS", "0"},
		{"STANDING_WEBHOOK_DESTINATION_REQUESTS", "-1"},
		{"STANDING_WEBHOOK_ALLOW_CIDRS", "10.0.0.0/33"},
		{"STANDING_WEBHOOK_RETRY_MAX_INTERVAL", "1s"},
		{"STANDING_RATE_LIMIT_WRITE", "0"},
		{"STANDING_LOG_LEVEL", "loud"},
		{"STANDING_LOG_FORMAT", "xml"},
		{"STANDING_REDIS_URL", "localhost:6379"},
		{"STANDING_API_KEY", "short"},
		{"STANDING_ADMIN_TOKEN", "short"},
		{"STANDING_WEBHOOK_MAX_AGE", "-1h"},
		{"STANDING_RATE_LIMIT_READ", "-3"},
		{"STANDING_RATE_LIMIT_INTAKE", "1e3"},
		{"STANDING_WEBHOOK_DESTINATION_CONCURRENCY", "two"},
		{"STANDING_ADDR", "8080"},
		{"STANDING_ADDR", "host:http"},
		{"STANDING_METRICS_ADDR", "localhost"},
		{"STANDING_METRICS_ADDR", ":70000"},
		{"STANDING_WEBHOOK_ALLOW_CIDRS", "10.0.0.0/8,nonsense"},
	}
	for _, c := range cases {
		t.Run(c.name+"="+c.value, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(config.ModeDev, env(map[string]string{c.name: c.value}))
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), c.name+":"), "error %q starts with the variable", err)
			require.NotContains(t, err.Error(), "\n", "one line")
			for _, internal := range []string{"strconv", "ParseInt", "time: ", "parsing", "invalid syntax", "env:"} {
				require.NotContains(t, err.Error(), internal, "in words, not Go's parser text")
			}
		})
	}
}

func TestBadValuesSayWhatIsAccepted(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"STANDING_WORKER_CONCURRENCY=abc": `STANDING_WORKER_CONCURRENCY: must be a whole number like 8 (got "abc")`,
		"STANDING_WORKER_CONCURRENCY=-2":  `STANDING_WORKER_CONCURRENCY: must be a whole number of at least 1 (got -2)`,
		"STANDING_RELAY_AFTER=soon":       `STANDING_RELAY_AFTER: must be a duration like 500ms, 30s, 5m or 1h (got "soon")`,
		"STANDING_RELAY_AFTER=-5s":        `STANDING_RELAY_AFTER: must be a positive duration like 30s (got -5s)`,
		"STANDING_LOG_LEVEL=loud":         `STANDING_LOG_LEVEL: must be one of debug, info, warn, error (got "loud")`,
		"STANDING_WEBHOOK_ALLOW_CIDRS=x":  `STANDING_WEBHOOK_ALLOW_CIDRS: "x" is not a CIDR like 10.0.0.0/8`,
	}
	for setting, want := range cases {
		name, value, _ := strings.Cut(setting, "=")
		_, err := config.Load(config.ModeProduction, env(map[string]string{name: value}))
		require.EqualError(t, err, want)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"postgres://u:hunter2@db:5432/standing":                     "postgres://u:xxxxx@db:5432/standing",
		"postgres://u@db/standing?password=hunter2&sslmode=disable": "postgres://u@db/standing?password=xxxxx&sslmode=disable",
		"postgres://db/standing?sslpassword=hunter2":                "postgres://db/standing?sslpassword=xxxxx",
		"redis://:hunter2@cache:6379/0":                             "redis://:xxxxx@cache:6379/0",
		"host=db user=u password=hunter2 dbname=standing":           "host=db user=u password=xxxxx dbname=standing",
		"./.standing/standing.db":                                   "./.standing/standing.db",
		"postgres://db/standing":                                    "postgres://db/standing",
	}
	for in, want := range cases {
		require.Equal(t, want, config.RedactURL(in), in)
		require.NotContains(t, config.RedactURL(in), "hunter2")
	}
}

func TestRequirements(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(config.ModeProduction, env(map[string]string{"STANDING_DATABASE_URL": "./dev.db"}))
	require.NoError(t, err)
	require.NoError(t, cfg.RequireDatabase(true), "migrate and apps take a SQLite file")
	require.ErrorContains(t, cfg.RequireDatabase(false), "STANDING_DATABASE_URL")
	require.ErrorContains(t, cfg.RequireRedis(), "STANDING_REDIS_URL")
	empty, err := config.Load(config.ModeProduction, env(nil))
	require.NoError(t, err)
	require.ErrorContains(t, empty.RequireDatabase(true), "STANDING_DATABASE_URL")
}

func TestLoggedConfigurationHidesSecrets(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(config.ModeProduction, env(map[string]string{
		"STANDING_DATABASE_URL": "postgres://u:hunter2@db/standing",
		"STANDING_ADMIN_TOKEN":  "admin-token-0123456789",
	}))
	require.NoError(t, err)
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("cfg", "config", cfg)
	require.NotContains(t, b.String(), "hunter2")
	require.NotContains(t, b.String(), "admin-token-0123456789")
	cfg, err = config.Load(config.ModeProduction, env(map[string]string{
		"STANDING_DATABASE_URL": "postgres://u@db/standing?password=hunter3",
		"STANDING_REDIS_URL":    "redis://:hunter4@cache:6379/0",
	}))
	require.NoError(t, err)
	b.Reset()
	slog.New(slog.NewJSONHandler(&b, nil)).Info("cfg", "config", cfg)
	require.NotContains(t, b.String(), "hunter3", "a password given as a query parameter is hidden")
	require.NotContains(t, b.String(), "hunter4")
	require.Contains(t, b.String(), "db/standing")
}
