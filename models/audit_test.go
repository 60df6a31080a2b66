package models_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/internal/testkit"
	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/rules"
)

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// forEachEngineWithClock is forEachEngine with a store on a controlled clock.
func forEachEngineWithClock(t *testing.T, start time.Time, fn func(t *testing.T, b bundle, c *clock)) {
	t.Parallel()
	for _, engine := range testkit.Engines() {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			c := &clock{now: start}
			s := engine.Open(t, models.WithClock(c.Now))
			created, err := s.CreateApplication(context.Background(), "test app", "")
			require.NoError(t, err)
			fn(t, bundle{store: s, app: created.Application, key: created.APIKey}, c)
		})
	}
}

// history returns an entity's records, newest first, through the paginated reader.
func history(t *testing.T, b bundle, vd string) []models.StatusChange {
	t.Helper()
	e := entity(t, b, vd)
	rows, total, err := b.store.StatusHistory(context.Background(), b.app.ID, e.ID, 200, 0)
	require.NoError(t, err)
	require.Equal(t, int64(len(rows)), total)
	for i := 1; i < len(rows); i++ {
		require.Greater(t, rows[i-1].Seq, rows[i].Seq, "newest first, in chain order")
	}
	return rows
}

// statusAt returns the status record of vd in force at at.
func statusAt(t *testing.T, b bundle, vd string, at time.Time) (*models.StatusChange, error) {
	t.Helper()
	return b.store.StatusAt(context.Background(), b.app.ID, entity(t, b, vd).ID, at)
}

func requireVerified(t *testing.T, b bundle) models.ChainReport {
	t.Helper()
	report, err := b.store.VerifyChains(context.Background(), b.app.ID)
	require.NoError(t, err)
	require.Nil(t, report.Broken, "the chain holds")
	return report
}

