package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Errors returned by StandardSignature and VerifyV2, usually wrapped with details.
var (
	// ErrBadSecret means a Standard Webhooks secret is not "whsec_" + base64 of a key.
	ErrBadSecret = errors.New("webhooks: bad secret")
	// ErrMissingSignature means the request carries no signature.
	ErrMissingSignature = errors.New("webhooks: missing signature")
	// ErrBadTimestamp means the timestamp is missing or not decimal unix seconds.
	ErrBadTimestamp = errors.New("webhooks: bad timestamp")
	// ErrStaleTimestamp means the timestamp is too far from the current time.
	ErrStaleTimestamp = errors.New("webhooks: timestamp outside tolerance")
	// ErrBadSignature means the signature does not match the body.
	ErrBadSignature = errors.New("webhooks: signature mismatch")
)

// standardSecretPrefix starts every Standard Webhooks secret.
const standardSecretPrefix = "whsec_"

func mac(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}

// SignV2 returns the X-Signature-V2 header value: the lowercase hex HMAC-SHA256 of
// Canonical(body), keyed with the whole secret string.
func SignV2(secret string, body []byte) (string, error) {
	canonical, err := Canonical(body)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(mac([]byte(secret), canonical)), nil
}

// SignRaw returns the X-Signature header value: the lowercase hex HMAC-SHA256 of the
// raw body bytes, keyed with the whole secret string.
func SignRaw(secret string, body []byte) string {
	return hex.EncodeToString(mac([]byte(secret), body))
}

// SignSimple returns the X-Signature-Simple header value: the lowercase hex HMAC-SHA256
// of "timestamp:sessionID:status:webhookType", keyed with the whole secret string.
// Absent fields are passed as empty strings.
func SignSimple(secret, timestamp, sessionID, status, webhookType string) string {
	msg := timestamp + ":" + sessionID + ":" + status + ":" + webhookType
	return hex.EncodeToString(mac([]byte(secret), []byte(msg)))
}

// StandardSignature returns the Standard Webhooks webhook-signature header value:
// "v1," + base64 HMAC-SHA256(key, msgID + "." + timestamp + "." + body) for each secret,
// in order and separated by single spaces, where key is the base64-decoded part of the
// secret after "whsec_". It fails with ErrBadSecret when secrets is empty or a secret
// is malformed.
func StandardSignature(secrets []string, msgID string, timestamp int64, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", fmt.Errorf("%w: no secrets", ErrBadSecret)
	}
	msg := []byte(msgID + "." + strconv.FormatInt(timestamp, 10) + ".")
	msg = append(msg, body...)
	sigs := make([]string, len(secrets))
	for i, secret := range secrets {
		encoded, ok := strings.CutPrefix(secret, standardSecretPrefix)
		if !ok {
			return "", fmt.Errorf("%w: secret %d lacks the %q prefix", ErrBadSecret, i, standardSecretPrefix)
		}
		key, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil || len(key) == 0 {
			return "", fmt.Errorf("%w: secret %d is not a base64 key", ErrBadSecret, i)
		}
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(mac(key, msg))
	}
	return strings.Join(sigs, " "), nil
}

// VerifyV2 checks an inbound request signed the provider-compatible way: timestamp is
// the X-Timestamp header (decimal unix seconds) and signature the X-Signature-V2 header
// (hex, any case). It returns nil when the timestamp is within tolerance of now in
// either direction and the signature matches SignV2(secret, body); otherwise an error
// wrapping ErrMissingSignature, ErrBadTimestamp, ErrStaleTimestamp or ErrBadSignature.
func VerifyV2(secret string, body []byte, timestamp, signature string, now time.Time, tolerance time.Duration) error {
	if signature == "" {
		return ErrMissingSignature
	}
	if err := checkTimestamp(timestamp, now, tolerance); err != nil {
		return err
	}
	got, err := hex.DecodeString(signature)
	if err != nil {
		return fmt.Errorf("%w: signature is not hex", ErrBadSignature)
	}
	canonical, err := Canonical(body)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	if !hmac.Equal(got, mac([]byte(secret), canonical)) {
		return ErrBadSignature
	}
	return nil
}

// checkTimestamp refuses a signature timestamp that is missing, not unix seconds, or
// more than tolerance away from now in either direction.
func checkTimestamp(timestamp string, now time.Time, tolerance time.Duration) error {
	if timestamp == "" {
		return fmt.Errorf("%w: missing", ErrBadTimestamp)
	}
	seconds, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not unix seconds", ErrBadTimestamp, timestamp)
	}
	// Sub saturates, so far-off timestamps compare as stale rather than overflowing.
	if skew := now.Sub(time.Unix(seconds, 0)); skew > tolerance || skew < -tolerance {
		return fmt.Errorf("%w: %s is %s away from now", ErrStaleTimestamp, timestamp, skew)
	}
	return nil
}
