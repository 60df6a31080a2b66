package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/rules"
	"github.com/standinghq/standing/webhooks"
)

// Limits of intake events.
const (
	maxSessionIDLen  = 200
	maxWorkflowIDLen = 200
	// SignatureTolerance is how far X-Timestamp may be from now.
	SignatureTolerance = 300 * time.Second
	// maxEventFuture is how far in the future an event's timestamp may be.
	maxEventFuture = 24 * time.Hour
)

// intakeAuth authenticates upstream verification systems: by API key, or by the
// provider-style signature (X-Timestamp with X-Signature-V2, HMAC-SHA256 of the canonical
// JSON body, or X-Signature, HMAC-SHA256 of the raw body, keyed with the application's
// ingest secret or, for a day after a change, its previous one). A signed request names
// its application with the X-Application-Id header or the application_id query parameter.
func (s *server) intakeAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-api-key") != "" || (r.Header.Get("X-Signature-V2") == "" && r.Header.Get("X-Signature") == "") {
			s.authenticate(next).ServeHTTP(w, r)
			return
		}
		appID := r.Header.Get("X-Application-Id")
		if appID == "" {
			appID = r.URL.Query().Get("application_id")
		}
		if appID == "" {
			writeJSON(w, http.StatusUnauthorized, errorBody{Detail: "A signed request must name its application: send X-Application-Id or ?application_id=."})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				s.writeError(w, r, &problem{status: http.StatusRequestEntityTooLarge,
					detail: fmt.Sprintf("Request body is larger than %d bytes (1 MiB).", MaxBodyBytes)})
				return
			}
			s.writeError(w, r, badRequest("Could not read the request body: %v.", err))
			return
		}
		app, err := s.store.ApplicationByID(r.Context(), appID)
		if err != nil {
			if !errors.Is(err, models.ErrNotFound) {
				s.writeError(w, r, err)
				return
			}
			writeJSON(w, http.StatusUnauthorized, errorBody{Detail: "Invalid signature or unknown application."})
			return
		}
		err = webhooks.VerifyProvider(app.IngestSecrets(s.now()), body, r.Header.Get("X-Timestamp"),
			r.Header.Get("X-Signature-V2"), r.Header.Get("X-Signature"), s.now(), SignatureTolerance)
		switch {
		case err == nil:
		case errors.Is(err, webhooks.ErrInvalidJSON):
			s.writeError(w, r, badRequest("Request body is not valid JSON."))
			return
		case errors.Is(err, webhooks.ErrBadTimestamp), errors.Is(err, webhooks.ErrMissingSignature):
			writeJSON(w, http.StatusUnauthorized, errorBody{Detail: "X-Timestamp must be the unix time in seconds at which the request was signed."})
			return
		case errors.Is(err, webhooks.ErrStaleTimestamp):
			writeJSON(w, http.StatusUnauthorized, errorBody{Detail: "X-Timestamp is more than 300 seconds away from now: sign each request when you send it."})
			return
		default:
			writeJSON(w, http.StatusUnauthorized, errorBody{Detail: "Invalid signature or unknown application."})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), appKey, app)))
	})
}

// eventAccepted is the answer to an accepted intake event.
type eventAccepted struct {
	EventID string `json:"event_id"`
}

