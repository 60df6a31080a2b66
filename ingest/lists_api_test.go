package ingest_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// createList creates a list and returns its uuid.
func (h *harness) createList(name, listType, entryType string) string {
	h.t.Helper()
	res := h.call("POST", "/v3/lists/", map[string]any{"name": name, "list_type": listType, "entry_type": entryType})
	require.Equal(h.t, http.StatusCreated, res.status, res.raw)
	id, _ := res.body["uuid"].(string)
	require.NotEmpty(h.t, id, res.raw)
	return id
}

// listNames returns the names of the lists in a list answer, in order.
func listNames(t *testing.T, res response) []string {
	t.Helper()
	require.Equal(t, http.StatusOK, res.status, res.raw)
	var names []string
	for _, r := range res.body["results"].([]any) {
		names = append(names, r.(map[string]any)["name"].(string))
	}
	return names
}

var systemLists = []string{
	"system:blocklist:business", "system:blocklist:country", "system:blocklist:document", "system:blocklist:email",
	"system:blocklist:face", "system:blocklist:name", "system:blocklist:phone", "system:blocklist:user",
}

func TestCreateAndListLists(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		before := h.call("GET", "/v3/lists/", nil)
		require.Equal(t, float64(8), before.body["count"], "one system blocklist per entry type: %s", before.raw)
		require.ElementsMatch(t, systemLists, listNames(t, before))
		for _, r := range before.body["results"].([]any) {
			l := r.(map[string]any)
			require.Equal(t, true, l["system"], l)
			require.Equal(t, "blocklist", l["list_type"])
		}

		res := h.call("POST", "/v3/lists/", map[string]any{"name": " VIP phones ", "list_type": "watchlist", "entry_type": "phone"})
		require.Equal(t, http.StatusCreated, res.status, res.raw)
		id := res.body["uuid"].(string)
		require.NotEmpty(t, id)
		require.Equal(t, "VIP phones", res.body["name"], "names are trimmed")
		require.Equal(t, "watchlist", res.body["list_type"])
		require.Equal(t, "phone", res.body["entry_type"])
		require.Equal(t, false, res.body["system"])
		require.Equal(t, float64(0), res.body["entry_count"])
		_, err := time.Parse(time.RFC3339Nano, res.body["created_at"].(string))
		require.NoError(t, err)

		got := h.call("GET", "/v3/lists/"+id+"/", nil)
		require.Equal(t, http.StatusOK, got.status, got.raw)
		require.Equal(t, res.body, got.body)

		dup := h.call("POST", "/v3/lists/", map[string]any{"name": "VIP phones", "list_type": "blocklist", "entry_type": "email"})
		requireProblem(t, dup, http.StatusConflict, "")
		require.Contains(t, dup.body["detail"], "VIP phones")

		cases := []struct {
			name  string
			body  any
			field string
		}{
			{"missing name", map[string]any{"list_type": "blocklist", "entry_type": "email"}, "name"},
			{"blank name", map[string]any{"name": "  ", "list_type": "blocklist", "entry_type": "email"}, "name"},
			{"reserved name", map[string]any{"name": "system:mine", "list_type": "blocklist", "entry_type": "email"}, "name"},
			{"a system list's name", map[string]any{"name": "system:blocklist:email", "list_type": "blocklist", "entry_type": "email"}, "name"},
			{"bad list_type", map[string]any{"name": "x", "list_type": "greylist", "entry_type": "email"}, "list_type"},
			{"list_type in the wrong case", map[string]any{"name": "x", "list_type": "Blocklist", "entry_type": "email"}, "list_type"},
			{"missing list_type", map[string]any{"name": "x", "entry_type": "email"}, "list_type"},
			{"bad entry_type", map[string]any{"name": "x", "list_type": "blocklist", "entry_type": "iban"}, "entry_type"},
			{"missing entry_type", map[string]any{"name": "x", "list_type": "blocklist"}, "entry_type"},
			{"unknown field", map[string]any{"name": "x", "list_type": "blocklist", "entry_type": "email", "colour": "red"}, "colour"},
			{"not an object", "[]", ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				requireProblem(t, h.call("POST", "/v3/lists/", c.body), http.StatusBadRequest, c.field)
			})
		}
		requireProblem(t, h.call("POST", "/v3/lists/", `{"name":"x","list_type":"blocklist","entry_type":"email"}`, "Content-Type", "text/plain"), http.StatusUnsupportedMediaType, "")

		h.createList("bad emails", "blocklist", "email")
		all := h.call("GET", "/v3/lists/", nil)
		require.Equal(t, float64(10), all.body["count"], "the system lists, ours, and nothing rejected")
		names := listNames(t, all)
		require.ElementsMatch(t, systemLists, names[:8], "system lists come first")
		require.ElementsMatch(t, []string{"VIP phones", "bad emails"}, names[8:], "then the others, by name")

		watch := h.call("GET", "/v3/lists/?list_type=watchlist", nil)
		require.Equal(t, []string{"VIP phones"}, listNames(t, watch))
		require.Equal(t, float64(1), watch.body["count"])
		phones := h.call("GET", "/v3/lists/?entry_type=phone", nil)
		require.Equal(t, []string{"system:blocklist:phone", "VIP phones"}, listNames(t, phones))
		both := h.call("GET", "/v3/lists/?list_type=blocklist&entry_type=email", nil)
		require.Equal(t, []string{"system:blocklist:email", "bad emails"}, listNames(t, both))
		none := h.call("GET", "/v3/lists/?list_type=allowlist", nil)
		require.Equal(t, float64(0), none.body["count"])
		require.Empty(t, none.body["results"])
		page := h.call("GET", "/v3/lists/?limit=3&offset=8", nil)
		require.ElementsMatch(t, []string{"VIP phones", "bad emails"}, listNames(t, page))
		require.Equal(t, float64(10), page.body["count"])

		requireProblem(t, h.call("GET", "/v3/lists/?list_type=greylist", nil), http.StatusBadRequest, "list_type")
		requireProblem(t, h.call("GET", "/v3/lists/?entry_type=iban", nil), http.StatusBadRequest, "entry_type")
		requireProblem(t, h.call("GET", "/v3/lists/?limit=0", nil), http.StatusBadRequest, "limit")

		other := h.call("GET", "/v3/lists/"+id+"/", nil, "x-api-key", "")
		requireProblem(t, other, http.StatusUnauthorized, "")
	})
}

