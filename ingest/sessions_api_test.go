package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/ingest"
	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/webhooks"
	"github.com/standinghq/standing/workers"
)

// sessionEvent returns a valid upstream session status event; extra members are added
// to it (or replace its own).
func sessionEvent(sessionID, status, vendorData string, ts int64, extra map[string]any) map[string]any {
	ev := map[string]any{
		"session_id": sessionID, "status": status, "vendor_data": vendorData,
		"timestamp": ts, "webhook_type": "status.updated",
	}
	maps.Copy(ev, extra)
	return ev
}

// eventTime is a whole-second event time an hour ago, valid for intake.
func eventTime() int64 { return time.Now().Add(-time.Hour).Unix() }

// rfc3339 writes unix seconds as the API writes timestamps.
func rfc3339(ts int64) string { return time.Unix(ts, 0).UTC().Format(time.RFC3339) }

// startWorker runs a real worker on the harness's store and queues until the test ends.
func (h *harness) startWorker() {
	h.t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := workers.NewServer(h.redis, workers.ServerConfig{Concurrency: 2, Queues: h.queues, Log: log})
	require.NoError(h.t, srv.Start(workers.NewMux(&workers.Handlers{Store: h.store, Log: log})))
	h.t.Cleanup(srv.Shutdown)
}

// pendingJobs counts the inbox items not applied yet (the store is the test's own).
func (h *harness) pendingJobs() int {
	h.t.Helper()
	items, err := h.store.ClaimStaleInbox(context.Background(), -time.Hour, 10_000)
	require.NoError(h.t, err)
	return len(items)
}

// ingest posts a session event with the API key and returns its event id.
func (h *harness) ingest(ev map[string]any) string {
	h.t.Helper()
	res := h.call("POST", "/v3/ingest/sessions/", ev)
	require.Equal(h.t, http.StatusAccepted, res.status, res.raw)
	id, ok := res.body["event_id"].(string)
	require.True(h.t, ok, res.raw)
	require.NotEmpty(h.t, id)
	return id
}

// waitApplied waits until every job has been applied by a worker.
func (h *harness) waitApplied(ids ...string) {
	h.t.Helper()
	for _, id := range ids {
		require.Eventually(h.t, func() bool {
			return h.call("GET", "/v3/jobs/"+id+"/", nil).body["state"] == "applied"
		}, 10*time.Second, 50*time.Millisecond, "job %s applied", id)
	}
}

func TestIngestSessionEventIsAcceptedOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		ts := eventTime()
		ev := sessionEvent("s-1", "Approved", "u-1", ts, map[string]any{
			"workflow_id": "wf-kyc", "metadata": map[string]any{"k": "v"},
			"decision": map[string]any{"liveness": map[string]any{"status": "Approved", "face_id": "f-1"}},
		})
		first := h.ingest(ev)
		job := h.call("GET", "/v3/jobs/"+first+"/", nil)
		require.Equal(t, http.StatusOK, job.status, job.raw)
		require.Equal(t, "session:apply", job.body["type"])
		require.Equal(t, "pending", job.body["state"], "no worker runs in this test")

		require.Equal(t, first, h.ingest(ev), "the same (session_id, status, timestamp) is the same event")
		// Only the key counts: another workflow or decision does not make a new event.
		same := sessionEvent("s-1", "Approved", "u-1", ts, nil)
		require.Equal(t, first, h.ingest(same))

		other := h.ingest(sessionEvent("s-1", "Declined", "u-1", ts, nil))
		require.NotEqual(t, first, other, "another status is another event")
		later := h.ingest(sessionEvent("s-1", "Approved", "u-1", ts+1, nil))
		require.NotEqual(t, first, later, "another timestamp is another event")
		require.NotEqual(t, other, later)

		extra := h.ingest(sessionEvent("s-2", "In Progress", "u-1", ts, map[string]any{
			"favourite_colour": "red", "vendor_extra": map[string]any{"nested": []int{1, 2}},
			"decision": map[string]any{"custom_check": map[string]any{"status": "Approved", "score": 0.7}},
		}))
		require.NotEqual(t, first, extra, "unknown members are ignored")

		require.Equal(t, 4, h.pendingJobs(), "duplicates stored nothing")
		require.Zero(t, h.count(models.KindUser), "nothing applies before a worker runs")
	})
}

