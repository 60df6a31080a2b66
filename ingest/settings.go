package ingest

import (
	"net/http"
)

// getSettings answers the application's settings as stored (not as the API key cache
// last saw them: a change made through another process shows at once).
func (s *server) getSettings(w http.ResponseWriter, r *http.Request) {
	app, err := s.store.ApplicationByID(r.Context(), appFrom(r).ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, app.Settings)
}

// patchSettings merges the given keys into the settings; nested objects are merged key
// by key. Unknown keys, wrong types and invalid values answer 400 and change nothing.
func (s *server) patchSettings(w http.ResponseWriter, r *http.Request) {
	f, err := readObject(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	patch := map[string]any{}
	for name := range f.raw {
		raw, ok := f.take(name)
		if !ok {
			patch[name] = nil
			continue
		}
		v, err := decodeValue(raw)
		if err != nil {
			f.fail(name, err.Error())
			continue
		}
		patch[name] = v
	}
	if err := f.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	settings, problems, err := s.store.UpdateSettings(r.Context(), appFrom(r).ID, patch)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(problems) > 0 {
		s.writeError(w, r, invalidFields(problems))
		return
	}
	writeJSON(w, http.StatusOK, settings)
}
