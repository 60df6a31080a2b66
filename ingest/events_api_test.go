package ingest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// eventResults decodes the results of an events page as raw JSON.
func eventResults(t *testing.T, res response) []json.RawMessage {
	t.Helper()
	require.Equal(t, http.StatusOK, res.status, res.raw)
	var page struct {
		Results []json.RawMessage `json:"results"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.raw), &page))
	return page.Results
}

func TestListEvents(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		since := url.QueryEscape(time.Now().Add(-time.Minute).UTC().Format(time.RFC3339))
		u1 := h.createUser("u-1", nil)
		u2 := h.createUser("u-2", map[string]any{"full_name": "Ana"})

		other, err := h.store.CreateApplication(context.Background(), "other", "")
		require.NoError(t, err)
		res := h.call("POST", "/v3/users/create/", map[string]any{"vendor_data": "theirs"}, "x-api-key", other.APIKey)
		require.Equal(t, http.StatusCreated, res.status, res.raw)

		page := h.call("GET", "/v3/events/?since="+since+"&type=user.data.updated", nil)
		results := eventResults(t, page)
		require.Equal(t, float64(2), page.body["count"])
		require.Len(t, results, 2)
		for i, user := range []map[string]any{u1, u2} {
			evs, err := h.store.EventsForEntity(context.Background(), h.app.ID, user["uuid"].(string))
			require.NoError(t, err)
			require.NotEmpty(t, evs)
			require.Equal(t, "user.data.updated", evs[0].Type)
			require.JSONEq(t, evs[0].Body, string(results[i]), "each result is exactly the event body")
			var body map[string]any
			require.NoError(t, json.Unmarshal(results[i], &body))
			require.Equal(t, evs[0].ID, body["event_id"])
			require.Equal(t, "user.data.updated", body["webhook_type"])
			require.Equal(t, h.app.ID, body["application_id"])
			require.Equal(t, user["vendor_data"], body["vendor_data"], "oldest first")
			require.Equal(t, float64(1), body["sequence"])
			require.Contains(t, body, "created_at")
			require.Contains(t, body, "timestamp")
		}

		all := h.call("GET", "/v3/events/?since="+since, nil)
		require.Equal(t, float64(4), all.body["count"], all.raw)
		types := map[string]int{}
		for _, raw := range eventResults(t, all) {
			var body map[string]any
			require.NoError(t, json.Unmarshal(raw, &body))
			require.Equal(t, h.app.ID, body["application_id"], "another application's events are not visible")
			require.NotEqual(t, "theirs", body["vendor_data"])
			types[body["webhook_type"].(string)]++
		}
		require.Equal(t, map[string]int{"user.data.updated": 2, "activity.created": 2}, types)

		acts := h.call("GET", "/v3/events/?type=activity.created", nil)
		require.Equal(t, float64(2), acts.body["count"], acts.raw)
		for _, raw := range eventResults(t, acts) {
			var body map[string]any
			require.NoError(t, json.Unmarshal(raw, &body))
			require.Equal(t, "activity.created", body["webhook_type"], "the type filter works")
		}
		require.Equal(t, float64(0), h.call("GET", "/v3/events/?type=transaction.created", nil).body["count"])

		future := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		require.Equal(t, float64(0), h.call("GET", "/v3/events/?since="+future, nil).body["count"], "since filters")
		require.Equal(t, float64(4), h.call("GET", "/v3/events/", nil).body["count"], "since is optional")

		first := h.call("GET", "/v3/events/?type=user.data.updated&limit=1", nil)
		require.Equal(t, float64(2), first.body["count"])
		require.Len(t, eventResults(t, first), 1)
		require.NotNil(t, first.body["next"])
		second := h.call("GET", "/v3/events/?type=user.data.updated&limit=1&offset=1", nil)
		require.JSONEq(t, string(results[1]), string(eventResults(t, second)[0]))

		requireProblem(t, h.call("GET", "/v3/events/?since=yesterday", nil), http.StatusBadRequest, "since")
		requireProblem(t, h.call("GET", "/v3/events/?since=2026-01-01", nil), http.StatusBadRequest, "since")
		requireProblem(t, h.call("GET", "/v3/events/?type=user.created", nil), http.StatusBadRequest, "type")
		requireProblem(t, h.call("GET", "/v3/events/?limit=0", nil), http.StatusBadRequest, "limit")

		theirs := h.call("GET", "/v3/events/", nil, "x-api-key", other.APIKey)
		require.Equal(t, float64(2), theirs.body["count"], theirs.raw)
		for _, raw := range eventResults(t, theirs) {
			var body map[string]any
			require.NoError(t, json.Unmarshal(raw, &body))
			require.Equal(t, other.Application.ID, body["application_id"])
			require.Equal(t, "theirs", body["vendor_data"])
		}
		require.Equal(t, http.StatusUnauthorized, h.call("GET", "/v3/events/", nil, "x-api-key", "").status)
	})
}
