package models_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/standinghq/standing/internal/testkit"
	"github.com/standinghq/standing/rules"
)

// BenchmarkSessionEvent is the hot path of intake on PostgreSQL: store one upstream
// session event in the inbox and apply it (entity lock, session upsert, counters
// recomputed, features, profile, outbox events), for one entity with a growing history.
func BenchmarkSessionEvent(b *testing.B) {
	store := testkit.PostgresStore(b)
	ctx := context.Background()
	app, err := store.CreateApplication(ctx, "bench", "")
	if err != nil {
		b.Fatal(err)
	}
	decision := idv("Approved", "Ana Ruiz")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		in := ev("bench-user", fmt.Sprintf("s-%d", i/4), rules.SessionStatuses()[i%4], base+int64(i), decision)
		i++
		item, _, err := store.IngestSessionEvent(ctx, app.Application.ID, in)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := store.ApplySessionEvent(ctx, item.ID); err != nil {
			b.Fatal(err)
		}
	}
}
