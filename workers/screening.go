package workers

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/tasks"
)

// HandleAMLScreen screens an application's entities against a `name` list entry just
// added. It is idempotent: a hit is recorded once per (entity, entry), and a job already
// done is acknowledged without effect.
func (h *Handlers) HandleAMLScreen(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.ParseInboxPayload(t)
	if err != nil {
		return err
	}
	run, err := h.Store.ScreenNewEntry(ctx, p.InboxID)
	if errors.Is(err, models.ErrUnknownJob) {
		return fmt.Errorf("inbox item %s does not exist: %w", p.InboxID, asynq.SkipRetry)
	}
	if err != nil {
		h.recordFailure(p.InboxID, err)
		return fmt.Errorf("screen new name entry %s: %w", p.InboxID, err)
	}
	h.Log.Info("name entry screened", "job_id", p.InboxID, "screened", run.Screened, "hits", run.Hits, "skipped", run.Skipped)
	return nil
}

// HandleAMLRescan screens every entity of an application with an approved session
// against all its `name` entries (ongoing AML monitoring). It works in bounded batches
// and is idempotent: a run redone after a crash records only what the first did not.
func (h *Handlers) HandleAMLRescan(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.ParseAMLRescanPayload(t)
	if err != nil {
		return err
	}
	run, err := h.Store.RescanAML(ctx, p.ApplicationID)
	if errors.Is(err, models.ErrNotFound) {
		return fmt.Errorf("application %s does not exist: %w", p.ApplicationID, asynq.SkipRetry)
	}
	if err != nil {
		return fmt.Errorf("AML rescan of application %s: %w", p.ApplicationID, err)
	}
	h.Log.Info("AML rescan done", "application_id", p.ApplicationID, "screened", run.Screened, "hits", run.Hits, "skipped", run.Skipped)
	return nil
}
