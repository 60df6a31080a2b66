package models_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/rules"
)

// base is an upstream event time after any test's start, so that enforcement by an
// entity's current status applies to the events of a test.
var base = time.Now().Add(time.Hour).Unix()

// ev builds a session event for user vd.
func ev(vd, sessionID, status string, at int64, decision map[string]any) models.SessionEventInput {
	return models.SessionEventInput{
		SessionID: sessionID, Status: status, VendorData: vd, Kind: models.KindUser,
		WorkflowID: "wf-kyc", Timestamp: at, Decision: decision, Metadata: map[string]any{"source": "test"},
	}
}

func idv(status, fullName string) map[string]any {
	return map[string]any{
		"id_verification": map[string]any{"status": status, "full_name": fullName, "date_of_birth": "1990-04-02",
			"nationality": "esp", "document_number": "X123"},
		"liveness": map[string]any{"status": status, "face_id": "face-" + fullName},
	}
}

// applyAsJob applies a session event as its job does: run again shortly while the item
// is busy (held by another transaction's batch, or its entity held).
func applyAsJob(ctx context.Context, s *models.Store, id string) (models.SessionOutcome, error) {
	for {
		outcome, err := s.ApplySessionEvent(ctx, id)
		if !errors.Is(err, models.ErrInboxItemBusy) {
			return outcome, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// apply ingests and applies events in order, and returns the inbox ids.
func apply(t *testing.T, b bundle, events ...models.SessionEventInput) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for _, in := range events {
		item, _, err := b.store.IngestSessionEvent(ctx, b.app.ID, in)
		require.NoError(t, err)
		_, err = b.store.ApplySessionEvent(ctx, item.ID)
		require.NoError(t, err)
		ids = append(ids, item.ID)
	}
	return ids
}

func entity(t *testing.T, b bundle, vd string) *models.Entity {
	t.Helper()
	e, err := b.store.GetEntity(context.Background(), b.app.ID, models.KindUser, vd)
	require.NoError(t, err)
	return e
}

func TestSessionEventAutoCreatesAndFillsTheEntity(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		in := ev("u-1", "s-1", rules.SessionApproved, base, idv("Approved", "Ana Ruiz"))
		item, dup, err := b.store.IngestSessionEvent(ctx, b.app.ID, in)
		require.NoError(t, err)
		require.False(t, dup)
		again, dup, err := b.store.IngestSessionEvent(ctx, b.app.ID, in)
		require.NoError(t, err)
		require.True(t, dup, "the same (session_id, status, timestamp) is one event")
		require.Equal(t, item.ID, again.ID)

		outcome, err := b.store.ApplySessionEvent(ctx, item.ID)
		require.NoError(t, err)
		require.Equal(t, models.SessionCurrent, outcome)
		outcome, err = b.store.ApplySessionEvent(ctx, item.ID)
		require.NoError(t, err)
		require.Equal(t, models.SessionAlreadyApplied, outcome)

		e := entity(t, b, "u-1")
		require.Equal(t, rules.EntityActive, e.Status)
		require.Equal(t, 1, e.SessionCount)
		require.Equal(t, 1, e.ApprovedCount)
		require.Equal(t, map[string]string{"id_verification": "APPROVED", "liveness": "APPROVED"}, e.Features)
		require.Equal(t, "Ana Ruiz", *e.FullName)
		require.Equal(t, "ESP", *e.Nationality, "profile values are normalised")
		require.Equal(t, "X123", *e.DocumentNumber)
		require.Equal(t, time.Unix(base, 0).UTC(), e.FirstSessionAt.UTC())
		require.Equal(t, time.Unix(base, 0).UTC(), e.LastSessionAt.UTC())

		evs, bodies := events(t, b, e.ID)
		var types []string
		for _, ev := range evs {
			types = append(types, ev.Type)
		}
		require.Equal(t, []string{
			"user.data.updated", "activity.created", // auto-created
			"status.updated", "data.updated", "activity.created", // session linked, with its decision
			"user.data.updated", "activity.created", // profile from the approved session
		}, types)
		require.Equal(t, "data.updated", bodies[3]["webhook_type"])
		require.Equal(t, "s-1", bodies[3]["session_id"])
		require.NotNil(t, bodies[3]["decision"])
		require.Equal(t, "s-1", bodies[2]["session_id"])
		require.Equal(t, "Approved", bodies[2]["status"])
		require.Equal(t, "u-1", bodies[2]["vendor_data"])
		require.Equal(t, "wf-kyc", bodies[2]["workflow_id"])
		require.Equal(t, float64(base), bodies[2]["timestamp"])
		require.Contains(t, bodies[5]["changed_fields"], "full_name")

		sess, err := b.store.GetSession(ctx, b.app.ID, "s-1")
		require.NoError(t, err)
		require.Equal(t, "Approved", sess.Status)
		require.Len(t, sess.History, 1)
		require.NotContains(t, sess.Decision["liveness"], "face_id", "the face id is kept apart, to be erasable")
	})
}

