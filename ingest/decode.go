package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 1 << 20

// readObject reads a request body that must be one JSON object of at most MaxBodyBytes,
// sent as application/json, and returns its members undecoded.
func readObject(w http.ResponseWriter, r *http.Request) (*fields, error) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mediaType != "application/json" && !strings.HasSuffix(mediaType, "+json")) {
		return nil, &problem{status: http.StatusUnsupportedMediaType,
			detail: "Content-Type must be application/json."}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &problem{status: http.StatusRequestEntityTooLarge,
				detail: fmt.Sprintf("Request body is larger than %d bytes (1 MiB).", MaxBodyBytes)}
		}
		return nil, badRequest("Could not read the request body: %v.", err)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, badRequest("Request body is empty; send a JSON object.")
	}
	if !utf8.Valid(data) {
		return nil, badRequest("Request body is not valid UTF-8.")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, badRequest("Request body must be a JSON object.")
		}
		return nil, badRequest("Request body is not valid JSON: %v.", err)
	}
	if raw == nil {
		return nil, badRequest("Request body must be a JSON object.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("Request body must hold a single JSON object.")
	}
	return &fields{raw: raw, problems: map[string]string{}, used: map[string]bool{}}, nil
}

// fields decodes the members of a JSON object one by one, collecting every problem so
// that the client learns about all bad fields at once.
type fields struct {
	raw      map[string]json.RawMessage
	problems map[string]string
	used     map[string]bool
}

// has reports whether the member name is present (even as null).
func (f *fields) has(name string) bool {
	_, ok := f.raw[name]
	return ok
}

// fail records a problem with a field, keeping the first one.
func (f *fields) fail(name, message string) {
	if _, ok := f.problems[name]; !ok {
		f.problems[name] = message
	}
}

// take marks name used and returns its raw value and whether it is present and not null.
func (f *fields) take(name string) (json.RawMessage, bool) {
	f.used[name] = true
	v, ok := f.raw[name]
	if !ok || string(v) == "null" {
		return nil, false
	}
	return v, true
}

// String decodes a string member; it returns nil when absent or null.
func (f *fields) String(name string) *string {
	raw, ok := f.take(name)
	if !ok {
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		f.fail(name, "must be a string")
		return nil
	}
	if strings.ContainsRune(s, 0) {
		f.fail(name, "must not contain NUL characters")
		return nil
	}
	return &s
}

// Bool decodes a boolean member; it returns nil when absent or null.
func (f *fields) Bool(name string) *bool {
	raw, ok := f.take(name)
	if !ok {
		return nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		f.fail(name, "must be true or false")
		return nil
	}
	return &b
}

// StringList decodes an array of strings; it returns nil when absent or null.
func (f *fields) StringList(name string) []string {
	raw, ok := f.take(name)
	if !ok {
		return nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		f.fail(name, "must be an array of strings")
		return nil
	}
	if list == nil {
		list = []string{}
	}
	return list
}

// maxObjectBytes bounds a free-form JSON object such as metadata.
const maxObjectBytes = 64 << 10

// Object decodes a JSON object member; it returns nil when absent or null.
func (f *fields) Object(name string) map[string]any {
	raw, ok := f.take(name)
	if !ok {
		return nil
	}
	if len(raw) > maxObjectBytes {
		f.fail(name, fmt.Sprintf("must be at most %d bytes of JSON", maxObjectBytes))
		return nil
	}
	// PostgreSQL cannot store the NUL character in text or jsonb.
	if bytes.Contains(raw, []byte(`\u0000`)) {
		f.fail(name, "must not contain NUL characters")
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		f.fail(name, "must be a JSON object")
		return nil
	}
	if msg := storableJSON(obj); msg != "" {
		f.fail(name, msg)
		return nil
	}
	return obj
}

// maxJSONDepth bounds the nesting of free-form JSON: stored events embed it one or two
// levels deeper, and encoders refuse documents nested beyond 10,000 levels.
const maxJSONDepth = 64

// storableJSON says what, if anything, makes a decoded JSON value unfit to store and
// send on: nesting deeper than maxJSONDepth, or numbers that do not fit a float64 (every
// reader of stored JSON needs them to).
func storableJSON(v any) string {
	if !finiteNumbers(v, maxJSONDepth) {
		return fmt.Sprintf("must hold only numbers that fit a 64-bit float (no 1e400), nested at most %d levels", maxJSONDepth)
	}
	return ""
}

// finiteNumbers reports whether every number in a decoded JSON value fits a float64 and
// the value nests at most depth levels.
func finiteNumbers(v any, depth int) bool {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return err == nil && !math.IsInf(f, 0)
	case map[string]any:
		if depth == 0 {
			return false
		}
		for _, e := range x {
			if !finiteNumbers(e, depth-1) {
				return false
			}
		}
	case []any:
		if depth == 0 {
			return false
		}
		for _, e := range x {
			if !finiteNumbers(e, depth-1) {
				return false
			}
		}
	}
	return true
}

// rejectUnknown records every member that no decoder asked for.
func (f *fields) rejectUnknown() {
	for name := range f.raw {
		if !f.used[name] {
			f.fail(name, "unknown field")
		}
	}
}

// err returns the collected problems as a 400, or nil.
func (f *fields) err() error {
	f.rejectUnknown()
	if len(f.problems) == 0 {
		return nil
	}
	return invalidFields(f.problems)
}

// require records that a required member is missing, unless it was found bad already.
func (f *fields) require(name string) {
	if _, bad := f.problems[name]; !bad {
		f.fail(name, "is required")
	}
}

// ignoreUnknown accepts every member no decoder asked for (for payloads from systems
// that add fields of their own).
func (f *fields) ignoreUnknown() {
	for name := range f.raw {
		f.used[name] = true
	}
}

// decodeValue decodes any JSON value, keeping numbers exact; NUL characters and numbers
// that do not fit a float64 are refused.
func decodeValue(raw json.RawMessage) (any, error) {
	if bytes.Contains(raw, []byte(`\u0000`)) {
		return nil, errors.New("must not contain NUL characters")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errors.New("is not valid JSON")
	}
	if msg := storableJSON(v); msg != "" {
		return nil, errors.New(msg)
	}
	return v, nil
}
