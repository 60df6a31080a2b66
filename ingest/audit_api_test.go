package ingest_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/webhooks"
)

// verifyExport checks a JSON-lines export the way an auditor would, with nothing but
// SHA-256 and the canonical JSON: each record's hash is the hash of its prev_hash and
// its other fields, and each prev_hash is the hash of the record before. It returns the
// records.
func verifyExport(t *testing.T, body string) []map[string]any {
	t.Helper()
	var out []map[string]any
	prev := ""
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec))
		require.Equal(t, prev, rec["prev_hash"], "the chain links")
		hash := rec["hash"].(string)
		if rec["tombstone"] != true {
			content := map[string]any{}
			for k, v := range rec {
				if k != "prev_hash" && k != "hash" {
					content[k] = v
				}
			}
			b, err := json.Marshal(content)
			require.NoError(t, err)
			canon, err := webhooks.Canonical(b)
			require.NoError(t, err)
			sum := sha256.Sum256(append([]byte(rec["prev_hash"].(string)), canon...))
			require.Equal(t, hex.EncodeToString(sum[:]), hash, "record %v", rec["uuid"])
		}
		prev = hash
		out = append(out, rec)
	}
	require.NoError(t, sc.Err())
	return out
}

// export GETs an export; its body is not one JSON object, so call cannot decode it.
func (h *harness) export(query string) response {
	h.t.Helper()
	req, err := http.NewRequest("GET", h.url+"/v3/audit/export/"+query, nil)
	require.NoError(h.t, err)
	req.Header.Set("x-api-key", h.key)
	res, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	require.NoError(h.t, err)
	out := response{status: res.StatusCode, header: res.Header, raw: string(data)}
	if res.StatusCode != http.StatusOK {
		require.NoError(h.t, json.Unmarshal(data, &out.body), string(data))
	}
	return out
}

