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

// writeError maps err to an answer: problems as they are, the store's sentinel errors to
// 404 and 409, anything else to a 500 that shows nothing of the cause (it is logged).
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var p *problem
	switch {
	case errors.As(err, &p):
	case errors.Is(err, models.ErrNotFound):
		p = &problem{status: http.StatusNotFound, detail: "Not found."}
	case errors.Is(err, models.ErrConflict):
		p = &problem{status: http.StatusConflict, detail: conflictDetail(err)}
	case r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		p = &problem{status: 499, detail: "Request cancelled."}
	default:
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		p = &problem{status: http.StatusInternalServerError, detail: "Internal error; it has been logged."}
	}
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.retryAfter))
	}
	writeJSON(w, p.status, errorBody{Detail: p.detail, Errors: p.fields})
}

// conflictDetail is the message of a conflict without the sentinel's suffix.
func conflictDetail(err error) string {
	msg := err.Error()
	suffix := ": " + models.ErrConflict.Error()
	if len(msg) > len(suffix) && msg[len(msg)-len(suffix):] == suffix {
		msg = msg[:len(msg)-len(suffix)]
	}
	if msg == "" {
		return "Conflict."
	}
	return capitalise(msg) + "."
}

func capitalise(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
