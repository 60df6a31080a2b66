package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
)

// errChainBroken marks an audit trail that does not verify (exit status 1).
var errChainBroken = errors.New("the audit trail does not verify")

// setupAuditVerify is `standing audit verify [--app ID]`: it recomputes every
// application's hash chain (or one's) and fails naming the first record that does not
// hold.
func setupAuditVerify(fs *flag.FlagSet) action {
	app := fs.String("app", "", "verify only this application's chain")
	return func(ctx context.Context, e env) error {
		store, err := openMigrated(ctx, e)
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
		fmt.Fprintf(e.stdout, "ok: %d records (%d tombstones) in %d application chain(s) verified\n",
			report.Records, report.Tombstones, report.Applications)
		return nil
	}
}
