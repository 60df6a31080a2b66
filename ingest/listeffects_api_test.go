package ingest_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestListsWithoutAnEffectAndUnknownCountriesAnswer400(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		for _, entryType := range []string{"face", "document", "email", "phone", "name", "country"} {
			res := h.call("POST", "/v3/lists/", map[string]any{"name": "allow " + entryType, "list_type": "allowlist", "entry_type": entryType})
			requireProblem(t, res, http.StatusBadRequest, "entry_type")
		}
		res := h.call("POST", "/v3/lists/", map[string]any{"name": "vip", "list_type": "allowlist", "entry_type": "user"})
		require.Equal(t, http.StatusCreated, res.status, res.raw)

		res = h.call("POST", "/v3/lists/", map[string]any{"name": "sanctioned", "list_type": "blocklist", "entry_type": "country"})
		require.Equal(t, http.StatusCreated, res.status, res.raw)
		id := res.body["uuid"].(string)
		requireProblem(t, h.call("POST", "/v3/lists/"+id+"/entries/", map[string]any{"value": "XXX"}), http.StatusBadRequest, "value")
		requireProblem(t, h.call("POST", "/v3/lists/"+id+"/entries/", map[string]any{"value": "Spain"}), http.StatusBadRequest, "value")
		ok := h.call("POST", "/v3/lists/"+id+"/entries/", map[string]any{"value": "es"})
		require.Equal(t, http.StatusCreated, ok.status, ok.raw)
		require.Equal(t, "ESP", ok.body["value"], "alpha-2 is stored as alpha-3")
	})
}
