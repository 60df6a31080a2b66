package ingest_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// defaultSettings are the settings of SPEC section 7, as the API writes them.
func defaultSettings() map[string]any {
	return map[string]any{
		"auto_block_on_decline":              false,
		"auto_block_workflows":               []any{},
		"escalate_transactions_when_flagged": true,
		"session_url_template":               "https://verify.example.com/session/{session_id}",
		"default_currency":                   "USD",
		"fx_rates":                           map[string]any{"USD": "1", "EUR": "1.08", "GBP": "1.27"},
		"review_threshold":                   float64(60),
		"decline_threshold":                  float64(85),
		"rules": map[string]any{
			"large_amount":             map[string]any{"amount": "10000", "score": float64(60)},
			"velocity":                 map[string]any{"count": float64(10), "window": "1h", "score": float64(30)},
			"volume":                   map[string]any{"amount": "50000", "window": "24h", "score": float64(40)},
			"watchlisted_counterparty": map[string]any{"score": float64(60)},
		},
		"retention_days":               float64(365),
		"aml_rescan_interval_hours":    float64(24),
		"aml_match_threshold":          0.92,
		"reverification_interval_days": float64(0),
		"risk": map[string]any{
			"session_declined": float64(20), "aml_hit": float64(40), "list_match": float64(30),
			"transaction_review": float64(15), "transaction_declined": float64(25), "transaction_score": float64(5),
		},
	}
}

// clone deep-copies a decoded JSON object.
func clone(t *testing.T, v map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

func TestSettingsDefaultsAndMerge(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		got := h.call("GET", "/v3/settings/", nil)
		require.Equal(t, http.StatusOK, got.status, got.raw)
		require.Equal(t, defaultSettings(), got.body)

		res := h.call("PATCH", "/v3/settings/", map[string]any{"auto_block_on_decline": true, "rules": map[string]any{"velocity": map[string]any{"count": 5}}})
		require.Equal(t, http.StatusOK, res.status, res.raw)
		want := defaultSettings()
		want["auto_block_on_decline"] = true
		want["rules"].(map[string]any)["velocity"] = map[string]any{"count": float64(5), "window": "1h", "score": float64(30)}
		require.Equal(t, want, res.body, "only the given keys changed; nested objects are merged")
		require.Equal(t, want, h.call("GET", "/v3/settings/", nil).body, "the change persisted")

		res = h.call("PATCH", "/v3/settings/", map[string]any{
			"auto_block_workflows": []string{"wf-kyc"}, "fx_rates": map[string]any{"USD": "1", "EUR": "1.10", "GBP": "1.27", "CHF": "1.12"},
			"default_currency": "EUR", "review_threshold": 50, "decline_threshold": 50, "retention_days": 30,
		})
		require.Equal(t, http.StatusOK, res.status, res.raw)
		want["auto_block_workflows"] = []any{"wf-kyc"}
		want["fx_rates"] = map[string]any{"USD": "1", "EUR": "1.10", "GBP": "1.27", "CHF": "1.12"}
		want["default_currency"] = "EUR"
		want["review_threshold"], want["decline_threshold"], want["retention_days"] = float64(50), float64(50), float64(30)
		require.Equal(t, want, res.body)
		require.Equal(t, want, h.call("GET", "/v3/settings/", nil).body)

		empty := h.call("PATCH", "/v3/settings/", map[string]any{})
		require.Equal(t, http.StatusOK, empty.status, empty.raw)
		require.Equal(t, want, empty.body, "an empty patch changes nothing")

		other, err := h.store.CreateApplication(t.Context(), "other", "")
		require.NoError(t, err)
		require.Equal(t, defaultSettings(), h.call("GET", "/v3/settings/", nil, "x-api-key", other.APIKey).body, "settings are per application")
		requireProblem(t, h.call("GET", "/v3/settings/", nil, "x-api-key", ""), http.StatusUnauthorized, "")
		requireProblem(t, h.call("PATCH", "/v3/settings/", map[string]any{"retention_days": 1}, "x-api-key", ""), http.StatusUnauthorized, "")
	})
}

