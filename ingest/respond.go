package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/standinghq/standing/models"
)

// problem is an error the client can act on: a status code, a detail naming the
// problem and, for bad fields, one message per field.
type problem struct {
	status int
	detail string
	fields map[string]string
	// retryAfter, in seconds, is sent as Retry-After when set.
	retryAfter int
}

func (p *problem) Error() string { return p.detail }

// errorBody is the JSON shape of every error answer.
type errorBody struct {
	Detail string            `json:"detail"`
	Errors map[string]string `json:"errors,omitempty"`
}

func badRequest(format string, args ...any) *problem {
	return &problem{status: http.StatusBadRequest, detail: fmt.Sprintf(format, args...)}
}

// invalidFields is a 400 for one or more bad fields; detail names each of them.
func invalidFields(fields map[string]string) *problem {
	keys := models.ProblemKeys(fields)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + fields[k]
	}
	label := "Invalid field "
	if len(keys) > 1 {
		label = "Invalid fields "
	}
	return &problem{status: http.StatusBadRequest, detail: label + strings.Join(parts, "; ") + ".", fields: fields}
}

// writeJSON writes v with status. It encodes first, so that a value that cannot be
// encoded answers 500 rather than an empty 200.
func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data, _ = json.Marshal(errorBody{Detail: "Internal error: the answer could not be encoded."})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

// kindStatus is the one table from the store's error kinds to HTTP status codes.
var kindStatus = map[models.ErrorKind]int{
	models.NotFound:      http.StatusNotFound,
	models.Conflict:      http.StatusConflict,
	models.Forbidden:     http.StatusForbidden,
	models.Invalid:       http.StatusBadRequest,
	models.Unprocessable: http.StatusUnprocessableEntity,
	models.Unavailable:   http.StatusServiceUnavailable,
}

// unavailableRetryAfter is the Retry-After, in seconds, of a 503 for a dependency down.
const unavailableRetryAfter = 5

// writeError maps err to an answer: problems as they are, store errors by their kind
// (kindStatus), anything else to a 500 that shows nothing of the cause (it is logged).
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := s.problemOf(r, err)
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.retryAfter))
	}
	writeJSON(w, p.status, errorBody{Detail: p.detail, Errors: p.fields})
}

// problemOf is the answer to err.
func (s *server) problemOf(r *http.Request, err error) *problem {
	var p *problem
	if errors.As(err, &p) {
		return p
	}
	// The store classifies its statements' errors; a failure to begin or commit a
	// transaction can still arrive bare.
	err = models.Classify(err)
	var se *models.Error
	if errors.As(err, &se) {
		if status, ok := kindStatus[se.Kind]; ok {
			return storeProblem(status, se)
		}
	}
	if r.Context().Err() != nil {
		// The client went away; nobody reads the answer.
		return &problem{status: 499, detail: "Request cancelled."}
	}
	s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	return &problem{status: http.StatusInternalServerError, detail: "Internal error; it has been logged."}
}

// storeProblem is the answer to a store error of a known kind: its message as the
// detail, its field among the errors, Retry-After for a dependency down.
func storeProblem(status int, se *models.Error) *problem {
	p := &problem{status: status, detail: capitalise(se.Msg) + "."}
	if se.Msg == "" {
		p.detail = capitalise(se.Kind.String()) + "."
	}
	if se.Field != "" {
		p.detail = "Invalid field " + se.Field + ": " + se.Msg + "."
		p.fields = map[string]string{se.Field: se.Msg}
	}
	if se.Kind == models.Unavailable {
		p.detail = "A dependency is unavailable; try again shortly."
		p.retryAfter = unavailableRetryAfter
	}
	return p
}

func capitalise(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
