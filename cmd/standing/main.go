// Command standing runs Standing: `standing dev` runs everything in one process on an
// embedded store; in production `standing migrate`, `standing ingest` and `standing work`
// run on PostgreSQL and Redis; `standing apps` manages applications.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/standinghq/standing/config"
)

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

// env is what a command runs with: its configuration, logger and output.
type env struct {
	cfg    config.Config
	log    *slog.Logger
	stdout io.Writer
	stderr io.Writer
}

// run is the whole program: it finds the command in args, parses its flags (printing
// its usage for --help, before anything else happens), reads the configuration through
// getenv, and runs the command until it is done or ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, overview())
		return fmt.Errorf("%w: no command given", errUsage)
	}
	if isHelp(args[0]) || args[0] == "help" {
		return help(args[1:], stdout)
	}
	cmd, rest := lookup(args)
	if cmd == nil {
		if group := groupOf(args[0]); group != "" {
			if len(rest) > 0 && isHelp(rest[0]) {
				fmt.Fprintln(stdout, groupUsage(group))
				return nil
			}
			return fmt.Errorf("%w: %s\n\n%s", errUsage, subcommandProblem(group, rest), groupUsage(group))
		}
		return fmt.Errorf("%w: unknown command %q\n\n%s", errUsage, args[0], overview())
	}
	fs := flag.NewFlagSet("standing "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	action := cmd.setup(fs)
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, cmd.usage(fs))
			return nil
		}
		return fmt.Errorf("%w: %v\n\n%s", errUsage, err, cmd.usage(fs))
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q\n\n%s", errUsage, fs.Arg(0), cmd.usage(fs))
	}
	cfg, err := config.Load(cmd.mode, getenv)
	if err != nil {
		return err
	}
	e := env{cfg: cfg, log: newLogger(cfg, stderr), stdout: stdout, stderr: stderr}
	return action(ctx, e)
}

// help prints the usage of the command named by args, or the overview.
func help(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stdout, overview())
		return nil
	}
	if cmd, rest := lookup(args); cmd != nil && len(rest) == 0 {
		fs := flag.NewFlagSet("standing "+cmd.name, flag.ContinueOnError)
		cmd.setup(fs)
		fmt.Fprintln(stdout, cmd.usage(fs))
		return nil
	}
	if group := groupOf(args[0]); group != "" && len(args) == 1 {
		fmt.Fprintln(stdout, groupUsage(group))
		return nil
	}
	return fmt.Errorf("%w: no command %q\n\n%s", errUsage, strings.Join(args, " "), overview())
}

func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

// newLogger builds the process's logger from the configuration.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
