// Command standing-bench runs Standing's throughput benchmark (`make bench`): it starts
// its own PostgreSQL and Redis, Standing's ingest and work processes, a webhook receiver
// and a load generator, all on loopback, then pgbench on the same server, and prints
// the rates, latencies, peak memory and the ratio to pgbench; -json writes the same for
// before/after comparisons.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/standinghq/standing/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "standing-bench:", err)
		os.Exit(1)
	}
}

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("standing-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := bench.Config{Log: stderr}
	fs.StringVar(&cfg.PGBin, "pg-bin", "/usr/lib/postgresql/15/bin", "directory of initdb, pg_ctl and pgbench")
	fs.IntVar(&cfg.PGPort, "pg-port", 25532, "port of the benchmark's own PostgreSQL")
	fs.StringVar(&cfg.PGOptions, "pg-options", "", "extra settings of the benchmark's PostgreSQL, as pg_ctl -o takes them "+
		"(\"-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=5ms\" logs slow plans; -keep keeps the log)")
	fs.IntVar(&cfg.RedisPort, "redis-port", 26479, "port of the benchmark's own Redis")
	fs.IntVar(&cfg.Entities, "entities", 200, "entities in the load")
	fs.IntVar(&cfg.Events, "events", 15, "session events per entity")
	fs.IntVar(&cfg.Transactions, "transactions", 3, "transactions per entity")
	fs.IntVar(&cfg.Clients, "clients", 16, "concurrent clients (also pgbench's)")
	fs.Float64Var(&cfg.Pace, "pace", 0.5, "paced phase rate, as a fraction of the max end-to-end rate")
	fs.BoolVar(&cfg.NoSettle, "no-settle", false, "start the paced phase right after the max phase, without VACUUM ANALYZE first "+
		"(its latencies then include autovacuum's passes over what the max phase churned)")
	fs.Float64Var(&cfg.PacedSeconds, "paced-seconds", 20, "length of the paced phase")
	fs.DurationVar(&cfg.Timeout, "timeout", 90*time.Second, "wait at most this long for a phase's webhooks")
	variants := fs.String("variants", "1,2", "process counts to run, comma-separated: 1 is one ingest + one work process; "+
		"1:BIN=PATH runs that variant's processes from another standing binary (a build of an earlier commit: A/B of code in one run); "+
		"1:KEY=VALUE:KEY=VALUE adds environment to that variant's processes (A/B in one run); "+
		"1:SQL=FILE runs FILE on Standing's database before the variant starts (A/B of schema changes)")
	subscribe := fs.String("subscribe", "*", "the destination's subscribed events, comma-separated")
	fs.BoolVar(&cfg.Signed, "signed", false, "sign session events with the ingest secret instead of the API key")
	var envs listFlag
	fs.Var(&envs, "env", "KEY=VALUE added to every Standing process's environment (repeatable)")
	fs.IntVar(&cfg.PgbenchSeconds, "pgbench-seconds", 20, "pgbench run length")
	fs.IntVar(&cfg.PgbenchScale, "pgbench-scale", 16, "pgbench scale factor")
	fs.StringVar(&cfg.ProfileDir, "profile", "", "write CPU profiles of every process during the first max phase here")
	fs.StringVar(&cfg.StatementsFile, "statements", "", "write pg_stat_statements' busiest statements here (FILE.1, FILE.2, … per variant when there are several)")
	fs.IntVar(&cfg.Backlog, "backlog", 100000, "session events queued with no work process running, then drained (last variant; 0 skips)")
	fs.StringVar(&cfg.LatencyFile, "latencies", "", "write every item's latency here, one line each: variant/phase, sent at (ms into the phase), latency (ms), key, sent at (Unix ms)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the temporary directory (logs, database)")
	jsonPath := fs.String("json", "", "write the result as JSON to this file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // -help printed the usage: nothing ran, nothing failed
		}
		return err
	}
	cfg.Env = envs
	cfg.Subscribe = strings.Split(*subscribe, ",")
	for _, v := range strings.Split(*variants, ",") {
		parts := strings.Split(strings.TrimSpace(v), ":")
		n, err := strconv.Atoi(parts[0])
		if err != nil || n < 1 || n > 8 {
			return fmt.Errorf("-variants: %q does not start with a process count from 1 to 8", v)
		}
		spec := bench.VariantSpec{N: n}
		for _, kv := range parts[1:] {
			key, value, ok := strings.Cut(kv, "=")
			switch {
			case !ok:
				return fmt.Errorf("-variants: %q is not KEY=VALUE", kv)
			case key == "BIN":
				spec.Bin = value
			case key == "SQL":
				spec.SQL = value
			default:
				spec.Env = append(spec.Env, kv)
			}
		}
		cfg.Variants = append(cfg.Variants, spec)
	}
	if cfg.Backlog < 0 {
		return fmt.Errorf("-backlog must be 0 (no backlog phase) or more")
	}
	if cfg.Entities < 1 || cfg.Events < 0 || cfg.Transactions < 0 || cfg.Events+cfg.Transactions == 0 || cfg.Clients < 1 {
		return fmt.Errorf("-entities and -clients must be at least 1, and an entity needs at least one event or transaction")
	}
	res, err := bench.Run(ctx, cfg)
	if res != nil {
		res.Print(stdout)
		if *jsonPath != "" {
			if werr := res.WriteJSON(*jsonPath); werr != nil {
				return werr
			}
			fmt.Fprintf(stdout, "wrote %s\n", *jsonPath)
		}
	}
	return err
}