func TestListEntries(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		phones := h.createList("phones", "blocklist", "phone")
		entries := "/v3/lists/" + phones + "/entries/"

		res := h.call("POST", entries, map[string]any{"value": " +34 600-000-000 ", "note": "fraud ring"})
		require.Equal(t, http.StatusCreated, res.status, res.raw)
		entryID := res.body["uuid"].(string)
		require.NotEmpty(t, entryID)
		require.Equal(t, "+34600000000", res.body["value"], "phones are stored in E.164")
		require.Equal(t, " +34 600-000-000 ", res.body["original_value"], "the value as sent is kept")
		require.Equal(t, phones, res.body["list_uuid"])
		require.Equal(t, "fraud ring", res.body["note"])

		for _, same := range []string{"0034600000000", "+34 (600) 00.00.00", "+34600000000"} {
			dup := h.call("POST", entries, map[string]any{"value": same})
			requireProblem(t, dup, http.StatusConflict, "")
			require.Contains(t, dup.body["detail"], "+34600000000")
		}
		for name, body := range map[string]any{
			"not a phone":     map[string]any{"value": "call me"},
			"too short":       map[string]any{"value": "+34 6"},
			"blank":           map[string]any{"value": "   "},
			"missing":         map[string]any{"note": "x"},
			"a number":        map[string]any{"value": 34600000000},
			"unknown field":   map[string]any{"value": "+34600000001", "colour": "red"},
			"note not a text": map[string]any{"value": "+34600000001", "note": 5},
		} {
			t.Run(name, func(t *testing.T) {
				field := "value"
				switch name {
				case "unknown field":
					field = "colour"
				case "note not a text":
					field = "note"
				}
				requireProblem(t, h.call("POST", entries, body), http.StatusBadRequest, field)
			})
		}

		second := h.call("POST", entries, map[string]any{"value": "0044 20 7946 0000"})
		require.Equal(t, http.StatusCreated, second.status, second.raw)
		require.Equal(t, "+442079460000", second.body["value"])

		list := h.call("GET", entries, nil)
		require.Equal(t, http.StatusOK, list.status, list.raw)
		require.Equal(t, float64(2), list.body["count"], "rejected values were not stored")
		results := list.body["results"].([]any)
		require.Len(t, results, 2)
		values := []any{results[0].(map[string]any)["value"], results[1].(map[string]any)["value"]}
		require.ElementsMatch(t, []any{"+34600000000", "+442079460000"}, values)
		require.Equal(t, float64(2), h.call("GET", "/v3/lists/"+phones+"/", nil).body["entry_count"])

		del := h.call("DELETE", entries+entryID+"/", nil)
		require.Equal(t, http.StatusNoContent, del.status, del.raw)
		require.Empty(t, del.raw)
		requireProblem(t, h.call("DELETE", entries+entryID+"/", nil), http.StatusNotFound, "")
		after := h.call("GET", entries, nil)
		require.Equal(t, float64(1), after.body["count"])
		require.Equal(t, "+442079460000", after.body["results"].([]any)[0].(map[string]any)["value"])
		again := h.call("POST", entries, map[string]any{"value": "+34600000000"})
		require.Equal(t, http.StatusCreated, again.status, "a deleted value can be added again: %s", again.raw)

		// Other entry types normalise too.
		countries := "/v3/lists/" + h.createList("countries", "watchlist", "country") + "/entries/"
		c := h.call("POST", countries, map[string]any{"value": " prk "})
		require.Equal(t, http.StatusCreated, c.status, c.raw)
		require.Equal(t, "PRK", c.body["value"])
		requireProblem(t, h.call("POST", countries, map[string]any{"value": "North Korea"}), http.StatusBadRequest, "value")
		emails := "/v3/lists/" + h.createList("emails", "blocklist", "email") + "/entries/"
		e := h.call("POST", emails, map[string]any{"value": "Ana@Example.COM"})
		require.Equal(t, http.StatusCreated, e.status, e.raw)
		require.Equal(t, "ana@example.com", e.body["value"])
		requireProblem(t, h.call("POST", emails, map[string]any{"value": "ana@example.com"}), http.StatusConflict, "")
		requireProblem(t, h.call("POST", emails, map[string]any{"value": "not-an-email"}), http.StatusBadRequest, "value")

		const unknown = "0192f0c4-0000-7000-8000-000000000001"
		for _, id := range []string{unknown, "not-a-uuid", url.PathEscape("a b")} {
			requireProblem(t, h.call("GET", "/v3/lists/"+id+"/", nil), http.StatusNotFound, "")
			requireProblem(t, h.call("GET", "/v3/lists/"+id+"/entries/", nil), http.StatusNotFound, "")
			requireProblem(t, h.call("POST", "/v3/lists/"+id+"/entries/", map[string]any{"value": "+34600000009"}), http.StatusNotFound, "")
			requireProblem(t, h.call("DELETE", "/v3/lists/"+id+"/entries/"+entryID+"/", nil), http.StatusNotFound, "")
			requireProblem(t, h.call("DELETE", entries+id+"/", nil), http.StatusNotFound, "")
		}
		// An entry is only reached through its own list.
		requireProblem(t, h.call("DELETE", countries+second.body["uuid"].(string)+"/", nil), http.StatusNotFound, "")
		require.Equal(t, float64(2), h.call("GET", entries, nil).body["count"])

		other, err := h.store.CreateApplication(t.Context(), "other", "")
		require.NoError(t, err)
		requireProblem(t, h.call("GET", entries, nil, "x-api-key", other.APIKey), http.StatusNotFound, "")
		requireProblem(t, h.call("POST", entries, map[string]any{"value": "+34600000007"}, "x-api-key", other.APIKey), http.StatusNotFound, "")
		require.Equal(t, float64(8), h.call("GET", "/v3/lists/", nil, "x-api-key", other.APIKey).body["count"], "lists are per application")
	})
}

