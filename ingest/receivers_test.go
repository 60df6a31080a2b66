package ingest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/internal/testkit"
)

// receiverScripts is where the vendor's verification snippets live.
var receiverScripts = filepath.Join("..", "testdata", "didit")

// requireTool finds a program the receiver-side check needs. A missing one fails the
// test: a skipped check would let CI go green without it.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	require.NoError(t, err, "%s is required by the receiver-side check (install it; CI has it)", name)
	return path
}

// ensureStandardWebhooks installs the npm packages of testdata/didit (the Standard
// Webhooks library) from its package-lock.json when they are missing.
func ensureStandardWebhooks(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(receiverScripts, "node_modules", "standardwebhooks", "package.json")); err == nil {
		return
	}
	cmd := exec.Command(requireTool(t, "npm"), "ci", "--no-audit", "--no-fund")
	cmd.Dir = receiverScripts
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "npm ci in testdata/didit: %s", out)
}

// runVerifier runs one verifier program over the deliveries and returns its verdicts,
// one per delivery.
func runVerifier(t *testing.T, program, script, secret string, got []received) []map[string]bool {
	t.Helper()
	type delivery struct {
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	}
	spec := struct {
		Secret     string     `json:"secret"`
		Deliveries []delivery `json:"deliveries"`
	}{Secret: secret}
	for _, rec := range got {
		headers := map[string]string{}
		for name := range rec.header {
			headers[name] = rec.header.Get(name)
		}
		spec.Deliveries = append(spec.Deliveries, delivery{Headers: headers, Body: string(rec.body)})
	}
	data, err := json.Marshal(spec)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "deliveries.json")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	cmd := exec.Command(requireTool(t, program), script, path)
	cmd.Dir = receiverScripts
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s %s: %s", program, script, stderr.String())
	var verdicts []map[string]bool
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var v map[string]bool
		require.NoError(t, json.Unmarshal(sc.Bytes(), &v), sc.Text())
		verdicts = append(verdicts, v)
	}
	require.Len(t, verdicts, len(got), string(out))
	return verdicts
}

// TestVendorSnippetsVerifyDeliveries runs receivers nobody here wrote against real
// deliveries from a running Standing: the vendor's published Python and Node snippets
// (re-typed into testdata/didit) and the npm Standard Webhooks library.
//
// What cannot pass, and why:
//   - The published X-Signature-Simple snippets read the timestamp from the body's
//     "timestamp" member. Standing signs X-Signature-Simple with the X-Timestamp header
//     value (the time of the attempt; README says so), and a session event's body
//     "timestamp" is the upstream event time, so the snippet as published fails for it.
//     Given the header's value, the same snippet passes.
//   - The published Node X-Signature-V2 snippet rebuilds the canonical JSON with
//     JSON.stringify over an object whose keys it sorted; JavaScript objects always list
//     integer-like keys ("2", "10") first in numeric order, whatever the insertion order,
//     while the canonical form (Python's sort_keys) sorts every key as a string ("10" <
//     "2"). A body with such keys (here a session's metadata) cannot verify with it;
//     X-Signature over the raw body, or the Python snippet, verifies it.
func TestVendorSnippetsVerifyDeliveries(t *testing.T) {
	requireTool(t, "python3")
	requireTool(t, "node")
	ensureStandardWebhooks(t)
	testkit.ForEachEngine(t, setupDelivering, func(t *testing.T, h *harness) {
		rc := newReceiver(t, http.StatusOK)
		dest := h.createDestination(rc.url("/hooks"), "*")
		secret := dest["secret"].(string)

		// A vendor-shaped session (non-ASCII text, floats, whole-number floats) and one
		// whose metadata has integer-like keys.
		h.ingest(func() map[string]any {
			var ev map[string]any
			require.NoError(t, json.Unmarshal(fixture(t, "session_v3_user.json"), &ev))
			ev["timestamp"] = eventTime()
			return ev
		}())
		h.ingest(sessionEvent("s-keys", "Approved", "u-ñandú", eventTime(), map[string]any{
			"metadata": map[string]any{"2": "two", "10": "ten", "name": "Zoë <&>", "ratio": 0.1, "whole": 2.0},
		}))
		got := rc.wait(t, "status.updated", 2)
		require.Eventually(t, func() bool { return len(rc.all()) >= 6 }, 10*time.Second, 50*time.Millisecond)
		time.Sleep(300 * time.Millisecond) // let the last deliveries of the batch land
		got = rc.all()

		python := runVerifier(t, "python3", "verify_python.py", secret, got)
		node := runVerifier(t, "node", "verify_node.js", secret, got)
		withIntegerKeys := 0
		for i, rec := range got {
			what := rec.typ() + " " + string(rec.body)
			require.True(t, python[i]["x_signature"], "Python X-Signature: %s", what)
			require.True(t, python[i]["x_signature_v2"], "Python X-Signature-V2: %s", what)
			require.True(t, python[i]["x_signature_simple_with_header_timestamp"], "Python X-Signature-Simple: %s", what)
			require.True(t, node[i]["x_signature"], "Node X-Signature: %s", what)
			require.True(t, node[i]["x_signature_simple_with_header_timestamp"], "Node X-Signature-Simple: %s", what)
			require.True(t, node[i]["standard_webhooks"], "standardwebhooks (npm): %s", what)

			integerKeys := strings.Contains(string(rec.body), `"10":"ten"`)
			if integerKeys {
				withIntegerKeys++
			}
			require.Equal(t, !integerKeys, node[i]["x_signature_v2"],
				"the Node X-Signature-V2 snippet fails exactly on integer-like keys: %s", what)
			if rec.typ() == "status.updated" {
				require.False(t, python[i]["x_signature_simple"],
					"the published Simple snippet reads the body's timestamp (the event time), not X-Timestamp: %s", what)
			}
		}
		require.NotZero(t, withIntegerKeys, "a delivery carried integer-like keys")
	})
}
