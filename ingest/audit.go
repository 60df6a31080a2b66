package ingest

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/standinghq/standing/models"
)

// auditRoutes mounts the application-wide audit trail.
func (s *server) auditRoutes(r chi.Router) {
	r.Get("/export/", s.auditExport)
}

// statusInForce is the answer of GET …/status/: the status in force at a time.
type statusInForce struct {
	VendorData   string  `json:"vendor_data"`
	Status       string  `json:"status"`
	StatusReason *string `json:"status_reason"`
	Since        string  `json:"since"`
	Rule         string  `json:"rule"`
	Actor        string  `json:"actor"`
	// Record is the uuid of the audit record that set the status.
	Record string `json:"record_uuid"`
}

// statusAt answers the status an entity had at ?at= (RFC 3339; now when absent).
func (s *server) statusAt(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		vd, err := pathVendorData(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		at := s.now()
		if v := r.URL.Query().Get("at"); v != "" {
			at, err = time.Parse(time.RFC3339Nano, v)
			if err != nil {
				s.writeError(w, r, invalidFields(map[string]string{"at": "must be an RFC 3339 time such as 2026-03-03T12:00:00Z"}))
				return
			}
		}
		app := appFrom(r)
		e, err := s.store.GetEntity(r.Context(), app.ID, kind, vd)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		rec, err := s.store.StatusAt(r.Context(), app.ID, e.ID, at)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		var reason *string
		if rec.Reason != "" {
			reason = &rec.Reason
		}
		writeJSON(w, http.StatusOK, statusInForce{VendorData: e.VendorData, Status: rec.ToStatus, StatusReason: reason,
			Since: models.FormatTime(rec.CreatedAt), Rule: rec.Rule, Actor: rec.Actor, Record: rec.ID})
	}
}

// exportColumns are the CSV columns of the audit export, in order.
var exportColumns = []string{
	"uuid", "seq", "entity_uuid", "vendor_data", "kind", "previous_status", "status", "reason", "actor",
	"rule", "inputs", "created_at", "prev_hash", "hash", "tombstone",
}

// auditExport streams every audit record of the application in chain order, as JSON
// lines or CSV, optionally bounded by since and until (RFC 3339). Records go out as
// they are read from the database cursor: memory stays constant.
func (s *server) auditExport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	problems := map[string]string{}
	var f models.ExportFilter
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				problems[name] = "must be an RFC 3339 time such as 2026-03-03T00:00:00Z"
			}
			*dst = t
		}
	}
	if len(problems) == 0 && !f.Since.IsZero() && !f.Until.IsZero() && f.Since.After(f.Until) {
		problems["since"] = "must not be after until"
	}
	format := q.Get("format")
	if format == "" {
		format = "jsonl"
	}
	if format != "jsonl" && format != "csv" {
		problems["format"] = "must be jsonl or csv"
	}
	if len(problems) > 0 {
		s.writeError(w, r, invalidFields(problems))
		return
	}
	out := newExportWriter(w, format)
	err := s.store.ExportStatusRecords(r.Context(), appFrom(r).ID, f, out.write)
	if err == nil {
		err = out.finish()
	}
	if err != nil {
		if !out.started {
			s.writeError(w, r, err)
			return
		}
		// The answer is under way: cut it, so the client sees a broken transfer rather
		// than a complete-looking export.
		s.log.WarnContext(r.Context(), "audit export aborted", "error", err)
		panic(http.ErrAbortHandler)
	}
}

// exportWriter writes audit records in one export format.
type exportWriter struct {
	w       http.ResponseWriter
	format  string
	csv     *csv.Writer
	started bool
}

func newExportWriter(w http.ResponseWriter, format string) *exportWriter {
	return &exportWriter{w: w, format: format}
}

// start sends the headers (and the CSV header row) before the first record, or for an
// empty export.
func (x *exportWriter) start() error {
	if x.started {
		return nil
	}
	x.started = true
	x.w.Header().Set("Content-Disposition", `attachment; filename="audit.`+x.format+`"`)
	if x.format == "csv" {
		x.w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		x.w.WriteHeader(http.StatusOK)
		x.csv = csv.NewWriter(x.w)
		return x.csv.Write(exportColumns)
	}
	x.w.Header().Set("Content-Type", "application/x-ndjson")
	x.w.WriteHeader(http.StatusOK)
	return nil
}

func (x *exportWriter) write(rec *models.StatusChange) error {
	if err := x.start(); err != nil {
		return err
	}
	res := rec.Resource()
	if x.format == "jsonl" {
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		_, err = x.w.Write(append(b, '\n'))
		return err
	}
	inputs := ""
	if res.Inputs != nil {
		b, err := json.Marshal(res.Inputs)
		if err != nil {
			return err
		}
		inputs = string(b)
	}
	return x.csv.Write([]string{
		res.UUID, strconv.FormatInt(res.Seq, 10), deref(res.EntityUUID), deref(res.VendorData), deref(res.Kind),
		deref(res.PreviousStatus), deref(res.Status), deref(res.Reason), deref(res.Actor), deref(res.Rule),
		inputs, res.CreatedAt, res.PrevHash, res.Hash, strconv.FormatBool(res.Tombstone),
	})
}

func (x *exportWriter) finish() error {
	if err := x.start(); err != nil {
		return err
	}
	if x.csv != nil {
		x.csv.Flush()
		return x.csv.Error()
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// entityResources returns the JSON shapes of entities with their latest status records
// (comments), read in one query.
func (s *server) entityResources(r *http.Request, entities ...*models.Entity) ([]models.EntityResource, error) {
	ids := make([]string, len(entities))
	for i, e := range entities {
		ids[i] = e.ID
	}
	comments, err := s.store.StatusComments(r.Context(), appFrom(r).ID, ids)
	if err != nil {
		return nil, err
	}
	out := make([]models.EntityResource, len(entities))
	for i, e := range entities {
		out[i] = e.Resource()
		c := comments[e.ID]
		if c == nil {
			c = []models.StatusComment{}
		}
		out[i].Comments = &c
	}
	return out, nil
}
