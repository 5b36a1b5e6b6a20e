package workerpool

import (
	"context"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOrderedPlacesPastMarks: a Result delivered after a later mark was made
// (its job started before a Do, and finished after jobs that came after the
// Do) still takes its own place.
func TestOrderedPlacesPastMarks(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	p := New(func(_ context.Context, v int) (int, error) {
		if v == 1 {
			close(started)
			<-release // the first job finishes last
		}
		return v, nil
	}, WithWorkers(3), WithOrderedResults())
	_, err := p.Submit(context.Background(), 1)
	require.NoError(t, err)
	<-started
	_, err = p.Do(context.Background(), -1) // takes ID 2: the next Result job is marked
	require.NoError(t, err)
	for _, v := range []int{3, 4} {
		_, err := p.Submit(context.Background(), v)
		require.NoError(t, err)
	}
	close(release)
	var got []int
	for range 3 {
		select {
		case r := <-p.Results():
			got = append(got, r.Job.Value)
		case <-time.After(10 * time.Second):
			require.FailNow(t, "ordered Results stalled", "got %v", got)
		}
	}
	assert.Equal(t, []int{1, 3, 4}, got)
	p.Close()
	for range p.Results() {
	}
}

// TestOrderedResultsWithCallersInterleaved mixes Submit, Do and TryDo jobs of
// uneven length in an ordered pool: the Results come strictly in ID order,
// all of them, and the marks that map IDs to places are dropped as their
// Results are sent.
func TestOrderedResultsWithCallersInterleaved(t *testing.T) {
	p := New(func(_ context.Context, v int) (int, error) {
		for range v % 5 {
			runtime.Gosched() // uneven lengths
		}
		return v, nil
	}, WithWorkers(4), WithOrderedResults(), WithBufferSize(8))
	var submitted sync.Map
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 300 {
				v := g*1000 + i
				switch (g + i) % 3 {
				case 0:
					id, err := p.Submit(context.Background(), v)
					if assert.NoError(t, err) {
						submitted.Store(id, v)
					}
				case 1:
					got, err := p.Do(context.Background(), v)
					assert.NoError(t, err)
					assert.Equal(t, v, got)
				default:
					if got, err := p.TryDo(context.Background(), v); err == nil {
						assert.Equal(t, v, got)
					}
				}
			}
		})
	}
	done := make(chan []Result[int, int])
	go func() {
		var rs []Result[int, int]
		for r := range p.Results() {
			rs = append(rs, r)
		}
		done <- rs
	}()
	wg.Wait()
	p.Close()
	rs := <-done
	n := 0
	submitted.Range(func(any, any) bool { n++; return true })
	require.Len(t, rs, n)
	for i, r := range rs {
		v, ok := submitted.Load(r.Job.ID)
		require.True(t, ok)
		require.Equal(t, v, r.Job.Value)
		if i > 0 {
			require.Greater(t, r.Job.ID, rs[i-1].Job.ID, "in ID order")
		}
	}
	p.order.mu.Lock()
	defer p.order.mu.Unlock()
	assert.LessOrEqual(t, len(p.order.marks), 1, "the marks of sent Results are dropped")
}

// TestPoolMapGivesBackItsSinksWhenItFails: a Pool.Map that cannot submit
// (the pool is closed) puts its sinks back, so the table does not grow with
// failed calls.
func TestPoolMapGivesBackItsSinksWhenItFails(t *testing.T) {
	p := New(double0, WithWorkers(3))
	p.Close()
	for range 5 {
		_, err := p.Map(context.Background(), []int{1, 2, 3, 4})
		require.ErrorIs(t, err, ErrClosed)
	}
	assert.Equal(t, uint32(1), p.sinks.n, "it fails at its first element: one sink, reused by every call")
	for range p.Results() {
	}
}

// The window is 2×limit + room exactly as far as that fits in a uint64, and
// saturates only past it.
func TestOrderWindowSaturatesOnlyPastTheEdge(t *testing.T) {
	var limit atomic.Int64
	o := newOrderer[int, int](make(chan Result[int, int], 2), &limit)
	edge := int64((math.MaxUint64 - 2) / 2) // 2×edge + 2 = MaxUint64 − 1
	limit.Store(edge)
	assert.Equal(t, uint64(math.MaxUint64-1), o.window(), "at the edge: 2×limit + room, no saturation")
	limit.Store(edge + 1)
	assert.Equal(t, uint64(math.MaxUint64), o.window(), "past it: saturated")
	limit.Store(3)
	assert.Equal(t, uint64(8), o.window())
}
