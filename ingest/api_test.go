package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/ingest"
	"github.com/standinghq/standing/internal/testkit"
	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/tasks"
	"github.com/standinghq/standing/workers"
)

// harness is an API served over real HTTP on a real store and a real Redis.
type harness struct {
	t      *testing.T
	url    string
	key    string
	app    models.Application
	store  *models.Store
	queues tasks.Queues
	redis  asynq.RedisConnOpt
}

func setup(t *testing.T, engine testkit.Engine) *harness {
	t.Helper()
	redis := testkit.RedisOpt(t)
	queues := testkit.Queues(t)
	store := engine.Open(t, testkit.Dispatch(t, queues, workers.DeliveryEnqueuer{}))
	created, err := store.CreateApplication(context.Background(), "api test", "")
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(ingest.New(ingest.Deps{Store: store, Log: log}))
	t.Cleanup(srv.Close)
	return &harness{t: t, url: srv.URL, key: created.APIKey, app: created.Application, store: store, queues: queues, redis: redis}
}

// forEachEngine runs fn as a parallel subtest against PostgreSQL and SQLite.
func forEachEngine(t *testing.T, fn func(t *testing.T, h *harness)) {
	t.Helper()
	testkit.ForEachEngine(t, setup, fn)
}

// response is an answer with its JSON body decoded.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// call sends body (a string is sent as is, anything else as JSON) with the API key and
// a JSON content type unless headers say otherwise.
func (h *harness) call(method, path string, body any, headers ...string) response {
	h.t.Helper()
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		reader = strings.NewReader(b)
	case []byte:
		reader = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		require.NoError(h.t, err)
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, h.url+path, reader)
	require.NoError(h.t, err)
	req.Header.Set("x-api-key", h.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	require.NoError(h.t, err)
	out := response{status: res.StatusCode, header: res.Header, raw: string(data)}
	if len(data) > 0 && data[0] == '{' {
		require.NoError(h.t, json.Unmarshal(data, &out.body), string(data))
	}
	return out
}

// requireProblem checks an error answer: its status, a detail, and (when field is set)
// a message for that field.
func requireProblem(t *testing.T, res response, status int, field string) {
	t.Helper()
	require.Equal(t, status, res.status, res.raw)
	require.NotEmpty(t, res.body["detail"], res.raw)
	require.NotContains(t, res.raw, "goroutine", "never a stack trace")
	if field != "" {
		errs, ok := res.body["errors"].(map[string]any)
		require.True(t, ok, "errors map in %s", res.raw)
		require.Contains(t, errs, field, res.raw)
		require.Contains(t, res.body["detail"], field, "the detail names the field")
	}
}

func (h *harness) count(kind string) int {
	h.t.Helper()
	_, total, err := h.store.ListEntities(context.Background(), h.app.ID, kind, models.EntityFilter{Limit: 1})
	require.NoError(h.t, err)
	return int(total)
}

