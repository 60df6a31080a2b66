package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/rules"
)

// session reads a session by id.
func session(t *testing.T, b bundle, id string) models.SessionResource {
	t.Helper()
	s, err := b.store.GetSession(context.Background(), b.app.ID, id)
	require.NoError(t, err)
	return s
}

// requestStatus stores a manual status change and applies it.
func requestStatus(t *testing.T, b bundle, vd, status string) {
	t.Helper()
	ctx := context.Background()
	item, err := b.store.RequestStatusChange(ctx, b.app.ID, models.KindUser, vd, models.StatusRequest{Status: status, Actor: "ops"})
	require.NoError(t, err)
	outcome, err := b.store.ApplyStatusChange(ctx, item.ID)
	require.NoError(t, err)
	require.Equal(t, models.StatusChanged, outcome)
}

// SPEC section 2, "Which sessions are new": upstream clocks and webhook delays must not
// let a blocked person's fresh session count as approved.
func TestEnforcementOfNewSessionsIgnoresTheirTimestamps(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		_, problems, err := b.store.UpdateSettings(ctx, b.app.ID, map[string]any{"auto_block_on_decline": true})
		require.NoError(t, err)
		require.Empty(t, problems)
		now := time.Now().Unix()

		// Declined at t-10 blocks; a new session's Approved at t-5 arrives after.
		apply(t, b, ev("u-1", "s-declined", rules.SessionDeclined, now-10, nil))
		require.Equal(t, rules.EntityBlocked, entity(t, b, "u-1").Status)
		apply(t, b, ev("u-1", "s-fresh", rules.SessionApproved, now-5, idv("Approved", "Mallory")))
		fresh := session(t, b, "s-fresh")
		require.Equal(t, rules.SessionDeclined, fresh.Status, "a new session of a BLOCKED entity is declined")
		require.Equal(t, rules.SessionApproved, fresh.ReportedStatus)
		require.Equal(t, rules.ReasonEntityBlocked, fresh.StatusReason)
		e := entity(t, b, "u-1")
		require.Equal(t, 0, e.ApprovedCount)
		require.Equal(t, 2, e.DeclinedCount)
		require.Nil(t, e.FullName, "a declined session gives no profile")

		// The other arrival order: the Approved at t-5 is applied first, while ACTIVE,
		// and stands; the Declined at t-10 then blocks.
		apply(t, b, ev("u-2", "s2-fresh", rules.SessionApproved, now-5, nil))
		apply(t, b, ev("u-2", "s2-declined", rules.SessionDeclined, now-10, nil))
		e = entity(t, b, "u-2")
		require.Equal(t, rules.EntityBlocked, e.Status)
		require.Equal(t, 1, e.ApprovedCount, "an approval applied before the block stays")

		// A FLAGGED entity's new Approved session in the same second as the flag.
		_, err = b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "u-3"})
		require.NoError(t, err)
		requestStatus(t, b, "u-3", rules.EntityFlagged)
		apply(t, b, ev("u-3", "s3", rules.SessionApproved, time.Now().Unix(), nil))
		require.Equal(t, rules.SessionInReview, session(t, b, "s3").Status)
		require.Equal(t, 0, entity(t, b, "u-3").ApprovedCount)

		// The other order: approved while ACTIVE, flagged after: the approval stands.
		apply(t, b, ev("u-4", "s4", rules.SessionApproved, time.Now().Unix(), nil))
		requestStatus(t, b, "u-4", rules.EntityFlagged)
		require.Equal(t, 1, entity(t, b, "u-4").ApprovedCount)
	})
}

func TestEnforcementOfKnownSessionsByTheEffectiveTime(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		_, _, err := b.store.UpdateSettings(ctx, b.app.ID, map[string]any{"auto_block_on_decline": true})
		require.NoError(t, err)
		now := time.Now().Unix()
		// s-known is known before the block; s-declined's event at now-10 blocks.
		apply(t, b, ev("u-1", "s-known", rules.SessionInProgress, now-100, nil))
		apply(t, b, ev("u-1", "s-declined", rules.SessionDeclined, now-10, nil))
		require.Equal(t, rules.EntityBlocked, entity(t, b, "u-1").Status)

		// An event of the known session from before the block's effective time stands.
		apply(t, b, ev("u-1", "s-known", rules.SessionApproved, now-11, nil))
		require.Equal(t, rules.SessionApproved, session(t, b, "s-known").Status)
		// One at or after it is enforced.
		apply(t, b, ev("u-1", "s-known", rules.SessionResubmitted, now-10, nil))
		known := session(t, b, "s-known")
		require.Equal(t, rules.SessionDeclined, known.Status)
		require.Equal(t, rules.ReasonEntityBlocked, known.StatusReason)
		// A late, older event only joins the history.
		apply(t, b, ev("u-1", "s-known", rules.SessionInReview, now-50, nil))
		known = session(t, b, "s-known")
		require.Equal(t, rules.SessionDeclined, known.Status)
		require.Len(t, known.History, 4)
		require.False(t, known.History[1].Current, "the late event is history")
		require.Equal(t, rules.SessionInReview, known.History[1].ReportedStatus)
	})
}