// ingestSession stores an upstream session status event and answers 202 once it is
// committed. Unknown members are kept with the session, never refused: providers add
// fields to their webhooks.
func (s *server) ingestSession(w http.ResponseWriter, r *http.Request) {
	f, err := readObject(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	in := models.SessionEventInput{Kind: models.KindUser}
	if !f.has("session_id") && f.has("business_session_id") {
		// The vendor's KYB events name the session business_session_id.
		f.raw["session_id"] = f.raw["business_session_id"]
	}
	in.SessionID = requiredText(f, "session_id", maxSessionIDLen)
	if st := f.String("status"); st != nil {
		if !rules.ValidSessionStatus(*st) {
			f.fail("status", "must be one of "+strings.Join(rules.SessionStatuses(), ", "))
		}
		in.Status = *st
	} else {
		f.require("status")
	}
	in.VendorData = vendorDataField(f, "vendor_data")
	in.Kind = kindField(f, "session_kind")
	in.WorkflowID = textField(f, "workflow_id", maxWorkflowIDLen)
	in.WebhookType = textField(f, "webhook_type", 100)
	in.Timestamp = s.eventTimestamp(f, "timestamp")
	in.Metadata = f.Object("metadata")
	in.Decision = f.Object("decision")
	if in.Decision != nil {
		_, problems := rules.ReadDecision(in.Kind, in.Decision)
		for k, v := range problems {
			f.fail(k, v)
		}
	}
	in.Upstream = upstreamMembers(f)
	if err := f.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	item, _, err := s.store.IngestSessionEvent(r.Context(), appFrom(r).ID, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, eventAccepted{EventID: item.ID})
}

// upstreamMembers returns the members of an upstream event that no decoder read (the
// vendor's created_at, environment, …), to be kept with the session as they were sent;
// nil when there are none. They are never refused, except for values no store can keep.
func upstreamMembers(f *fields) map[string]any {
	var out map[string]any
	for name, raw := range f.raw {
		if f.used[name] {
			continue
		}
		f.used[name] = true
		v, err := decodeValue(raw)
		if err != nil {
			f.fail(name, err.Error())
			continue
		}
		if out == nil {
			out = map[string]any{}
		}
		out[name] = v
	}
	return out
}

// eventTimestamp decodes a required unix-seconds timestamp: a whole number, not before
// 2000 and not more than a day ahead.
func (s *server) eventTimestamp(f *fields, name string) int64 {
	raw, ok := f.take(name)
	if !ok {
		f.require(name)
		return 0
	}
	var n json.Number
	// json.Number also takes a quoted number: a string is not a timestamp.
	if raw[0] == '"' || json.Unmarshal(raw, &n) != nil {
		f.fail(name, "must be a unix time in seconds (a number)")
		return 0
	}
	v, err := n.Float64()
	if err != nil || v != math.Trunc(v) || math.IsInf(v, 0) {
		f.fail(name, "must be a whole number of seconds since 1970")
		return 0
	}
	ts := int64(v)
	if ts < 946684800 || time.Unix(ts, 0).After(s.now().Add(maxEventFuture)) {
		f.fail(name, "must be a unix time in seconds between 2000 and one day from now")
		return 0
	}
	return ts
}

// requiredText decodes a required string of at most limit bytes, trimmed.
func requiredText(f *fields, name string, limit int) string {
	v := f.String(name)
	if v == nil {
		f.require(name)
		return ""
	}
	t := strings.TrimSpace(*v)
	switch {
	case t == "":
		f.fail(name, "must not be empty")
	case len(t) > limit:
		f.fail(name, fmt.Sprintf("must be at most %d characters", limit))
	}
	return t
}

// sessionCreated is the answer to a new session.
type sessionCreated struct {
	SessionID   string `json:"session_id"`
	URL         string `json:"url"`
	Status      string `json:"status"`
	VendorData  string `json:"vendor_data"`
	EntityUUID  string `json:"entity_uuid"`
	SessionKind string `json:"session_kind"`
	WorkflowID  string `json:"workflow_id"`
	CreatedAt   string `json:"created_at"`
	// Metadata and the vendor's optional members, as stored.
	Metadata        map[string]any `json:"metadata"`
	Callback        any            `json:"callback"`
	CallbackMethod  any            `json:"callback_method,omitempty"`
	Language        any            `json:"language,omitempty"`
	ContactDetails  any            `json:"contact_details"`
	ExpectedDetails any            `json:"expected_details"`
}

// createSession starts a session for an ACTIVE or FLAGGED entity; 403 when BLOCKED.
func (s *server) createSession(w http.ResponseWriter, r *http.Request) {
	f, err := readObject(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	in := models.NewSession{Kind: models.KindUser}
	in.VendorData = vendorDataField(f, "vendor_data")
	in.Kind = kindField(f, "session_kind")
	in.WorkflowID = textField(f, "workflow_id", maxWorkflowIDLen)
	in.Options, in.Metadata = sessionOptions(f)
	if err := f.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	sess, e, err := s.store.CreateSession(r.Context(), appFrom(r).ID, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, sessionCreated{
		SessionID: sess.SessionID, URL: sess.URL, Status: sess.Status, VendorData: e.VendorData,
		EntityUUID: e.ID, SessionKind: sess.Kind, WorkflowID: sess.WorkflowID, CreatedAt: models.FormatTime(sess.CreatedAt),
		Metadata: sess.Metadata, Callback: sess.Options["callback"], CallbackMethod: sess.Options["callback_method"],
		Language: sess.Options["language"], ContactDetails: sess.Options["contact_details"],
		ExpectedDetails: sess.Options["expected_details"],
	})
}

func (s *server) getSession(w http.ResponseWriter, r *http.Request) {
	id, err := pathParam(r, "session_id")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sess, err := s.store.GetSession(r.Context(), appFrom(r).ID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sess)
}

// pathParam reads a percent-encoded path parameter.
func pathParam(r *http.Request, name string) (string, error) {
	v, err := url.PathUnescape(chi.URLParam(r, name))
	if err != nil {
		return "", badRequest("The %s in the path is not validly percent-encoded.", name)
	}
	return v, nil
}