func TestSessionMovesBetweenCountersAndLateEventsDoNotRewindIt(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		apply(t, b, ev("u", "s-1", rules.SessionInReview, base, nil))
		e := entity(t, b, "u")
		require.Equal(t, 1, e.InReviewCount)
		require.Equal(t, 0, e.ApprovedCount)

		apply(t, b, ev("u", "s-1", rules.SessionApproved, base+10, nil))
		e = entity(t, b, "u")
		require.Equal(t, 1, e.SessionCount)
		require.Equal(t, 0, e.InReviewCount, "In Review → Approved leaves in_review_count")
		require.Equal(t, 1, e.ApprovedCount)

		// An older event arriving late joins the history only.
		apply(t, b, ev("u", "s-1", rules.SessionInProgress, base-10, nil))
		e = entity(t, b, "u")
		require.Equal(t, 1, e.ApprovedCount)
		require.Equal(t, 0, e.InReviewCount)
		sess, err := b.store.GetSession(context.Background(), b.app.ID, "s-1")
		require.NoError(t, err)
		require.Equal(t, "Approved", sess.Status)
		require.Len(t, sess.History, 3)
		require.Equal(t, "In Progress", sess.History[0].Status, "history is in upstream time order")
		require.False(t, sess.History[0].Current)

		// Same timestamp: the later lifecycle stage wins whatever the order.
		apply(t, b, ev("u", "s-2", rules.SessionApproved, base, nil), ev("u", "s-2", rules.SessionInProgress, base, nil))
		s2, err := b.store.GetSession(context.Background(), b.app.ID, "s-2")
		require.NoError(t, err)
		require.Equal(t, "Approved", s2.Status)
	})
}

func TestProfileComesFromTheLatestApprovedSession(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		apply(t, b, ev("u", "new", rules.SessionApproved, base+100, idv("Approved", "New Name")))
		apply(t, b, ev("u", "old", rules.SessionApproved, base, idv("Approved", "Old Name")))
		e := entity(t, b, "u")
		require.Equal(t, "New Name", *e.FullName, "an older approved session arriving late does not overwrite")
		require.Equal(t, 2, e.ApprovedCount)

		apply(t, b, ev("u", "later", rules.SessionDeclined, base+200, idv("Declined", "Declined Name")))
		e = entity(t, b, "u")
		require.Equal(t, "New Name", *e.FullName, "a declined session never overwrites")
		require.Equal(t, "DECLINED", e.Features["id_verification"], "features follow the latest session reporting them")

		apply(t, b, ev("u", "old2", rules.SessionApproved, base+50, map[string]any{"aml": map[string]any{"status": "In Review"}}))
		e = entity(t, b, "u")
		require.Equal(t, "DECLINED", e.Features["id_verification"], "an older session does not overwrite a feature")
		require.Equal(t, "IN_REVIEW", e.Features["aml"], "a feature reported only by an older session is set")
	})
}

// comparable is an entity without the fields that depend on when events were applied.
func comparable(e *models.Entity) models.EntityResource {
	r := e.Resource()
	r.UUID, r.CreatedAt, r.UpdatedAt, r.LastActivityAt = "", "", "", nil
	for i, s := range r.RiskSignals {
		s.Source = strings.TrimPrefix(s.Source, e.VendorData+"-") // session ids are per run
		r.RiskSignals[i] = s
	}
	return r
}

