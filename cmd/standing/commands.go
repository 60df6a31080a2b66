package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/standinghq/standing/config"
)

// action runs a command once its flags are parsed and its configuration is loaded.
type action func(ctx context.Context, e env) error

// command is one entry of the command table. To add a command, add an entry to
// commands: its flags are declared in setup (which must not do anything else: --help
// runs it too), and --help prints the usage built from the entry and its flags.
type command struct {
	// name is the command as typed, e.g. "apps create".
	name string
	// args is the synopsis after the name, e.g. "--name NAME [--api-key KEY]".
	args string
	// summary is one line for the overview.
	summary string
	// detail is said after the flags in --help: what it needs and what it does.
	detail string
	// mode selects the configuration's defaults.
	mode config.Mode
	// setup declares the flags on fs and returns the action, which reads them.
	setup func(fs *flag.FlagSet) action
}

// noFlags is setup for a command without flags.
func noFlags(a action) func(*flag.FlagSet) action {
	return func(*flag.FlagSet) action { return a }
}

const needsProduction = `Needs STANDING_DATABASE_URL (postgres://…) and STANDING_REDIS_URL (redis://…).`

// commands is the table of every command.
func commands() []command {
	return []command{
		{
			name: "dev", summary: "run everything in one process on an embedded store and Redis",
			detail: `Keeps its files in STANDING_DATA_DIR (default ./.standing) and prints the URL, the API
key, the admin token, the application and its ingest secret. Not for production.`,
			mode: config.ModeDev, setup: noFlags(runDev),
		},
		{
			name: "ingest", summary: "serve the HTTP API on STANDING_ADDR (PostgreSQL + Redis)",
			detail: needsProduction + `
Listens on STANDING_ADDR (default :8080). Run as many as you like.`,
			mode: config.ModeProduction, setup: noFlags(func(ctx context.Context, e env) error {
				return runProduction(ctx, e, roles{api: true})
			}),
		},
		{
			name: "work", summary: "run the background workers, the relay and the scheduler (PostgreSQL + Redis)",
			detail: needsProduction + `
Serves /healthz, /readyz and /metrics on STANDING_METRICS_ADDR when that is set (off by
default); never listens on STANDING_ADDR. Run as many as you like, on one host or many.`,
			mode: config.ModeProduction, setup: noFlags(func(ctx context.Context, e env) error {
				return runProduction(ctx, e, roles{work: true})
			}),
		},
		{
			name: "migrate", summary: "apply the database migrations",
			detail: `Needs STANDING_DATABASE_URL. Safe to run from several processes at once.`,
			mode:   config.ModeProduction, setup: noFlags(runMigrate),
		},
		{
			name: "apps create", args: "--name NAME [--api-key KEY] [--ingest-secret S]",
			summary: "create an application; prints its id, API key and ingest secret",
			detail:  `Needs STANDING_DATABASE_URL (migrated). Prints one JSON object.`,
			mode:    config.ModeProduction, setup: setupAppsCreate,
		},
		{
			name: "apps set-ingest-secret", args: "--app ID --secret S",
			summary: "set the upstream's signing secret (the old one stays valid 24 h)",
			detail:  `Needs STANDING_DATABASE_URL (migrated). Prints one JSON object.`,
			mode:    config.ModeProduction, setup: setupSetIngestSecret,
		},
		{
			name: "health", args: "[--url URL] [--timeout 3s]",
			summary: "check a process's health: exit 0 when URL answers 2xx (for container healthchecks)",
			detail:  `Default URL: http://127.0.0.1:8080/readyz (a work process: its STANDING_METRICS_ADDR).`,
			mode:    config.ModeProduction, setup: setupHealth,
		},
		{
			name: "apps list", summary: "list the applications",
			detail: `Needs STANDING_DATABASE_URL (migrated). Prints a JSON array.`,
			mode:   config.ModeProduction, setup: noFlags(runAppsList),
		},
		{
			name: "purge", summary: "run one retention purge pass now and print what it removed",
			detail: `Needs STANDING_DATABASE_URL (migrated). Hard-deletes the deleted entities past their
application's retention_days, with their history, as the hourly pass in standing work does,
and prints the run (counts, time) as one JSON object.`,
			mode: config.ModeProduction, setup: noFlags(runPurge),
		},
		{
			name: "audit verify", args: "[--app ID]",
			summary: "recompute the audit trail's hash chains; exit 1 naming the first record that does not hold",
			detail: `Needs STANDING_DATABASE_URL (migrated). Prints how many records (and tombstones) it
checked; an empty trail is 0 records, exit 0.`,
			mode: config.ModeProduction, setup: setupAuditVerify,
		},
	}
}

// lookup finds the command args start with, preferring the longest name, and returns
// it with the remaining arguments; nil when none matches.
func lookup(args []string) (*command, []string) {
	var best *command
	var rest []string
	for _, c := range commands() {
		words := strings.Fields(c.name)
		if len(words) > len(args) || (best != nil && len(words) <= len(strings.Fields(best.name))) {
			continue
		}
		if strings.Join(args[:len(words)], " ") == c.name {
			best, rest = &c, args[len(words):]
		}
	}
	if best == nil {
		return nil, args[min(1, len(args)):]
	}
	return best, rest
}

// groupOf returns word when it is the first word of commands with subcommands.
func groupOf(word string) string {
	for _, c := range commands() {
		if strings.HasPrefix(c.name, word+" ") {
			return word
		}
	}
	return ""
}

// subcommandProblem says what is wrong with a group's arguments.
func subcommandProblem(group string, rest []string) string {
	if len(rest) == 0 {
		return "standing " + group + " needs a subcommand"
	}
	return fmt.Sprintf("unknown %s command %q", group, rest[0])
}

// overview is the usage of the program: every command and its summary.
func overview() string {
	var b strings.Builder
	b.WriteString("usage: standing <command> [flags]\n\ncommands:\n")
	for _, c := range commands() {
		synopsis := strings.TrimSpace(c.name + " " + c.args)
		if len(synopsis) > 24 {
			fmt.Fprintf(&b, "  %s\n  %-24s  %s\n", synopsis, "", c.summary)
		} else {
			fmt.Fprintf(&b, "  %-24s  %s\n", synopsis, c.summary)
		}
	}
	b.WriteString("\n`standing COMMAND --help` describes a command. Configuration comes from STANDING_*\nenvironment variables; see README.md.")
	return b.String()
}

// groupUsage lists the subcommands of group.
func groupUsage(group string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: standing %s <command> [flags]\n\ncommands:\n", group)
	for _, c := range commands() {
		if strings.HasPrefix(c.name, group+" ") {
			fmt.Fprintf(&b, "  %-40s  %s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// usage is the --help text of c, whose flags are on fs.
func (c *command) usage(fs *flag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: standing %s\n\n%s.\n", strings.TrimSpace(c.name+" "+c.args), capitalise(c.summary))
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		b.WriteString("\nflags:\n")
		fs.SetOutput(&b)
		fs.PrintDefaults()
	}
	if c.detail != "" {
		b.WriteString("\n" + c.detail + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
