package webhooks_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/webhooks"
)

var loopback = webhooks.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}

func TestGuardAllowed(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		"93.184.216.34": true, "2606:2800:220:1::1": true, "8.8.8.8": true,
		"127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "100.64.0.1": false, "0.0.0.0": false, "::1": false,
		"fe80::1": false, "fd00:ec2::254": false, "::ffff:127.0.0.1": false, "224.0.0.1": false,
		"::1%lo": false, "fe80::1%eth0": false, "2606:2800:220:1::1%eth0": false,
		// Gaps of the former hand-written list (issue 9): IPv4-compatible loopback,
		// NAT64 (both prefixes), 6to4, the documentation ranges, benchmarking, AS112.
		"::127.0.0.1": false, "::7f00:1": false, "64:ff9b::7f00:1": false, "64:ff9b:1::a00:1": false,
		"2002:7f00:1::1": false, "2002:c0a8:101::1": false, "192.0.2.10": false, "198.51.100.7": false,
		"203.0.113.9": false, "2001:db8::1": false, "3fff::1": false, "198.18.0.1": false,
		"192.88.99.1": false, "2001::1": false, "::": false, "ff02::1": false,
	}
	for addr, want := range cases {
		require.Equal(t, want, webhooks.Guard{}.Allowed(netip.MustParseAddr(addr)), addr)
	}
	require.True(t, loopback.Allowed(netip.MustParseAddr("127.0.0.1")), "the allowlist wins")
	require.True(t, loopback.Allowed(netip.MustParseAddr("::ffff:127.0.0.1")), "IPv4-mapped forms too")
	require.False(t, loopback.Allowed(netip.MustParseAddr("10.0.0.1")))
}

// fakeResolver resolves every host to its addresses.
type fakeResolver []netip.Addr

func (f fakeResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	if len(f) == 0 {
		return nil, errors.New("no such host")
	}
	return f, nil
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	public := fakeResolver{netip.MustParseAddr("93.184.216.34")}
	rebinding := fakeResolver{netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("10.0.0.5")}
	cases := []struct {
		url      string
		guard    webhooks.Guard
		resolver fakeResolver
		ok       bool
	}{
		{"https://hooks.example.com/x", webhooks.Guard{}, public, true},
		{"http://hooks.example.com/x", webhooks.Guard{}, public, false},
		{"https://hooks.example.com/x", webhooks.Guard{}, rebinding, false},
		{"https://hooks.example.com/x", webhooks.Guard{}, nil, false},
		{"https://127.0.0.1/x", webhooks.Guard{}, nil, false},
		{"https://[::1%25lo]:8443/x", webhooks.Guard{}, nil, false},
		{"https://[fe80::1%25lo]/x", loopback, nil, false},
		{"https://169.254.169.254/latest/meta-data", webhooks.Guard{}, nil, false},
		{"http://127.0.0.1:9000/x", loopback, nil, true},
		{"https://user:pw@hooks.example.com/x", webhooks.Guard{}, public, false},
		{"ftp://hooks.example.com/x", webhooks.Guard{}, public, false},
		{"/relative", webhooks.Guard{}, public, false},
		{"https://[::127.0.0.1]/x", webhooks.Guard{}, nil, false},
		{"https://[64:ff9b:1::a00:1]/x", webhooks.Guard{}, nil, false},
		{"https://[2002:7f00:1::1]/x", webhooks.Guard{}, nil, false},
		{"https://192.0.2.1/x", webhooks.Guard{}, nil, false},
		{"https://hooks.example.com:0/x", webhooks.Guard{}, public, false},
		{"https://hooks.example.com:65536/x", webhooks.Guard{}, public, false},
		{"https://hooks.example.com:8443/x", webhooks.Guard{}, public, true},
		{"http://10.1.2.3:8080/x", webhooks.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, nil, true},
		{"http://[::1]:8080/x", webhooks.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("::1/128")}}, nil, true},
	}
	for _, c := range cases {
		err := c.guard.CheckURL(context.Background(), c.url, c.resolver)
		if c.ok {
			require.NoError(t, err, c.url)
		} else {
			require.Error(t, err, c.url)
		}
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	cases := map[int]webhooks.Outcome{
		200: webhooks.Delivered, 201: webhooks.Delivered, 204: webhooks.Delivered,
		301: webhooks.Rejected, 302: webhooks.Rejected, 400: webhooks.Rejected, 401: webhooks.Rejected,
		403: webhooks.Rejected, 422: webhooks.Rejected, 404: webhooks.Retry, 408: webhooks.Retry,
		429: webhooks.Retry, 500: webhooks.Retry, 502: webhooks.Retry, 503: webhooks.Retry, 410: webhooks.Gone,
	}
	for status, want := range cases {
		require.Equal(t, want, webhooks.Classify(webhooks.Response{Status: status}, nil), status)
	}
	require.Equal(t, webhooks.Retry, webhooks.Classify(webhooks.Response{}, errors.New("connection reset")))
}