func TestEventsInAnyOrderAndDuplicatedGiveTheSameEntity(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		var evs []models.SessionEventInput
		statuses := []string{rules.SessionNotStarted, rules.SessionInProgress, rules.SessionInReview}
		finals := []string{rules.SessionApproved, rules.SessionDeclined, rules.SessionInReview, rules.SessionExpired}
		for s := range 8 {
			sid := fmt.Sprintf("s-%d", s)
			at := base + int64(s*100)
			for i, st := range statuses {
				evs = append(evs, ev("", sid, st, at+int64(i), nil))
			}
			final := finals[s%len(finals)]
			evs = append(evs, ev("", sid, final, at+10, idv(final, fmt.Sprintf("Name %d", s))))
		}
		// Session ids are per run: the same (session_id, status, timestamp) is one event
		// in an application, whatever its vendor_data.
		run := func(vd string, order []models.SessionEventInput) {
			for i := range order {
				order[i].VendorData = vd
				order[i].SessionID = vd + "-" + order[i].SessionID
			}
			apply(t, b, order...)
		}
		forward := append([]models.SessionEventInput(nil), evs...)
		run("forward", forward)

		reversed := make([]models.SessionEventInput, 0, 2*len(evs))
		for i := len(evs) - 1; i >= 0; i-- {
			reversed = append(reversed, evs[i])
		}
		shuffled := append([]models.SessionEventInput(nil), evs...)
		rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		run("reversed", append(reversed, shuffled...))

		f, r := entity(t, b, "forward"), entity(t, b, "reversed")
		want := comparable(f)
		got := comparable(r)
		want.VendorData, got.VendorData = "", ""
		require.Equal(t, want, got)
		require.Equal(t, 8, f.SessionCount)
		require.Equal(t, 2, f.ApprovedCount)
		require.Equal(t, 2, f.DeclinedCount)
		require.Equal(t, 2, f.InReviewCount)
		require.Equal(t, "Name 4", *f.FullName, "the latest approved session (s-4) gave the profile")
	})
}

func TestEnforcementByEntityStatus(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		for vd, st := range map[string]string{"flagged": rules.EntityFlagged, "blocked": rules.EntityBlocked} {
			_, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: vd, Status: st})
			require.NoError(t, err)
		}
		apply(t, b, ev("flagged", "s-f", rules.SessionApproved, base, idv("Approved", "Fla")))
		sess, err := b.store.GetSession(ctx, b.app.ID, "s-f")
		require.NoError(t, err)
		require.Equal(t, "In Review", sess.Status, "a FLAGGED entity's approval is recorded In Review")
		require.Equal(t, "Approved", sess.ReportedStatus)
		require.Equal(t, rules.ReasonEntityFlagged, sess.StatusReason)
		e := entity(t, b, "flagged")
		require.Equal(t, 1, e.InReviewCount)
		require.Equal(t, 0, e.ApprovedCount)
		require.Nil(t, e.FullName, "an approval recorded In Review gives no profile")

		apply(t, b, ev("blocked", "s-b", rules.SessionApproved, base, nil))
		sess, err = b.store.GetSession(ctx, b.app.ID, "s-b")
		require.NoError(t, err)
		require.Equal(t, "Declined", sess.Status, "a BLOCKED entity's sessions are auto-declined")
		require.Equal(t, rules.ReasonEntityBlocked, sess.StatusReason)
		require.Equal(t, 1, entity(t, b, "blocked").DeclinedCount)

		// A session Standing first hears of after the block is new: enforced, whatever
		// its upstream timestamp says.
		apply(t, b, ev("blocked", "s-old", rules.SessionApproved, time.Now().Add(-time.Hour).Unix(), nil))
		old, err := b.store.GetSession(ctx, b.app.ID, "s-old")
		require.NoError(t, err)
		require.Equal(t, "Declined", old.Status)
		require.Equal(t, "Approved", old.ReportedStatus)
	})
}