func TestEntityListEntriesChangeStatus(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		for vd, status := range map[string]string{"active": "ACTIVE", "watched": "ACTIVE", "blocked": "BLOCKED", "flagged": "FLAGGED"} {
			res := h.call("POST", "/v3/users/create/", map[string]any{"vendor_data": vd, "status": status, "reason": "set up"})
			require.Equal(t, http.StatusCreated, res.status, res.raw)
		}
		blocklist := "/v3/lists/" + h.createList("bad users", "blocklist", "user") + "/entries/"
		watchlist := "/v3/lists/" + h.createList("watched users", "watchlist", "user") + "/entries/"
		bizlist := "/v3/lists/" + h.createList("bad businesses", "blocklist", "business") + "/entries/"
		allowlist := "/v3/lists/" + h.createList("good users", "allowlist", "user") + "/entries/"
		before := h.call("GET", "/v3/users/blocked/", nil)

		for _, add := range []struct{ list, value string }{
			{blocklist, " active "}, {blocklist, "flagged"}, {watchlist, "watched"}, {watchlist, "blocked"},
			// These name no entity that a list acts on: no job.
			{bizlist, "watched"}, {allowlist, "active"}, {blocklist, "later"},
		} {
			res := h.call("POST", add.list, map[string]any{"value": add.value})
			require.Equal(t, http.StatusCreated, res.status, res.raw)
		}
		items, err := h.store.ClaimStaleInbox(t.Context(), -time.Hour, 100)
		require.NoError(t, err)
		require.Len(t, items, 4, "one status job per entry naming a live entity of its kind")
		require.Equal(t, "ACTIVE", h.call("GET", "/v3/users/active/", nil).body["status"], "nothing applies before a worker runs")

		h.startWorker()
		for _, item := range items {
			h.waitApplied(item.ID)
		}

		for vd, want := range map[string][2]string{
			"active":  {"BLOCKED", "blocklist_match"},
			"flagged": {"BLOCKED", "blocklist_match"}, // a blocklist raises FLAGGED to BLOCKED
			"watched": {"FLAGGED", "watchlist"},       // a business entry left the user alone
			"blocked": {"BLOCKED", "set up"},          // automatic rules never lower a status
		} {
			got := h.call("GET", "/v3/users/"+vd+"/", nil)
			require.Equal(t, want[0], got.body["status"], vd)
			require.Equal(t, want[1], got.body["status_reason"], vd)
		}
		after := h.call("GET", "/v3/users/blocked/", nil).body
		signals, _ := after["risk_signals"].([]any)
		require.Len(t, signals, 1, "the match is a risk signal")
		require.Equal(t, "list_match", signals[0].(map[string]any)["type"])
		for _, k := range []string{"risk_score", "risk_signals", "updated_at"} {
			delete(before.body, k)
			delete(after, k)
		}
		require.Equal(t, before.body, after, "a watchlist entry changed nothing else of a BLOCKED user")

		// An entity created after its entry starts in the list's status.
		later := h.call("POST", "/v3/users/create/", map[string]any{"vendor_data": "later"})
		require.Equal(t, http.StatusCreated, later.status, later.raw)
		require.Equal(t, "BLOCKED", later.body["status"], "an entity on a blocklist starts BLOCKED")
		require.Equal(t, "blocklist_match", later.body["status_reason"])
	})
}
