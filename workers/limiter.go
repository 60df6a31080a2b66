package workers

import (
	"context"
	"sync"
	"time"
)

// Limiter caps, per destination and within one process, the delivery handlers its jobs
// hold and the requests they have in flight. A destination that hangs holds at most
// its handlers' cap of workers, so the others keep delivering to healthy endpoints; a
// healthy one takes many requests at once, since a batch job holds one handler and
// posts a whole round of requests.
type Limiter struct {
	mu       sync.Mutex
	handlers int
	requests int
	keys     map[string]*destinationSlots
}

// destinationSlots are one destination's handler and request slots: a slot is taken
// by sending into its channel and given back by receiving from it. users counts the
// callers holding or waiting for one of them (under the Limiter's mutex): a destination
// no one uses has no entry, so that the map holds only the destinations in use, however
// many come and go over a process's life.
type destinationSlots struct {
	handlers chan struct{}
	requests chan struct{}
	users    int
}

// NewLimiter returns a Limiter allowing each destination handlers delivery handlers and
// requests requests in flight (each at least 1).
func NewLimiter(handlers, requests int) *Limiter {
	return &Limiter{handlers: max(handlers, 1), requests: max(requests, 1), keys: map[string]*destinationSlots{}}
}

// use returns key's slots, counting one more user of them.
func (l *Limiter) use(key string) *destinationSlots {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.keys[key]
	if !ok {
		s = &destinationSlots{handlers: make(chan struct{}, l.handlers), requests: make(chan struct{}, l.requests)}
		l.keys[key] = s
	}
	s.users++
	return s
}

// done counts one user of key's slots less, forgetting them when it was the last: every
// slot is back then, and new slots are the same as these.
func (l *Limiter) done(key string, s *destinationSlots) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.users--; s.users == 0 && l.keys[key] == s {
		delete(l.keys, key)
	}
}

// takeOf takes one of key's handler (or request) slots, waiting at most wait, and
// returns its release.
func (l *Limiter) takeOf(ctx context.Context, key string, requests bool, wait time.Duration) (func(), bool) {
	s := l.use(key)
	slots := s.handlers
	if requests {
		slots = s.requests
	}
	release, ok := take(ctx, slots, wait)
	if !ok {
		l.done(key, s)
		return nil, false
	}
	return func() { release(); l.done(key, s) }, true
}

// take takes a slot of slots, waiting at most wait for one (a healthy destination's
// slots free up within milliseconds), and returns its release.
func take(ctx context.Context, slots chan struct{}, wait time.Duration) (func(), bool) {
	release := func() { <-slots }
	select {
	case slots <- struct{}{}:
		return release, true
	default:
	}
	if wait <= 0 {
		return nil, false
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case slots <- struct{}{}:
		return release, true
	case <-timer.C:
	case <-ctx.Done():
	}
	return nil, false
}

// Hold takes one of key's handler slots for a job's run, waiting at most wait, and
// returns its release.
func (l *Limiter) Hold(ctx context.Context, key string, wait time.Duration) (func(), bool) {
	return l.takeOf(ctx, key, false, wait)
}

// Request takes one of key's request slots, waiting at most wait, and returns its
// release.
func (l *Limiter) Request(ctx context.Context, key string, wait time.Duration) (func(), bool) {
	return l.takeOf(ctx, key, true, wait)
}

// TryRequests takes up to n free request slots of key without waiting and returns
// their releases (none when the destination's requests are at their cap).
func (l *Limiter) TryRequests(key string, n int) []func() {
	var releases []func()
	for len(releases) < n {
		release, ok := l.takeOf(context.Background(), key, true, 0)
		if !ok {
			break
		}
		releases = append(releases, release)
	}
	return releases
}

// Single takes, without waiting, what a job of one delivery needs of key (a handler and
// a request slot) and returns their release; false when either is at its cap.
func (l *Limiter) Single(ctx context.Context, key string) (func(), bool) {
	handler, ok := l.Hold(ctx, key, slotWait)
	if !ok {
		return nil, false
	}
	request, ok := l.Request(ctx, key, slotWait)
	if !ok {
		handler()
		return nil, false
	}
	return func() { request(); handler() }, true
}