func TestAutoBlockOnDecline(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		_, problems, err := b.store.UpdateSettings(ctx, b.app.ID, map[string]any{
			"auto_block_on_decline": true, "auto_block_workflows": []any{"wf-kyc"},
		})
		require.NoError(t, err)
		require.Empty(t, problems)

		other := ev("other-wf", "s-o", rules.SessionDeclined, base, nil)
		other.WorkflowID = "wf-other"
		apply(t, b, other)
		require.Equal(t, rules.EntityActive, entity(t, b, "other-wf").Status, "only the listed workflows auto-block")

		apply(t, b, ev("u", "s-1", rules.SessionDeclined, base, nil))
		e := entity(t, b, "u")
		require.Equal(t, rules.EntityBlocked, e.Status)
		require.Equal(t, rules.ReasonSessionDeclined, *e.StatusReason)
		changes, err := b.store.StatusChanges(ctx, b.app.ID, e.ID)
		require.NoError(t, err)
		last := changes[len(changes)-1]
		require.Equal(t, rules.EntityActive, *last.FromStatus)
		require.Equal(t, "auto_block_on_decline", last.Rule)
		require.Equal(t, "system", last.Actor)

		_, bodies := events(t, b, e.ID)
		var statusEvent map[string]any
		for _, body := range bodies {
			if body["webhook_type"] == "user.status.updated" {
				statusEvent = body
			}
		}
		require.NotNil(t, statusEvent)
		require.Equal(t, "ACTIVE", statusEvent["previous_status"])
		require.Equal(t, "session_declined", statusEvent["reason"])

		lists, _, err := b.store.Lists(ctx, b.app.ID, models.ListFilter{ListType: "blocklist", EntryType: "user", Limit: 50})
		require.NoError(t, err)
		require.Len(t, lists, 1)
		require.True(t, lists[0].System)
		entries, _, err := b.store.ListEntries(ctx, b.app.ID, lists[0].UUID, 50, 0)
		require.NoError(t, err)
		require.Len(t, entries, 1)
		require.Equal(t, "u", entries[0].Value, "a blocked entity is on its system blocklist")
	})
}

func TestBlocklistMatchesDeclineAndBlock(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		faces, err := b.store.CreateList(ctx, b.app.ID, "known fraud faces", "blocklist", "face")
		require.NoError(t, err)
		_, _, err = b.store.AddListEntry(ctx, b.app.ID, faces.ID, "FACE-Mallory", "")
		require.NoError(t, err)
		emails, err := b.store.CreateList(ctx, b.app.ID, "emails", "blocklist", "email")
		require.NoError(t, err)
		_, _, err = b.store.AddListEntry(ctx, b.app.ID, emails.ID, "bad@example.com", "")
		require.NoError(t, err)

		apply(t, b, ev("mallory", "s-m", rules.SessionApproved, base, idv("Approved", "Mallory")))
		e := entity(t, b, "mallory")
		require.Equal(t, rules.EntityBlocked, e.Status)
		require.Equal(t, rules.ReasonBlocklistMatch, *e.StatusReason)
		require.Equal(t, 1, e.DeclinedCount)
		require.Nil(t, e.FullName, "a declined session gives no profile")
		sess, err := b.store.GetSession(ctx, b.app.ID, "s-m")
		require.NoError(t, err)
		require.Equal(t, "Declined", sess.Status)
		require.Equal(t, rules.ReasonBlocklistMatch, sess.StatusReason)

		flagged, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "eve", Status: rules.EntityFlagged})
		require.NoError(t, err)
		apply(t, b, ev("eve", "s-e", rules.SessionInProgress, base, map[string]any{"email": map[string]any{"status": "Approved", "email": " BAD@example.com "}}))
		e = entity(t, b, "eve")
		require.Equal(t, flagged.ID, e.ID)
		require.Equal(t, rules.EntityBlocked, e.Status, "FLAGGED → BLOCKED on a blocklist match")

		apply(t, b, ev("fine", "s-ok", rules.SessionApproved, base, idv("Approved", "Fine")))
		require.Equal(t, rules.EntityActive, entity(t, b, "fine").Status)
	})
}