func TestIngestSessionEventRejectsBadInputAndStoresNothing(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		ts := eventTime()
		valid := func(mutate func(ev map[string]any)) map[string]any {
			ev := sessionEvent("s-1", "Approved", "u-1", ts, map[string]any{
				"decision": map[string]any{
					"id_verification": map[string]any{"status": "Approved", "full_name": "Ana Ruiz", "date_of_birth": "1990-04-02"},
				},
			})
			mutate(ev)
			return ev
		}
		decision := func(check string, v any) func(ev map[string]any) {
			return func(ev map[string]any) { ev["decision"].(map[string]any)[check] = v }
		}
		set := func(k string, v any) func(ev map[string]any) { return func(ev map[string]any) { ev[k] = v } }
		del := func(k string) func(ev map[string]any) { return func(ev map[string]any) { delete(ev, k) } }
		cases := []struct {
			name  string
			body  any
			field string
		}{
			{"missing session_id", valid(del("session_id")), "session_id"},
			{"blank session_id", valid(set("session_id", "  ")), "session_id"},
			{"missing status", valid(del("status")), "status"},
			{"missing vendor_data", valid(del("vendor_data")), "vendor_data"},
			{"null vendor_data", valid(set("vendor_data", nil)), "vendor_data"},
			{"blank vendor_data", valid(set("vendor_data", "   ")), "vendor_data"},
			{"missing timestamp", valid(del("timestamp")), "timestamp"},
			{"status in the wrong case", valid(set("status", "approved")), "status"},
			{"unknown status", valid(set("status", "Done")), "status"},
			{"status not a string", valid(set("status", 3)), "status"},
			{"unknown session_kind", valid(set("session_kind", "team")), "session_kind"},
			{"timestamp as a numeric string", valid(set("timestamp", strconv.FormatInt(ts, 10))), "timestamp"},
			{"timestamp as a word", valid(set("timestamp", "yesterday")), "timestamp"},
			{"fractional timestamp", valid(set("timestamp", 1.5)), "timestamp"},
			{"fractional recent timestamp", valid(set("timestamp", float64(ts)+0.5)), "timestamp"},
			{"negative timestamp", valid(set("timestamp", -1)), "timestamp"},
			{"timestamp before 2000", valid(set("timestamp", 946684799)), "timestamp"},
			{"timestamp more than a day ahead", valid(set("timestamp", time.Now().Add(25*time.Hour).Unix())), "timestamp"},
			{"timestamp in milliseconds", valid(set("timestamp", time.Now().UnixMilli())), "timestamp"},
			{"decision not an object", valid(set("decision", "Approved")), "decision"},
			{"decision an array", valid(set("decision", []any{})), "decision"},
			{"decision.aml not an object", valid(decision("aml", "In Review")), "decision.aml"},
			{"unknown feature status", valid(decision("id_verification", map[string]any{"status": "Great"})), "decision.id_verification.status"},
			{"impossible date of birth", valid(decision("id_verification", map[string]any{"status": "Approved", "date_of_birth": "1990-13-45"})), "decision.id_verification.date_of_birth"},
			{"full_name not a string", valid(decision("id_verification", map[string]any{"status": "Approved", "full_name": 5})), "decision.id_verification.full_name"},
			{"metadata not an object", valid(set("metadata", []int{1})), "metadata"},
			{"metadata a string", valid(set("metadata", "x")), "metadata"},
			{"workflow_id not a string", valid(set("workflow_id", 7)), "workflow_id"},
			{"session_id too long", valid(set("session_id", strings.Repeat("s", 201))), "session_id"},
			{"not JSON", `{"session_id":`, ""},
			{"an array", `[]`, ""},
			{"empty body", "", ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				requireProblem(t, h.call("POST", "/v3/ingest/sessions/", c.body), http.StatusBadRequest, c.field)
			})
		}

		all := h.call("POST", "/v3/ingest/sessions/", map[string]any{"status": "approved", "timestamp": "x"})
		requireProblem(t, all, http.StatusBadRequest, "status")
		require.Len(t, all.body["errors"], 4, "every bad field is reported at once: %s", all.raw)

		body, err := json.Marshal(valid(set("metadata", map[string]any{"pad": strings.Repeat("a", ingest.MaxBodyBytes)})))
		require.NoError(t, err)
		requireProblem(t, h.call("POST", "/v3/ingest/sessions/", body), http.StatusRequestEntityTooLarge, "")
		good, err := json.Marshal(valid(func(map[string]any) {}))
		require.NoError(t, err)
		requireProblem(t, h.call("POST", "/v3/ingest/sessions/", good, "Content-Type", "text/plain"), http.StatusUnsupportedMediaType, "")
		requireProblem(t, h.call("POST", "/v3/ingest/sessions/", good, "Content-Type", ""), http.StatusUnsupportedMediaType, "")
		noAuth := h.call("POST", "/v3/ingest/sessions/", good, "x-api-key", "")
		requireProblem(t, noAuth, http.StatusUnauthorized, "")
		require.Equal(t, "Invalid or missing API key", noAuth.body["detail"])
		requireProblem(t, h.call("POST", "/v3/ingest/sessions/", good, "x-api-key", "wrong-key-0123456789"), http.StatusUnauthorized, "")

		require.Zero(t, h.pendingJobs(), "no rejected event was stored")
		require.Zero(t, h.count(models.KindUser))
	})
}