func TestSettingsRejectBadPatchesAndChangeNothing(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		// Start from non-default settings, so that "nothing changed" is not "back to the defaults".
		res := h.call("PATCH", "/v3/settings/", map[string]any{"retention_days": 90})
		require.Equal(t, http.StatusOK, res.status, res.raw)
		before := h.call("GET", "/v3/settings/", nil)
		require.Equal(t, float64(90), before.body["retention_days"])

		cases := []struct {
			name  string
			body  any
			field string
		}{
			{"unknown key", map[string]any{"colour": "red"}, "colour"},
			{"unknown key with a good one", map[string]any{"retention_days": 10, "colour": "red"}, "colour"},
			{"unknown nested key", map[string]any{"rules": map[string]any{"speed": map[string]any{"score": 1}}}, "rules.speed"},
			{"unknown key inside a rule", map[string]any{"rules": map[string]any{"velocity": map[string]any{"limit": 1}}}, "rules.velocity.limit"},
			{"threshold as a word", map[string]any{"review_threshold": "high"}, "review_threshold"},
			{"threshold as a numeric string", map[string]any{"review_threshold": "60"}, "review_threshold"},
			{"fractional threshold", map[string]any{"review_threshold": 60.5}, "review_threshold"},
			{"negative threshold", map[string]any{"review_threshold": -1}, "review_threshold"},
			{"decline below review", map[string]any{"decline_threshold": 50}, "decline_threshold"},
			{"template without {session_id}", map[string]any{"session_url_template": "https://verify.example.com/session/"}, "session_url_template"},
			{"template not a string", map[string]any{"session_url_template": 5}, "session_url_template"},
			{"rate not a decimal", map[string]any{"fx_rates": map[string]any{"USD": "1", "EUR": "abc"}}, "fx_rates.EUR"},
			{"rate a number", map[string]any{"fx_rates": map[string]any{"USD": "1", "EUR": 1.08}}, "fx_rates"},
			{"rate zero", map[string]any{"fx_rates": map[string]any{"USD": "1", "EUR": "0"}}, "fx_rates.EUR"},
			{"currency code lower-case", map[string]any{"fx_rates": map[string]any{"USD": "1", "eur": "1.08"}}, "fx_rates.eur"},
			{"rates without the default currency", map[string]any{"fx_rates": map[string]any{"EUR": "1.08"}}, "fx_rates"},
			{"default currency not a code", map[string]any{"default_currency": "dollar"}, "default_currency"},
			{"null value", map[string]any{"retention_days": nil}, "retention_days"},
			{"null nested value", map[string]any{"rules": map[string]any{"velocity": map[string]any{"count": nil}}}, "rules.velocity.count"},
			{"rules as a string", map[string]any{"rules": "strict"}, "rules"},
			{"a rule as a number", map[string]any{"rules": map[string]any{"volume": 5}}, "rules.volume"},
			{"bool as a string", map[string]any{"auto_block_on_decline": "true"}, "auto_block_on_decline"},
			{"workflows not a list", map[string]any{"auto_block_workflows": "wf-kyc"}, "auto_block_workflows"},
			{"blank workflow", map[string]any{"auto_block_workflows": []string{" "}}, "auto_block_workflows.0"},
			{"velocity count zero", map[string]any{"rules": map[string]any{"velocity": map[string]any{"count": 0}}}, "rules.velocity.count"},
			{"bad window", map[string]any{"rules": map[string]any{"volume": map[string]any{"window": "a day"}}}, "rules.volume.window"},
			{"amount a number", map[string]any{"rules": map[string]any{"large_amount": map[string]any{"amount": 10000}}}, "rules.large_amount.amount"},
			{"retention negative", map[string]any{"retention_days": -1}, "retention_days"},
			{"reverification negative", map[string]any{"reverification_interval_days": -1}, "reverification_interval_days"},
			{"not an object", "[]", ""},
			{"not JSON", "{", ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				requireProblem(t, h.call("PATCH", "/v3/settings/", c.body), http.StatusBadRequest, c.field)
			})
		}

		// The default currency must have a rate: JPY has none.
		jpy := h.call("PATCH", "/v3/settings/", map[string]any{"default_currency": "JPY"})
		require.Equal(t, http.StatusBadRequest, jpy.status, jpy.raw)
		require.Contains(t, jpy.body["detail"], "JPY", jpy.raw)
		errs, _ := jpy.body["errors"].(map[string]any)
		require.True(t, errs["default_currency"] != nil || errs["fx_rates"] != nil, "the error names the setting: %s", jpy.raw)

		requireProblem(t, h.call("PATCH", "/v3/settings/", `{"retention_days":1}`, "Content-Type", "text/plain"), http.StatusUnsupportedMediaType, "")

		after := h.call("GET", "/v3/settings/", nil)
		require.Equal(t, before.body, after.body, "rejected patches changed nothing")

		// EUR has a rate, so it may be the default currency.
		eur := h.call("PATCH", "/v3/settings/", map[string]any{"default_currency": "EUR"})
		require.Equal(t, http.StatusOK, eur.status, eur.raw)
		want := clone(t, before.body)
		want["default_currency"] = "EUR"
		require.Equal(t, want, eur.body)
		require.Equal(t, want, h.call("GET", "/v3/settings/", nil).body)
		// Both at once: a new currency with its rate.
		both := h.call("PATCH", "/v3/settings/", map[string]any{"default_currency": "JPY", "fx_rates": map[string]any{"JPY": "1", "USD": "150"}})
		require.Equal(t, http.StatusOK, both.status, both.raw)
		require.Equal(t, "JPY", both.body["default_currency"])
	})
}