func TestBackoffGrowsWithJitterUpToTheCap(t *testing.T) {
	t.Parallel()
	b := webhooks.Backoff{Initial: 5 * time.Second, Max: 10 * time.Hour}
	for attempt := 1; attempt <= 12; attempt++ {
		base := 5 * time.Second << (attempt - 1)
		d := b.Delay(attempt)
		if base >= 10*time.Hour {
			require.LessOrEqual(t, d, 10*time.Hour, "attempt %d", attempt)
			continue
		}
		require.GreaterOrEqual(t, d, base/2, "attempt %d", attempt)
		require.LessOrEqual(t, d, base*3/2, "attempt %d", attempt)
	}
}

func hexHMAC(key, msg string) string {
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte(msg))
	return hex.EncodeToString(h.Sum(nil))
}

func TestHeadersVerifyWithTheStandardWebhooksLibrary(t *testing.T) {
	t.Parallel()
	current := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	previous := "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
	body := []byte(`{"event_id":"evt_1","webhook_type":"status.updated","session_id":"s-1","status":"Approved","vendor_data":"ü"}`)
	at := time.Now()
	h, err := webhooks.Headers([]string{current, previous}, "evt_1", body, at)
	require.NoError(t, err)

	for _, secret := range []string{current, previous} {
		wh, err := standardwebhooks.NewWebhook(secret)
		require.NoError(t, err)
		require.NoError(t, wh.Verify(body, h), "a verifier nobody here wrote accepts the delivery (%s)", secret)
	}
	other, err := standardwebhooks.NewWebhook("whsec_" + strings.Repeat("A", 32))
	require.NoError(t, err)
	require.Error(t, other.Verify(body, h))
	tampered := append([]byte{}, body...)
	tampered[len(tampered)-2] = 'x'
	wh, _ := standardwebhooks.NewWebhook(current)
	require.Error(t, wh.Verify(tampered, h))

	// The provider-style headers, recomputed here with crypto/hmac.
	ts := h.Get("X-Timestamp")
	require.Equal(t, h.Get("webhook-timestamp"), ts)
	require.Equal(t, hexHMAC(current, string(body)), h.Get("X-Signature"))
	canonical := `{"event_id":"evt_1","session_id":"s-1","status":"Approved","vendor_data":"ü","webhook_type":"status.updated"}`
	require.Equal(t, hexHMAC(current, canonical), h.Get("X-Signature-V2"))
	require.Equal(t, hexHMAC(current, ts+":s-1:Approved:status.updated"), h.Get("X-Signature-Simple"))
	require.Equal(t, "evt_1", h.Get("webhook-id"))
	require.Equal(t, "application/json", h.Get("Content-Type"))

	// During the rotation the -Previous headers carry the same signatures with the old secret.
	require.Equal(t, hexHMAC(previous, string(body)), h.Get("X-Signature-Previous"))
	require.Equal(t, hexHMAC(previous, canonical), h.Get("X-Signature-V2-Previous"))
	require.Equal(t, hexHMAC(previous, ts+":s-1:Approved:status.updated"), h.Get("X-Signature-Simple-Previous"))

	// Absent fields sign as empty strings.
	h2, err := webhooks.Headers([]string{current}, "evt_2", []byte(`{"webhook_type":"user.data.updated"}`), at)
	require.NoError(t, err)
	require.Equal(t, hexHMAC(current, ts+"::"+":user.data.updated"), h2.Get("X-Signature-Simple"))
	require.Len(t, strings.Fields(h2.Get("webhook-signature")), 1)
	for _, name := range []string{"X-Signature-Previous", "X-Signature-V2-Previous", "X-Signature-Simple-Previous"} {
		require.Empty(t, h2.Get(name), "no rotation, no %s", name)
	}
}