// signed returns the headers of a request signed with secret at ts, naming appID.
func signed(t *testing.T, secret string, body []byte, ts int64, appID string) []string {
	t.Helper()
	sig, err := webhooks.SignV2(secret, body)
	require.NoError(t, err)
	return []string{"x-api-key", "", "X-Timestamp", strconv.FormatInt(ts, 10), "X-Signature-V2", sig, "X-Application-Id", appID}
}

func TestIngestSessionSignatureAuth(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		secret := h.app.IngestSecret
		require.NotEmpty(t, secret)
		now := time.Now().Unix()
		body := func(sessionID string) []byte {
			b, err := json.Marshal(sessionEvent(sessionID, "Approved", "u-1", eventTime(), map[string]any{
				"decision": map[string]any{"id_verification": map[string]any{"status": "Approved", "full_name": "Ana Ruiz"}},
			}))
			require.NoError(t, err)
			return b
		}
		accepted := func(res response) string {
			t.Helper()
			require.Equal(t, http.StatusAccepted, res.status, res.raw)
			require.NotEmpty(t, res.body["event_id"], res.raw)
			return res.body["event_id"].(string)
		}

		b := body("s-header")
		accepted(h.call("POST", "/v3/ingest/sessions/", b, signed(t, secret, b, now, h.app.ID)...))

		b = body("s-query")
		headers := signed(t, secret, b, now, "")
		accepted(h.call("POST", "/v3/ingest/sessions/?application_id="+url.QueryEscape(h.app.ID), b, headers...))

		b = body("s-uppercase-hex")
		headers = signed(t, secret, b, now, h.app.ID)
		headers[5] = strings.ToUpper(headers[5])
		accepted(h.call("POST", "/v3/ingest/sessions/", b, headers...))

		b = body("s-recent")
		accepted(h.call("POST", "/v3/ingest/sessions/", b, signed(t, secret, b, now-290, h.app.ID)...))

		// The canonical form is signed: another key order and spacing still verify.
		ts := eventTime()
		signedForm := fmt.Sprintf(`{"session_id":"s-order","status":"Approved","timestamp":%d,"vendor_data":"u-1","decision":{"liveness":{"status":"Approved","face_id":"f"}}}`, ts)
		sentForm := fmt.Sprintf(`{ "decision": { "liveness": { "face_id": "f", "status": "Approved" } }, "vendor_data": "u-1", "timestamp": %d.0, "status": "Approved", "session_id": "s-order" }`, ts)
		headers = signed(t, secret, []byte(signedForm), now, h.app.ID)
		ordered := accepted(h.call("POST", "/v3/ingest/sessions/", sentForm, headers...))

		other, err := h.store.CreateApplication(context.Background(), "other", "")
		require.NoError(t, err)

		b = body("s-refused")
		wrong := signed(t, secret, b, now, h.app.ID)
		wrong[5] = strings.Repeat("0", 64)
		notHex := signed(t, secret, b, now, h.app.ID)
		notHex[5] = "not-a-signature"
		missingTimestamp := signed(t, secret, b, now, h.app.ID)
		missingTimestamp[3] = ""
		badTimestamp := signed(t, secret, b, now, h.app.ID)
		badTimestamp[3] = "yesterday"
		tampered := signed(t, secret, body("s-other"), now, h.app.ID)
		// Headers are made when each request is sent: the tolerance is measured from then
		// (5 s past it, as unix seconds truncate and a loaded machine is slow).
		at := func(offset int64) int64 { return time.Now().Unix() + offset }
		cases := []struct {
			name    string
			path    string
			headers func() []string
		}{
			{"wrong signature", "", func() []string { return wrong }},
			{"signature not hex", "", func() []string { return notHex }},
			{"signature of another body", "", func() []string { return tampered }},
			{"another application's secret", "", func() []string { return signed(t, other.IngestSecret, b, at(0), h.app.ID) }},
			{"own secret, another application named", "", func() []string { return signed(t, secret, b, at(0), other.Application.ID) }},
			{"timestamp 305 s old", "", func() []string { return signed(t, secret, b, at(-305), h.app.ID) }},
			{"timestamp 305 s ahead", "", func() []string { return signed(t, secret, b, at(305), h.app.ID) }},
			{"timestamp in milliseconds", "", func() []string { return signed(t, secret, b, time.Now().UnixMilli(), h.app.ID) }},
			{"missing X-Timestamp", "", func() []string { return missingTimestamp }},
			{"X-Timestamp not a number", "", func() []string { return badTimestamp }},
			{"missing application id", "", func() []string { return signed(t, secret, b, at(0), "") }},
			{"unknown application id", "", func() []string { return signed(t, secret, b, at(0), "0192f0c4-0000-7000-8000-000000000001") }},
			{"application id not a uuid", "", func() []string { return signed(t, secret, b, at(0), "not-an-app") }},
			{"unknown application id in the query", "?application_id=0192f0c4-0000-7000-8000-000000000001", func() []string { return signed(t, secret, b, at(0), "") }},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				requireProblem(t, h.call("POST", "/v3/ingest/sessions/"+c.path, b, c.headers()...), http.StatusUnauthorized, "")
			})
		}

		invalid := []byte(`{"session_id": "s-bad", "status":`)
		headers = []string{"x-api-key", "", "X-Timestamp", strconv.FormatInt(now, 10),
			"X-Signature-V2", webhooks.SignRaw(secret, invalid), "X-Application-Id", h.app.ID}
		requireProblem(t, h.call("POST", "/v3/ingest/sessions/", invalid, headers...), http.StatusBadRequest, "")

		huge, err := json.Marshal(sessionEvent("s-huge", "Approved", "u-1", ts, map[string]any{
			"metadata": map[string]any{"pad": strings.Repeat("a", ingest.MaxBodyBytes)},
		}))
		require.NoError(t, err)
		requireProblem(t, h.call("POST", "/v3/ingest/sessions/", huge, signed(t, secret, huge, now, h.app.ID)...), http.StatusRequestEntityTooLarge, "")

		// A signed request is validated like any other.
		bad := []byte(fmt.Sprintf(`{"session_id":"s-x","status":"approved","vendor_data":"u-1","timestamp":%d}`, ts))
		requireProblem(t, h.call("POST", "/v3/ingest/sessions/", bad, signed(t, secret, bad, now, h.app.ID)...), http.StatusBadRequest, "status")

		require.Equal(t, 5, h.pendingJobs(), "only the accepted events were stored")
		job := h.call("GET", "/v3/jobs/"+ordered+"/", nil)
		require.Equal(t, http.StatusOK, job.status, "the event belongs to the signing application")
		require.Equal(t, http.StatusNotFound, h.call("GET", "/v3/jobs/"+ordered+"/", nil, "x-api-key", other.APIKey).status)
	})
}

