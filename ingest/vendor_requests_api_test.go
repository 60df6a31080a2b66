package ingest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCreateSessionInTheVendorsShape(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		res := h.call("POST", "/v3/session/", fixture(t, "create_session.json"))
		require.Equal(t, http.StatusCreated, res.status, res.raw)
		require.Equal(t, "https://app.example.org/verified", res.body["callback"])
		require.Equal(t, "both", res.body["callback_method"])
		require.Equal(t, "es", res.body["language"])
		require.Equal(t, map[string]any{"plan": "silver", "referrer": "campaign-7"}, res.body["metadata"])
		require.Equal(t, "nuevo@example.org", res.body["contact_details"].(map[string]any)["email"])
		require.Equal(t, "Cliente", res.body["expected_details"].(map[string]any)["last_name"])
		require.NotContains(t, res.raw, "portrait_image", "a portrait is accepted and not kept")

		sess := h.call("GET", "/v3/session/"+res.body["session_id"].(string)+"/", nil)
		require.Equal(t, http.StatusOK, sess.status, sess.raw)
		options := sess.body["options"].(map[string]any)
		require.Equal(t, "https://app.example.org/verified", options["callback"], "stored with the session")
		require.Equal(t, false, options["contact_details"].(map[string]any)["send_notification_emails"])
		require.Equal(t, "campaign-7", sess.body["metadata"].(map[string]any)["referrer"])

		// The vendor also takes metadata as a string holding a JSON object.
		str := h.call("POST", "/v3/session/", map[string]any{"vendor_data": "u-str", "metadata": `{"a": 1}`})
		require.Equal(t, http.StatusCreated, str.status, str.raw)
		require.EqualValues(t, 1, str.body["metadata"].(map[string]any)["a"])

		for _, c := range []struct {
			field string
			body  map[string]any
		}{
			{"callback", map[string]any{"vendor_data": "u", "callback": "ftp://x"}},
			{"callback_method", map[string]any{"vendor_data": "u", "callback_method": "sometimes"}},
			{"contact_details", map[string]any{"vendor_data": "u", "contact_details": "ana@example.org"}},
			{"metadata", map[string]any{"vendor_data": "u", "metadata": "not json"}},
			{"favourite_colour", map[string]any{"vendor_data": "u", "favourite_colour": "red"}},
		} {
			requireProblem(t, h.call("POST", "/v3/session/", c.body), http.StatusBadRequest, c.field)
		}
		require.Equal(t, 2, h.count("user"), "refused requests created nothing")
	})
}

func TestTransactionInTheVendorsShape(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		res := h.call("POST", "/v3/transactions/", fixture(t, "transaction.json"))
		require.Equal(t, http.StatusAccepted, res.status, res.raw)
		got := h.call("GET", "/v3/transactions/"+res.body["uuid"].(string)+"/", nil)
		require.Equal(t, http.StatusOK, got.status, got.raw)
		require.Equal(t, "vendor-txn-2026-11-25-001", got.body["transaction_id"])
		require.Equal(t, "user-lucia-001", got.body["vendor_data"])
		require.Equal(t, "user", got.body["subject_kind"])
		require.Equal(t, "1500.5", strings.TrimRight(got.body["amount"].(string), "0"))
		require.Equal(t, "EUR", got.body["currency"], "currency codes are upper-cased")
		require.Equal(t, "outbound", got.body["direction"])
		require.Equal(t, map[string]any{"vendor_data": "biz-olivos-01", "kind": "business"}, got.body["counterparty"])
		meta := got.body["metadata"].(map[string]any)
		require.Equal(t, "withdrawal", meta["transaction_details"].(map[string]any)["action_type"], "members Standing does not read are kept")
		require.Equal(t, "Lucía Martín Gómez", meta["subject"].(map[string]any)["full_name"])
		require.Equal(t, "finance", meta["transaction_category"])
		require.Equal(t, "web", meta["custom_properties"].(map[string]any)["channel"])

		// The vendor's examples send amounts as JSON numbers: the literal is kept exactly.
		num := h.call("POST", "/v3/transactions/", `{"transaction_id":"v-num","transaction_details":{"direction":"INBOUND","amount":1500.10,"currency":"USD"},"subject":{"entity_type":"company","vendor_data":"biz-1"},"counterparty":{"entity_type":"external","full_name":"Someone"}}`)
		require.Equal(t, http.StatusAccepted, num.status, num.raw)
		n := h.call("GET", "/v3/transactions/"+num.body["uuid"].(string)+"/", nil)
		require.Equal(t, "1500.1", strings.TrimRight(n.body["amount"].(string), "0"))
		require.Equal(t, "business", n.body["subject_kind"])
		require.Equal(t, "inbound", n.body["direction"])
		require.Nil(t, n.body["counterparty"], "a party without vendor_data is not an entity")
		require.Equal(t, "Someone", n.body["metadata"].(map[string]any)["counterparty"].(map[string]any)["full_name"])

		for _, c := range []struct{ field, body string }{
			{"subject.vendor_data", `{"transaction_id":"b1","transaction_details":{"direction":"inbound","amount":"1","currency":"EUR"},"subject":{"full_name":"x"}}`},
			{"subject.entity_type", `{"transaction_id":"b2","transaction_details":{"direction":"inbound","amount":"1","currency":"EUR"},"subject":{"vendor_data":"w","entity_type":"unhosted_wallet"}}`},
			{"vendor_data", `{"transaction_id":"b3","vendor_data":"u","transaction_details":{"direction":"inbound","amount":"1","currency":"EUR"},"subject":{"vendor_data":"u"}}`},
			{"currency", `{"transaction_id":"b4","transaction_details":{"direction":"inbound","amount":"1","currency":"BTC"},"subject":{"vendor_data":"u"}}`},
			{"currency", `{"transaction_id":"b5","transaction_details":{"direction":"inbound","amount":"1","currency":"XYZ"},"subject":{"vendor_data":"u"}}`},
			{"transaction_details", `{"transaction_id":"b6","subject":{"vendor_data":"u"}}`},
		} {
			requireProblem(t, h.call("POST", "/v3/transactions/", c.body), http.StatusBadRequest, c.field)
		}

		// AWAITING_USER, a vendor status Standing lacks, gets a clear 400.
		patch := h.call("PATCH", "/v3/transactions/"+res.body["uuid"].(string)+"/update-status/", map[string]any{"status": "AWAITING_USER"})
		requireProblem(t, patch, http.StatusBadRequest, "status")
		require.Contains(t, patch.raw, "AWAITING_USER")
	})
}
