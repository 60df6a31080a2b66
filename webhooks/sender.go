package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/tidwall/gjson"
)

// Limits of one attempt.
const (
	// MaxResponseRead is how much of a response body is read.
	MaxResponseRead = 64 << 10
	userAgent       = "Standing-Webhooks/1"
)

// Sender posts webhook requests through an HTTP client that follows no redirects, reads
// responses through a limit, and dials only addresses its Guard allows.
type Sender struct {
	client *http.Client
}

// SenderOption configures a Sender's HTTP transport.
type SenderOption func(*http.Transport)

// IdleConnsPerHost keeps up to n idle connections to each host for the next attempts:
// as many as there are concurrent deliveries to one destination, so that a batch of
// attempts reuses the connections of the last one instead of dialing anew (default 4).
func IdleConnsPerHost(n int) SenderOption {
	return func(t *http.Transport) {
		t.MaxIdleConnsPerHost = max(n, 1)
		t.MaxIdleConns = max(t.MaxIdleConns, 2*n)
	}
}

// NewSender returns a Sender whose attempts last at most timeout.
func NewSender(timeout time.Duration, guard Guard, opts ...SenderOption) *Sender {
	dialer := &net.Dialer{Timeout: min(timeout, 10*time.Second), Control: guard.control}
	transport := &http.Transport{
		Proxy:                 nil, // a proxy would dial on our behalf, past the guard
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   min(timeout, 10*time.Second),
		ResponseHeaderTimeout: timeout,
	}
	for _, opt := range opts {
		opt(transport)
	}
	return &Sender{client: &http.Client{
		Transport:     transport,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Response is what an attempt got back.
type Response struct {
	Status int
	Body   string
	// RetryAfter is the delay a 429 or 503 asked for with Retry-After; zero if none.
	RetryAfter time.Duration
	Duration   time.Duration
}

// Send posts body with header to url.
func (s *Sender) Send(ctx context.Context, url string, body []byte, header http.Header) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	req.Header = header.Clone()
	start := time.Now()
	res, err := s.client.Do(req)
	if err != nil {
		return Response{Duration: time.Since(start)}, err
	}
	defer res.Body.Close()
	data, readErr := io.ReadAll(io.LimitReader(res.Body, MaxResponseRead))
	out := Response{Status: res.StatusCode, Body: string(data), Duration: time.Since(start),
		RetryAfter: retryAfter(res.Header.Get("Retry-After"), time.Now())}
	if readErr != nil && res.StatusCode >= 200 && res.StatusCode < 300 {
		// The answer was a success; a body cut short does not change that.
		readErr = nil
	}
	return out, readErr
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Classify says what an attempt's response or error means for the delivery.
func Classify(res Response, err error) Outcome {
	if err != nil {
		return Retry
	}
	switch s := res.Status; {
	case s >= 200 && s < 300:
		return Delivered
	case s == http.StatusGone:
		return Gone
	case s == http.StatusNotFound, s == http.StatusRequestTimeout, s == http.StatusTooManyRequests, s >= 500:
		return Retry
	default:
		return Rejected
	}
}

// Describe is the delivery log's error text for an attempt that did not succeed.
func Describe(res Response, err error) string {
	switch {
	case errors.Is(err, ErrForbiddenAddress):
		return "refused by the SSRF guard: " + err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case err != nil:
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			return "timed out"
		}
		return err.Error()
	case res.Status < 200 || res.Status >= 300:
		return fmt.Sprintf("HTTP %d", res.Status)
	}
	return ""
}

// Headers returns the headers of one attempt at an event: Content-Type, both signature
// families over exactly body, timestamped at.
//
//   - Standard Webhooks: webhook-id (the event id), webhook-timestamp, webhook-signature
//     (one v1 signature per live secret).
//   - Provider-compatible: X-Timestamp, X-Signature (raw body), X-Signature-V2 (canonical
//     JSON) and X-Signature-Simple ("{timestamp}:{session_id}:{status}:{webhook_type}"),
//     keyed with the current secret; during a rotation (a second live secret) also
//     X-Signature-Previous, X-Signature-V2-Previous and X-Signature-Simple-Previous,
//     the same signatures keyed with the previous secret.
func Headers(secrets []string, eventID string, body []byte, at time.Time) (http.Header, error) {
	return headers(secrets, eventID, body, false, at)
}

// HeadersOfCanonical is Headers for a body already in canonical form (Canonical(body)
// is body, as for every event body Standing writes): X-Signature-V2 is then the
// signature of body itself, with no parsing and re-encoding. Given a body that is not
// canonical, its X-Signature-V2 headers are wrong.
func HeadersOfCanonical(secrets []string, eventID string, body []byte, at time.Time) (http.Header, error) {
	return headers(secrets, eventID, body, true, at)
}

func headers(secrets []string, eventID string, body []byte, canonical bool, at time.Time) (http.Header, error) {
	if len(secrets) == 0 {
		return nil, ErrBadSecret
	}
	ts := at.Unix()
	standard, err := StandardSignature(secrets, eventID, ts, body)
	if err != nil {
		return nil, err
	}
	// X-Signature-V2 signs the canonical form, and X-Signature-Simple's fields are read
	// from it too (a duplicate key counts with its last value in both). For a body
	// already canonical, V2 is the raw signature.
	canon := body
	if !canonical {
		if canon, err = Canonical(body); err != nil {
			return nil, err
		}
	}
	signs := func(secret string) (raw, v2 string) {
		raw = SignRaw(secret, body)
		if canonical {
			return raw, raw
		}
		return raw, SignRaw(secret, canon)
	}
	raw, v2 := signs(secrets[0])
	fields := simpleFields(canon)
	stamp := strconv.FormatInt(ts, 10)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", userAgent)
	h.Set("webhook-id", eventID)
	h.Set("webhook-timestamp", stamp)
	h.Set("webhook-signature", standard)
	h.Set("X-Timestamp", stamp)
	h.Set("X-Signature", raw)
	h.Set("X-Signature-V2", v2)
	h.Set("X-Signature-Simple", SignSimple(secrets[0], stamp, fields[0], fields[1], fields[2]))
	if len(secrets) > 1 {
		// During a rotation, receivers still holding the old secret verify these.
		old := secrets[1]
		rawOld, v2Old := signs(old)
		h.Set("X-Signature-Previous", rawOld)
		h.Set("X-Signature-V2-Previous", v2Old)
		h.Set("X-Signature-Simple-Previous", SignSimple(old, stamp, fields[0], fields[1], fields[2]))
	}
	return h, nil
}

// simpleFields returns the top-level session_id, status and webhook_type of body (in
// canonical form: each key once, exactly as spelled), each "" unless it is a JSON
// string. gjson reads them without decoding the rest of the body (encoding/json decoded
// all of it: 4 % of a work process's CPU).
func simpleFields(body []byte) [3]string {
	var out [3]string
	for i, r := range gjson.GetManyBytes(body, "session_id", "status", "webhook_type") {
		if r.Type == gjson.String {
			out[i] = r.Str
		}
	}
	return out
}
