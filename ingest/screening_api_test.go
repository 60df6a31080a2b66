package ingest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNameEntryScreensVerifiedEntitiesAtOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		h.startWorker()
		idv := map[string]any{"id_verification": map[string]any{
			"status": "Approved", "full_name": "Mohammed Ali", "date_of_birth": "1990-04-02"}}
		h.waitApplied(h.ingest(sessionEvent("s-1", "Approved", "u-ali", eventTime(), map[string]any{"decision": idv})))

		watch := h.createList("sanctions", "watchlist", "name")
		requireProblem(t, h.call("POST", "/v3/lists/"+watch+"/entries/", map[string]any{"value": "X", "date_of_birth": "1990-13-01"}),
			http.StatusBadRequest, "date_of_birth")
		users := h.createList("users", "watchlist", "user")
		requireProblem(t, h.call("POST", "/v3/lists/"+users+"/entries/", map[string]any{"value": "u-x", "date_of_birth": "1990-01-01"}),
			http.StatusBadRequest, "date_of_birth")

		other := h.call("POST", "/v3/lists/"+watch+"/entries/", map[string]any{"value": "ALI, Muhammad", "date_of_birth": "1971-01-17"})
		require.Equal(t, http.StatusCreated, other.status, other.raw)
		res := h.call("POST", "/v3/lists/"+watch+"/entries/", map[string]any{"value": "ALI, Muhammad", "date_of_birth": "1990-04-02", "note": "x"})
		require.Equal(t, http.StatusConflict, res.status, "the same value once per list")
		block := h.createList("blocked names", "blocklist", "name")
		res = h.call("POST", "/v3/lists/"+block+"/entries/", map[string]any{"value": "Muhammad Ali", "date_of_birth": "1990-04-02"})
		require.Equal(t, http.StatusCreated, res.status, res.raw)
		require.Equal(t, "1990-04-02", res.body["date_of_birth"])

		var user response
		require.Eventually(t, func() bool {
			user = h.call("GET", "/v3/users/u-ali/", nil)
			return user.body["status"] == "BLOCKED"
		}, 10*time.Second, 50*time.Millisecond, "the blocklist hit blocks")
		require.Equal(t, "ongoing_monitoring", user.body["status_reason"])
		require.Equal(t, "IN_REVIEW", user.body["features"].(map[string]any)["aml"])
		require.Equal(t, float64(40), user.body["risk_score"], "one aml_hit: the other entry's date of birth differs")
		signals := user.body["risk_signals"].([]any)
		require.Len(t, signals, 1)
		require.Equal(t, "aml_hit", signals[0].(map[string]any)["type"])
		require.Equal(t, res.body["uuid"], signals[0].(map[string]any)["source"])
	})
}

func TestScreeningAndRiskSettingsAreValidated(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		for field, patch := range map[string]map[string]any{
			"aml_match_threshold":   {"aml_match_threshold": 0},
			"risk.aml_hit":          {"risk": map[string]any{"aml_hit": 0}},
			"risk.list_match":       {"risk": map[string]any{"list_match": 101}},
			"risk.unknown":          {"risk": map[string]any{"unknown": 5}},
			"risk.session_declined": {"risk": map[string]any{"session_declined": "high"}},
		} {
			requireProblem(t, h.call("PATCH", "/v3/settings/", patch), http.StatusBadRequest, field)
		}
		res := h.call("PATCH", "/v3/settings/", map[string]any{"aml_match_threshold": 0.95, "risk": map[string]any{"aml_hit": 60}})
		require.Equal(t, http.StatusOK, res.status, res.raw)
		require.Equal(t, 0.95, res.body["aml_match_threshold"])
		require.Equal(t, float64(60), res.body["risk"].(map[string]any)["aml_hit"])
		require.Equal(t, float64(30), res.body["risk"].(map[string]any)["list_match"], "the other weights stay")
	})
}