func TestEveryStatusIsExplainedAndKnownAsOfAnyTime(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	forEachEngineWithClock(t, t0, func(t *testing.T, b bundle, c *clock) {
		ctx := context.Background()
		_, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "ana"})
		require.NoError(t, err)

		// Manual: flagged by an operator on 2 March, cleared on 4 March.
		manual := func(at time.Time, vd, status, reason, actor string) {
			c.set(at)
			item, err := b.store.RequestStatusChange(ctx, b.app.ID, models.KindUser, vd,
				models.StatusRequest{Status: status, Reason: reason, Actor: actor})
			require.NoError(t, err)
			outcome, err := b.store.ApplyStatusChange(ctx, item.ID)
			require.NoError(t, err)
			require.Equal(t, models.StatusChanged, outcome)
		}
		manual(t0.Add(24*time.Hour), "ana", rules.EntityFlagged, "document looks edited", "ops@example.com")
		manual(t0.Add(72*time.Hour), "ana", rules.EntityActive, "document confirmed by issuer", "lead@example.com")

		recs := history(t, b, "ana")
		require.Len(t, recs, 3)
		require.Equal(t, rules.RuleManual, recs[0].Rule)
		require.Equal(t, "lead@example.com", recs[0].Actor)
		require.Equal(t, rules.EntityFlagged, *recs[0].FromStatus)
		require.Equal(t, "document looks edited", recs[1].Reason)
		require.Nil(t, recs[2].FromStatus, "the creation record has no previous status")
		require.Equal(t, rules.EntityActive, recs[2].ToStatus)

		_, err = statusAt(t, b, "ana", t0.Add(-time.Second))
		require.ErrorIs(t, err, models.ErrNotFound, "before the entity existed")
		for at, want := range map[time.Time]string{
			t0: rules.EntityActive, t0.Add(47 * time.Hour): rules.EntityFlagged,
			t0.Add(72 * time.Hour): rules.EntityActive, t0.Add(1000 * time.Hour): rules.EntityActive,
		} {
			rec, err := statusAt(t, b, "ana", at)
			require.NoError(t, err)
			require.Equal(t, want, rec.ToStatus, "status at %s", at)
		}
		rec, err := statusAt(t, b, "ana", t0.Add(48*time.Hour)) // "what was it on 3 March?"
		require.NoError(t, err)
		require.Equal(t, "ops@example.com", rec.Actor)
		require.Equal(t, t0.Add(24*time.Hour), rec.CreatedAt.UTC())

		// Blocklist and watchlist: the record carries the entry's actor, comment and ids.
		c.set(t0.Add(96 * time.Hour))
		for _, vd := range []string{"bob", "cy"} {
			_, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: vd})
			require.NoError(t, err)
		}
		block, err := b.store.CreateList(ctx, b.app.ID, "fraud", rules.ListBlocklist, rules.EntryUser)
		require.NoError(t, err)
		watch, err := b.store.CreateList(ctx, b.app.ID, "pep", rules.ListWatchlist, rules.EntryUser)
		require.NoError(t, err)
		for list, vd := range map[*models.List]string{block: "bob", watch: "cy"} {
			entry, item, err := b.store.AddEntry(ctx, b.app.ID, list.ID, models.NewListEntry{
				Value: vd, Comment: "case 1234: " + list.Name, Actor: "analyst@example.com"})
			require.NoError(t, err)
			require.Equal(t, "analyst@example.com", entry.Actor)
			_, err = b.store.ApplyStatusChange(ctx, item.ID)
			require.NoError(t, err)
			got := history(t, b, vd)[0]
			require.Equal(t, "analyst@example.com", got.Actor)
			require.Equal(t, rules.ListRule(list.ListType), got.Rule)
			require.Equal(t, list.ID, got.Inputs["list_id"])
			require.Equal(t, entry.ID, got.Inputs["entry_id"])
			require.Equal(t, vd, got.Inputs["value"])
			require.Equal(t, "case 1234: "+list.Name, got.Inputs["comment"])
			require.Equal(t, "user", got.Inputs["entry_type"])
		}
		require.Equal(t, rules.EntityBlocked, entity(t, b, "bob").Status)
		require.Equal(t, rules.EntityFlagged, entity(t, b, "cy").Status)

		// A new entity named on a list starts in the list's status: its creation record
		// says which entry decided it.
		_, _, err = b.store.AddEntry(ctx, b.app.ID, block.ID, models.NewListEntry{Value: "dan", Comment: "known mule", Actor: "analyst@example.com"})
		require.NoError(t, err)
		_, err = b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "dan"})
		require.NoError(t, err)
		created := history(t, b, "dan")[0]
		require.Equal(t, rules.EntityBlocked, created.ToStatus)
		require.Equal(t, "analyst@example.com", created.Actor)
		require.Equal(t, "known mule", created.Inputs["comment"])

		// Transaction: the flag names the transaction, its score and matched rules.
		c.set(t0.Add(120 * time.Hour))
		tx := submitAndEvaluate(t, b, newTx("t-big", "eve", "20000", "USD", txBase))
		got := history(t, b, "eve")[0]
		require.Equal(t, rules.EntityFlagged, got.ToStatus)
		require.Equal(t, "system", got.Actor)
		require.Equal(t, tx.ID, got.Inputs["transaction_uuid"])
		require.EqualValues(t, 60, got.Inputs["score"])
		require.Equal(t, "large_amount", got.Inputs["matched_rules"].([]any)[0].(map[string]any)["rule"])

		// Auto-block on decline: the record names the session and what it reported.
		_, problems, err := b.store.UpdateSettings(ctx, b.app.ID, map[string]any{"auto_block_on_decline": true})
		require.NoError(t, err)
		require.Empty(t, problems)
		apply(t, b, ev("fay", "s-fay", rules.SessionDeclined, base, nil))
		got = history(t, b, "fay")[0]
		require.Equal(t, rules.EntityBlocked, got.ToStatus)
		require.Equal(t, rules.RuleAutoBlockOnDecline, got.Rule)
		require.Equal(t, "s-fay", got.Inputs["session_id"])
		require.Equal(t, "wf-kyc", got.Inputs["workflow_id"])
		require.Equal(t, rules.SessionDeclined, got.Inputs["reported_status"])

		comments, err := b.store.StatusComments(ctx, b.app.ID, []string{entity(t, b, "ana").ID, entity(t, b, "bob").ID})
		require.NoError(t, err)
		require.Len(t, comments[entity(t, b, "ana").ID], 3)
		require.Equal(t, "document confirmed by issuer", comments[entity(t, b, "ana").ID][0].Reason)
		require.Equal(t, rules.EntityBlocked, comments[entity(t, b, "bob").ID][0].To)

		report := requireVerified(t, b)
		require.Equal(t, 1, report.Applications)
		require.Equal(t, int64(12), report.Records, "3 for ana, 2 each for bob, cy and fay, 1 for dan, 2 for eve")
	})
}