func TestCreateGetAndListUsers(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		res := h.call("POST", "/v3/users/create/", map[string]any{
			"vendor_data": "  user-123  ", "full_name": "Ana Ruiz", "display_name": "Ana",
			"date_of_birth": "1990-04-02", "nationality": "esp", "email": "ana@example.com",
			"phone": "+34 600 000 000", "metadata": map[string]any{"tier": "gold", "n": 3},
		})
		require.Equal(t, http.StatusCreated, res.status, res.raw)
		require.Equal(t, "user-123", res.body["vendor_data"], "vendor_data is trimmed")
		require.Equal(t, "user", res.body["kind"])
		require.Equal(t, "ACTIVE", res.body["status"])
		require.Equal(t, "ESP", res.body["nationality"], "country codes are upper-cased")
		require.Equal(t, "Ana", res.body["display_name"])
		require.Equal(t, map[string]any{"tier": "gold", "n": float64(3)}, res.body["metadata"])
		for _, f := range []string{"uuid", "session_count", "approved_count", "declined_count", "in_review_count",
			"features", "first_session_at", "last_session_at", "last_activity_at", "created_at", "updated_at",
			"deleted_at", "status_reason", "portrait_image", "document_number"} {
			require.Contains(t, res.body, f)
		}
		require.NotContains(t, res.body, "legal_name", "a user has no business fields")
		created, err := time.Parse(time.RFC3339Nano, res.body["created_at"].(string))
		require.NoError(t, err)
		require.Equal(t, time.UTC, created.Location())

		got := h.call("GET", "/v3/users/user-123/", nil)
		require.Equal(t, http.StatusOK, got.status)
		require.Equal(t, res.body, got.body)

		list := h.call("GET", "/v3/users/", nil)
		require.Equal(t, http.StatusOK, list.status)
		require.Equal(t, float64(1), list.body["count"])
		require.Nil(t, list.body["next"])
		require.Nil(t, list.body["previous"])
		require.Len(t, list.body["results"], 1)

		biz := h.call("POST", "/v3/businesses/create/", map[string]any{
			"vendor_data": "biz-9", "legal_name": "Acme SL", "registration_number": "B123", "country_code": "ESP", "region": "Madrid",
			"status": "flagged", "reason": "manual review", "actor": "ops@example.com",
		})
		require.Equal(t, http.StatusCreated, biz.status, biz.raw)
		require.Equal(t, "business", biz.body["kind"])
		require.Equal(t, "FLAGGED", biz.body["status"])
		require.Equal(t, "manual review", biz.body["status_reason"])
		require.NotContains(t, biz.body, "full_name")
		require.Equal(t, http.StatusNotFound, h.call("GET", "/v3/users/biz-9/", nil).status, "kinds are separate")

		changes, err := h.store.StatusChanges(context.Background(), h.app.ID, biz.body["uuid"].(string))
		require.NoError(t, err)
		require.Len(t, changes, 1)
		require.Equal(t, "ops@example.com", changes[0].Actor, "the operator is in the audit trail")
	})
}

func TestListFiltersAndPages(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		for i := range 5 {
			st := "ACTIVE"
			if i%2 == 1 {
				st = "BLOCKED"
			}
			res := h.call("POST", "/v3/users/create/", map[string]any{"vendor_data": fmt.Sprintf("u-%d", i), "status": st, "full_name": fmt.Sprintf("Name %d", i)})
			require.Equal(t, http.StatusCreated, res.status, res.raw)
		}
		page := h.call("GET", "/v3/users/?limit=2&offset=2", nil)
		require.Equal(t, http.StatusOK, page.status, page.raw)
		require.Equal(t, float64(5), page.body["count"])
		results := page.body["results"].([]any)
		require.Len(t, results, 2)
		require.Equal(t, "u-2", results[0].(map[string]any)["vendor_data"])
		next, err := url.Parse(page.body["next"].(string))
		require.NoError(t, err)
		require.Equal(t, "4", next.Query().Get("offset"))
		require.Equal(t, "2", next.Query().Get("limit"))
		prev, err := url.Parse(page.body["previous"].(string))
		require.NoError(t, err)
		require.Equal(t, "0", prev.Query().Get("offset"))

		blocked := h.call("GET", "/v3/users/?status=BLOCKED", nil)
		require.Equal(t, float64(2), blocked.body["count"])
		found := h.call("GET", "/v3/users/?search=name%203", nil)
		require.Equal(t, float64(1), found.body["count"])
		require.Equal(t, "u-3", found.body["results"].([]any)[0].(map[string]any)["vendor_data"])

		requireProblem(t, h.call("GET", "/v3/users/?limit=0", nil), 400, "limit")
		requireProblem(t, h.call("GET", "/v3/users/?limit=201", nil), 400, "limit")
		requireProblem(t, h.call("GET", "/v3/users/?limit=abc", nil), 400, "limit")
		requireProblem(t, h.call("GET", "/v3/users/?offset=-1", nil), 400, "offset")
		requireProblem(t, h.call("GET", "/v3/users/?status=GONE", nil), 400, "status")
	})
}

