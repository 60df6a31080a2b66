package ingest

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/rules"
)

// Limits of lists.
const (
	maxListNameLen = 200
	maxNoteLen     = 1000
)

func (s *server) listRoutes(r chi.Router) {
	r.Get("/", s.listLists)
	r.Post("/", s.createList)
	r.Get("/{list_id}/", s.getList)
	r.Get("/{list_id}/entries/", s.listEntries)
	r.Post("/{list_id}/entries/", s.addEntry)
	r.Delete("/{list_id}/entries/{entry_id}/", s.deleteEntry)
}

func (s *server) createList(w http.ResponseWriter, r *http.Request) {
	f, err := readObject(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	name := requiredText(f, "name", maxListNameLen)
	if strings.HasPrefix(name, "system:") {
		f.fail("name", `must not start with "system:" (reserved for the system lists)`)
	}
	listType := oneOf(f, "list_type", rules.ListTypes())
	entryType := oneOf(f, "entry_type", rules.EntryTypes())
	if err := f.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	l, err := s.store.CreateList(r.Context(), appFrom(r).ID, name, listType, entryType)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.store.GetList(r.Context(), appFrom(r).ID, l.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}

// oneOf decodes a required string member that must be one of allowed.
func oneOf(f *fields, name string, allowed []string) string {
	v := f.String(name)
	if v == nil {
		f.require(name)
		return ""
	}
	for _, a := range allowed {
		if *v == a {
			return a
		}
	}
	f.fail(name, "must be one of "+strings.Join(allowed, ", "))
	return ""
}

func (s *server) listLists(w http.ResponseWriter, r *http.Request) {
	page, problems := readPage(r)
	q := r.URL.Query()
	filter := models.ListFilter{ListType: q.Get("list_type"), EntryType: q.Get("entry_type"), Limit: page.limit, Offset: page.offset}
	if filter.ListType != "" && !rules.ValidListType(filter.ListType) {
		problems["list_type"] = "must be one of " + strings.Join(rules.ListTypes(), ", ")
	}
	if filter.EntryType != "" && !rules.ValidEntryType(filter.EntryType) {
		problems["entry_type"] = "must be one of " + strings.Join(rules.EntryTypes(), ", ")
	}
	if len(problems) > 0 {
		s.writeError(w, r, invalidFields(problems))
		return
	}
	rows, total, err := s.store.Lists(r.Context(), appFrom(r).ID, filter)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, envelope(r, page, total, rows))
}

func (s *server) getList(w http.ResponseWriter, r *http.Request) {
	l, err := s.store.GetList(r.Context(), appFrom(r).ID, chi.URLParam(r, "list_id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

func (s *server) listEntries(w http.ResponseWriter, r *http.Request) {
	page, problems := readPage(r)
	if len(problems) > 0 {
		s.writeError(w, r, invalidFields(problems))
		return
	}
	rows, total, err := s.store.ListEntries(r.Context(), appFrom(r).ID, chi.URLParam(r, "list_id"), page.limit, page.offset)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, envelope(r, page, total, resources(rows, (*models.ListEntry).Resource)))
}

// addEntry adds a value to a list. A user or business entry on a blocklist or watchlist
// also blocks or flags the live entity it names, through a status job.
func (s *server) addEntry(w http.ResponseWriter, r *http.Request) {
	f, err := readObject(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	value := f.String("value")
	if value == nil {
		f.require("value")
	}
	note := textField(f, "note", maxNoteLen)
	dob := dateOfBirthField(f)
	if err := f.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	entry, _, err := s.store.AddListEntry(r.Context(), appFrom(r).ID, chi.URLParam(r, "list_id"), *value, note,
		models.WithDateOfBirth(dob))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, entry.Resource())
}

func (s *server) deleteEntry(w http.ResponseWriter, r *http.Request) {
	err := s.store.DeleteListEntry(r.Context(), appFrom(r).ID, chi.URLParam(r, "list_id"), chi.URLParam(r, "entry_id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// dateOfBirthField decodes a list entry's optional date_of_birth (YYYY-MM-DD; `name`
// entries only, which the store checks).
func dateOfBirthField(f *fields) string {
	v := f.String("date_of_birth")
	if v == nil {
		return ""
	}
	dob, problem := checkProfileValue("date_of_birth", *v)
	if problem != "" {
		f.fail("date_of_birth", problem)
	}
	return dob
}
