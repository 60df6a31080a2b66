package models_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/internal/testkit"
	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/rules"
)

// reverificationSessions returns the ids of the re-verification sessions announced for
// user vd, oldest first.
func reverificationSessions(t *testing.T, b bundle, vd string) []string {
	t.Helper()
	_, bodies := events(t, b, entity(t, b, vd).ID)
	var out []string
	for _, body := range bodies {
		if body["webhook_type"] == models.EventStatusUpdated && body["reason"] == "reverification" {
			require.Equal(t, "Not Started", body["status"])
			out = append(out, body["session_id"].(string))
		}
	}
	return out
}

func TestReverificationOncePerPeriodAndNeverForBlockedOrFlagged(t *testing.T) {
	t.Parallel()
	for _, engine := range testkit.Engines() {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			c := &clock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
			s := engine.Open(t, models.WithClock(c.Now))
			created, err := s.CreateApplication(ctx, "reverify", "")
			require.NoError(t, err)
			b := bundle{store: s, app: created.Application}
			_, problems, err := s.UpdateSettings(ctx, b.app.ID, map[string]any{"reverification_interval_days": float64(30)})
			require.NoError(t, err)
			require.Empty(t, problems)

			approvedAt := c.Now().Unix()
			for _, vd := range []string{"active", "blocked", "flagged"} {
				apply(t, b, ev(vd, "s-"+vd, "Approved", approvedAt, idv("Approved", "Ana "+vd)))
			}
			apply(t, b, ev("never", "s-never", "In Progress", approvedAt, nil))
			for vd, status := range map[string]string{"blocked": rules.EntityBlocked, "flagged": rules.EntityFlagged} {
				item, err := s.RequestStatusChange(ctx, b.app.ID, models.KindUser, vd,
					models.StatusRequest{Status: status, Actor: "ops"})
				require.NoError(t, err)
				_, err = s.ApplyStatusChange(ctx, item.ID)
				require.NoError(t, err)
			}
			reverify := func() int64 {
				t.Helper()
				counts, err := s.Reverify(ctx, 1, nil)
				require.NoError(t, err)
				return counts["sessions_started"]
			}

			c.Advance(30*24*time.Hour - time.Second)
			require.Zero(t, reverify(), "a second before the interval nothing is due")
			c.Advance(time.Second)
			require.Equal(t, int64(1), reverify(), "only the ACTIVE entity is re-verified")
			require.Empty(t, reverificationSessions(t, b, "blocked"), "never for BLOCKED")
			require.Empty(t, reverificationSessions(t, b, "flagged"))
			require.Empty(t, reverificationSessions(t, b, "never"))
			ids := reverificationSessions(t, b, "active")
			require.Len(t, ids, 1)
			sess, err := s.GetSession(ctx, b.app.ID, ids[0])
			require.NoError(t, err)
			require.Equal(t, "Not Started", sess.Status)
			require.Equal(t, "reverification", sess.StatusReason)
			require.Equal(t, "wf-kyc", sess.WorkflowID, "in the workflow of the latest approval")
			require.True(t, strings.HasSuffix(sess.URL, "/session/"+ids[0]), sess.URL)
			e := entity(t, b, "active")
			require.Equal(t, 2, e.SessionCount)
			require.Equal(t, rules.EntityActive, e.Status)

			require.Zero(t, reverify(), "never twice in a period")
			// The person starts the session but does not finish it: still one per period.
			apply(t, b, ev("active", ids[0], "In Progress", c.Now().Unix(), nil))
			c.Advance(29 * 24 * time.Hour)
			require.Zero(t, reverify())
			c.Advance(24 * time.Hour)
			require.Equal(t, int64(1), reverify(), "a period later, still not re-verified: once more")
			ids = reverificationSessions(t, b, "active")
			require.Len(t, ids, 2)

			// Re-verified: the next one is an interval after this approval.
			apply(t, b, ev("active", ids[1], "Approved", c.Now().Unix(), idv("Approved", "Ana active")))
			c.Advance(30*24*time.Hour - time.Second)
			require.Zero(t, reverify())
			c.Advance(time.Second)
			require.Equal(t, int64(1), reverify())
		})
	}
}
