// Package group lets concurrent callers share one round trip to a server: a group
// commit of database writes, one Redis call for several enqueues.
package group

import (
	"context"
	"errors"
	"sync"
	"time"
)

// A Group lets concurrent callers share one round trip (a group commit): a call waits
// only while the batch before it is written (there is no timer), so under
// light load a batch holds one call and under heavy load up to max. Each call returns
// once the batch that holds it is written. When a batch of several fails, each call is
// written again on its own, so that one call the database refuses fails only itself.
type Group[Req, Res any] struct {
	requests chan groupCall[Req, Res]
	quit     chan struct{}
	wg       sync.WaitGroup
	max      int
	// write writes a batch and returns one result per call, in the batch's order. Its
	// context does not depend on any one caller's, so that a caller that goes away does
	// not fail the others.
	write func(ctx context.Context, batch []Req) ([]Res, error)
}

// groupCall is one call waiting for a batch, and where its result goes.
type groupCall[Req, Res any] struct {
	req  Req
	done chan groupResult[Res]
}

type groupResult[Res any] struct {
	res Res
	err error
}

// writeTimeout bounds the writing of one batch.
const writeTimeout = 10 * time.Second

// ErrClosed means the group was closed while a call waited for a batch.
var ErrClosed = errors.New("closed while waiting for a batch to be written")

// New starts writers goroutines, each writing one batch of at most max calls at a
// time with write.
func New[Req, Res any](writers, max int, write func(context.Context, []Req) ([]Res, error)) *Group[Req, Res] {
	g := &Group[Req, Res]{requests: make(chan groupCall[Req, Res]), quit: make(chan struct{}), max: max, write: write}
	for range writers {
		g.wg.Go(g.run)
	}
	return g
}

// Close stops the writers once the batches in flight are written.
func (g *Group[Req, Res]) Close() {
	close(g.quit)
	g.wg.Wait()
}

// run takes a call, adds whatever else is already waiting, and writes the batch.
func (g *Group[Req, Res]) run() {
	for {
		var batch []groupCall[Req, Res]
		select {
		case <-g.quit:
			return
		case c := <-g.requests:
			batch = append(batch, c)
		}
	drain:
		for len(batch) < g.max {
			select {
			case c := <-g.requests:
				batch = append(batch, c)
			default:
				break drain
			}
		}
		g.flush(batch)
	}
}

// flush writes a batch and hands each call its result.
func (g *Group[Req, Res]) flush(batch []groupCall[Req, Res]) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	reqs := make([]Req, len(batch))
	for i, c := range batch {
		reqs[i] = c.req
	}
	res, err := g.write(ctx, reqs)
	if err == nil && len(res) != len(batch) {
		err = errors.New("a batch write returned the wrong number of results")
	}
	if err != nil && len(batch) > 1 {
		for _, c := range batch {
			g.flush([]groupCall[Req, Res]{c})
		}
		return
	}
	for i, c := range batch {
		var r groupResult[Res]
		if err != nil {
			r.err = err
		} else {
			r.res = res[i]
		}
		c.done <- r
	}
}

// Do has req written in a batch and returns its result, or ctx's error when ctx ends
// first (the request may then be written or not).
func (g *Group[Req, Res]) Do(ctx context.Context, req Req) (Res, error) {
	var zero Res
	c := groupCall[Req, Res]{req: req, done: make(chan groupResult[Res], 1)}
	select {
	case g.requests <- c:
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-g.quit:
		return zero, ErrClosed
	}
	select {
	case r := <-c.done:
		return r.res, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}