func TestSessionEventsAreAppliedByAWorker(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		h.startWorker()
		started := eventTime()
		approvedAt := started + 120
		decision := map[string]any{
			"id_verification": map[string]any{
				"status": "Approved", "full_name": " Ana Ruiz ", "date_of_birth": "1990-04-02",
				"nationality": "esp", "document_number": "X123",
			},
			"liveness": map[string]any{"status": "Approved", "face_id": "face_9f2c"},
		}
		approved := sessionEvent("s-1", "Approved", "u-1", approvedAt, map[string]any{
			"workflow_id": "wf-kyc", "decision": decision, "metadata": map[string]any{"source": "test"},
		})
		approvedID := h.ingest(approved)
		h.waitApplied(approvedID)
		// An older event arriving late joins the history without changing the status.
		h.waitApplied(h.ingest(sessionEvent("s-1", "In Progress", "u-1", started, nil)))
		require.Equal(t, approvedID, h.ingest(approved), "a replay answers the same id")

		var user response
		require.Eventually(t, func() bool {
			user = h.call("GET", "/v3/users/u-1/", nil)
			return user.status == http.StatusOK && user.body["session_count"] == float64(1)
		}, 10*time.Second, 50*time.Millisecond)
		require.Equal(t, "ACTIVE", user.body["status"])
		require.Equal(t, float64(1), user.body["approved_count"])
		require.Equal(t, float64(0), user.body["declined_count"])
		require.Equal(t, float64(0), user.body["in_review_count"])
		require.Equal(t, map[string]any{"id_verification": "APPROVED", "liveness": "APPROVED"}, user.body["features"])
		require.Equal(t, "Ana Ruiz", user.body["full_name"])
		require.Equal(t, "1990-04-02", user.body["date_of_birth"])
		require.Equal(t, "ESP", user.body["nationality"])
		require.Equal(t, "X123", user.body["document_number"])
		require.Equal(t, rfc3339(started), user.body["first_session_at"], "the earliest event time")
		require.Equal(t, rfc3339(approvedAt), user.body["last_session_at"], "the latest event time")
		require.NotNil(t, user.body["last_activity_at"])

		sess := h.call("GET", "/v3/session/s-1/", nil)
		require.Equal(t, http.StatusOK, sess.status, sess.raw)
		require.Equal(t, "s-1", sess.body["session_id"])
		require.Equal(t, "Approved", sess.body["status"])
		require.Equal(t, "u-1", sess.body["vendor_data"])
		require.Equal(t, user.body["uuid"], sess.body["entity_uuid"])
		require.Equal(t, "user", sess.body["session_kind"])
		require.Equal(t, "wf-kyc", sess.body["workflow_id"])
		require.Equal(t, map[string]any{"source": "test"}, sess.body["metadata"])
		got := sess.body["decision"].(map[string]any)
		require.Equal(t, map[string]any{"status": "Approved"}, got["liveness"], "the face biometric id is never shown")
		require.Equal(t, "Approved", got["id_verification"].(map[string]any)["status"])
		require.NotContains(t, sess.raw, "face_9f2c")
		history := sess.body["history"].([]any)
		require.Len(t, history, 2, "the replay added nothing")
		first, last := history[0].(map[string]any), history[1].(map[string]any)
		require.Equal(t, "In Progress", first["status"])
		require.Equal(t, float64(started), first["timestamp"])
		require.Equal(t, false, first["current"])
		require.Equal(t, "Approved", last["status"])
		require.Equal(t, float64(approvedAt), last["timestamp"])
		require.Equal(t, true, last["current"])

		require.Equal(t, float64(1), h.call("GET", "/v3/users/u-1/", nil).body["session_count"], "the replay changed nothing")

		requireProblem(t, h.call("GET", "/v3/session/unknown/", nil), http.StatusNotFound, "")
		other, err := h.store.CreateApplication(context.Background(), "other", "")
		require.NoError(t, err)
		require.Equal(t, http.StatusNotFound, h.call("GET", "/v3/session/s-1/", nil, "x-api-key", other.APIKey).status)
	})
}

