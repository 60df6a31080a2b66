package bench

import (
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMakeItemsShapesTheLoad(t *testing.T) {
	t.Parallel()
	items := makeItems("p", 4, 15, 3, time.Unix(1764080000, 0))
	require.Len(t, items, 4*18)
	keys := map[string]bool{}
	sessions, txs := 0, 0
	for _, it := range items {
		require.False(t, keys[it.key], "each post has its own webhook key: %s", it.key)
		keys[it.key] = true
		var body map[string]any
		require.NoError(t, json.Unmarshal(it.body, &body))
		switch it.path {
		case "/v3/ingest/sessions/":
			sessions++
			require.Equal(t, "s:"+body["session_id"].(string), it.key)
		case "/v3/transactions/":
			txs++
			require.Equal(t, "t:"+body["transaction_id"].(string), it.key)
		}
	}
	require.Equal(t, 4*15, sessions)
	require.Equal(t, 4*3, txs)
	// Interleaved: consecutive posts go to different entities.
	var first, second map[string]any
	require.NoError(t, json.Unmarshal(items[0].body, &first))
	require.NoError(t, json.Unmarshal(items[1].body, &second))
	require.NotEqual(t, first["vendor_data"], second["vendor_data"])
}

func TestPercentileAndRates(t *testing.T) {
	t.Parallel()
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	require.Equal(t, 50.0, percentile(ds, 0.50))
	require.Equal(t, 99.0, percentile(ds, 0.99))
	require.Equal(t, 1.0, percentile(ds[:1], 0.99))
	require.Equal(t, 200.0, perSec(100, 500*time.Millisecond))
	require.Zero(t, perSec(100, 0))
}

func TestReceiverMatchesTheWebhookThatEndsAPost(t *testing.T) {
	t.Parallel()
	require.Equal(t, "s:abc", webhookBody{WebhookType: "status.updated", SessionID: "abc"}.matchKey())
	require.Equal(t, "t:t-1", webhookBody{WebhookType: "transaction.created", TransactionID: "t-1"}.matchKey())
	require.Empty(t, webhookBody{WebhookType: "user.data.updated", SessionID: "abc"}.matchKey())
}

// The CPU meter reads /proc: a process that burns CPU shows it, with its children
// counted for a tree, and per item.
func TestCPUMeterCountsAProcessTree(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sh -c 'while :; do :; done' & wait")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = exec.Command("pkill", "-P", strconv.Itoa(cmd.Process.Pid)).Run(); _ = cmd.Wait() })
	m := newCPUMeter(map[string]int{"shell": cmd.Process.Pid, "self": os.Getpid()}, map[string]bool{"shell": true})
	ppid, _, _, err := procTimes(os.Getpid())
	require.NoError(t, err)
	require.Equal(t, os.Getppid(), ppid)
	// The busy child's CPU counts for its parent's tree (the parent only waits).
	require.Eventually(t, func() bool { return m.perItem(10)["shell"] > 5 }, 20*time.Second, 20*time.Millisecond)
	got := m.perItem(10)
	require.InDelta(t, got["shell"]+got["self"], got["total"], 1e-9)
	require.Equal(t, "self 0.00, shell 1.00, total 1.00", formatCPU(map[string]float64{"self": 0, "shell": 1, "total": 1}))
	require.Equal(t, " (4.0× the load generator's; PostgreSQL 2.0×)",
		relativeCPU(map[string]float64{"bench": 0.5, "postgres": 1, "work": 1, "total": 2.5}))
	require.Empty(t, relativeCPU(map[string]float64{"total": 1}))
}
