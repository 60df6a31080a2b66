package models_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/rules"
	"github.com/standinghq/standing/tasks"
)

// approve applies an Approved session for user vd with full name name (born 1990-04-02).
func approve(t *testing.T, b bundle, vd, sessionID, name string, at int64) {
	t.Helper()
	apply(t, b, ev(vd, sessionID, rules.SessionApproved, at, idv(rules.SessionApproved, name)))
}

// nameList creates a `name` list of listType.
func nameList(t *testing.T, b bundle, name, listType string) string {
	t.Helper()
	l, err := b.store.CreateList(context.Background(), b.app.ID, name, listType, rules.EntryName)
	require.NoError(t, err)
	return l.ID
}

// addName adds a `name` entry and returns the screening job it stored.
func addName(t *testing.T, b bundle, listID, value, dob string) (*models.ListEntry, *models.InboxItem) {
	t.Helper()
	entry, item, err := b.store.AddListEntry(context.Background(), b.app.ID, listID, value, "sanctions list 2026-11",
		models.WithDateOfBirth(dob))
	require.NoError(t, err)
	require.NotNil(t, item, "a name entry stores a screening job")
	require.Equal(t, tasks.TypeAMLScreen, item.TaskType)
	return entry, item
}

func lastAudit(t *testing.T, b bundle, entityID string) models.StatusChange {
	t.Helper()
	changes, err := b.store.StatusChanges(context.Background(), b.app.ID, entityID)
	require.NoError(t, err)
	require.NotEmpty(t, changes)
	return changes[len(changes)-1]
}

func signalTypes(e *models.Entity) []string {
	var out []string
	for _, s := range e.RiskSignals {
		out = append(out, s.Type)
	}
	return out
}

func TestScreeningOnListAddFlagsOnceAndExplainsIt(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		approve(t, b, "u-ali", "s-ali", "Mohammed Ali", base)
		approve(t, b, "u-smith", "s-smith", "John Smith", base)
		// Same name, but no approved session: not screened.
		_, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "u-unverified",
			Profile: map[string]*string{"full_name": str("Muhammad Ali")}})
		require.NoError(t, err)

		watch := nameList(t, b, "sanctions", rules.ListWatchlist)
		entry, item := addName(t, b, watch, "ALI, Muhammad", "")
		run, err := b.store.ScreenNewEntry(ctx, item.ID)
		require.NoError(t, err)
		require.Equal(t, models.ScreeningRun{Screened: 2, Hits: 1}, run)

		e := entity(t, b, "u-ali")
		require.Equal(t, rules.EntityFlagged, e.Status)
		require.Equal(t, rules.ReasonOngoingMonitoring, *e.StatusReason)
		require.Equal(t, "IN_REVIEW", e.Features["aml"])
		require.Equal(t, []string{rules.SignalAMLHit}, signalTypes(e))
		require.Equal(t, entry.ID, e.RiskSignals[0].Source)
		require.Equal(t, rules.DefaultRiskWeights().AMLHit, e.RiskScore)

		audit := lastAudit(t, b, e.ID)
		require.Equal(t, rules.RuleOngoingMonitoring, audit.Rule)
		require.Equal(t, rules.ReasonOngoingMonitoring, audit.Reason)
		require.Equal(t, "system", audit.Actor)
		require.Equal(t, entry.ID, audit.Inputs["entry_id"])
		require.Equal(t, watch, audit.Inputs["list_id"])
		require.Equal(t, "Mohammed Ali", audit.Inputs["matched_name"])
		require.Equal(t, "ali, muhammad", audit.Inputs["value"])
		require.GreaterOrEqual(t, audit.Inputs["score"], rules.DefaultAMLMatchThreshold)

		_, bodies := events(t, b, e.ID)
		var status eventBody
		for _, body := range bodies {
			if body["webhook_type"] == "user.status.updated" {
				status = body
			}
		}
		require.NotNil(t, status, "user.status.updated is emitted")
		require.Equal(t, "ACTIVE", status["previous_status"])
		require.Equal(t, "FLAGGED", status["status"])
		require.Equal(t, rules.ReasonOngoingMonitoring, status["reason"])

		require.Equal(t, rules.EntityActive, entity(t, b, "u-smith").Status)
		require.Equal(t, rules.EntityActive, entity(t, b, "u-unverified").Status)

		// The job again, and a rescan: the pair never fires twice, even after an analyst
		// cleared the flag.
		run, err = b.store.ScreenNewEntry(ctx, item.ID)
		require.NoError(t, err)
		require.True(t, run.Skipped)
		req, err := b.store.RequestStatusChange(ctx, b.app.ID, models.KindUser, "u-ali",
			models.StatusRequest{Status: rules.EntityActive, Reason: "false positive", Actor: "analyst"})
		require.NoError(t, err)
		_, err = b.store.ApplyStatusChange(ctx, req.ID)
		require.NoError(t, err)
		run, err = b.store.RescanAML(ctx, b.app.ID)
		require.NoError(t, err)
		require.Equal(t, 0, run.Hits)
		require.Equal(t, rules.EntityActive, entity(t, b, "u-ali").Status)
		hits, err := b.store.ScreeningHits(ctx, b.app.ID, e.ID)
		require.NoError(t, err)
		require.Len(t, hits, 1)
	})
}