func TestAuditTrailOverHTTP(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		h.startWorker()
		for _, vd := range []string{"ana", "bob"} {
			res := h.call("POST", "/v3/users/create/", map[string]any{"vendor_data": vd})
			require.Equal(t, http.StatusCreated, res.status, res.raw)
			require.Equal(t, []any{map[string]any{"reason": "", "actor": "system", "from": nil, "to": "ACTIVE", "at": res.body["created_at"]}},
				res.body["comments"], "a new entity shows its creation record")
		}
		createdAt := h.call("GET", "/v3/users/ana/", nil).body["created_at"].(string)

		// A manual block, and a blocklist entry with a comment and an actor.
		res := h.call("PATCH", "/v3/users/ana/update-status/", map[string]any{"status": "BLOCKED", "reason": "chargebacks", "actor": "analyst-7"})
		require.Equal(t, http.StatusAccepted, res.status, res.raw)
		h.waitApplied(res.body["job_id"].(string))
		fraud := h.createList("fraud", "blocklist", "user")
		entry := h.call("POST", "/v3/lists/"+fraud+"/entries/", map[string]any{"value": "bob", "comment": "fraud ring #12", "actor": "alice@ops"})
		require.Equal(t, http.StatusCreated, entry.status, entry.raw)
		require.Eventually(t, func() bool {
			return h.call("GET", "/v3/users/bob/", nil).body["status"] == "BLOCKED"
		}, 10*time.Second, 50*time.Millisecond)
		listed := h.call("GET", "/v3/lists/"+fraud+"/entries/", nil).body["results"].([]any)[0].(map[string]any)
		require.Equal(t, "fraud ring #12", listed["comment"])
		require.Equal(t, "alice@ops", listed["actor"])

		// Why was ana blocked, by whom?
		hist := h.call("GET", "/v3/users/ana/status-history/", nil)
		require.Equal(t, http.StatusOK, hist.status, hist.raw)
		require.Equal(t, float64(2), hist.body["count"])
		recs := hist.body["results"].([]any)
		newest := recs[0].(map[string]any)
		for _, field := range []string{"uuid", "vendor_data", "kind", "previous_status", "status", "reason", "actor", "rule", "inputs", "created_at", "prev_hash", "hash"} {
			require.Contains(t, newest, field)
		}
		require.Equal(t, "ACTIVE", newest["previous_status"])
		require.Equal(t, "BLOCKED", newest["status"])
		require.Equal(t, "chargebacks", newest["reason"])
		require.Equal(t, "analyst-7", newest["actor"])
		require.Equal(t, "manual", newest["rule"])
		require.Nil(t, recs[1].(map[string]any)["previous_status"], "the creation record")
		paged := h.call("GET", "/v3/users/ana/status-history/?limit=1&offset=1", nil)
		require.Equal(t, recs[1].(map[string]any)["uuid"], paged.body["results"].([]any)[0].(map[string]any)["uuid"])

		// On what evidence was bob blocked?
		bob := h.call("GET", "/v3/users/bob/status-history/", nil).body["results"].([]any)[0].(map[string]any)
		require.Equal(t, "alice@ops", bob["actor"])
		inputs := bob["inputs"].(map[string]any)
		require.Equal(t, entry.body["uuid"], inputs["entry_id"])
		require.Equal(t, fraud, inputs["list_id"])
		require.Equal(t, "fraud ring #12", inputs["comment"])
		require.Equal(t, "bob", inputs["value"])

		// What was ana's status then, and now?
		blockedAt := newest["created_at"].(string)
		at := func(ts string) response { return h.call("GET", "/v3/users/ana/status/?at="+url.QueryEscape(ts), nil) }
		then := at(createdAt)
		require.Equal(t, http.StatusOK, then.status, then.raw)
		require.Equal(t, "ACTIVE", then.body["status"])
		require.Equal(t, createdAt, then.body["since"])
		now := h.call("GET", "/v3/users/ana/status/", nil)
		require.Equal(t, map[string]any{"vendor_data": "ana", "status": "BLOCKED", "status_reason": "chargebacks",
			"since": blockedAt, "rule": "manual", "actor": "analyst-7", "record_uuid": newest["uuid"]}, now.body)
		require.Equal(t, "BLOCKED", at(blockedAt).body["status"])
		requireProblem(t, at("2000-01-01T00:00:00Z"), http.StatusNotFound, "")
		requireProblem(t, at("3 March"), http.StatusBadRequest, "at")
		requireProblem(t, at("2026-03-03"), http.StatusBadRequest, "at")
		requireProblem(t, h.call("GET", "/v3/users/nobody/status/", nil), http.StatusNotFound, "")

		// The entity shows its latest records at a glance.
		comments := h.call("GET", "/v3/users/ana/", nil).body["comments"].([]any)
		require.Equal(t, map[string]any{"reason": "chargebacks", "actor": "analyst-7", "from": "ACTIVE", "to": "BLOCKED", "at": blockedAt}, comments[0])
		listedUsers := h.call("GET", "/v3/users/?search=bob", nil).body["results"].([]any)
		require.Equal(t, "alice@ops", listedUsers[0].(map[string]any)["comments"].([]any)[0].(map[string]any)["actor"])

		// The export proves the trail was not rewritten.
		exp := h.export("")
		require.Equal(t, http.StatusOK, exp.status, exp.raw)
		require.Equal(t, "application/x-ndjson", exp.header.Get("Content-Type"))
		all := verifyExport(t, exp.raw)
		require.Len(t, all, 4)
		report, err := h.store.VerifyChains(context.Background(), h.app.ID)
		require.NoError(t, err)
		require.Nil(t, report.Broken)
		require.Equal(t, all[3]["hash"], h.call("GET", "/v3/users/bob/status-history/", nil).body["results"].([]any)[0].(map[string]any)["hash"])

		window := h.export("?since=" + url.QueryEscape(blockedAt) + "&until=" + url.QueryEscape(blockedAt))
		lines := strings.Split(strings.TrimSpace(window.raw), "\n")
		require.Len(t, lines, 1, window.raw)
		require.Contains(t, lines[0], `"analyst-7"`)
		empty := h.export("?since=2999-01-01T00:00:00Z")
		require.Equal(t, http.StatusOK, empty.status)
		require.Empty(t, empty.raw)

		csvRes := h.export("?format=csv")
		require.Equal(t, http.StatusOK, csvRes.status, csvRes.raw)
		require.Equal(t, "text/csv; charset=utf-8", csvRes.header.Get("Content-Type"))
		rows, err := csv.NewReader(strings.NewReader(csvRes.raw)).ReadAll()
		require.NoError(t, err)
		require.Len(t, rows, 5)
		require.Equal(t, []string{"uuid", "seq", "entity_uuid", "vendor_data", "kind", "previous_status", "status", "reason",
			"actor", "rule", "inputs", "created_at", "prev_hash", "hash", "tombstone"}, rows[0])
		require.Equal(t, all[2]["hash"], rows[3][13])
		require.Equal(t, "analyst-7", rows[3][8])

		for query, field := range map[string]string{
			"?format=xml": "format", "?since=yesterday": "since", "?until=2026-13-01T00:00:00Z": "until",
			"?since=2026-03-04T00:00:00Z&until=2026-03-03T00:00:00Z": "since",
		} {
			requireProblem(t, h.export(query), http.StatusBadRequest, field)
		}
	})
}

func TestNameEntriesCarryADateOfBirth(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		names := h.createList("sanctions", "watchlist", "name")
		entries := "/v3/lists/" + names + "/entries/"
		res := h.call("POST", entries, map[string]any{"value": "Ivan Petrov", "date_of_birth": "1970-05-01", "comment": "OFAC", "actor": "screening"})
		require.Equal(t, http.StatusCreated, res.status, res.raw)
		require.Equal(t, "1970-05-01", res.body["date_of_birth"])
		got := h.call("GET", entries, nil).body["results"].([]any)[0].(map[string]any)
		require.Equal(t, "1970-05-01", got["date_of_birth"])
		require.Equal(t, "OFAC", got["comment"])
		for _, bad := range []any{"1970-13-01", "01/05/1970", 1970} {
			requireProblem(t, h.call("POST", entries, map[string]any{"value": "Other Name", "date_of_birth": bad}), http.StatusBadRequest, "date_of_birth")
		}
		require.Equal(t, float64(1), h.call("GET", entries, nil).body["count"], "nothing half-stored")
	})
}