// A session's history marks the event that holds its current status, whatever the order
// in which the events arrived: exactly one entry is current.
func TestSessionHistoryMarksOnlyTheCurrentEvent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		h.startWorker()
		started := eventTime()
		// In order: In Progress, then Approved.
		h.waitApplied(h.ingest(sessionEvent("s-1", "In Progress", "u-1", started, nil)))
		h.waitApplied(h.ingest(sessionEvent("s-1", "Approved", "u-1", started+60, nil)))

		sess := h.call("GET", "/v3/session/s-1/", nil)
		require.Equal(t, http.StatusOK, sess.status, sess.raw)
		require.Equal(t, "Approved", sess.body["status"])
		history := sess.body["history"].([]any)
		require.Len(t, history, 2)
		first, last := history[0].(map[string]any), history[1].(map[string]any)
		require.Equal(t, "Approved", last["status"])
		require.Equal(t, true, last["current"])
		require.Equal(t, "In Progress", first["status"])
		require.Equal(t, false, first["current"], "a superseded event is no longer current: %s", sess.raw)
	})
}

func TestBusinessSessionEventCreatesABusiness(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		h.startWorker()
		ts := eventTime()
		id := h.ingest(sessionEvent("s-biz", "Approved", "biz-1", ts, map[string]any{
			"session_kind": "business",
			"decision": map[string]any{"kyb_registry": map[string]any{
				"status": "Approved", "legal_name": "Acme SL", "registration_number": "B123", "country_code": "esp",
			}},
		}))
		h.waitApplied(id)
		biz := h.call("GET", "/v3/businesses/biz-1/", nil)
		require.Equal(t, http.StatusOK, biz.status, biz.raw)
		require.Equal(t, "business", biz.body["kind"])
		require.Equal(t, "ACTIVE", biz.body["status"])
		require.Equal(t, "Acme SL", biz.body["legal_name"])
		require.Equal(t, "B123", biz.body["registration_number"])
		require.Equal(t, "ESP", biz.body["country_code"])
		require.Equal(t, float64(1), biz.body["session_count"])
		require.Equal(t, float64(1), biz.body["approved_count"])
		require.Equal(t, map[string]any{"kyb_registry": "APPROVED"}, biz.body["features"])
		require.Equal(t, rfc3339(ts), biz.body["first_session_at"])
		require.NotContains(t, biz.body, "full_name")
		requireProblem(t, h.call("GET", "/v3/users/biz-1/", nil), http.StatusNotFound, "")
		require.Zero(t, h.count(models.KindUser), "a business session creates no user")

		sess := h.call("GET", "/v3/session/s-biz/", nil)
		require.Equal(t, http.StatusOK, sess.status, sess.raw)
		require.Equal(t, "business", sess.body["session_kind"])
		require.Equal(t, biz.body["uuid"], sess.body["entity_uuid"])
	})
}

