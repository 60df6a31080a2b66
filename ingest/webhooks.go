package ingest

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/standinghq/standing/models"
)

// maxLabelLen bounds a destination's label.
const maxLabelLen = 200

func (s *server) webhookRoutes(r chi.Router) {
	r.Get("/", s.listDestinations)
	r.Post("/", s.createDestination)
	r.Get("/{id}/", s.getDestination)
	r.Patch("/{id}/", s.updateDestination)
	r.Delete("/{id}/", s.deleteDestination)
	r.Post("/{id}/rotate-secret/", s.rotateSecret)
	r.Post("/{id}/recover/", s.recoverDeliveries)
	r.Get("/{id}/deliveries/", s.listAttempts)
	r.Get("/{id}/deliveries/{attempt}/", s.getAttempt)
	r.Post("/{id}/deliveries/{attempt}/resend/", s.resendAttempt)
}

// destinationURL decodes and checks a destination URL against the SSRF guard.
func (s *server) destinationURL(r *http.Request, f *fields, required bool) *string {
	v := f.String("url")
	if v == nil {
		if required {
			f.require("url")
		}
		return nil
	}
	u := strings.TrimSpace(*v)
	if err := s.guard.CheckURL(r.Context(), u, s.resolver); err != nil {
		f.fail("url", err.Error())
	}
	return &u
}

