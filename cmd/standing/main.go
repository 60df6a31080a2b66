// Command standing runs Standing: `standing dev` runs everything in one process on an
// embedded store; in production `standing migrate`, `standing ingest` and `standing work`
// run on PostgreSQL and Redis; `standing apps` manages applications.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/standinghq/standing/config"
)

const usage = `usage: standing <command> [flags]

commands:
  dev                       run everything in one process on an embedded store and Redis
  ingest                    serve the HTTP API (PostgreSQL + Redis)
  work                      run the background workers and the relay (PostgreSQL + Redis)
  migrate                   apply the database migrations
  apps create --name NAME [--api-key KEY] [--ingest-secret S]
                            create an application; prints its id, API key and ingest secret
  apps set-ingest-secret --app ID --secret S
                            set the upstream's signing secret (the old one stays valid 24 h)
  apps list                 list the applications
  purge                     run one retention purge pass now and print what it removed

Configuration comes from STANDING_* environment variables; see README.md.`

// errUsage marks a command line that could not be understood.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "standing:", err)
		os.Exit(1)
	}
}

// run is the whole program: it parses args, reads the configuration through getenv,
// and runs the command until it is done or ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, usage)
		if len(args) == 0 {
			return fmt.Errorf("%w: no command given", errUsage)
		}
		return nil
	}
	mode := config.ModeProduction
	if args[0] == "dev" {
		mode = config.ModeDev
	}
	cfg, err := config.Load(mode, getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	switch args[0] {
	case "dev":
		return runDev(ctx, cfg, log, stdout)
	case "ingest":
		return runProduction(ctx, cfg, log, roles{api: true})
	case "work":
		return runProduction(ctx, cfg, log, roles{work: true})
	case "migrate":
		return runMigrate(ctx, cfg, log, stdout)
	case "apps":
		return runApps(ctx, cfg, args[1:], stdout)
	case "purge":
		return runPurge(ctx, cfg, log, args[1:], stdout)
	default:
		return fmt.Errorf("%w: unknown command %q\n\n%s", errUsage, args[0], usage)
	}
}

// newLogger builds the process's logger from the configuration.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
