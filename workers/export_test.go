package workers

// Destinations is the number of destinations whose slots someone holds or waits for.
func (l *Limiter) Destinations() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}