func TestTheChainHoldsUnderConcurrentChangesAndShowsTampering(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		report := requireVerified(t, b)
		require.Zero(t, report.Records, "an empty trail verifies")

		// 50 status changes of 50 entities at once: they contend only for the chain.
		const changes = 50
		statuses := []string{rules.EntityFlagged, rules.EntityBlocked, rules.EntityActive}
		var ids []string
		for i := range changes {
			vd := fmt.Sprintf("u-%02d", i)
			_, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: vd})
			require.NoError(t, err)
			item, err := b.store.RequestStatusChange(ctx, b.app.ID, models.KindUser, vd,
				models.StatusRequest{Status: statuses[i%2], Actor: "ops"})
			require.NoError(t, err)
			ids = append(ids, item.ID)
		}
		var wg sync.WaitGroup
		errs := make(chan error, changes)
		for _, id := range ids {
			wg.Go(func() {
				if _, err := b.store.ApplyStatusChange(ctx, id); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		report = requireVerified(t, b)
		require.Equal(t, int64(2*changes), report.Records, "every change made one record, none forked")

		// Altering a record's content in SQL: verify names it.
		recs := history(t, b, "u-07")
		victim := recs[1]
		n, err := b.store.ExecForTest(ctx, "UPDATE status_changes SET actor = 'nobody' WHERE id = ?", victim.ID)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		report, err = b.store.VerifyChains(ctx, "")
		require.NoError(t, err)
		require.NotNil(t, report.Broken)
		require.Equal(t, victim.ID, report.Broken.RecordID)
		require.Contains(t, report.Broken.Error(), "altered")
		_, err = b.store.ExecForTest(ctx, "UPDATE status_changes SET actor = ? WHERE id = ?", victim.Actor, victim.ID)
		require.NoError(t, err)
		requireVerified(t, b)

		// Rewriting a record and its hash breaks the next link.
		var next models.StatusChange
		all := chainOf(t, b)
		for i, r := range all {
			if r.ID == victim.ID {
				next = all[i+1]
			}
		}
		forged := "00" + victim.Hash[2:]
		if forged == victim.Hash { // one hash in 256 starts with 00
			forged = "ff" + victim.Hash[2:]
		}
		_, err = b.store.ExecForTest(ctx, "UPDATE status_changes SET hash = ? WHERE id = ?", forged, victim.ID)
		require.NoError(t, err)
		report, err = b.store.VerifyChains(ctx, b.app.ID)
		require.NoError(t, err)
		require.NotNil(t, report.Broken)
		require.Equal(t, victim.ID, report.Broken.RecordID, "its own hash no longer matches")
		_, err = b.store.ExecForTest(ctx, "UPDATE status_changes SET hash = ? WHERE id = ?", victim.Hash, victim.ID)
		require.NoError(t, err)

		// Deleting a record leaves a gap the next record shows.
		_, err = b.store.ExecForTest(ctx, "DELETE FROM status_changes WHERE id = ?", victim.ID)
		require.NoError(t, err)
		report, err = b.store.VerifyChains(ctx, b.app.ID)
		require.NoError(t, err)
		require.NotNil(t, report.Broken)
		require.Equal(t, next.ID, report.Broken.RecordID)
	})
}

// chainOf returns the application's whole chain in order, through the export.
func chainOf(t *testing.T, b bundle) []models.StatusChange {
	t.Helper()
	var out []models.StatusChange
	err := b.store.ExportStatusRecords(context.Background(), b.app.ID, models.ExportFilter{}, func(r *models.StatusChange) error {
		out = append(out, *r)
		return nil
	})
	require.NoError(t, err)
	return out
}

