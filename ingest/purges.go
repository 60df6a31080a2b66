package ingest

import (
	"net/http"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/tasks"
)

// listPurges answers GET /ops/purges/ (admin token): the retention purge passes, the
// hourly ones and those of `standing purge`, newest first, with what each removed.
func (s *server) listPurges(w http.ResponseWriter, r *http.Request) {
	p, problems := readPage(r)
	if len(problems) > 0 {
		s.writeError(w, r, invalidFields(problems))
		return
	}
	runs, total, err := s.store.JobRuns(r.Context(), tasks.TypePurge, p.limit, p.offset)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]models.JobRunResource, len(runs))
	for i := range runs {
		out[i] = runs[i].Resource()
	}
	writeJSON(w, http.StatusOK, envelope(r, p, total, out))
}
