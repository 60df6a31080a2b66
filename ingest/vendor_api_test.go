package ingest_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/ingest"
	"github.com/standinghq/standing/webhooks"
)

// vendorSecret stands for the vendor's webhook "secret shared key", set as the ingest
// secret rather than generated.
const vendorSecret = "didit_secret_shared_key_0123456789"

// fixture reads a vendor-shaped body from testdata/didit.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "didit", name))
	require.NoError(t, err)
	return b
}

// vendorSigned returns the headers the vendor sends: X-Timestamp, X-Signature (raw body)
// and X-Signature-V2 (canonical JSON), no API key; the application is in the URL.
func vendorSigned(t *testing.T, secret string, body []byte, ts int64) []string {
	t.Helper()
	v2, err := webhooks.SignV2(secret, body)
	require.NoError(t, err)
	return []string{"x-api-key", "", "X-Timestamp", strconv.FormatInt(ts, 10),
		"X-Signature", webhooks.SignRaw(secret, body), "X-Signature-V2", v2}
}

// setIngestSecret gives the harness's application the vendor's secret.
func (h *harness) setIngestSecret(secret string) {
	h.t.Helper()
	app, err := h.store.SetIngestSecret(context.Background(), h.app.ID, secret)
	require.NoError(h.t, err)
	h.app = *app
}

// deliverVendor posts a vendor webhook body as the vendor would, to the URL README tells
// people to configure, and returns the event id.
func (h *harness) deliverVendor(body []byte, headers []string) string {
	h.t.Helper()
	res := h.call("POST", "/v3/ingest/sessions/?application_id="+h.app.ID, body, headers...)
	require.Equal(h.t, http.StatusAccepted, res.status, res.raw)
	return res.body["event_id"].(string)
}

func TestVendorSessionWebhooksFillEntities(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		h.setIngestSecret(vendorSecret)
		h.startWorker()
		now := time.Now().Unix()

		// v3 first, signed with X-Signature only (raw body), as sent (indented, non-ASCII).
		v3 := fixture(t, "session_v3_user.json")
		raw := []string{"x-api-key", "", "X-Timestamp", strconv.FormatInt(now, 10), "X-Signature", webhooks.SignRaw(vendorSecret, v3)}
		first := h.deliverVendor(v3, raw)
		h.waitApplied(first)
		user := h.call("GET", "/v3/users/user-lucia-001/", nil)
		require.Equal(t, http.StatusOK, user.status, user.raw)
		require.EqualValues(t, 1, user.body["session_count"])
		require.EqualValues(t, 1, user.body["approved_count"])
		require.Equal(t, map[string]any{
			"id_verification": "DECLINED", "nfc": "APPROVED", "liveness": "APPROVED", "face_match": "APPROVED",
			"poa": "IN_REVIEW", "phone": "APPROVED", "email": "APPROVED", "aml": "IN_REVIEW",
			"ip_analysis": "APPROVED", "database_validation": "APPROVED",
		}, user.body["features"], "v3 lists map to feature names, worst of several entries")
		profile := map[string]any{
			"full_name": "Lucía Martín Gómez", "date_of_birth": "1991-07-14", "document_number": "ESX123456",
			"nationality": "ESP", "portrait_image": "https://media.example.org/portrait.jpg",
			"phone": "+442079460958", "email": "lucia@example.org",
		}
		for field, want := range profile {
			require.Equal(t, want, user.body[field], "profile %s from the first approved entry", field)
		}

		// The non-feature members are kept with the session.
		sess := h.call("GET", "/v3/session/5e1c2a9b-3f47-4d2e-9a61-0b7c8d9e0f11/", nil)
		require.Equal(t, http.StatusOK, sess.status, sess.raw)
		decision := sess.body["decision"].(map[string]any)
		require.EqualValues(t, 1207, decision["session_number"])
		require.Equal(t, "https://app.example.org/verified", decision["callback"])
		require.Equal(t, "2026-11-25T14:11:02.123456Z", decision["created_at"])
		checks := decision["liveness_checks"].([]any)
		require.NotContains(t, checks[0], "face_id", "the face biometric id is kept in its own column only")
		upstream := sess.body["upstream"].(map[string]any)
		require.Equal(t, "live", upstream["environment"], "unknown top-level members are kept")
		require.EqualValues(t, 1764079990, upstream["created_at"])

		// A later v2 session of the same entity, signed with X-Signature-V2 only.
		v2 := fixture(t, "session_v2_user.json")
		headers := vendorSigned(t, vendorSecret, v2, time.Now().Unix())
		headers[5] = "" // drop X-Signature
		h.waitApplied(h.deliverVendor(v2, headers))
		user = h.call("GET", "/v3/users/user-lucia-001/", nil)
		require.EqualValues(t, 2, user.body["session_count"])
		require.EqualValues(t, 1, user.body["approved_count"])
		require.EqualValues(t, 1, user.body["declined_count"])
		require.Equal(t, map[string]any{
			"id_verification": "DECLINED", "nfc": "APPROVED", "liveness": "APPROVED", "face_match": "DECLINED",
			"poa": "IN_REVIEW", "phone": "APPROVED", "email": "APPROVED", "aml": "APPROVED",
			"ip_analysis": "APPROVED", "database_validation": "APPROVED",
		}, user.body["features"], "the later v2 session updates the features it reports, the others stay")
		for field, want := range profile {
			require.Equal(t, want, user.body[field], "a declined v2 session does not overwrite %s", field)
		}

		// Replayed exactly as the vendor retries: nothing changes.
		require.Equal(t, first, h.deliverVendor(v3, vendorSigned(t, vendorSecret, v3, time.Now().Unix())))
		require.EqualValues(t, 2, h.call("GET", "/v3/users/user-lucia-001/", nil).body["session_count"])

		// A KYB session fills a business.
		kyb := fixture(t, "session_v3_business.json")
		h.waitApplied(h.deliverVendor(kyb, vendorSigned(t, vendorSecret, kyb, time.Now().Unix())))
		biz := h.call("GET", "/v3/businesses/biz-olivos-01/", nil)
		require.Equal(t, http.StatusOK, biz.status, biz.raw)
		require.Equal(t, "Olivos del Sur SL", biz.body["legal_name"])
		require.Equal(t, "B12345678", biz.body["registration_number"])
		require.Equal(t, "ESP", biz.body["country_code"], "the registry's alpha-2 code is stored as alpha-3")
		require.Equal(t, map[string]any{
			"kyb_registry": "APPROVED", "aml": "APPROVED", "kyb_documents": "APPROVED", "kyb_key_people": "IN_REVIEW",
		}, biz.body["features"])
		require.EqualValues(t, 1, biz.body["approved_count"])
	})
}

