package webhooks

import (
	"crypto/hmac"
	"encoding/hex"
	"time"
)

// VerifyProvider checks an inbound request signed the provider-compatible way, as the
// seed vendor signs its webhooks: timestamp is the X-Timestamp header (decimal unix
// seconds), signatureV2 the X-Signature-V2 header (HMAC of the canonical JSON) and
// signatureRaw the X-Signature header (HMAC of the raw body), either or both present,
// hex in any case. Any of secrets may have signed (a rotation keeps the previous one
// valid for a while). It returns nil when the timestamp is within tolerance of now and
// one signature matches one secret; otherwise an error wrapping ErrMissingSignature,
// ErrBadTimestamp, ErrStaleTimestamp, ErrInvalidJSON or ErrBadSignature.
func VerifyProvider(secrets []string, body []byte, timestamp, signatureV2, signatureRaw string, now time.Time, tolerance time.Duration) error {
	if signatureV2 == "" && signatureRaw == "" {
		return ErrMissingSignature
	}
	if err := checkTimestamp(timestamp, now, tolerance); err != nil {
		return err
	}
	var canonical []byte
	var err error
	if signatureV2 != "" {
		// A body that is not JSON can still match X-Signature over its raw bytes.
		if canonical, err = Canonical(body); err != nil && signatureRaw == "" {
			return err
		}
	}
	v2, errV2 := hex.DecodeString(signatureV2)
	raw, errRaw := hex.DecodeString(signatureRaw)
	for _, secret := range secrets {
		key := []byte(secret)
		if canonical != nil && errV2 == nil && hmac.Equal(v2, mac(key, canonical)) {
			return nil
		}
		if signatureRaw != "" && errRaw == nil && hmac.Equal(raw, mac(key, body)) {
			return nil
		}
	}
	return ErrBadSignature
}
