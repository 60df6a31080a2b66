package ingest_test

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/workers"
)

func txBody(id string, extra map[string]any) map[string]any {
	body := map[string]any{
		"transaction_id": id, "vendor_data": "user-123", "subject_kind": "user",
		"counterparty": map[string]any{"vendor_data": "biz-9", "kind": "business"},
		"amount":       "1500.00", "currency": "EUR", "direction": "outbound",
		"transaction_at": "2026-11-25T10:00:00Z", "metadata": map[string]any{"channel": "card"},
	}
	for k, v := range extra {
		if v == nil {
			delete(body, k)
		} else {
			body[k] = v
		}
	}
	return body
}

func (h *harness) startWorkers(t *testing.T) {
	t.Helper()
	srv := workers.NewServer(h.redis, workers.ServerConfig{Concurrency: 4, Queues: h.queues, Log: discardLog()})
	require.NoError(t, srv.Start(workers.NewMux(&workers.Handlers{Store: h.store, Log: discardLog()})))
	t.Cleanup(srv.Shutdown)
}

func TestTransactionsRejectBadInputAndStoreNothing(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		cases := []struct {
			name  string
			body  map[string]any
			field string
		}{
			{"missing transaction_id", txBody("", map[string]any{"transaction_id": nil}), "transaction_id"},
			{"blank transaction_id", txBody(" ", nil), "transaction_id"},
			{"missing vendor_data", txBody("t", map[string]any{"vendor_data": nil}), "vendor_data"},
			{"missing amount", txBody("t", map[string]any{"amount": nil}), "amount"},
			{"negative amount", txBody("t", map[string]any{"amount": "-5.00"}), "amount"},
			{"zero amount", txBody("t", map[string]any{"amount": "0"}), "amount"},
			{"malformed amount", txBody("t", map[string]any{"amount": "1,500.00"}), "amount"},
			{"exponent amount", txBody("t", map[string]any{"amount": "1e3"}), "amount"},
			{"amount as a JSON number", txBody("t", map[string]any{"amount": 1500.5}), "amount"},
			{"bad currency", txBody("t", map[string]any{"currency": "EURO"}), "currency"},
			{"unknown direction", txBody("t", map[string]any{"direction": "sideways"}), "direction"},
			{"missing direction", txBody("t", map[string]any{"direction": nil}), "direction"},
			{"bad timestamp", txBody("t", map[string]any{"transaction_at": "25/11/2026"}), "transaction_at"},
			{"far-future timestamp", txBody("t", map[string]any{"transaction_at": "2099-01-01T00:00:00Z"}), "transaction_at"},
			{"bad subject kind", txBody("t", map[string]any{"subject_kind": "team"}), "subject_kind"},
			{"counterparty without vendor_data", txBody("t", map[string]any{"counterparty": map[string]any{"kind": "user"}}), "counterparty.vendor_data"},
			{"counterparty of a bad kind", txBody("t", map[string]any{"counterparty": map[string]any{"vendor_data": "x", "kind": "alien"}}), "counterparty.kind"},
			{"counterparty is the subject", txBody("t", map[string]any{"counterparty": map[string]any{"vendor_data": "user-123", "kind": "user"}}), "counterparty"},
			{"unknown field", txBody("t", map[string]any{"fee": "1"}), "fee"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				requireProblem(t, h.call("POST", "/v3/transactions/", c.body), http.StatusBadRequest, c.field)
			})
		}
		res := h.call("POST", "/v3/transactions/", txBody("t-jpy", map[string]any{"currency": "JPY"}))
		requireProblem(t, res, http.StatusUnprocessableEntity, "currency")
		require.Contains(t, res.body["detail"], "JPY")
		list := h.call("GET", "/v3/transactions/", nil)
		require.Equal(t, float64(0), list.body["count"], "nothing stored")
	})
}

func TestTransactionSubmittedEvaluatedAndReviewed(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		res := h.call("POST", "/v3/transactions/", txBody("t-1001", nil))
		require.Equal(t, http.StatusAccepted, res.status, res.raw)
		require.Equal(t, "t-1001", res.body["transaction_id"])
		require.Equal(t, "PENDING", res.body["status"])
		id := res.body["uuid"].(string)

		again := h.call("POST", "/v3/transactions/", txBody("t-1001", map[string]any{"amount": "1.00"}))
		require.Equal(t, http.StatusOK, again.status, "the same transaction_id answers 200 with the stored one")
		require.Equal(t, id, again.body["uuid"])
		require.Equal(t, "1500", again.body["amount"])

		h.startWorkers(t)
		require.Eventually(t, func() bool {
			return h.call("GET", "/v3/transactions/"+id+"/", nil).body["status"] != "PENDING"
		}, 15*time.Second, 50*time.Millisecond)
		got := h.call("GET", "/v3/transactions/"+id+"/", nil)
		require.Equal(t, "APPROVED", got.body["status"])
		require.Equal(t, "1620", got.body["amount_default"], "1500 EUR in USD at 1.08")
		require.Equal(t, map[string]any{"vendor_data": "biz-9", "kind": "business"}, got.body["counterparty"])
		require.NotNil(t, got.body["evaluated_at"])
		require.Equal(t, http.StatusOK, h.call("GET", "/v3/businesses/biz-9/", nil).status, "the counterparty was auto-created")

		requireProblem(t, h.call("PATCH", "/v3/transactions/"+id+"/update-status/", map[string]any{"status": "DECLINED"}), http.StatusConflict, "")

		big := h.call("POST", "/v3/transactions/", txBody("t-1002", map[string]any{"amount": "25000.00", "currency": "USD", "transaction_at": "2026-11-25T10:05:00Z"}))
		require.Equal(t, http.StatusAccepted, big.status, big.raw)
		bigID := big.body["uuid"].(string)
		require.Eventually(t, func() bool {
			return h.call("GET", "/v3/transactions/"+bigID+"/", nil).body["status"] == "IN_REVIEW"
		}, 15*time.Second, 50*time.Millisecond)
		require.Equal(t, "FLAGGED", h.call("GET", "/v3/users/user-123/", nil).body["status"])

		requireProblem(t, h.call("PATCH", "/v3/transactions/"+bigID+"/update-status/", map[string]any{"status": "IN_REVIEW"}), http.StatusBadRequest, "status")
		reviewed := h.call("PATCH", "/v3/transactions/"+bigID+"/update-status/", map[string]any{"status": "DECLINED", "actor": "analyst-7", "reason": "stolen card"})
		require.Equal(t, http.StatusOK, reviewed.status, reviewed.raw)
		require.Equal(t, "DECLINED", reviewed.body["status"])
		require.Equal(t, "analyst-7", reviewed.body["reviewed_by"])
		final := h.call("PATCH", "/v3/transactions/"+bigID+"/update-status/", map[string]any{"status": "APPROVED"})
		requireProblem(t, final, http.StatusConflict, "")
		require.True(t, strings.Contains(final.body["detail"].(string), "final"), final.raw)

		list := h.call("GET", "/v3/transactions/?vendor_data=user-123&status=DECLINED", nil)
		require.Equal(t, float64(1), list.body["count"])
		requireProblem(t, h.call("GET", "/v3/transactions/?status=LOST", nil), http.StatusBadRequest, "status")
		requireProblem(t, h.call("GET", "/v3/transactions/not-a-uuid/", nil), http.StatusNotFound, "")
	})
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
