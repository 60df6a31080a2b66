package bench

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// receiver is the webhook endpoint of the benchmark: it answers 200 at once and notes
// when each event's webhook first arrived, keyed as the load generator keys its posts.
type receiver struct {
	mu    sync.Mutex
	first map[string]time.Time
	total int
	srv   *http.Server
	addr  string
}

// webhookBody is the part of a webhook body the receiver matches on.
type webhookBody struct {
	WebhookType   string `json:"webhook_type"`
	SessionID     string `json:"session_id"`
	TransactionID string `json:"transaction_id"`
}

// matchKey is the key of the post a webhook answers, or "" for webhooks that are not
// the one the benchmark waits for (data.updated, user.data.updated, …).
func (b webhookBody) matchKey() string {
	switch b.WebhookType {
	case "status.updated":
		return "s:" + b.SessionID
	case "transaction.created":
		return "t:" + b.TransactionID
	}
	return ""
}

// startReceiver listens on a loopback port.
func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{first: make(map[string]time.Time), addr: ln.Addr().String()}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// ServeHTTP records one webhook.
func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	raw, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	var body webhookBody
	if err == nil {
		err = json.Unmarshal(raw, &body)
	}
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	key := body.matchKey()
	r.mu.Lock()
	r.total++
	if _, seen := r.first[key]; key != "" && !seen {
		r.first[key] = now
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// snapshot returns the number of webhooks received so far.
func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// arrivals returns when each of keys first arrived (zero when it has not).
func (r *receiver) arrivals(keys []string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]time.Time, len(keys))
	for i, k := range keys {
		out[i] = r.first[k]
	}
	return out
}

// close stops the receiver.
func (r *receiver) close() { _ = r.srv.Close() }