// subscribedEvents decodes a non-empty list of known event types, or "*".
func subscribedEvents(f *fields, required bool) []string {
	list := f.StringList("subscribed_events")
	if list == nil {
		if required {
			f.require("subscribed_events")
		}
		return nil
	}
	if len(list) == 0 {
		f.fail("subscribed_events", `must not be empty: name event types, or "*" for all`)
		return nil
	}
	known := map[string]bool{"*": true}
	for _, t := range models.EventTypes() {
		known[t] = true
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(list))
	for _, e := range list {
		e = strings.TrimSpace(e)
		if !known[e] {
			f.fail("subscribed_events", "unknown event type "+quote(e)+"; known: "+strings.Join(models.EventTypes(), ", ")+`, or "*"`)
			return nil
		}
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

func (s *server) createDestination(w http.ResponseWriter, r *http.Request) {
	f, err := readObject(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	in := models.NewDestination{Enabled: true}
	if u := s.destinationURL(r, f, true); u != nil {
		in.URL = *u
	}
	in.SubscribedEvents = subscribedEvents(f, true)
	in.Label = textField(f, "label", maxLabelLen)
	if e := f.Bool("enabled"); e != nil {
		in.Enabled = *e
	}
	if err := f.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	d, err := s.store.CreateDestination(r.Context(), appFrom(r).ID, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res := d.Resource()
	res.Secret = d.Secret
	writeJSON(w, http.StatusCreated, res)
}

func (s *server) listDestinations(w http.ResponseWriter, r *http.Request) {
	page, problems := readPage(r)
	if len(problems) > 0 {
		s.writeError(w, r, invalidFields(problems))
		return
	}
	rows, total, err := s.store.ListDestinations(r.Context(), appFrom(r).ID, page.limit, page.offset)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, envelope(r, page, total, resources(rows, (*models.Destination).Resource)))
}

func (s *server) getDestination(w http.ResponseWriter, r *http.Request) {
	d, err := s.store.GetDestination(r.Context(), appFrom(r).ID, chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d.Resource())
}

// updateDestination changes url, label, enabled, or replaces subscribed_events.
func (s *server) updateDestination(w http.ResponseWriter, r *http.Request) {
	if _, err := s.store.GetDestination(r.Context(), appFrom(r).ID, chi.URLParam(r, "id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	f, err := readObject(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var p models.DestinationPatch
	p.URL = s.destinationURL(r, f, false)
	p.SubscribedEvents = subscribedEvents(f, false)
	if f.has("label") {
		label := textField(f, "label", maxLabelLen)
		p.Label = &label
	}
	p.Enabled = f.Bool("enabled")
	if err := f.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	d, err := s.store.UpdateDestination(r.Context(), appFrom(r).ID, chi.URLParam(r, "id"), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d.Resource())
}

func (s *server) deleteDestination(w http.ResponseWriter, r *http.Request) {
	if err := s.store.DeleteDestination(r.Context(), appFrom(r).ID, chi.URLParam(r, "id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// rotateSecret gives the destination a new secret; the old one keeps signing for 24 h.
func (s *server) rotateSecret(w http.ResponseWriter, r *http.Request) {
	d, err := s.store.RotateSecret(r.Context(), appFrom(r).ID, chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res := d.Resource()
	res.Secret = d.Secret
	writeJSON(w, http.StatusOK, map[string]any{
		"destination":                res,
		"secret":                     d.Secret,
		"previous_secret_expires_at": models.FormatTimePtr(d.PreviousSecretExpiresAt),
	})
}

// recoverDeliveries re-sends every failed delivery of the destination since a time.
func (s *server) recoverDeliveries(w http.ResponseWriter, r *http.Request) {
	f, err := readObject(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	since := timeField(f, "since", true)
	if err := f.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	n, err := s.store.RecoverDeliveries(r.Context(), appFrom(r).ID, chi.URLParam(r, "id"), since)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]int{"recovered": n})
}

// timeField decodes an RFC 3339 time.
func timeField(f *fields, name string, required bool) time.Time {
	v := f.String(name)
	if v == nil {
		if required {
			f.require(name)
		}
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(*v))
	if err != nil {
		f.fail(name, "must be an RFC 3339 time like 2026-11-25T10:00:00Z")
	}
	return t
}

func (s *server) listAttempts(w http.ResponseWriter, r *http.Request) {
	page, problems := readPage(r)
	if len(problems) > 0 {
		s.writeError(w, r, invalidFields(problems))
		return
	}
	rows, total, err := s.store.ListAttempts(r.Context(), appFrom(r).ID, chi.URLParam(r, "id"), page.limit, page.offset)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, envelope(r, page, total, rows))
}

func (s *server) getAttempt(w http.ResponseWriter, r *http.Request) {
	a, err := s.store.GetAttempt(r.Context(), appFrom(r).ID, chi.URLParam(r, "id"), chi.URLParam(r, "attempt"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// resendAttempt sends the event of an attempt again (a new cycle of attempts).
func (s *server) resendAttempt(w http.ResponseWriter, r *http.Request) {
	d, err := s.store.ResendAttempt(r.Context(), appFrom(r).ID, chi.URLParam(r, "id"), chi.URLParam(r, "attempt"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"delivery_uuid": d.ID, "event_id": d.EventID, "state": models.DeliveryPending})
}

// listEvents lists the application's events, oldest first, for consumers that reconcile
// by pulling: each result is the exact body a destination receives.
func (s *server) listEvents(w http.ResponseWriter, r *http.Request) {
	page, problems := readPage(r)
	q := r.URL.Query()
	filter := models.EventFilter{Type: q.Get("type"), Limit: page.limit, Offset: page.offset}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			problems["since"] = "must be an RFC 3339 time like 2026-11-25T10:00:00Z"
		}
		filter.Since = t
	}
	if filter.Type != "" {
		known := false
		for _, t := range models.EventTypes() {
			known = known || t == filter.Type
		}
		if !known {
			problems["type"] = "must be one of " + strings.Join(models.EventTypes(), ", ")
		}
	}
	if len(problems) > 0 {
		s.writeError(w, r, invalidFields(problems))
		return
	}
	rows, total, err := s.store.ListEvents(r.Context(), appFrom(r).ID, filter)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	results := make([]json.RawMessage, len(rows))
	for i := range rows {
		results[i] = json.RawMessage(rows[i].Body)
	}
	writeJSON(w, http.StatusOK, envelope(r, page, total, results))
}