func TestScreeningBlocklistBlocksAndDateOfBirthMustMatch(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		approve(t, b, "u-ana", "s-ana", "Ana Ruiz", base) // born 1990-04-02
		block := nameList(t, b, "blocked names", rules.ListBlocklist)

		_, item := addName(t, b, block, "Ana Ruiz", "1985-01-01")
		run, err := b.store.ScreenNewEntry(ctx, item.ID)
		require.NoError(t, err)
		require.Equal(t, 0, run.Hits, "another date of birth: another person")
		require.Equal(t, rules.EntityActive, entity(t, b, "u-ana").Status)

		entry, item := addName(t, b, block, "RUIZ, Ana", "1990-04-02")
		run, err = b.store.ScreenNewEntry(ctx, item.ID)
		require.NoError(t, err)
		require.Equal(t, 1, run.Hits)
		e := entity(t, b, "u-ana")
		require.Equal(t, rules.EntityBlocked, e.Status)
		require.Equal(t, rules.ReasonOngoingMonitoring, *e.StatusReason)
		require.Equal(t, entry.ID, lastAudit(t, b, e.ID).Inputs["entry_id"])

		_, _, err = b.store.AddListEntry(ctx, b.app.ID, block, "Ana Ruiz", "", models.WithDateOfBirth("1990-04-02"))
		require.ErrorIs(t, err, models.ErrConflict)
		users, err := b.store.CreateList(ctx, b.app.ID, "users", rules.ListWatchlist, rules.EntryUser)
		require.NoError(t, err)
		_, _, err = b.store.AddListEntry(ctx, b.app.ID, users.ID, "u-x", "", models.WithDateOfBirth("1990-04-02"))
		require.ErrorIs(t, err, models.ErrInvalid)
	})
}

func TestScreeningOnProfileChange(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		watch := nameList(t, b, "watched names", rules.ListWatchlist)
		_, item := addName(t, b, watch, "Ana Ruiz", "")
		_, err := b.store.ScreenNewEntry(ctx, item.ID)
		require.NoError(t, err)

		approve(t, b, "u-1", "s-1", "Maria Lopez", base)
		require.Equal(t, rules.EntityActive, entity(t, b, "u-1").Status)

		// A newer approved session brings another name: screened in that transaction.
		approve(t, b, "u-1", "s-2", "Ana Ruiz", base+10)
		e := entity(t, b, "u-1")
		require.Equal(t, rules.EntityFlagged, e.Status)
		require.Equal(t, rules.ReasonOngoingMonitoring, *e.StatusReason)
		require.Equal(t, "IN_REVIEW", e.Features["aml"])
		require.Contains(t, signalTypes(e), rules.SignalAMLHit)

		// A profile changed through the API is screened too.
		approve(t, b, "u-2", "s-3", "Pedro Gomez", base)
		_, err = b.store.UpdateEntity(ctx, b.app.ID, models.KindUser, "u-2",
			models.EntityPatch{Profile: map[string]*string{"full_name": str("RUIZ, Ana")}})
		require.NoError(t, err)
		require.Equal(t, rules.EntityFlagged, entity(t, b, "u-2").Status)

		// The same name again changes nothing: the pair fired once.
		approve(t, b, "u-1", "s-4", "Ana Ruiz", base+20)
		hits, err := b.store.ScreeningHits(ctx, b.app.ID, e.ID)
		require.NoError(t, err)
		require.Len(t, hits, 1)
	})
}