func TestCreateRejectsBadInputAndStoresNothing(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		cases := []struct {
			name   string
			body   any
			status int
			field  string
		}{
			{"empty body", "", 400, ""},
			{"not JSON", "{vendor_data:", 400, ""},
			{"an array", `[{"vendor_data":"x"}]`, 400, ""},
			{"two objects", `{"vendor_data":"a"} {"vendor_data":"b"}`, 400, ""},
			{"missing vendor_data", map[string]any{"full_name": "x"}, 400, "vendor_data"},
			{"blank vendor_data", map[string]any{"vendor_data": "   "}, 400, "vendor_data"},
			{"vendor_data too long", map[string]any{"vendor_data": strings.Repeat("é", 1001)}, 400, "vendor_data"},
			{"vendor_data a number", `{"vendor_data": 12}`, 400, "vendor_data"},
			{"vendor_data with NUL", map[string]any{"vendor_data": "a\x00b"}, 400, "vendor_data"},
			{"unknown field", map[string]any{"vendor_data": "x", "favourite_colour": "red"}, 400, "favourite_colour"},
			{"business field on a user", map[string]any{"vendor_data": "x", "legal_name": "Acme"}, 400, "legal_name"},
			{"bad status", map[string]any{"vendor_data": "x", "status": "SUSPENDED"}, 400, "status"},
			{"bad date", map[string]any{"vendor_data": "x", "date_of_birth": "02/04/1990"}, 400, "date_of_birth"},
			{"impossible date", map[string]any{"vendor_data": "x", "date_of_birth": "1990-02-30"}, 400, "date_of_birth"},
			{"bad email", map[string]any{"vendor_data": "x", "email": "not-an-email"}, 400, "email"},
			{"bad nationality", map[string]any{"vendor_data": "x", "nationality": "Spain"}, 400, "nationality"},
			{"bad phone", map[string]any{"vendor_data": "x", "phone": "call me"}, 400, "phone"},
			{"bad portrait", map[string]any{"vendor_data": "x", "portrait_image": "ftp://x/y"}, 400, "portrait_image"},
			{"empty name", map[string]any{"vendor_data": "x", "full_name": " "}, 400, "full_name"},
			{"metadata not an object", map[string]any{"vendor_data": "x", "metadata": []int{1}}, 400, "metadata"},
			{"metadata with NUL", `{"vendor_data":"x","metadata":{"a":"\u0000"}}`, 400, "metadata"},
			{"reason not a string", map[string]any{"vendor_data": "x", "reason": 5}, 400, "reason"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				requireProblem(t, h.call("POST", "/v3/users/create/", c.body), c.status, c.field)
			})
		}
		all := h.call("POST", "/v3/users/create/", map[string]any{"vendor_data": "", "email": "x", "status": "?"})
		requireProblem(t, all, 400, "vendor_data")
		require.Len(t, all.body["errors"], 3, "every bad field is reported at once")

		requireProblem(t, h.call("POST", "/v3/users/create/", `{"vendor_data":"x"}`, "Content-Type", ""), 415, "")
		requireProblem(t, h.call("POST", "/v3/users/create/", `{"vendor_data":"x"}`, "Content-Type", "text/plain"), 415, "")
		huge := `{"vendor_data":"x","metadata":{"pad":"` + strings.Repeat("a", ingest.MaxBodyBytes) + `"}}`
		requireProblem(t, h.call("POST", "/v3/users/create/", huge), 413, "")
		require.Zero(t, h.count(models.KindUser), "nothing half-stored")

		ok := h.call("POST", "/v3/users/create/", map[string]any{"vendor_data": "dup"})
		require.Equal(t, http.StatusCreated, ok.status)
		conflict := h.call("POST", "/v3/users/create/", map[string]any{"vendor_data": " dup "})
		requireProblem(t, conflict, 409, "")
		require.Contains(t, conflict.body["detail"], "dup")
		require.Equal(t, 1, h.count(models.KindUser))
	})
}

func TestAuthenticationAndIsolation(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		require.Equal(t, http.StatusCreated, h.call("POST", "/v3/users/create/", map[string]any{"vendor_data": "mine"}).status)
		for _, key := range []string{"", "wrong-key-0123456789"} {
			res := h.call("GET", "/v3/users/", nil, "x-api-key", key)
			require.Equal(t, http.StatusUnauthorized, res.status)
			require.Equal(t, "Invalid or missing API key", res.body["detail"])
		}
		other, err := h.store.CreateApplication(context.Background(), "other", "")
		require.NoError(t, err)
		require.Equal(t, http.StatusNotFound, h.call("GET", "/v3/users/mine/", nil, "x-api-key", other.APIKey).status)
		list := h.call("GET", "/v3/users/", nil, "x-api-key", other.APIKey)
		require.Equal(t, float64(0), list.body["count"])
		res := h.call("PATCH", "/v3/users/mine/update-status/", map[string]any{"status": "BLOCKED"}, "x-api-key", other.APIKey)
		require.Equal(t, http.StatusNotFound, res.status)
		del := h.call("POST", "/v3/users/delete/", map[string]any{"delete_all": true}, "x-api-key", other.APIKey)
		require.Equal(t, float64(0), del.body["deleted"])
		require.Equal(t, 1, h.count(models.KindUser))
	})
}

