package models

import "sync"

// settledItems remembers the inbox items that a session batch of this process applied
// besides its own, after the commit that settled them, so that their own jobs (each
// item keeps one, the safety net for a batch that fails) end without a database read. A
// settled item never changes, so a remembered id is never wrong; the oldest are
// forgotten beyond max, and a forgotten item's job reads its state as before.
type settledItems struct {
	mu   sync.Mutex
	ids  map[string]struct{}
	ring []string
	next int
}

// settledRemembered bounds the items remembered (about 5 MiB).
const settledRemembered = 1 << 16

func newSettledItems(max int) *settledItems {
	return &settledItems{ids: make(map[string]struct{}, max), ring: make([]string, max)}
}

// add remembers ids, forgetting the oldest beyond the bound.
func (s *settledItems) add(ids []string) {
	if s == nil || len(ids) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if _, ok := s.ids[id]; ok {
			continue
		}
		if old := s.ring[s.next]; old != "" {
			delete(s.ids, old)
		}
		s.ring[s.next] = id
		s.ids[id] = struct{}{}
		s.next = (s.next + 1) % len(s.ring)
	}
}

// has reports whether id is remembered as settled.
func (s *settledItems) has(id string) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.ids[id]
	return ok
}