func TestRescanFindsWhatWasMissedAndHonoursSettings(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		approve(t, b, "u-1", "s-1", "Aleksandr Ivanov", base)
		approve(t, b, "u-2", "s-2", "Alexandra Ivanova", base)
		watch := nameList(t, b, "names", rules.ListWatchlist)
		addName(t, b, watch, "Alexander Ivanov", "") // its job never ran (lost with the queue)

		_, problems, err := b.store.UpdateSettings(ctx, b.app.ID, map[string]any{"aml_rescan_interval_hours": 0})
		require.NoError(t, err)
		require.Empty(t, problems)
		run, err := b.store.RescanAML(ctx, b.app.ID)
		require.NoError(t, err)
		require.True(t, run.Skipped, "0 turns the rescan off")
		require.Equal(t, rules.EntityActive, entity(t, b, "u-1").Status)

		_, _, err = b.store.UpdateSettings(ctx, b.app.ID, map[string]any{"aml_rescan_interval_hours": 24})
		require.NoError(t, err)
		run, err = b.store.RescanAML(ctx, b.app.ID)
		require.NoError(t, err)
		require.Equal(t, models.ScreeningRun{Screened: 2, Hits: 1}, run)
		require.Equal(t, rules.EntityFlagged, entity(t, b, "u-1").Status)
		require.Equal(t, rules.EntityActive, entity(t, b, "u-2").Status, "Alexandra is not Alexander")

		run, err = b.store.RescanAML(ctx, b.app.ID)
		require.NoError(t, err)
		require.Equal(t, 0, run.Hits, "a rescan again records nothing new")

		_, err = b.store.RescanAML(ctx, "0192f0c4-0000-7000-8000-000000000009")
		require.ErrorIs(t, err, models.ErrNotFound)
	})
}

func TestRiskRecomputedWithEachChange(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		w := rules.DefaultRiskWeights()

		// Session: a decline raises session_declined; the same session approved later
		// (a reviewer's overturn) removes it.
		apply(t, b, ev("u-1", "s-1", rules.SessionDeclined, base, nil))
		e := entity(t, b, "u-1")
		require.Equal(t, []string{rules.SignalSessionDeclined}, signalTypes(e))
		require.Equal(t, "s-1", e.RiskSignals[0].Source)
		require.Equal(t, w.SessionDeclined, e.RiskScore)
		apply(t, b, ev("u-1", "s-1", rules.SessionApproved, base+5, nil))
		e = entity(t, b, "u-1")
		require.Empty(t, e.RiskSignals)
		require.Equal(t, 0, e.RiskScore)

		// Transaction: a review raises transaction_review; the analyst's decline replaces
		// it with transaction_declined.
		tx := submitAndEvaluate(t, b, newTx("t-1", "u-1", "10000", "USD", txBase))
		require.Equal(t, rules.TxInReview, tx.Status)
		e = entity(t, b, "u-1")
		require.Equal(t, []string{rules.SignalTransactionReview}, signalTypes(e))
		require.Equal(t, w.TransactionReview, e.RiskScore)
		_, err := b.store.ReviewTransaction(ctx, b.app.ID, tx.ID, rules.TxDeclined, "analyst", "fraud")
		require.NoError(t, err)
		e = entity(t, b, "u-1")
		require.Equal(t, []string{rules.SignalTransactionDeclined}, signalTypes(e))
		require.Equal(t, w.TransactionDeclined, e.RiskScore)

		// List: a watchlist entry naming the entity raises list_match.
		users, err := b.store.CreateList(ctx, b.app.ID, "watched users", rules.ListWatchlist, rules.EntryUser)
		require.NoError(t, err)
		entry, item, err := b.store.AddListEntry(ctx, b.app.ID, users.ID, "u-1", "")
		require.NoError(t, err)
		_, err = b.store.ApplyStatusChange(ctx, item.ID)
		require.NoError(t, err)
		e = entity(t, b, "u-1")
		require.Equal(t, []string{rules.SignalTransactionDeclined, rules.SignalListMatch}, signalTypes(e))
		require.Equal(t, entry.ID, e.RiskSignals[1].Source)
		require.Equal(t, w.TransactionDeclined+w.ListMatch, e.RiskScore)

		// New weights apply at the next change; the score never passes 100.
		_, problems, err := b.store.UpdateSettings(ctx, b.app.ID, map[string]any{"risk": map[string]any{"session_declined": 90}})
		require.NoError(t, err)
		require.Empty(t, problems)
		apply(t, b, ev("u-1", "s-2", rules.SessionDeclined, base+10, nil))
		e = entity(t, b, "u-1")
		require.Len(t, e.RiskSignals, 3)
		require.Equal(t, 100, e.RiskScore)
		require.Equal(t, 90, e.RiskSignals[2].Weight)
		r := e.Resource()
		require.Equal(t, 100, r.RiskScore)
		require.Len(t, r.RiskSignals, 3)
	})
}