func TestAutoBlockAuditRecordCarriesTheDecision(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		_, _, err := b.store.UpdateSettings(ctx, b.app.ID, map[string]any{"auto_block_on_decline": true})
		require.NoError(t, err)
		at := time.Now().Unix() - 30
		apply(t, b, models.SessionEventInput{SessionID: "s-1", Status: rules.SessionDeclined, VendorData: "u-1",
			Kind: models.KindUser, WorkflowID: "wf-kyc", Timestamp: at})
		e := entity(t, b, "u-1")
		changes, err := b.store.StatusChanges(ctx, b.app.ID, e.ID)
		require.NoError(t, err)
		require.Len(t, changes, 2)
		block := changes[1]
		require.Equal(t, rules.EntityBlocked, block.ToStatus)
		require.Equal(t, rules.RuleAutoBlockOnDecline, block.Rule)
		require.Equal(t, rules.ReasonSessionDeclined, block.Reason)
		require.Equal(t, "system", block.Actor)
		require.Equal(t, "s-1", block.Inputs["session_id"])
		require.Equal(t, "wf-kyc", block.Inputs["workflow_id"])
		require.Equal(t, rules.SessionDeclined, block.Inputs["reported_status"])
		require.EqualValues(t, at, block.Inputs["event_timestamp"])
		require.Equal(t, time.Unix(at, 0).UTC(), e.StatusEffectiveAt.UTC(), "the block takes effect at the causing event's time")
	})
}

// Every creation path records the entity's creation with the list's reason and rule
// (they had drifted: a watchlisted entity auto-created by a session got no rule, one
// created by POST /v3/session/ no reason).
func TestWatchlistCreatedEntityAuditNamesRuleAndReasonOnEveryPath(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		watch, err := b.store.CreateList(ctx, b.app.ID, "suspects", rules.ListWatchlist, rules.EntryUser)
		require.NoError(t, err)
		paths := map[string]func(vd string){
			"session event": func(vd string) { apply(t, b, ev(vd, "s-"+vd, rules.SessionInProgress, base, nil)) },
			"create session": func(vd string) {
				_, _, err := b.store.CreateSession(ctx, b.app.ID, models.NewSession{Kind: models.KindUser, VendorData: vd})
				require.NoError(t, err)
			},
			"pre-create": func(vd string) {
				_, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: vd})
				require.NoError(t, err)
			},
			"transaction": func(vd string) {
				_, item, _, err := b.store.SubmitTransaction(ctx, b.app.ID, newTx("t-"+vd, vd, "10", "USD", txBase))
				require.NoError(t, err)
				_, err = b.store.EvaluateTransaction(ctx, item.ID)
				require.NoError(t, err)
			},
		}
		for name, create := range paths {
			vd := "w-" + name
			entry, _, err := b.store.AddListEntry(ctx, b.app.ID, watch.ID, vd, "seen in a fraud report")
			require.NoError(t, err)
			create(vd)
			e := entity(t, b, vd)
			require.Equal(t, rules.EntityFlagged, e.Status, name)
			changes, err := b.store.StatusChanges(ctx, b.app.ID, e.ID)
			require.NoError(t, err)
			require.NotEmpty(t, changes, name)
			created := changes[0]
			require.Nil(t, created.FromStatus, name)
			require.Equal(t, rules.EntityFlagged, created.ToStatus, name)
			require.Equal(t, rules.RuleWatchlist, created.Rule, name)
			require.Equal(t, rules.ReasonWatchlist, created.Reason, name)
			require.Equal(t, entry.ID, created.Inputs["entry_id"], name)
			require.Equal(t, watch.ID, created.Inputs["list_id"], name)
			require.Equal(t, "seen in a fraud report", created.Inputs["comment"], name)
		}
	})
}

func TestListCausedChangeRecordsTheEntry(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		_, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "u-1"})
		require.NoError(t, err)
		block, err := b.store.CreateList(ctx, b.app.ID, "fraud", rules.ListBlocklist, rules.EntryUser)
		require.NoError(t, err)
		entry, item, err := b.store.AddListEntry(ctx, b.app.ID, block.ID, "u-1", "chargeback ring")
		require.NoError(t, err)
		require.NotNil(t, item)
		_, err = b.store.ApplyStatusChange(ctx, item.ID)
		require.NoError(t, err)
		e := entity(t, b, "u-1")
		require.Equal(t, rules.EntityBlocked, e.Status)
		changes, err := b.store.StatusChanges(ctx, b.app.ID, e.ID)
		require.NoError(t, err)
		last := changes[len(changes)-1]
		require.Equal(t, rules.RuleBlocklist, last.Rule)
		require.Equal(t, rules.ReasonBlocklistMatch, last.Reason)
		require.Equal(t, entry.ID, last.Inputs["entry_id"])
		require.Equal(t, block.ID, last.Inputs["list_id"])
		require.Equal(t, "u-1", last.Inputs["value"])
		require.Equal(t, "chargeback ring", last.Inputs["comment"])
	})
}
