package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
)

// maxSinkRequests is how many requests the dev sink keeps per name.
const maxSinkRequests = 500

// devSink is dev mode's built-in webhook receiver: POST /dev/sink/{name} records the
// request (answering ?status=N when given, 200 otherwise), GET /dev/sink/{name} lists
// what arrived, oldest first. It keeps everything in memory.
type devSink struct {
	mu       sync.Mutex
	received map[string][]sinkRequest
}

type sinkRequest struct {
	ReceivedAt string            `json:"received_at"`
	Headers    map[string]string `json:"headers"`
	Body       json.RawMessage   `json:"body"`
}

func newDevSink() *devSink { return &devSink{received: map[string][]sinkRequest{}} }

func (s *devSink) routes(r chi.Router) {
	r.Post("/dev/sink/{name}", s.record)
	r.Get("/dev/sink/{name}", s.list)
}

func (s *devSink) record(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	headers := map[string]string{}
	for k, v := range r.Header {
		headers[k] = v[0]
	}
	if !json.Valid(body) {
		body, _ = json.Marshal(string(body))
	}
	name := chi.URLParam(r, "name")
	s.mu.Lock()
	list := append(s.received[name], sinkRequest{ReceivedAt: time.Now().UTC().Format(time.RFC3339Nano), Headers: headers, Body: body})
	if len(list) > maxSinkRequests {
		list = list[len(list)-maxSinkRequests:]
	}
	s.received[name] = list
	s.mu.Unlock()
	status := http.StatusOK
	if v, err := strconv.Atoi(r.URL.Query().Get("status")); err == nil && v >= 200 && v <= 599 {
		status = v
	}
	w.WriteHeader(status)
}

func (s *devSink) list(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	list := append([]sinkRequest{}, s.received[chi.URLParam(r, "name")]...)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"count": len(list), "results": list})
}