func TestRoutingErrorsAndVendorDataInPaths(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		requireProblem(t, h.call("GET", "/v3/nothing/", nil), 404, "")
		requireProblem(t, h.call("GET", "/v3/users/nobody/", nil), 404, "")
		requireProblem(t, h.call("DELETE", "/v3/users/create/", nil), 405, "")
		requireProblem(t, h.call("GET", "/v3/jobs/not-a-uuid/", nil), 404, "")

		odd := "a/b %c?é"
		res := h.call("POST", "/v3/users/create/", map[string]any{"vendor_data": odd})
		require.Equal(t, http.StatusCreated, res.status, res.raw)
		got := h.call("GET", "/v3/users/"+url.PathEscape(odd)+"/", nil)
		require.Equal(t, http.StatusOK, got.status, got.raw)
		require.Equal(t, odd, got.body["vendor_data"])
		// A client that escapes more than it must reaches the same entity.
		got = h.call("GET", "/v3/users/a%2Fb%20%25c%3F%C3%A9/", nil)
		require.Equal(t, http.StatusOK, got.status, got.raw)
		requireProblem(t, h.call("GET", "/v3/users/%20/", nil), 400, "vendor_data")
	})
}

func TestUpdateEntity(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		created := h.call("POST", "/v3/users/create/", map[string]any{
			"vendor_data": "u-1", "full_name": "Ana Ruiz", "email": "ana@example.com", "metadata": map[string]any{"a": 1, "b": 2},
		})
		require.Equal(t, http.StatusCreated, created.status)

		res := h.call("PATCH", "/v3/users/u-1/", map[string]any{"email": nil, "phone": "+34600000000", "metadata": map[string]any{"c": 3}})
		require.Equal(t, http.StatusOK, res.status, res.raw)
		require.Nil(t, res.body["email"], "null clears a field")
		require.Equal(t, "+34600000000", res.body["phone"])
		require.Equal(t, "Ana Ruiz", res.body["full_name"], "fields not sent are kept")
		require.Equal(t, map[string]any{"c": float64(3)}, res.body["metadata"], "metadata is replaced wholesale")
		require.Equal(t, res.body, h.call("GET", "/v3/users/u-1/", nil).body)

		evs, err := h.store.EventsForEntity(context.Background(), h.app.ID, created.body["uuid"].(string))
		require.NoError(t, err)
		var body map[string]any
		require.NoError(t, json.Unmarshal([]byte(evs[2].Body), &body))
		require.Equal(t, "user.data.updated", body["webhook_type"])
		require.Equal(t, []any{"email", "phone", "metadata"}, body["changed_fields"])

		requireProblem(t, h.call("PATCH", "/v3/users/u-1/", map[string]any{"status": "BLOCKED"}), 400, "status")
		requireProblem(t, h.call("PATCH", "/v3/users/u-1/", map[string]any{"vendor_data": "u-2"}), 400, "vendor_data")
		requireProblem(t, h.call("PATCH", "/v3/users/u-1/", map[string]any{"date_of_birth": "yesterday"}), 400, "date_of_birth")
		requireProblem(t, h.call("PATCH", "/v3/users/u-1/", map[string]any{"metadata": "x"}), 400, "metadata")
		requireProblem(t, h.call("PATCH", "/v3/users/u-1/", "[]"), 400, "")
		requireProblem(t, h.call("PATCH", "/v3/users/nobody/", map[string]any{"full_name": "x"}), 404, "")
		after := h.call("GET", "/v3/users/u-1/", nil)
		require.Equal(t, res.body, after.body, "rejected patches changed nothing")
	})
}

