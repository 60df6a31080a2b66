package models

import (
	"testing"
	"time"
)

// A lookup that read an application before a clear does not put it after: the change
// that cleared the cache would otherwise be hidden for a second.
func TestAPIKeyCacheKeepsNothingReadBeforeAClear(t *testing.T) {
	c := newAPIKeyCache()
	now := time.Now()
	_, generation, ok := c.get("h", now)
	if ok {
		t.Fatal("an empty cache had the key")
	}
	c.clear() // a settings change commits while the lookup reads
	c.put("h", &Application{ID: "old"}, now, generation)
	if _, _, ok := c.get("h", now); ok {
		t.Fatal("what was read before the clear was put after it")
	}
	_, generation, _ = c.get("h", now)
	c.put("h", &Application{ID: "new"}, now, generation)
	app, _, ok := c.get("h", now)
	if !ok || app.ID != "new" {
		t.Fatalf("a lookup after the clear is cached: %v %v", app, ok)
	}
	if _, _, ok := c.get("h", now.Add(apiKeyCacheTTL)); ok {
		t.Fatal("kept past its TTL")
	}
}
