package ingest

import (
	"net/http"
	"net/url"
	"strconv"
)

// Paging bounds of list endpoints.
const (
	defaultLimit = 50
	maxLimit     = 200
)

// page is the limit and offset of a list call.
type page struct {
	limit, offset int
}

// readPage reads limit (1–200, default 50) and offset (from 0) from the query.
func readPage(r *http.Request) (page, map[string]string) {
	p := page{limit: defaultLimit}
	problems := map[string]string{}
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			problems["limit"] = "must be a whole number from 1 to 200"
		}
		p.limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1_000_000_000 {
			problems["offset"] = "must be a whole number from 0"
		}
		p.offset = n
	}
	return p, problems
}

// listBody is the envelope of every list answer.
type listBody[T any] struct {
	Count    int64   `json:"count"`
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  []T     `json:"results"`
}

// envelope wraps one page of results with links to the neighbouring pages.
func envelope[T any](r *http.Request, p page, total int64, results []T) listBody[T] {
	return listBody[T]{
		Count:    total,
		Next:     p.link(r, p.offset+p.limit, int64(p.offset+p.limit) < total),
		Previous: p.link(r, max(p.offset-p.limit, 0), p.offset > 0),
		Results:  results,
	}
}

// link returns the absolute URL of the page at offset, or nil when ok is false.
func (p page) link(r *http.Request, offset int, ok bool) *string {
	if !ok {
		return nil
	}
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	q := r.URL.Query()
	q.Set("limit", strconv.Itoa(p.limit))
	q.Set("offset", strconv.Itoa(offset))
	u := url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
	s := u.String()
	return &s
}

// resources returns the JSON shapes of rows, by shape (a Resource method expression).
func resources[T, R any](rows []T, shape func(*T) R) []R {
	out := make([]R, len(rows))
	for i := range rows {
		out[i] = shape(&rows[i])
	}
	return out
}
