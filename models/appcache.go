package models

import (
	"sync"
	"time"
)

// apiKeyCacheTTL is how long a process answers an API key from memory before it reads
// the key's application again. Every API request authenticates, and the lookup was one
// statement per request; a change to an application (settings, ingest secret) made in
// this process clears the cache at once, one made in another process is seen within
// this time. What decides on settings (the work process applying events, GET
// /v3/settings) reads them from the database, never from this cache.
const apiKeyCacheTTL = time.Second

// maxCachedKeys bounds the cache: past it, the cache starts over.
const maxCachedKeys = 10_000

// apiKeyCache maps API key hashes to their applications for apiKeyCacheTTL. It keeps
// only keys that were found: an unknown key is looked up every time.
type apiKeyCache struct {
	mu     sync.Mutex
	byHash map[string]cachedApplication
	// generation counts clears: a lookup that read the database before a clear does not
	// put what it read after it.
	generation uint64
}

type cachedApplication struct {
	app   Application
	until time.Time
}

func newAPIKeyCache() *apiKeyCache {
	return &apiKeyCache{byHash: map[string]cachedApplication{}}
}

// get returns a copy of the application of hash, if it was cached less than
// apiKeyCacheTTL ago, and else the generation to put what the caller reads with.
func (c *apiKeyCache) get(hash string, now time.Time) (*Application, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	hit, ok := c.byHash[hash]
	if !ok || !now.Before(hit.until) {
		return nil, c.generation, false
	}
	app := hit.app
	return &app, c.generation, true
}

// put caches app for hash from now, unless the cache was cleared since generation.
func (c *apiKeyCache) put(hash string, app *Application, now time.Time, generation uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if generation != c.generation {
		return
	}
	if len(c.byHash) >= maxCachedKeys {
		c.byHash = map[string]cachedApplication{}
	}
	c.byHash[hash] = cachedApplication{app: *app, until: now.Add(apiKeyCacheTTL)}
}

// clear forgets every key: an application changed.
func (c *apiKeyCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byHash = map[string]cachedApplication{}
	c.generation++
}
