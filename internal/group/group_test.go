package group

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Calls made while a batch is written share the next one, and each gets its own result.
func TestCallsWaitingForAWriteShareTheNextBatch(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	g := New(1, 10, func(_ context.Context, batch []int) ([]int, error) {
		mu.Lock()
		first := len(sizes) == 0
		sizes = append(sizes, len(batch))
		mu.Unlock()
		if first {
			<-release // the first write is slow: the others queue behind it
		}
		out := make([]int, len(batch))
		for i, v := range batch {
			out[i] = v * 2
		}
		return out, nil
	})
	defer g.Close()

	var wg sync.WaitGroup
	results := make([]int, 6)
	wg.Go(func() { results[0], _ = g.Do(context.Background(), 0) })
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(sizes) == 1 }, time.Second, time.Millisecond)
	for i := 1; i < 6; i++ {
		wg.Go(func() { results[i], _ = g.Do(context.Background(), i) })
	}
	time.Sleep(200 * time.Millisecond) // the five calls wait for the writer
	close(release)
	wg.Wait()
	require.Equal(t, []int{0, 2, 4, 6, 8, 10}, results)
	require.Equal(t, 1, sizes[0])
	require.LessOrEqual(t, len(sizes), 3, "the five waiting calls shared batches: %v", sizes)
}

// A batch that fails is written again call by call: only the call the server refuses
// fails.
func TestAFailedBatchIsWrittenCallByCall(t *testing.T) {
	refused := errors.New("refused")
	release := make(chan struct{})
	g := New(1, 10, func(_ context.Context, batch []int) ([]int, error) {
		if batch[0] == -1 {
			<-release
		}
		for _, v := range batch {
			if v == 3 {
				return nil, refused
			}
		}
		return batch, nil
	})
	defer g.Close()
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = g.Do(context.Background(), -1) })
	time.Sleep(20 * time.Millisecond)
	errs := make([]error, 5)
	for i := range 5 {
		wg.Go(func() { _, errs[i] = g.Do(context.Background(), i) })
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	require.Equal(t, []error{nil, nil, nil, refused, nil}, errs)
}

// After Close, a call fails at once.
func TestACallAfterCloseFails(t *testing.T) {
	g := New(1, 10, func(_ context.Context, batch []int) ([]int, error) { return batch, nil })
	g.Close()
	_, err := g.Do(context.Background(), 1)
	require.ErrorIs(t, err, ErrClosed)
}