func TestDeleteEntities(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		for i := range 4 {
			require.Equal(t, http.StatusCreated, h.call("POST", "/v3/businesses/create/", map[string]any{"vendor_data": fmt.Sprintf("b-%d", i)}).status)
		}
		requireProblem(t, h.call("POST", "/v3/businesses/delete/", map[string]any{}), 400, "vendor_data_list")
		requireProblem(t, h.call("POST", "/v3/businesses/delete/", map[string]any{"vendor_data_list": []string{"b-0"}, "delete_all": true}), 400, "vendor_data_list")
		requireProblem(t, h.call("POST", "/v3/businesses/delete/", map[string]any{"delete_all": false}), 400, "delete_all")
		requireProblem(t, h.call("POST", "/v3/businesses/delete/", map[string]any{"vendor_data_list": []string{}}), 400, "vendor_data_list")
		requireProblem(t, h.call("POST", "/v3/businesses/delete/", map[string]any{"vendor_data_list": []any{"b-0", 7}}), 400, "vendor_data_list")
		requireProblem(t, h.call("POST", "/v3/businesses/delete/", map[string]any{"vendor_data_list": []string{"b-0", " "}}), 400, "vendor_data_list")
		require.Equal(t, 4, h.count(models.KindBusiness), "rejected deletes deleted nothing")

		res := h.call("POST", "/v3/businesses/delete/", map[string]any{"vendor_data_list": []string{"b-0", " b-1 ", "missing"}})
		require.Equal(t, http.StatusOK, res.status, res.raw)
		require.Equal(t, float64(2), res.body["deleted"])
		again := h.call("POST", "/v3/businesses/delete/", map[string]any{"vendor_data_list": []string{"b-0", "b-1"}})
		require.Equal(t, float64(0), again.body["deleted"], "repeating the call is harmless")

		gone := h.call("GET", "/v3/businesses/b-0/", nil)
		require.Equal(t, http.StatusOK, gone.status)
		require.NotNil(t, gone.body["deleted_at"], "a deleted entity is still readable with deleted_at")
		list := h.call("GET", "/v3/businesses/", nil)
		require.Equal(t, float64(2), list.body["count"], "deleted entities leave lists")
		acts := h.call("GET", "/v3/businesses/b-0/activities/", nil)
		require.Equal(t, "deleted", acts.body["results"].([]any)[0].(map[string]any)["type"], "newest first")
		requireProblem(t, h.call("PATCH", "/v3/businesses/b-0/update-status/", map[string]any{"status": "BLOCKED"}), 404, "")

		recreated := h.call("POST", "/v3/businesses/create/", map[string]any{"vendor_data": "b-0"})
		require.Equal(t, http.StatusCreated, recreated.status, "a deleted vendor_data can be created again")
		require.Nil(t, h.call("GET", "/v3/businesses/b-0/", nil).body["deleted_at"])

		all := h.call("POST", "/v3/businesses/delete/", map[string]any{"delete_all": true})
		require.Equal(t, float64(3), all.body["deleted"])
		require.Zero(t, h.count(models.KindBusiness))
	})
}