func TestTombstonesKeepTheChainVerifiable(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		for _, vd := range []string{"keep", "gone", "after"} {
			_, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: vd,
				Status: rules.EntityBlocked, Reason: "fraud", Actor: "ops"})
			require.NoError(t, err)
		}
		gone := entity(t, b, "gone")
		n, err := b.store.TombstoneForTest(ctx, []string{gone.ID})
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		n, err = b.store.TombstoneForTest(ctx, []string{gone.ID})
		require.NoError(t, err)
		require.Zero(t, n, "tombstoning again changes nothing")

		report := requireVerified(t, b)
		require.Equal(t, int64(3), report.Records)
		require.Equal(t, int64(1), report.Tombstones)
		chain := chainOf(t, b)
		stone := chain[1]
		require.True(t, stone.Tombstone)
		require.Nil(t, stone.EntityID)
		require.Nil(t, stone.VendorData)
		require.Empty(t, stone.Actor)
		require.Empty(t, stone.Reason)
		require.Empty(t, stone.Inputs)
		require.Equal(t, chain[0].Hash, stone.PrevHash)
		require.Equal(t, stone.Hash, chain[2].PrevHash)
		body, err := json.Marshal(stone.Resource())
		require.NoError(t, err)
		require.JSONEq(t, `{"uuid":"`+stone.ID+`","seq":2,"previous_status":null,"created_at":"`+
			models.FormatTime(stone.CreatedAt)+`","prev_hash":"`+stone.PrevHash+`","hash":"`+stone.Hash+`","tombstone":true}`, string(body))

		// A tombstone cannot stand in for a record that was not purged.
		_, err = b.store.ExecForTest(ctx, "UPDATE status_changes SET prev_hash = 'x' WHERE id = ?", stone.ID)
		require.NoError(t, err)
		report, err = b.store.VerifyChains(ctx, b.app.ID)
		require.NoError(t, err)
		require.Equal(t, stone.ID, report.Broken.RecordID)
	})
}

func TestRecordsFromBeforeTheChainAreSealedByMigrate(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		for _, vd := range []string{"a", "b"} {
			_, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: vd})
			require.NoError(t, err)
		}
		// As migration 00010 leaves records written before it: positions, no hashes.
		_, err := b.store.ExecForTest(ctx, "UPDATE status_changes SET prev_hash = '', hash = ''")
		require.NoError(t, err)
		_, err = b.store.ExecForTest(ctx, "UPDATE audit_chain_heads SET hash = ''")
		require.NoError(t, err)
		report, err := b.store.VerifyChains(ctx, b.app.ID)
		require.NoError(t, err)
		require.NotNil(t, report.Broken)

		_, err = b.store.Migrate(ctx)
		require.NoError(t, err)
		report = requireVerified(t, b)
		require.Equal(t, int64(2), report.Records)
		_, err = b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "c"})
		require.NoError(t, err)
		require.Equal(t, int64(3), requireVerified(t, b).Records)
	})
}

// TestExportStreamsTenThousandRecordsInBoundedMemory runs on PostgreSQL, the production
// store (the pure-Go SQLite is too slow for 35 MB under the race detector; the other
// tests export from it), and not in parallel with other tests (which wait until it is
// done), so that the heap it measures is its own.
func TestExportStreamsTenThousandRecordsInBoundedMemory(t *testing.T) {
	exportInBoundedMemory(t, setup(t, testkit.Engine{Name: "postgres", Open: testkit.PostgresStore}))
}

func exportInBoundedMemory(t *testing.T, b bundle) {
	{
		ctx := context.Background()
		e, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "bulk"})
		require.NoError(t, err)
		const n, commentBytes = 10_000, 1200
		require.NoError(t, b.store.AppendRecordsForTest(ctx, b.app.ID, e.ID, n, commentBytes))

		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		baseline, peak := ms.HeapAlloc, ms.HeapAlloc
		var count, size int
		var last int64
		err = b.store.ExportStatusRecords(ctx, b.app.ID, models.ExportFilter{}, func(r *models.StatusChange) error {
			line, err := json.Marshal(r.Resource())
			if err != nil {
				return err
			}
			require.Equal(t, last+1, r.Seq, "chain order")
			last = r.Seq
			count++
			size += len(line)
			if count%1000 == 0 {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, n+1, count)
		require.Greater(t, size, 12<<20, "the export is larger than the memory bound below")
		// A fraction of what holding the export would take.
		t.Logf("exported %d bytes; heap grew by at most %d bytes", size, int64(peak)-int64(baseline))
		require.Less(t, int64(peak)-int64(baseline), int64(4<<20), "the export is streamed, not loaded")

		report := requireVerified(t, b)
		require.Equal(t, int64(n+1), report.Records)
	}
}