func TestCreateSession(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		res := h.call("POST", "/v3/session/", map[string]any{"vendor_data": " new-user ", "workflow_id": "wf-kyc"})
		require.Equal(t, http.StatusCreated, res.status, res.raw)
		id, _ := res.body["session_id"].(string)
		require.NotEmpty(t, id)
		require.Equal(t, "Not Started", res.body["status"])
		require.Equal(t, "https://verify.example.com/session/"+id, res.body["url"])
		require.Equal(t, "new-user", res.body["vendor_data"])
		require.Equal(t, "user", res.body["session_kind"])
		require.Equal(t, "wf-kyc", res.body["workflow_id"])

		user := h.call("GET", "/v3/users/new-user/", nil)
		require.Equal(t, http.StatusOK, user.status, "the entity was auto-created: %s", user.raw)
		require.Equal(t, "ACTIVE", user.body["status"])
		require.Equal(t, float64(1), user.body["session_count"])
		require.Equal(t, float64(0), user.body["approved_count"])
		require.Equal(t, user.body["uuid"], res.body["entity_uuid"])
		require.NotNil(t, user.body["first_session_at"])

		sess := h.call("GET", "/v3/session/"+url.PathEscape(id)+"/", nil)
		require.Equal(t, http.StatusOK, sess.status, sess.raw)
		require.Equal(t, "Not Started", sess.body["status"])
		require.Equal(t, res.body["url"], sess.body["url"])
		require.Len(t, sess.body["history"], 1)

		second := h.call("POST", "/v3/session/", map[string]any{"vendor_data": "new-user"})
		require.Equal(t, http.StatusCreated, second.status, second.raw)
		require.NotEqual(t, id, second.body["session_id"])
		require.Equal(t, float64(2), h.call("GET", "/v3/users/new-user/", nil).body["session_count"])

		biz := h.call("POST", "/v3/session/", map[string]any{"vendor_data": "new-user", "session_kind": "business"})
		require.Equal(t, http.StatusCreated, biz.status, biz.raw)
		require.Equal(t, "business", biz.body["session_kind"])
		require.Equal(t, float64(1), h.call("GET", "/v3/businesses/new-user/", nil).body["session_count"])

		flagged := h.call("POST", "/v3/users/create/", map[string]any{"vendor_data": "flagged", "status": "FLAGGED"})
		require.Equal(t, http.StatusCreated, flagged.status, flagged.raw)
		require.Equal(t, http.StatusCreated, h.call("POST", "/v3/session/", map[string]any{"vendor_data": "flagged"}).status)

		// The url follows the session_url_template setting.
		patch := h.call("PATCH", "/v3/settings/", map[string]any{"session_url_template": "https://kyc.example.org/v?s={session_id}&x=1"})
		require.Equal(t, http.StatusOK, patch.status, patch.raw)
		custom := h.call("POST", "/v3/session/", map[string]any{"vendor_data": "another"})
		require.Equal(t, http.StatusCreated, custom.status, custom.raw)
		require.Equal(t, "https://kyc.example.org/v?s="+custom.body["session_id"].(string)+"&x=1", custom.body["url"])
	})
}