func TestHeadersOfCanonicalSignTheBodyAsItIs(t *testing.T) {
	t.Parallel()
	secrets := []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"}
	at := time.Unix(1_790_000_000, 0)
	for _, raw := range []string{
		`{"event_id":"evt_1","webhook_type":"status.updated","session_id":"s-1","status":"Approved","vendor_data":"ü"}`,
		`{"a":[1,2.5,{"z":null,"b":true}],"amount":"10.50","n":-0.0001,"s":"\u003c\"\u2028"}`,
	} {
		body, err := webhooks.Canonical([]byte(raw))
		require.NoError(t, err)
		want, err := webhooks.Headers(secrets, "evt_1", body, at)
		require.NoError(t, err)
		got, err := webhooks.HeadersOfCanonical(secrets, "evt_1", body, at)
		require.NoError(t, err)
		require.Equal(t, want, got, "a canonical body signs alike either way (%s)", body)
		require.Equal(t, got.Get("X-Signature"), got.Get("X-Signature-V2"))
		require.Equal(t, got.Get("X-Signature-Previous"), got.Get("X-Signature-V2-Previous"))
	}
	// A body not in canonical form is what Headers is for: its V2 differs from the raw one.
	raw := []byte(`{"b":1, "a":2}`)
	h, err := webhooks.Headers(secrets, "evt_2", raw, at)
	require.NoError(t, err)
	require.NotEqual(t, h.Get("X-Signature"), h.Get("X-Signature-V2"))
	require.Equal(t, hexHMAC(secrets[0], `{"a":2,"b":1}`), h.Get("X-Signature-V2"))
	require.Equal(t, hexHMAC(secrets[1], `{"a":2,"b":1}`), h.Get("X-Signature-V2-Previous"), "the previous secret signs the canonical form too")
	require.Equal(t, hexHMAC(secrets[1], string(raw)), h.Get("X-Signature-Previous"))
}

func TestSimpleSignatureTakesTopLevelStringsOnly(t *testing.T) {
	t.Parallel()
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	at := time.Unix(1_790_000_000, 0)
	ts := "1790000000"
	for body, fields := range map[string]string{
		`{"session_id":"s-1","status":"Approved","webhook_type":"status.updated"}`:               "s-1:Approved:status.updated",
		`{"session_id":"s\u002d1","status":"Appro\"ved","webhook_type":"a"}`:                     `s-1:Appro"ved:a`,
		`{"session_id":7,"status":null,"webhook_type":["x"]}`:                                    "::",
		`{"data":{"session_id":"inner","status":"Declined"},"webhook_type":"user.data.updated"}`: "::user.data.updated",
		`{}`: "::",
		`{"status":"First","webhook_type":"t","status":"Last"}`: ":Last:t", // as X-Signature-V2's canonical form keeps it
	} {
		h, err := webhooks.Headers([]string{secret}, "evt", []byte(body), at)
		require.NoError(t, err)
		require.Equal(t, hexHMAC(secret, ts+":"+fields), h.Get("X-Signature-Simple"), body)
	}
}

