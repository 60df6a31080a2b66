package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/standinghq/standing/config"
)

const auditUsage = `usage: standing audit verify [--app ID]

Recomputes the hash chain of every application's audit trail (or of one, with --app) and
reports the first record that does not hold (exit 1), or how many records were checked
(exit 0).`

// errChainBroken marks an audit trail that does not verify (exit status 1).
var errChainBroken = errors.New("the audit trail does not verify")

// runAudit runs `standing audit verify`.
func runAudit(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprintln(stdout, auditUsage)
		return nil
	}
	if len(args) == 0 || args[0] != "verify" {
		return fmt.Errorf("%w: %s", errUsage, auditUsage)
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	app := fs.String("app", "", "verify only this application's chain")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, auditUsage)
			return nil
		}
		return fmt.Errorf("%w: audit verify: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: %s", errUsage, auditUsage)
	}
	if err := cfg.RequireDatabase(true); err != nil {
		return err
	}
	store, err := openMigrated(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	report, err := store.VerifyChains(ctx, *app)
	if err != nil {
		return err
	}
	if report.Broken != nil {
		return fmt.Errorf("%w: %s", errChainBroken, report.Broken.Error())
	}
	fmt.Fprintf(stdout, "ok: %d records (%d tombstones) in %d application chain(s) verified\n",
		report.Records, report.Tombstones, report.Applications)
	return nil
}
