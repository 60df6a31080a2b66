package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/models"
)

// An API key's application is answered from memory for a moment: a key revoked by
// another process keeps working for at most that long, a change made through this
// store shows at once, and an unknown key is never remembered.
func TestAPIKeysAreAnsweredFromMemoryForAMoment(t *testing.T) {
	forEachEngine(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		app, err := b.store.ApplicationByAPIKey(ctx, b.key)
		require.NoError(t, err)
		require.Equal(t, b.app.ID, app.ID)

		// Another process revokes the key (straight in the database).
		_, err = b.store.ExecForTest(ctx, "UPDATE api_keys SET revoked_at = ? WHERE application_id = ?", time.Now(), b.app.ID)
		require.NoError(t, err)
		app, err = b.store.ApplicationByAPIKey(ctx, b.key)
		require.NoError(t, err, "within a second, the key is still answered from memory")
		require.Equal(t, b.app.ID, app.ID)
		require.Eventually(t, func() bool {
			_, err := b.store.ApplicationByAPIKey(ctx, b.key)
			return errors.Is(err, models.ErrNotFound)
		}, 3*time.Second, 50*time.Millisecond, "after a second, the revocation holds")

		// A key unknown once is looked up again: added, it works at once.
		const later = "a-key-added-later-0123456789abcdef"
		_, err = b.store.ApplicationByAPIKey(ctx, later)
		require.ErrorIs(t, err, models.ErrNotFound)
		require.NoError(t, b.store.AddAPIKey(ctx, b.app.ID, later))
		app, err = b.store.ApplicationByAPIKey(ctx, later)
		require.NoError(t, err)

		// A change of settings through this store clears what it remembered.
		require.False(t, app.Settings.AutoBlockOnDecline)
		_, problems, err := b.store.UpdateSettings(ctx, b.app.ID, map[string]any{"auto_block_on_decline": true})
		require.NoError(t, err)
		require.Empty(t, problems)
		app, err = b.store.ApplicationByAPIKey(ctx, later)
		require.NoError(t, err)
		require.True(t, app.Settings.AutoBlockOnDecline)
	})
}