func TestAutoBlockOnDeclineBlocksTheUser(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		ts := eventTime()
		declined := func(sessionID, vendorData, workflow string) map[string]any {
			return sessionEvent(sessionID, "Declined", vendorData, ts, map[string]any{
				"workflow_id": workflow,
				"decision":    map[string]any{"id_verification": map[string]any{"status": "Declined"}},
			})
		}
		// Before the setting is on, a decline blocks nobody.
		h.startWorker()
		h.waitApplied(h.ingest(declined("s-0", "u-0", "wf-kyc")))
		u0 := h.call("GET", "/v3/users/u-0/", nil)
		require.Equal(t, "ACTIVE", u0.body["status"], u0.raw)
		require.Equal(t, float64(1), u0.body["declined_count"])

		res := h.call("PATCH", "/v3/settings/", map[string]any{"auto_block_on_decline": true})
		require.Equal(t, http.StatusOK, res.status, res.raw)
		h.waitApplied(h.ingest(declined("s-1", "u-1", "wf-kyc")))
		user := h.call("GET", "/v3/users/u-1/", nil)
		require.Equal(t, "BLOCKED", user.body["status"], user.raw)
		require.Equal(t, "session_declined", user.body["status_reason"])
		require.Equal(t, float64(1), user.body["declined_count"])
		require.Equal(t, map[string]any{"id_verification": "DECLINED"}, user.body["features"])
		require.Equal(t, http.StatusForbidden, h.call("POST", "/v3/session/", map[string]any{"vendor_data": "u-1"}).status,
			"a blocked user gets no new session")

		// Limited to some workflows, only their declines block.
		res = h.call("PATCH", "/v3/settings/", map[string]any{"auto_block_workflows": []string{"wf-strict"}})
		require.Equal(t, http.StatusOK, res.status, res.raw)
		h.waitApplied(h.ingest(declined("s-2", "u-2", "wf-kyc")), h.ingest(declined("s-3", "u-3", "wf-strict")))
		require.Equal(t, "ACTIVE", h.call("GET", "/v3/users/u-2/", nil).body["status"])
		u3 := h.call("GET", "/v3/users/u-3/", nil)
		require.Equal(t, "BLOCKED", u3.body["status"])
		require.Equal(t, "session_declined", u3.body["status_reason"])
	})
}

// fx_rates is replaced whole by a patch (its keys are data): a currency left out of the
// patch is gone, in the answer and in what is stored.
func TestSettingsRemovedRateStaysRemoved(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		res := h.call("PATCH", "/v3/settings/", map[string]any{"fx_rates": map[string]any{"USD": "1", "EUR": "1.09"}})
		require.Equal(t, http.StatusOK, res.status, res.raw)
		want := defaultSettings()
		want["fx_rates"] = map[string]any{"USD": "1", "EUR": "1.09"}
		require.Equal(t, want, res.body, "the answer has no GBP")
		require.Equal(t, want, h.call("GET", "/v3/settings/", nil).body, "GBP stays removed once stored")

		other, err := h.store.CreateApplication(t.Context(), "other", "")
		require.NoError(t, err)
		require.Equal(t, defaultSettings(), h.call("GET", "/v3/settings/", nil, "x-api-key", other.APIKey).body,
			"a new application starts from the defaults")
	})
}