func TestListsDriveEntityStatusAndNeverLowerIt(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		for _, vd := range []string{"watched", "blocked"} {
			_, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: vd})
			require.NoError(t, err)
		}
		watch, err := b.store.CreateList(ctx, b.app.ID, "watch", "watchlist", "user")
		require.NoError(t, err)
		block, err := b.store.CreateList(ctx, b.app.ID, "block", "blocklist", "user")
		require.NoError(t, err)

		_, item, err := b.store.AddListEntry(ctx, b.app.ID, watch.ID, "watched", "")
		require.NoError(t, err)
		require.NotNil(t, item, "a watchlist entry for a live user flags it through a status job")
		_, err = b.store.ApplyStatusChange(ctx, item.ID)
		require.NoError(t, err)
		e := entity(t, b, "watched")
		require.Equal(t, rules.EntityFlagged, e.Status)
		require.Equal(t, rules.ReasonWatchlist, *e.StatusReason)

		_, item, err = b.store.AddListEntry(ctx, b.app.ID, block.ID, "blocked", "")
		require.NoError(t, err)
		_, err = b.store.ApplyStatusChange(ctx, item.ID)
		require.NoError(t, err)
		require.Equal(t, rules.EntityBlocked, entity(t, b, "blocked").Status)

		_, item, err = b.store.AddListEntry(ctx, b.app.ID, watch.ID, "blocked", "")
		require.NoError(t, err)
		outcome, err := b.store.ApplyStatusChange(ctx, item.ID)
		require.NoError(t, err)
		require.Equal(t, models.StatusUnchanged, outcome)
		require.Equal(t, rules.EntityBlocked, entity(t, b, "blocked").Status, "a watchlist never turns BLOCKED into FLAGGED")

		_, item, err = b.store.AddListEntry(ctx, b.app.ID, block.ID, "not-yet", "")
		require.NoError(t, err)
		require.Nil(t, item, "no entity yet: nothing to apply")
		created, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "not-yet"})
		require.NoError(t, err)
		require.Equal(t, rules.EntityBlocked, created.Status, "an entity created later starts as its lists say")
		apply(t, b, ev("auto-watched", "s-aw", rules.SessionApproved, base, nil))
		_, _, err = b.store.AddListEntry(ctx, b.app.ID, watch.ID, "auto-later", "")
		require.NoError(t, err)
		apply(t, b, ev("auto-later", "s-al", rules.SessionApproved, base, nil))
		auto := entity(t, b, "auto-later")
		require.Equal(t, rules.EntityFlagged, auto.Status, "auto-created entities start as their lists say")
		require.Equal(t, 1, auto.InReviewCount, "and their sessions are enforced from the start")
	})
}

func TestManualBlockKeepsTheSystemBlocklistInStep(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		_, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindBusiness, VendorData: "acme"})
		require.NoError(t, err)
		systemEntries := func() int {
			lists, _, err := b.store.Lists(ctx, b.app.ID, models.ListFilter{ListType: "blocklist", EntryType: "business", Limit: 50})
			require.NoError(t, err)
			require.Len(t, lists, 1)
			return int(lists[0].EntryCount)
		}
		change := func(status string) {
			item, err := b.store.RequestStatusChange(ctx, b.app.ID, models.KindBusiness, "acme", models.StatusRequest{Status: status, Actor: "ops"})
			require.NoError(t, err)
			_, err = b.store.ApplyStatusChange(ctx, item.ID)
			require.NoError(t, err)
		}
		require.Zero(t, systemEntries())
		change(rules.EntityBlocked)
		require.Equal(t, 1, systemEntries())
		change(rules.EntityFlagged)
		require.Zero(t, systemEntries(), "leaving BLOCKED removes the entry")
	})
}

func TestDeletionErasesFaceIDsAndANewEventMakesANewEntity(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		apply(t, b, ev("u", "s-1", rules.SessionApproved, base, idv("Approved", "Ana")))
		first := entity(t, b, "u")
		n, err := b.store.DeleteEntities(ctx, b.app.ID, models.KindUser, []string{"u"}, false)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		faces, err := b.store.FaceIDs(ctx, b.app.ID, first.ID)
		require.NoError(t, err)
		require.Empty(t, faces, "face biometric ids are erased at deletion")

		apply(t, b, ev("u", "s-2", rules.SessionInProgress, base+10, nil))
		second := entity(t, b, "u")
		require.NotEqual(t, first.ID, second.ID, "an event for a deleted entity's vendor_data creates a new entity")
		require.Nil(t, second.DeletedAt)
		require.Equal(t, 1, second.SessionCount)
	})
}