func TestSenderRefusesPrivateTargetsAtDialTime(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	defer srv.Close()
	_, err := webhooks.NewSender(time.Second, webhooks.Guard{}).Send(context.Background(), srv.URL, []byte(`{}`), http.Header{})
	require.ErrorIs(t, err, webhooks.ErrForbiddenAddress, "a loopback target is refused when dialled")
	res, err := webhooks.NewSender(time.Second, loopback).Send(context.Background(), srv.URL, []byte(`{}`), http.Header{})
	require.NoError(t, err)
	require.Equal(t, 200, res.Status)
}

func TestSenderSurvivesHostileReceivers(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		chunk := []byte(strings.Repeat("x", 1<<16))
		for range 1600 { // 100 MiB if anyone read it all
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) { t.Error("a redirect was followed") })
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	mux.HandleFunc("/reset", func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.(*net.TCPConn).SetLinger(0)
			_ = conn.Close()
		}
	})
	mux.HandleFunc("/busy", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer srv.CloseClientConnections()
	sender := webhooks.NewSender(500*time.Millisecond, loopback)
	ctx := context.Background()

	res, err := sender.Send(ctx, srv.URL+"/huge", []byte(`{}`), http.Header{})
	require.NoError(t, err)
	require.Equal(t, 200, res.Status)
	require.Len(t, res.Body, webhooks.MaxResponseRead, "the body is read through a limit")

	res, err = sender.Send(ctx, srv.URL+"/redirect", []byte(`{}`), http.Header{})
	require.NoError(t, err)
	require.Equal(t, http.StatusFound, res.Status)
	require.Equal(t, webhooks.Rejected, webhooks.Classify(res, err), "a redirect is not followed and not a success")

	start := time.Now()
	res, err = sender.Send(ctx, srv.URL+"/hang", []byte(`{}`), http.Header{})
	require.Error(t, err)
	require.Less(t, time.Since(start), 3*time.Second, "the timeout bounds a hanging receiver")
	require.Equal(t, webhooks.Retry, webhooks.Classify(res, err))
	require.Equal(t, "timed out", webhooks.Describe(res, err))

	res, err = sender.Send(ctx, srv.URL+"/reset", []byte(`{}`), http.Header{})
	require.Error(t, err)
	require.Equal(t, webhooks.Retry, webhooks.Classify(res, err))

	res, err = sender.Send(ctx, srv.URL+"/busy", []byte(`{}`), http.Header{})
	require.NoError(t, err)
	require.Equal(t, 2*time.Minute, res.RetryAfter)
	require.Equal(t, webhooks.Retry, webhooks.Classify(res, err))
}

// dialsOfTwoWaves sends two waves of n concurrent requests through sender and returns
// how many connections the second wave opened.
func dialsOfTwoWaves(t *testing.T, sender *webhooks.Sender, n int) int64 {
	t.Helper()
	var dials, arrived atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		<-release // every request of a wave is in flight at once
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	wave := func() {
		arrived.Store(0)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				res, err := sender.Send(context.Background(), srv.URL, []byte(`{}`), http.Header{})
				require.NoError(t, err)
				require.Equal(t, http.StatusNoContent, res.Status)
			})
		}
		require.Eventually(t, func() bool { return arrived.Load() == int64(n) }, 5*time.Second, time.Millisecond)
		for range n {
			release <- struct{}{}
		}
		wg.Wait()
	}
	wave()
	first := dials.Load()
	wave()
	return dials.Load() - first
}

func TestConcurrentAttemptsReuseTheirConnections(t *testing.T) {
	t.Parallel()
	const n = 16
	kept := dialsOfTwoWaves(t, webhooks.NewSender(5*time.Second, loopback, webhooks.IdleConnsPerHost(n)), n)
	require.Zero(t, kept, "a wave as wide as the idle pool reuses every connection")
	dropped := dialsOfTwoWaves(t, webhooks.NewSender(5*time.Second, loopback), n)
	require.GreaterOrEqual(t, dropped, int64(n-4), "by default only 4 idle connections per host are kept")
}
