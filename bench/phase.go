package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Phase is what one run of the load measured.
type Phase struct {
	Name     string `json:"name"`
	Items    int    `json:"items"`
	Accepted int    `json:"accepted"`
	Failed   int64  `json:"failed"`
	// LastError is the last failed post's error, if any.
	LastError string `json:"last_error,omitempty"`
	// TargetRate is the paced phase's posting rate (items per second); 0 for a max phase.
	TargetRate float64 `json:"target_rate,omitempty"`
	// IntakePerSec is accepted posts per second of posting.
	IntakePerSec float64 `json:"intake_per_s"`
	// AppliedPerSec is inbox rows applied per second, from the first post to the last
	// application.
	AppliedPerSec float64 `json:"applied_per_s"`
	// EndToEndPerSec is posts whose webhook arrived per second, from the first post to
	// the last such webhook.
	EndToEndPerSec float64 `json:"end_to_end_per_s"`
	// WebhooksPerSec is every webhook received (all event types) per second over the
	// same span.
	WebhooksPerSec float64 `json:"webhooks_per_s"`
	// P50Ms and P99Ms are end-to-end latencies: post sent → its webhook received.
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	// Missing is accepted posts whose webhook did not arrive within the phase's timeout.
	Missing int     `json:"missing"`
	Seconds float64 `json:"seconds"`
}

// counter reads how many inbox rows and deliveries are pending (through their partial
// indexes, so that polling costs the server little).
type counter struct {
	mu   sync.Mutex
	conn *pgx.Conn
}

func (c *counter) counts(ctx context.Context) (inbox, deliveries int64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	err = c.conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM inbox WHERE state = 'pending'),
		(SELECT count(*) FROM deliveries WHERE state = 'pending')`).Scan(&inbox, &deliveries)
	return inbox, deliveries, err
}

// vacuum runs VACUUM ANALYZE on Standing's database, as autovacuum would soon.
func (c *counter) vacuum(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.conn.Exec(ctx, "VACUUM (ANALYZE)")
	return err
}

// phaseRun is what runPhase needs.
type phaseRun struct {
	name    string
	items   []item
	poster  *poster
	recv    *receiver
	db      *counter
	clients int
	rate    float64 // 0: as fast as answered
	timeout time.Duration
	// latencies, when set, receives one line per arrived item: the phase's label, when
	// the item was sent (ms since the phase began), its end-to-end latency (ms), its key,
	// when it was sent (Unix ms, to line it up with server logs).
	latencies io.Writer
	label     string
}

type sample struct {
	at      time.Time
	pending int64
}

// runPhase posts the items, waits for their webhooks and measures.
func runPhase(ctx context.Context, r phaseRun) (Phase, error) {
	basePending, _, err := r.db.counts(ctx)
	if err != nil {
		return Phase{}, fmt.Errorf("count inbox: %w", err)
	}
	baseHooks := r.recv.count()
	pollCtx, stopPoll := context.WithCancel(ctx)
	var samples []sample
	var pollWG sync.WaitGroup
	pollWG.Go(func() {
		for pollCtx.Err() == nil {
			// Not pollCtx: pgx closes a connection whose query is cancelled.
			pending, _, err := r.db.counts(ctx)
			if err == nil {
				samples = append(samples, sample{time.Now(), pending})
			}
			select {
			case <-pollCtx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	})

	start := time.Now()
	var s sent
	if r.rate > 0 {
		s = r.poster.postPaced(ctx, r.items, r.rate, r.clients)
	} else {
		s = r.poster.postAll(ctx, r.items, r.clients)
	}
	var keys []string
	var sentAt []time.Time
	for i, t := range s.at {
		if !t.IsZero() {
			keys, sentAt = append(keys, r.items[i].key), append(sentAt, t)
		}
	}
	arrived, hooks := waitArrivals(ctx, r.recv, keys, start.Add(r.timeout))
	stopPoll()
	pollWG.Wait()
	// The last webhooks may arrive between two samples of the inbox: one more sample,
	// so that applied/s is at least a lower bound whenever everything was applied.
	if pending, _, err := r.db.counts(ctx); err == nil {
		samples = append(samples, sample{time.Now(), pending})
	}

	p := Phase{Name: r.name, Items: len(r.items), Accepted: len(keys), Failed: r.poster.failed.Load(), TargetRate: r.rate}
	if v, ok := r.poster.lastErr.Load().(string); ok {
		p.LastError = v
	}
	p.IntakePerSec = perSec(len(keys), s.done.Sub(start))
	for _, smp := range samples {
		// Every accepted post is applied once no more is pending than before the phase,
		// after the last was posted.
		if smp.at.After(s.done) && smp.pending <= basePending {
			p.AppliedPerSec = perSec(len(keys), smp.at.Sub(start))
			break
		}
	}
	var last time.Time
	var lat []time.Duration
	for i, t := range arrived {
		if t.IsZero() {
			p.Missing++
			continue
		}
		lat = append(lat, t.Sub(sentAt[i]))
		if r.latencies != nil {
			fmt.Fprintf(r.latencies, "%s %d %d %s %d\n", r.label, sentAt[i].Sub(start).Milliseconds(),
				t.Sub(sentAt[i]).Milliseconds(), keys[i], sentAt[i].UnixMilli())
		}
		if t.After(last) {
			last = t
		}
	}
	if len(lat) > 0 {
		span := last.Sub(start)
		p.EndToEndPerSec = perSec(len(lat), span)
		p.WebhooksPerSec = perSec(hooks-baseHooks, span)
		p.P50Ms, p.P99Ms = percentile(lat, 0.50), percentile(lat, 0.99)
		p.Seconds = span.Seconds()
	}
	return p, nil
}

// waitArrivals waits until every key's webhook arrived or the deadline passed, and
// returns the arrival times and the receiver's count at the last arrival seen.
func waitArrivals(ctx context.Context, recv *receiver, keys []string, deadline time.Time) ([]time.Time, int) {
	for {
		hooks := recv.count()
		arrived := recv.arrivals(keys)
		if !slices.ContainsFunc(arrived, time.Time.IsZero) || time.Now().After(deadline) || ctx.Err() != nil {
			return arrived, hooks
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// quiesce waits (at most within) until no inbox row and no delivery is pending, so that
// one phase's leftovers do not slow the next.
func quiesce(ctx context.Context, db *counter, within time.Duration) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if inbox, deliveries, err := db.counts(ctx); err == nil && inbox+deliveries == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func perSec(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// percentile is the q-quantile of ds in milliseconds (nearest rank).
func percentile(ds []time.Duration, q float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	i = min(max(i, 0), len(s)-1)
	return float64(s[i].Microseconds()) / 1000
}