func TestCreateSession(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		sess, e, err := b.store.CreateSession(ctx, b.app.ID, models.NewSession{Kind: models.KindUser, VendorData: "new", WorkflowID: "wf"})
		require.NoError(t, err)
		require.Equal(t, "Not Started", sess.Status)
		require.Equal(t, "https://verify.example.com/session/"+sess.SessionID, sess.URL)
		require.Equal(t, 1, e.SessionCount)
		require.Equal(t, 1, entity(t, b, "new").SessionCount)

		_, err = b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "blocked", Status: rules.EntityBlocked})
		require.NoError(t, err)
		_, _, err = b.store.CreateSession(ctx, b.app.ID, models.NewSession{Kind: models.KindUser, VendorData: "blocked"})
		require.ErrorIs(t, err, models.ErrForbidden)
		require.Equal(t, 0, entity(t, b, "blocked").SessionCount, "nothing stored")
	})
}

func TestMergeSettings(t *testing.T) {
	t.Parallel()
	defaults := models.DefaultSettings()
	decode := func(s string) map[string]any {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(s), &m))
		return m
	}
	merged, problems := models.MergeSettings(defaults, decode(`{"review_threshold": 50, "rules": {"velocity": {"count": 5}}, "fx_rates": {"USD": "1", "JPY": "0.0067"}}`))
	require.Empty(t, problems)
	require.Equal(t, 50, merged.ReviewThreshold)
	require.Equal(t, 5, merged.Rules.Velocity.Count)
	require.Equal(t, "1h", merged.Rules.Velocity.Window, "nested objects merge key by key")
	require.Equal(t, map[string]string{"USD": "1", "JPY": "0.0067"}, merged.FXRates, "fx_rates is replaced whole")

	bad := []struct{ patch, field string }{
		{`{"colour": "red"}`, "colour"},
		{`{"rules": {"speed": {}}}`, "rules.speed"},
		{`{"review_threshold": "high"}`, "review_threshold"},
		{`{"review_threshold": 60.5}`, "review_threshold"},
		{`{"review_threshold": null}`, "review_threshold"},
		{`{"rules": "none"}`, "rules"},
		{`{"decline_threshold": 10}`, "decline_threshold"},
		{`{"session_url_template": "https://x"}`, "session_url_template"},
		{`{"default_currency": "JPY"}`, "default_currency"},
		{`{"fx_rates": {"EUR": "abc", "USD": "1"}}`, "fx_rates.EUR"},
		{`{"auto_block_workflows": "wf"}`, "auto_block_workflows"},
		{`{"rules": {"velocity": {"window": "forever"}}}`, "rules.velocity.window"},
	}
	for _, c := range bad {
		out, problems := models.MergeSettings(defaults, decode(c.patch))
		require.Contains(t, problems, c.field, c.patch)
		require.Equal(t, defaults, out, "a rejected patch changes nothing: %s", c.patch)
	}
}

func TestABlocklistEntryAndACreationAtOnceNeverMissEachOther(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		block, err := b.store.CreateList(ctx, b.app.ID, "race", "blocklist", "user")
		require.NoError(t, err)
		const n = 40
		items := make([]*models.InboxItem, n)
		errs := make(chan error, 2*n)
		var wg sync.WaitGroup
		for i := range n {
			vd := fmt.Sprintf("race-%d", i)
			wg.Go(func() {
				_, item, err := b.store.AddListEntry(ctx, b.app.ID, block.ID, vd, "")
				items[i] = item
				errs <- err
			})
			wg.Go(func() {
				if i%2 == 0 {
					_, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: vd})
					errs <- err
					return
				}
				in := ev(vd, "s-"+vd, rules.SessionInProgress, base, nil)
				item, _, err := b.store.IngestSessionEvent(ctx, b.app.ID, in)
				if err == nil {
					_, err = applyAsJob(ctx, b.store, item.ID)
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		for i, item := range items {
			if item != nil {
				_, err := b.store.ApplyStatusChange(ctx, item.ID)
				require.NoError(t, err)
			}
			e := entity(t, b, fmt.Sprintf("race-%d", i))
			require.Equal(t, rules.EntityBlocked, e.Status, "race-%d is on a blocklist", i)
		}
	})
}