func TestUpdateStatusIsAppliedByAWorker(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		created := h.call("POST", "/v3/users/create/", map[string]any{"vendor_data": "u-1"})
		require.Equal(t, http.StatusCreated, created.status)

		requireProblem(t, h.call("PATCH", "/v3/users/u-1/update-status/", map[string]any{}), 400, "status")
		requireProblem(t, h.call("PATCH", "/v3/users/u-1/update-status/", map[string]any{"status": "DELETED"}), 400, "status")
		requireProblem(t, h.call("PATCH", "/v3/users/u-1/update-status/", map[string]any{"status": "BLOCKED", "actor": 1}), 400, "actor")
		requireProblem(t, h.call("PATCH", "/v3/users/nobody/update-status/", map[string]any{"status": "BLOCKED"}), 404, "")

		res := h.call("PATCH", "/v3/users/u-1/update-status/", map[string]any{"status": "BLOCKED", "reason": "chargebacks", "actor": "analyst-7"})
		require.Equal(t, http.StatusAccepted, res.status, res.raw)
		jobID := res.body["job_id"].(string)
		require.Equal(t, "pending", res.body["state"])
		require.Equal(t, "ACTIVE", h.call("GET", "/v3/users/u-1/", nil).body["status"], "nothing applies before a worker runs")

		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		srv := workers.NewServer(h.redis, workers.ServerConfig{Concurrency: 2, Queues: h.queues, Log: log})
		require.NoError(t, srv.Start(workers.NewMux(&workers.Handlers{Store: h.store, Log: log})))
		t.Cleanup(srv.Shutdown)

		require.Eventually(t, func() bool {
			return h.call("GET", "/v3/jobs/"+jobID+"/", nil).body["state"] == "applied"
		}, 15*time.Second, 50*time.Millisecond)
		got := h.call("GET", "/v3/users/u-1/", nil)
		require.Equal(t, "BLOCKED", got.body["status"])
		require.Equal(t, "chargebacks", got.body["status_reason"])
		require.NotEqual(t, created.body["last_activity_at"], got.body["last_activity_at"])

		changes, err := h.store.StatusChanges(context.Background(), h.app.ID, created.body["uuid"].(string))
		require.NoError(t, err)
		require.Len(t, changes, 2)
		require.Equal(t, "ACTIVE", *changes[1].FromStatus)
		require.Equal(t, "BLOCKED", changes[1].ToStatus)
		require.Equal(t, "analyst-7", changes[1].Actor)

		evs, err := h.store.EventsForEntity(context.Background(), h.app.ID, created.body["uuid"].(string))
		require.NoError(t, err)
		var body map[string]any
		require.NoError(t, json.Unmarshal([]byte(evs[2].Body), &body))
		require.Equal(t, "user.status.updated", body["webhook_type"])
		require.Equal(t, "ACTIVE", body["previous_status"])
		require.Equal(t, "BLOCKED", body["status"])

		acts := h.call("GET", "/v3/users/u-1/activities/", nil)
		first := acts.body["results"].([]any)[0].(map[string]any)
		require.Equal(t, "status_changed", first["type"])
		require.Equal(t, map[string]any{"from": "ACTIVE", "to": "BLOCKED", "reason": "chargebacks", "actor": "analyst-7", "rule": "manual"}, first["details"])
	})
}

func TestHealthAndReadiness(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		res := h.call("GET", "/healthz", nil, "x-api-key", "")
		require.Equal(t, http.StatusOK, res.status)
		require.Equal(t, "ok", res.body["status"])
		res = h.call("GET", "/readyz", nil, "x-api-key", "")
		require.Equal(t, http.StatusOK, res.status, res.raw)
		require.Equal(t, "ready", res.body["status"])
	})
}

func TestHostileInputIsRefusedWithout500(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		requireProblem(t, h.call("POST", "/v3/users/create/", `{"vendor_data":"h1","metadata":{"x":1e400}}`), 400, "metadata")
		requireProblem(t, h.call("POST", "/v3/users/create/", `{"vendor_data":"h1","metadata":{"x":[1,{"y":-1e999}]}}`), 400, "metadata")
		deep := `{"vendor_data":"h1","metadata":{"a":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}}`
		requireProblem(t, h.call("POST", "/v3/users/create/", deep), 400, "metadata")
		longFace := map[string]any{"session_id": "s", "status": "Approved", "vendor_data": "h3", "timestamp": time.Now().Unix(),
			"decision": map[string]any{"liveness": map[string]any{"status": "Approved", "face_id": strings.Repeat("f", 8000)}}}
		requireProblem(t, h.call("POST", "/v3/ingest/sessions/", longFace), 400, "decision.liveness.face_id")
		require.Equal(t, http.StatusCreated, h.call("POST", "/v3/users/create/", `{"vendor_data":"h2","metadata":{"big":12345678901234567890123}}`).status)
		for _, path := range []string{"/v3/users/%ff/", "/v3/users/a%00/", "/v3/session/%ff/", "/v3/users/?search=%00", "/v3/transactions/?vendor_data=%ff"} {
			res := h.call("GET", path, nil)
			requireProblem(t, res, http.StatusBadRequest, "")
			require.Contains(t, res.body["detail"], "UTF-8", path)
		}
		requireProblem(t, h.call("PATCH", "/v3/settings/", `{"session_url_template":"x{session_id}\u0000"}`), 400, "session_url_template")
		requireProblem(t, h.call("PATCH", "/v3/settings/", `{"review_threshold":1e400}`), 400, "review_threshold")
		res := h.call("POST", "/v3/transactions/", txBody("t-huge", map[string]any{"amount": "999999999999999999", "currency": "GBP"}))
		requireProblem(t, res, http.StatusUnprocessableEntity, "amount")
		require.Equal(t, float64(0), h.call("GET", "/v3/transactions/", nil).body["count"])
	})
}
