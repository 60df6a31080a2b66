package webhooks_test

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/webhooks"
)

// vectorFile is testdata/vectors.json, written by testdata/gen_vectors.py.
type vectorFile struct {
	Secret          string   `json:"secret"`
	StandardSecrets []string `json:"standard_secrets"`
	MsgID           string   `json:"msg_id"`
	Timestamp       int64    `json:"timestamp"`
	Vectors         []struct {
		Name         string `json:"name"`
		Body         string `json:"body"`
		Canonical    string `json:"canonical"`
		SignatureV2  string `json:"signature_v2"`
		SignatureRaw string `json:"signature_raw"`
		SimpleFields struct {
			SessionID   string `json:"session_id"`
			Status      string `json:"status"`
			WebhookType string `json:"webhook_type"`
		} `json:"simple_fields"`
		SignatureSimple   string `json:"signature_simple"`
		StandardSignature string `json:"standard_signature"`
	} `json:"vectors"`
}

func TestVectors(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/vectors.json")
	require.NoError(t, err)
	var file vectorFile
	require.NoError(t, json.Unmarshal(data, &file))
	require.GreaterOrEqual(t, len(file.Vectors), 12)

	for _, v := range file.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			body := []byte(v.Body)

			canonical, err := webhooks.Canonical(body)
			require.NoError(t, err)
			require.Equal(t, v.Canonical, string(canonical))

			v2, err := webhooks.SignV2(file.Secret, body)
			require.NoError(t, err)
			require.Equal(t, v.SignatureV2, v2)

			require.Equal(t, v.SignatureRaw, webhooks.SignRaw(file.Secret, body))

			ts := strconv.FormatInt(file.Timestamp, 10)
			f := v.SimpleFields
			require.Equal(t, v.SignatureSimple, webhooks.SignSimple(file.Secret, ts, f.SessionID, f.Status, f.WebhookType))

			standard, err := webhooks.StandardSignature(file.StandardSecrets, file.MsgID, file.Timestamp, body)
			require.NoError(t, err)
			require.Equal(t, v.StandardSignature, standard)

			first, err := webhooks.StandardSignature(file.StandardSecrets[:1], file.MsgID, file.Timestamp, body)
			require.NoError(t, err)
			require.Equal(t, strings.Fields(v.StandardSignature)[0], first)

			now := time.Unix(file.Timestamp, 0)
			require.NoError(t, webhooks.VerifyV2(file.Secret, body, ts, v.SignatureV2, now, time.Minute))
		})
	}
}

func TestStandardSignatureBadSecrets(t *testing.T) {
	t.Parallel()
	good := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	tests := []struct {
		name    string
		secrets []string
	}{
		{"no secrets", nil},
		{"missing prefix", []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
		{"not base64", []string{"whsec_not*base64"}},
		{"empty key", []string{"whsec_"}},
		{"second secret bad", []string{good, "whsec_%%%"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := webhooks.StandardSignature(tt.secrets, "msg_1", 1764080000, []byte(`{}`))
			require.ErrorIs(t, err, webhooks.ErrBadSecret)
		})
	}
}

func TestVerifyV2(t *testing.T) {
	t.Parallel()
	const (
		secret    = "upstream-secret"
		body      = `{"session_id":"s-1","status":"Approved","score":87.5,"ratio":1.0,"name":"José"}`
		tolerance = 5 * time.Minute
	)
	now := time.Unix(1764080000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig, err := webhooks.SignV2(secret, []byte(body))
	require.NoError(t, err)

	tests := []struct {
		name      string
		secret    string
		body      string
		timestamp string
		signature string
		want      error // nil when valid
	}{
		{"valid", secret, body, ts, sig, nil},
		{"uppercase hex", secret, body, ts, strings.ToUpper(sig), nil},
		{"keys reordered and reformatted", secret, `{"name":"Jos\u00e9", "ratio":1, "score":87.5, "status":"Approved", "session_id":"s-1"}`, ts, sig, nil},
		{"at the edge of tolerance in the past", secret, body, strconv.FormatInt(now.Add(-tolerance).Unix(), 10), sig, nil},
		{"at the edge of tolerance in the future", secret, body, strconv.FormatInt(now.Add(tolerance).Unix(), 10), sig, nil},
		{"wrong secret", "other-secret", body, ts, sig, webhooks.ErrBadSignature},
		{"tampered body", secret, strings.Replace(body, "Approved", "Declined", 1), ts, sig, webhooks.ErrBadSignature},
		{"invalid JSON body", secret, body + "}", ts, sig, webhooks.ErrBadSignature},
		{"truncated signature", secret, body, ts, sig[:62], webhooks.ErrBadSignature},
		{"signature not hex", secret, body, ts, "zz" + sig[2:], webhooks.ErrBadSignature},
		{"raw signature instead of V2", secret, body, ts, webhooks.SignRaw(secret, []byte(body)), webhooks.ErrBadSignature},
		{"stale timestamp", secret, body, strconv.FormatInt(now.Add(-tolerance-time.Second).Unix(), 10), sig, webhooks.ErrStaleTimestamp},
		{"future timestamp", secret, body, strconv.FormatInt(now.Add(tolerance+time.Second).Unix(), 10), sig, webhooks.ErrStaleTimestamp},
		{"far past timestamp", secret, body, "-9223372036854775808", sig, webhooks.ErrStaleTimestamp},
		{"far future timestamp", secret, body, "9223372036854775807", sig, webhooks.ErrStaleTimestamp},
		{"missing timestamp", secret, body, "", sig, webhooks.ErrBadTimestamp},
		{"garbage timestamp", secret, body, "yesterday", sig, webhooks.ErrBadTimestamp},
		{"fractional timestamp", secret, body, ts + ".5", sig, webhooks.ErrBadTimestamp},
		{"missing signature", secret, body, ts, "", webhooks.ErrMissingSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := webhooks.VerifyV2(tt.secret, []byte(tt.body), tt.timestamp, tt.signature, now, tolerance)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func TestSignSimpleMessage(t *testing.T) {
	t.Parallel()
	// The simple signature is the raw signature of the colon-joined fields.
	require.Equal(t,
		webhooks.SignRaw("k", []byte("1764080000:s-1:Approved:status.updated")),
		webhooks.SignSimple("k", "1764080000", "s-1", "Approved", "status.updated"))
	require.Equal(t,
		webhooks.SignRaw("k", []byte("1764080000:::")),
		webhooks.SignSimple("k", "1764080000", "", "", ""))
}