func TestRiskAndScreeningSettingsAreValidated(t *testing.T) {
	t.Parallel()
	d := models.DefaultSettings()
	require.Equal(t, 0.92, d.AMLMatchThreshold)
	for _, bad := range []map[string]any{
		{"aml_match_threshold": 0},
		{"aml_match_threshold": 1.5},
		{"aml_match_threshold": -0.1},
		{"risk": map[string]any{"aml_hit": 0}},
		{"risk": map[string]any{"aml_hit": 101}},
		{"risk": map[string]any{"unknown": 1}},
		{"risk": map[string]any{"aml_hit": 2.5}},
		{"risk": 5},
	} {
		_, problems := models.MergeSettings(d, bad)
		require.NotEmpty(t, problems, "%v", bad)
	}
	merged, problems := models.MergeSettings(d, map[string]any{"aml_match_threshold": 1, "risk": map[string]any{"aml_hit": 70}})
	require.Empty(t, problems)
	require.Equal(t, 1.0, merged.AMLMatchThreshold)
	require.Equal(t, 70, merged.Risk.AMLHit)
	require.Equal(t, d.Risk.ListMatch, merged.Risk.ListMatch)
	_, problems = models.MergeSettings(d, map[string]any{"aml_match_threshold": 0})
	require.Contains(t, problems, "aml_match_threshold")
	_, problems = models.MergeSettings(d, map[string]any{"risk": map[string]any{"aml_hit": 0}})
	require.Contains(t, problems, "risk.aml_hit")
}

func TestConcurrentScreeningFlagsOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		approve(t, b, "u-1", "s-1", "Yevgeny Prigozhin", base)
		watch := nameList(t, b, "watch", rules.ListWatchlist)
		_, first := addName(t, b, watch, "Evgeny Prigozhin", "")
		_, second := addName(t, b, watch, "PRIGOZHIN, Yevgeniy", "")
		// Both jobs, each twice, at once.
		errs := make(chan error, 4)
		for _, id := range []string{first.ID, second.ID, first.ID, second.ID} {
			go func() {
				_, err := b.store.ScreenNewEntry(ctx, id)
				errs <- err
			}()
		}
		for range 4 {
			require.NoError(t, <-errs)
		}
		e := entity(t, b, "u-1")
		require.Equal(t, rules.EntityFlagged, e.Status)
		hits, err := b.store.ScreeningHits(ctx, b.app.ID, e.ID)
		require.NoError(t, err)
		require.Len(t, hits, 2, "one hit per entry")
		changes, err := b.store.StatusChanges(ctx, b.app.ID, e.ID)
		require.NoError(t, err)
		require.Len(t, changes, 2, "created, then flagged once")
		require.Equal(t, []string{rules.SignalAMLHit, rules.SignalAMLHit}, signalTypes(e))
		require.Equal(t, 2*rules.DefaultRiskWeights().AMLHit, e.RiskScore)
	})
}

func TestBusinessesAreScreenedByLegalName(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		kyb := map[string]any{"kyb_registry": map[string]any{"status": "Approved", "legal_name": "Sokol Metals GmbH", "country_code": "DEU"}}
		in := models.SessionEventInput{SessionID: "kyb-1", Status: rules.SessionApproved, VendorData: "biz-1", Kind: models.KindBusiness,
			Timestamp: base, Decision: kyb}
		item, _, err := b.store.IngestSessionEvent(ctx, b.app.ID, in)
		require.NoError(t, err)
		_, err = b.store.ApplySessionEvent(ctx, item.ID)
		require.NoError(t, err)
		block := nameList(t, b, "sanctioned companies", rules.ListBlocklist)
		_, job := addName(t, b, block, "SOKOL METALS", "")
		run, err := b.store.ScreenNewEntry(ctx, job.ID)
		require.NoError(t, err)
		require.Equal(t, 1, run.Hits)
		e, err := b.store.GetEntity(ctx, b.app.ID, models.KindBusiness, "biz-1")
		require.NoError(t, err)
		require.Equal(t, rules.EntityBlocked, e.Status)
		_, bodies := events(t, b, e.ID)
		found := false
		for _, body := range bodies {
			found = found || (body["webhook_type"] == "business.status.updated" && body["reason"] == rules.ReasonOngoingMonitoring)
		}
		require.True(t, found, "business.status.updated is emitted")
	})
}

func TestFirstApprovalStartsMonitoringWithTheProfileAlreadyThere(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		_, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "u-1",
			Profile: map[string]*string{"full_name": str("Ramzan Kadyrov")}})
		require.NoError(t, err)
		watch := nameList(t, b, "watch", rules.ListWatchlist)
		_, job := addName(t, b, watch, "Ramzan Akhmatovich Kadyrov", "")
		run, err := b.store.ScreenNewEntry(ctx, job.ID)
		require.NoError(t, err)
		require.Equal(t, 0, run.Screened, "not verified yet: not screened")
		apply(t, b, ev("u-1", "s-1", rules.SessionApproved, base, nil)) // no profile in the decision
		e := entity(t, b, "u-1")
		require.Equal(t, rules.EntityFlagged, e.Status)
		require.Equal(t, rules.ReasonOngoingMonitoring, *e.StatusReason)
	})
}