func TestVendorSessionBadInputStoresNothing(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		h.setIngestSecret(vendorSecret)
		ts := eventTime()
		cases := []struct {
			name, field string
			decision    any
		}{
			{"v3 list of strings", "decision.id_verifications[0]", map[string]any{"id_verifications": []any{"Approved"}}},
			{"v3 entry without status", "decision.aml_screenings[1].status", map[string]any{"aml_screenings": []any{
				map[string]any{"status": "Approved"}, map[string]any{"node_id": "feature_aml_2"}}}},
			{"feature neither shape", "decision.liveness_checks", map[string]any{"liveness_checks": "Approved"}},
			{"decision neither shape", "decision", []any{map[string]any{"status": "Approved"}}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				body, err := json.Marshal(sessionEvent("s-bad", "Approved", "u-bad", ts, map[string]any{"decision": c.decision}))
				require.NoError(t, err)
				res := h.call("POST", "/v3/ingest/sessions/?application_id="+h.app.ID, body, vendorSigned(t, vendorSecret, body, time.Now().Unix())...)
				requireProblem(t, res, http.StatusBadRequest, c.field)
			})
		}
		good := fixture(t, "session_v3_user.json")
		wrong := vendorSigned(t, "another_secret_0123456789", good, time.Now().Unix())
		requireProblem(t, h.call("POST", "/v3/ingest/sessions/?application_id="+h.app.ID, good, wrong...), http.StatusUnauthorized, "")
		stale := vendorSigned(t, vendorSecret, good, time.Now().Unix()-301)
		requireProblem(t, h.call("POST", "/v3/ingest/sessions/?application_id="+h.app.ID, good, stale...), http.StatusUnauthorized, "")
		require.Zero(t, h.pendingJobs(), "nothing was stored")
		require.Zero(t, h.count("user"))
	})
}

func TestIngestSecretRotationWindow(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		first, second := "vendor_secret_first_0123456789", "vendor_secret_second_012345678"
		h.setIngestSecret(first)
		h.setIngestSecret(second)
		require.NotNil(t, h.app.PreviousIngestSecretExpiresAt)
		require.WithinDuration(t, time.Now().Add(24*time.Hour), *h.app.PreviousIngestSecretExpiresAt, time.Minute)

		post := func(url string, secret, session string, at time.Time) int {
			body, err := json.Marshal(sessionEvent(session, "In Progress", "u-rot", eventTime(), nil))
			require.NoError(t, err)
			req, err := http.NewRequest("POST", url+"/v3/ingest/sessions/?application_id="+h.app.ID, strings.NewReader(string(body)))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Timestamp", strconv.FormatInt(at.Unix(), 10))
			req.Header.Set("X-Signature", webhooks.SignRaw(secret, body))
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			return res.StatusCode
		}
		now := time.Now()
		require.Equal(t, http.StatusAccepted, post(h.url, second, "rot-new", now), "the new secret is valid at once")
		require.Equal(t, http.StatusAccepted, post(h.url, first, "rot-old", now), "the previous secret stays valid")

		// The same application a day and a bit later (an API whose clock is 25 h ahead).
		later := now.Add(25 * time.Hour)
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		srv := httptest.NewServer(ingest.New(ingest.Deps{Store: h.store, Log: log, Now: func() time.Time { return later }}))
		t.Cleanup(srv.Close)
		require.Equal(t, http.StatusAccepted, post(srv.URL, second, "rot-new-later", later))
		require.Equal(t, http.StatusUnauthorized, post(srv.URL, first, "rot-old-later", later), "24 h after the change the previous secret is refused")

		// Setting the current secret again changes nothing; a short secret is refused.
		again, err := h.store.SetIngestSecret(context.Background(), h.app.ID, second)
		require.NoError(t, err)
		require.Equal(t, first, *again.PreviousIngestSecret)
		_, err = h.store.SetIngestSecret(context.Background(), h.app.ID, "short")
		require.Error(t, err)
		require.Equal(t, 3, h.pendingJobs(), "only the accepted events were stored")
	})
}