func TestCreateSessionRefusesBlockedEntitiesAndBadInput(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		created := h.call("POST", "/v3/users/create/", map[string]any{"vendor_data": "blocked", "status": "BLOCKED"})
		require.Equal(t, http.StatusCreated, created.status, created.raw)

		res := h.call("POST", "/v3/session/", map[string]any{"vendor_data": "blocked"})
		requireProblem(t, res, http.StatusForbidden, "")
		require.Contains(t, res.body["detail"], "BLOCKED")
		require.Contains(t, res.body["detail"], "blocked")
		user := h.call("GET", "/v3/users/blocked/", nil)
		require.Equal(t, float64(0), user.body["session_count"], "no session was stored")
		require.Nil(t, user.body["first_session_at"])

		cases := []struct {
			name  string
			body  any
			field string
		}{
			{"missing vendor_data", map[string]any{"workflow_id": "wf"}, "vendor_data"},
			{"blank vendor_data", map[string]any{"vendor_data": " "}, "vendor_data"},
			{"vendor_data a number", map[string]any{"vendor_data": 5}, "vendor_data"},
			{"unknown field", map[string]any{"vendor_data": "x", "colour": "red"}, "colour"},
			{"unknown session_kind", map[string]any{"vendor_data": "x", "session_kind": "team"}, "session_kind"},
			{"session_kind in the wrong case", map[string]any{"vendor_data": "x", "session_kind": "User"}, "session_kind"},
			{"workflow_id not a string", map[string]any{"vendor_data": "x", "workflow_id": 1}, "workflow_id"},
			{"not an object", "[]", ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				requireProblem(t, h.call("POST", "/v3/session/", c.body), http.StatusBadRequest, c.field)
			})
		}
		requireProblem(t, h.call("POST", "/v3/session/", `{"vendor_data":"x"}`, "Content-Type", "text/plain"), http.StatusUnsupportedMediaType, "")
		requireProblem(t, h.call("POST", "/v3/session/", map[string]any{"vendor_data": "x"}, "x-api-key", ""), http.StatusUnauthorized, "")
		require.Equal(t, 1, h.count(models.KindUser), "no entity was auto-created by a refused request")

		requireProblem(t, h.call("GET", "/v3/session/unknown/", nil), http.StatusNotFound, "")
		requireProblem(t, h.call("GET", "/v3/session/unknown/", nil, "x-api-key", ""), http.StatusUnauthorized, "")
	})
}
