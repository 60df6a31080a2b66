package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/rules"
)

// applyPendingStatusJobs applies every pending inbox item, as the workers would, and
// returns how many there were.
func applyPendingStatusJobs(t *testing.T, b bundle) int {
	t.Helper()
	ctx := context.Background()
	items, err := b.store.ClaimStaleInbox(ctx, -time.Hour, 1000)
	require.NoError(t, err)
	for _, item := range items {
		_, err := b.store.ApplyStatusChange(ctx, item.ID)
		require.NoError(t, err)
	}
	return len(items)
}

func newList(t *testing.T, b bundle, name, listType, entryType string) *models.List {
	t.Helper()
	l, err := b.store.CreateList(context.Background(), b.app.ID, name, listType, entryType)
	require.NoError(t, err)
	return l
}

func addEntry(t *testing.T, b bundle, l *models.List, value string) {
	t.Helper()
	_, item, err := b.store.AddListEntry(context.Background(), b.app.ID, l.ID, value, "")
	require.NoError(t, err)
	if item != nil {
		_, err = b.store.ApplyStatusChange(context.Background(), item.ID)
		require.NoError(t, err)
	}
}

func TestCountryListsBlockAndFlagOnCreationChangeAndEntry(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		block := newList(t, b, "sanctioned", rules.ListBlocklist, rules.EntryCountry)
		watch := newList(t, b, "high risk", rules.ListWatchlist, rules.EntryCountry)
		addEntry(t, b, block, "ir") // alpha-2 accepted, stored as IRN
		_, _, err := b.store.AddListEntry(ctx, b.app.ID, block.ID, "XXX", "")
		var bad *models.Error
		require.True(t, errors.As(err, &bad) && bad.Kind == models.Invalid && bad.Field == "value", "an unknown code is refused: %v", err)

		// Created with a nationality on the blocklist: starts BLOCKED.
		e, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "born-blocked",
			Profile: map[string]*string{"nationality": str("IRN")}})
		require.NoError(t, err)
		require.Equal(t, rules.EntityBlocked, e.Status)
		require.Equal(t, rules.RuleBlocklist, lastAudit(t, b, e.ID).Rule)
		biz, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindBusiness, VendorData: "acme",
			Profile: map[string]*string{"country_code": str("IRN")}})
		require.NoError(t, err)
		require.Equal(t, rules.EntityBlocked, biz.Status, "businesses by country_code")

		// The field changes to a watched country: FLAGGED, in the same transaction.
		_, err = b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "mover",
			Profile: map[string]*string{"nationality": str("FRA")}})
		require.NoError(t, err)
		addEntry(t, b, watch, "PRK")
		require.Equal(t, rules.EntityActive, entity(t, b, "mover").Status)
		moved, err := b.store.UpdateEntity(ctx, b.app.ID, models.KindUser, "mover",
			models.EntityPatch{Profile: map[string]*string{"nationality": str("PRK")}})
		require.NoError(t, err)
		require.Equal(t, rules.EntityFlagged, moved.Status)
		require.Equal(t, rules.ReasonWatchlist, *moved.StatusReason)
		require.Equal(t, rules.RuleWatchlist, lastAudit(t, b, moved.ID).Rule)

		// A session's approved profile brings the country.
		decision := idv("Approved", "Kim")
		decision["id_verification"].(map[string]any)["nationality"] = "PRK"
		apply(t, b, ev("from-session", "s-1", "Approved", base, decision))
		require.Equal(t, rules.EntityFlagged, entity(t, b, "from-session").Status)

		// An entry added later acts on the entities already there; never lowers a status.
		for _, vd := range []string{"esp-1", "esp-2"} {
			_, err = b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: vd,
				Profile: map[string]*string{"nationality": str("ESP")}})
			require.NoError(t, err)
		}
		_, err = b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "fra",
			Profile: map[string]*string{"nationality": str("FRA")}})
		require.NoError(t, err)
		_, item, err := b.store.AddListEntry(ctx, b.app.ID, block.ID, "esp", "")
		require.NoError(t, err)
		require.Nil(t, item)
		require.Equal(t, 2, applyPendingStatusJobs(t, b), "one status job per entity of that country")
		require.Equal(t, rules.EntityBlocked, entity(t, b, "esp-1").Status)
		require.Equal(t, rules.EntityBlocked, entity(t, b, "esp-2").Status)
		require.Equal(t, rules.EntityActive, entity(t, b, "fra").Status)
		addEntry(t, b, watch, "ESP")
		require.Zero(t, applyPendingStatusJobs(t, b), "a watchlist entry never lowers BLOCKED")
		require.Equal(t, rules.EntityBlocked, entity(t, b, "esp-1").Status)
	})
}

func TestAllowlistsExemptFromEveryAutomaticRaiseButBlocklists(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		_, problems, err := b.store.UpdateSettings(ctx, b.app.ID, map[string]any{"auto_block_on_decline": true})
		require.NoError(t, err)
		require.Empty(t, problems)
		allow := newList(t, b, "vip", rules.ListAllowlist, rules.EntryUser)
		for _, vd := range []string{"vip", "vip-2"} {
			addEntry(t, b, allow, vd)
		}
		watch := newList(t, b, "watch", rules.ListWatchlist, rules.EntryUser)
		countries := newList(t, b, "countries", rules.ListWatchlist, rules.EntryCountry)
		addEntry(t, b, countries, "PRK")

		// Watchlists (vendor_data and country) do not flag an allowlisted entity...
		addEntry(t, b, watch, "vip") // before it exists
		e, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "vip",
			Profile: map[string]*string{"nationality": str("PRK")}})
		require.NoError(t, err)
		require.Equal(t, rules.EntityActive, e.Status)
		_, err = b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "vip-2"})
		require.NoError(t, err)
		addEntry(t, b, watch, "vip-2") // after it exists
		require.Equal(t, rules.EntityActive, entity(t, b, "vip-2").Status)
		// ...nor does a transaction over the review threshold, nor a decline with auto-block.
		tx := submitAndEvaluate(t, b, newTx("t-big", "vip", "20000", "USD", time.Now()))
		require.Equal(t, rules.TxInReview, tx.Status, "the transaction is still reviewed")
		require.Equal(t, rules.EntityActive, entity(t, b, "vip").Status, "but the allowlisted subject is not flagged")
		apply(t, b, ev("vip", "s-declined", "Declined", base, nil))
		require.Equal(t, rules.EntityActive, entity(t, b, "vip").Status, "auto-block on decline spares it")

		// Blocklist matches still block.
		block := newList(t, b, "block", rules.ListBlocklist, rules.EntryUser)
		addEntry(t, b, block, "vip")
		require.Equal(t, rules.EntityBlocked, entity(t, b, "vip").Status)
		require.Equal(t, rules.ReasonBlocklistMatch, *entity(t, b, "vip").StatusReason)

		// The same raises do apply to an entity that is not allowlisted.
		apply(t, b, ev("other", "s-other", "Declined", base, nil))
		require.Equal(t, rules.EntityBlocked, entity(t, b, "other").Status)
	})
}

func TestListCombinationsWithoutAnEffectAreRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		for _, entryType := range rules.EntryTypes() {
			_, err := b.store.CreateList(context.Background(), b.app.ID, "allow "+entryType, rules.ListAllowlist, entryType)
			if entryType == rules.EntryUser || entryType == rules.EntryBusiness {
				require.NoError(t, err, entryType)
				continue
			}
			var bad *models.Error
			require.True(t, errors.As(err, &bad) && bad.Kind == models.Invalid && bad.Field == "entry_type", "%s: %v", entryType, err)
		}
	})
}
