package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/tasks"
	"github.com/standinghq/standing/workers"
)

// runPurge runs one retention purge pass now (the pass `standing work` runs hourly),
// records it among the purge runs and prints the run as one JSON object.
func runPurge(ctx context.Context, e env) error {
	store, err := openMigrated(ctx, e)
	if err != nil {
		return err
	}
	defer store.Close()
	periodic := &workers.Periodic{Store: store, Log: e.log}
	// A one-off pass has a period of its own: it never stands in for the hourly run.
	period := "command:" + models.FormatTime(store.Now())
	run, done, err := periodic.Run(ctx, tasks.TypePurge, period, models.TriggerCommand)
	if err != nil {
		return err
	}
	if !done {
		return fmt.Errorf("another purge holds the run %s", period)
	}
	return json.NewEncoder(e.stdout).Encode(run.Resource())
}
