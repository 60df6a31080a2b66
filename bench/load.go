package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/standinghq/standing/webhooks"
)

// item is one request of the load: a session event or a transaction.
type item struct {
	path string
	body []byte
	key  string // the receiver's key of the webhook that ends its journey
}

// sessionStatuses is the cycle of statuses an entity's events go through; none declines,
// so that no entity gets blocked and every event takes the same path.
var sessionStatuses = []string{"Not Started", "In Progress", "Approved", "In Review", "Approved"}

// makeItems builds the load of one phase: for each of entities, events session events
// (each its own session, so that each becomes its session's current status and emits
// status.updated whatever the order of application) and txs transactions, interleaved
// across entities so that concurrent clients mostly touch different entities.
func makeItems(prefix string, entities, events, txs int, base time.Time) []item {
	items := make([]item, 0, entities*(events+txs))
	perEntity := events + txs
	isTx := make([]bool, perEntity) // transactions spread evenly among the events
	if txs > 0 {
		step, n := perEntity/txs, 0
		for j := range perEntity {
			if (j+1)%step == 0 && n < txs {
				isTx[j], n = true, n+1
			}
		}
	}
	for j := range perEntity {
		for k := range entities {
			vendor := fmt.Sprintf("%s-u%d", prefix, k)
			if isTx[j] {
				id := fmt.Sprintf("%s-t%d-%d", prefix, k, j)
				body, _ := json.Marshal(map[string]any{
					"transaction_id": id, "vendor_data": vendor, "subject_kind": "user",
					"amount": strconv.Itoa(10+j) + ".50", "currency": "EUR", "direction": "outbound",
					"transaction_at": base.Add(time.Duration(j) * time.Second).UTC().Format(time.RFC3339),
				})
				items = append(items, item{path: "/v3/transactions/", body: body, key: "t:" + id})
				continue
			}
			sid := fmt.Sprintf("%s-s%d-%d", prefix, k, j)
			status := sessionStatuses[j%len(sessionStatuses)]
			ev := map[string]any{
				"session_id": sid, "status": status, "webhook_type": "status.updated",
				"vendor_data": vendor, "workflow_id": "wf-bench", "timestamp": base.Unix() + int64(j),
			}
			if status == "Approved" {
				ev["decision"] = map[string]any{
					"id_verification": map[string]any{"status": "Approved", "full_name": fmt.Sprintf("Bench User %d", k)},
					"liveness":        map[string]any{"status": "Approved"},
				}
			}
			body, _ := json.Marshal(ev)
			items = append(items, item{path: "/v3/ingest/sessions/", body: body, key: "s:" + sid})
		}
	}
	return items
}

// poster sends the load's requests to the ingest processes, round robin.
type poster struct {
	client  *http.Client
	bases   []string
	apiKey  string
	appID   string
	secret  string // when set, session events are signed instead of keyed
	next    atomic.Uint64
	failed  atomic.Int64
	lastErr atomic.Value
}

// post sends one item and reports whether it was accepted.
func (p *poster) post(ctx context.Context, it item) bool {
	base := p.bases[p.next.Add(1)%uint64(len(p.bases))]
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+it.path, bytes.NewReader(it.body))
	if err != nil {
		return p.fail(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if p.secret != "" && it.path == "/v3/ingest/sessions/" {
		sig, err := webhooks.SignV2(p.secret, it.body)
		if err != nil {
			return p.fail(err)
		}
		req.Header.Set("X-Application-Id", p.appID)
		req.Header.Set("X-Timestamp", strconv.FormatInt(time.Now().Unix(), 10))
		req.Header.Set("X-Signature-V2", sig)
	} else {
		req.Header.Set("x-api-key", p.apiKey)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return p.fail(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		return p.fail(fmt.Errorf("POST %s: %d %s", it.path, resp.StatusCode, bytes.TrimSpace(body)))
	}
	return true
}

func (p *poster) fail(err error) bool {
	p.failed.Add(1)
	p.lastErr.Store(err.Error())
	return false
}

// sent is when each item was posted (zero when it was not accepted) and when the last
// answer came.
type sent struct {
	at   []time.Time
	done time.Time
}

// postAll posts items with clients concurrent clients as fast as they are answered.
func (p *poster) postAll(ctx context.Context, items []item, clients int) sent {
	s := sent{at: make([]time.Time, len(items))}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(items) || ctx.Err() != nil {
					return
				}
				t := time.Now()
				if p.post(ctx, items[i]) {
					s.at[i] = t
				}
			}
		})
	}
	wg.Wait()
	s.done = time.Now()
	return s
}

// postPaced posts items at rate per second (open loop: each item is sent at its time
// whether or not earlier ones were answered), with at most clients requests in flight.
func (p *poster) postPaced(ctx context.Context, items []item, rate float64, clients int) sent {
	s := sent{at: make([]time.Time, len(items))}
	slots := make(chan struct{}, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range items {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			t := time.Now()
			if p.post(ctx, items[i]) {
				s.at[i] = t
			}
		})
	}
	wg.Wait()
	s.done = time.Now()
	return s
}
