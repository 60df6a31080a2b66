package webhooks_test

import (
	"testing"
	"time"

	"github.com/standinghq/standing/webhooks"
)

var benchBody = []byte(`{"event_id":"01a21402-74b9-793e-901b-18160ccb913f","webhook_type":"status.updated","application_id":"01a21402-6cca-72c4-8fc8-f71100209788","created_at":1795632035,"timestamp":1795632035,"sequence":3,"session_id":"sess-1","status":"Approved","vendor_data":"user-123","decision":{"id_verification":{"status":"Approved","full_name":"José Ñúñez","date_of_birth":"1990-04-02"},"aml":{"status":"In Review","hits":[]},"score":87.5}}`)

func BenchmarkCanonical(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if _, err := webhooks.Canonical(benchBody); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHeaders is the signing work of one delivery attempt (both header families,
// two live secrets).
func BenchmarkHeaders(b *testing.B) {
	secrets := []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"}
	at := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := webhooks.Headers(secrets, "evt", benchBody, at); err != nil {
			b.Fatal(err)
		}
	}
}
