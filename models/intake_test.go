package models_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/internal/testkit"
	"github.com/standinghq/standing/models"
)

// TestIntakeGroupCommitUnderConcurrency posts many events at once, each twice, with
// and without group commit: every event is stored once, both posts of it answer with the
// same id, exactly one of them is the first, and a row the database refuses (a NUL in
// the payload, which jsonb rejects) fails only its own request.
func TestIntakeGroupCommitUnderConcurrency(t *testing.T) {
	t.Parallel()
	for _, batching := range []bool{true, false} {
		t.Run(fmt.Sprintf("batching=%v", batching), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := testkit.PostgresStore(t, models.WithIntakeBatching(batching))
			created, err := s.CreateApplication(ctx, "intake", "")
			require.NoError(t, err)
			appID := created.Application.ID

			const events = 40
			type answer struct {
				id        string
				duplicate bool
				err       error
			}
			answers := make([][2]answer, events)
			var bad answer
			var wg sync.WaitGroup
			for i := range events {
				for j := range 2 {
					wg.Go(func() {
						in := models.SessionEventInput{SessionID: fmt.Sprintf("s-%d", i), Status: "Approved",
							VendorData: fmt.Sprintf("u-%d", i), Kind: models.KindUser, Timestamp: 1764080000}
						item, dup, err := s.IngestSessionEvent(ctx, appID, in)
						a := answer{duplicate: dup, err: err}
						if item != nil {
							a.id = item.ID
						}
						answers[i][j] = a
					})
				}
			}
			wg.Go(func() {
				in := models.SessionEventInput{SessionID: "bad", Status: "Approved", VendorData: "u-bad\x00",
					Kind: models.KindUser, Timestamp: 1764080000, Metadata: map[string]any{"k": "nul\x00"}}
				_, _, bad.err = s.IngestSessionEvent(ctx, appID, in)
			})
			wg.Wait()

			require.Error(t, bad.err, "a row PostgreSQL refuses fails its request")
			seen := map[string]bool{}
			for i, pair := range answers {
				require.NoError(t, pair[0].err, "event %d", i)
				require.NoError(t, pair[1].err, "event %d", i)
				require.Equal(t, pair[0].id, pair[1].id, "both posts of event %d answer with one id", i)
				require.NotEqual(t, pair[0].duplicate, pair[1].duplicate, "exactly one post of event %d is the first", i)
				require.False(t, seen[pair[0].id])
				seen[pair[0].id] = true
				item, err := s.InboxItem(ctx, appID, pair[0].id)
				require.NoError(t, err)
				require.Equal(t, models.InboxPending, item.State)
				require.Contains(t, item.Payload, fmt.Sprintf(`"session_id": "s-%d"`, i))
			}
			n, err := s.CountInbox(ctx, appID, models.InboxPending)
			require.NoError(t, err)
			require.EqualValues(t, events, n, "every event stored once, the refused one not at all")
		})
	}
}
