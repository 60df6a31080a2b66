package ingest

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/standinghq/standing/models"
)

// maxDeleteList is the longest vendor_data_list a delete call takes.
const maxDeleteList = 10000

// entityRoutes mounts the entity API of one kind.
func (s *server) entityRoutes(r chi.Router, kind string) {
	r.Get("/", s.listEntities(kind))
	r.Post("/create/", s.createEntity(kind))
	r.Post("/delete/", s.deleteEntities(kind))
	r.Get("/{vendor_data}/", s.getEntity(kind))
	r.Patch("/{vendor_data}/", s.updateEntity(kind))
	r.Patch("/{vendor_data}/update-status/", s.updateStatus(kind))
	r.Get("/{vendor_data}/activities/", entityPage(s, kind, s.store.ListActivities, (*models.Activity).Resource))
	r.Get("/{vendor_data}/status-history/", entityPage(s, kind, s.store.StatusHistory, (*models.StatusChange).Resource))
	r.Get("/{vendor_data}/status/", s.statusAt(kind))
}

// writeEntity answers one entity with its latest status records.
func (s *server) writeEntity(w http.ResponseWriter, r *http.Request, status int, e *models.Entity) {
	res, err := s.entityResources(r, e)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, status, res[0])
}

// pathVendorData reads the vendor_data path segment (percent-decoded and trimmed).
func pathVendorData(r *http.Request) (string, error) {
	v, err := pathParam(r, "vendor_data")
	if err != nil {
		return "", err
	}
	v, msg := checkVendorData(v)
	if msg != "" {
		return "", &problem{status: http.StatusBadRequest, detail: "Invalid vendor_data in the path: " + msg + ".",
			fields: map[string]string{"vendor_data": msg}}
	}
	return v, nil
}

func (s *server) createEntity(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f, err := readObject(w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		in := models.NewEntity{Kind: kind}
		in.VendorData = vendorDataField(f, "vendor_data")
		in.Status = statusField(f, "status", false)
		in.Reason = textField(f, "reason", maxReasonLen)
		in.Actor = textField(f, "actor", maxActorLen)
		in.Profile = profileFields(f, kind)
		in.Metadata = f.Object("metadata")
		if err := f.err(); err != nil {
			s.writeError(w, r, err)
			return
		}
		e, err := s.store.CreateEntity(r.Context(), appFrom(r).ID, in)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeEntity(w, r, http.StatusCreated, e)
	}
}

func (s *server) getEntity(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		vd, err := pathVendorData(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		e, err := s.store.GetEntity(r.Context(), appFrom(r).ID, kind, vd)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeEntity(w, r, http.StatusOK, e)
	}
}

func (s *server) listEntities(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		page, problems := readPage(r)
		filter := models.EntityFilter{Limit: page.limit, Offset: page.offset}
		if v := r.URL.Query().Get("status"); v != "" {
			filter.Status = strings.ToUpper(v)
			if !models.ValidStatus(filter.Status) {
				problems["status"] = "must be one of ACTIVE, FLAGGED, BLOCKED"
			}
		}
		filter.Search = r.URL.Query().Get("search")
		if len(filter.Search) > maxTextLen {
			problems["search"] = "must be at most 512 characters"
		}
		if len(problems) > 0 {
			s.writeError(w, r, invalidFields(problems))
			return
		}
		rows, total, err := s.store.ListEntities(r.Context(), appFrom(r).ID, kind, filter)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		entities := make([]*models.Entity, len(rows))
		for i := range rows {
			entities[i] = &rows[i]
		}
		res, err := s.entityResources(r, entities...)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, envelope(r, page, total, res))
	}
}

func (s *server) updateEntity(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		vd, err := pathVendorData(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		f, err := readObject(w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		for _, name := range []string{"status", "vendor_data", "uuid", "kind"} {
			if f.has(name) {
				f.used[name] = true
				msg := "cannot be changed"
				if name == "status" {
					msg = "cannot be changed here; use PATCH …/update-status/"
				}
				f.fail(name, msg)
			}
		}
		patch := models.EntityPatch{Profile: profileFields(f, kind)}
		if f.has("metadata") {
			patch.MetadataSet = true
			patch.Metadata = f.Object("metadata")
		}
		if err := f.err(); err != nil {
			s.writeError(w, r, err)
			return
		}
		e, err := s.store.UpdateEntity(r.Context(), appFrom(r).ID, kind, vd, patch)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeEntity(w, r, http.StatusOK, e)
	}
}

// statusAccepted is the answer to an accepted status change.
type statusAccepted struct {
	JobID      string `json:"job_id"`
	State      string `json:"state"`
	VendorData string `json:"vendor_data"`
	Status     string `json:"status"`
}

func (s *server) updateStatus(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		vd, err := pathVendorData(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		f, err := readObject(w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		req := models.StatusRequest{
			Status: statusField(f, "status", true),
			Reason: textField(f, "reason", maxReasonLen),
			Actor:  textField(f, "actor", maxActorLen),
		}
		if err := f.err(); err != nil {
			s.writeError(w, r, err)
			return
		}
		item, err := s.store.RequestStatusChange(r.Context(), appFrom(r).ID, kind, vd, req)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusAccepted, statusAccepted{JobID: item.ID, State: item.State, VendorData: vd, Status: req.Status})
	}
}

// deleted is the answer to a delete call.
type deleted struct {
	Deleted int `json:"deleted"`
}

func (s *server) deleteEntities(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f, err := readObject(w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		hasList, hasAll := f.has("vendor_data_list"), f.has("delete_all")
		list := f.StringList("vendor_data_list")
		all := f.Bool("delete_all")
		if hasList == hasAll {
			f.fail("vendor_data_list", "send exactly one of vendor_data_list or delete_all")
		}
		if hasAll && all != nil && !*all {
			f.fail("delete_all", "must be true (or leave it out and send vendor_data_list)")
		}
		if hasList && list != nil {
			switch {
			case len(list) == 0:
				f.fail("vendor_data_list", "must not be empty")
			case len(list) > maxDeleteList:
				f.fail("vendor_data_list", "must have at most 10000 entries")
			}
			for i, v := range list {
				norm, msg := checkVendorData(v)
				if msg != "" {
					f.fail("vendor_data_list", "entry "+strconv.Itoa(i)+" "+msg)
					break
				}
				list[i] = norm
			}
		}
		if err := f.err(); err != nil {
			s.writeError(w, r, err)
			return
		}
		n, err := s.store.DeleteEntities(r.Context(), appFrom(r).ID, kind, list, hasAll)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, deleted{Deleted: n})
	}
}

// entityPage answers one page of what list returns for the entity named in the path
// (its timeline, its audit records), newest first, each row in the shape shape gives it.
func entityPage[T, R any](s *server, kind string,
	list func(ctx context.Context, appID, entityID string, limit, offset int) ([]T, int64, error),
	shape func(*T) R) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		vd, err := pathVendorData(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		page, problems := readPage(r)
		if len(problems) > 0 {
			s.writeError(w, r, invalidFields(problems))
			return
		}
		app := appFrom(r)
		e, err := s.store.GetEntity(r.Context(), app.ID, kind, vd)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		rows, total, err := list(r.Context(), app.ID, e.ID, page.limit, page.offset)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, envelope(r, page, total, resources(rows, shape)))
	}
}

func (s *server) getJob(w http.ResponseWriter, r *http.Request) {
	item, err := s.store.InboxItem(r.Context(), appFrom(r).ID, chi.URLParam(r, "job_id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, item.Resource())
}
