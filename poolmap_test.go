package workerpool_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/workerpool-go/workerpool"
)

func TestPoolMapReturnsOutputsInOrder(t *testing.T) {
	t.Parallel()
	p := workerpool.New(double, workerpool.WithWorkers(4))
	defer p.Close()
	in := seq(1000)
	out, err := p.Map(context.Background(), in)
	require.NoError(t, err)
	require.Len(t, out, len(in))
	for i, v := range out {
		require.Equal(t, 2*i, v)
	}
	assert.Equal(t, uint64(1000), p.Stats().Completed, "every element is a job of the pool")

	out, err = p.Map(context.Background(), nil)
	assert.NoError(t, err)
	assert.NotNil(t, out, "an empty in gives an empty, non-nil slice")
	assert.Empty(t, out)
}

// TestPoolMapSharesThePoolAndItsLimit: concurrent Maps, Do calls and the
// limit: never more than N run at once, each call gets its own outputs.
func TestPoolMapSharesThePoolAndItsLimit(t *testing.T) {
	t.Parallel()
	g := newGate()
	close(g.release) // no holding back; the gate only counts the peak
	p := workerpool.New(g.fn, workerpool.WithWorkers(3))
	defer p.Close()
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Go(func() {
			in := make([]int, 300)
			for i := range in {
				in[i] = c*1000 + i
			}
			out, err := p.Map(context.Background(), in)
			if assert.NoError(t, err) {
				assert.Equal(t, in, out)
			}
		})
		wg.Go(func() {
			for i := range 50 {
				v, err := p.Do(context.Background(), -i)
				assert.NoError(t, err)
				assert.Equal(t, -i, v)
			}
		})
	}
	go func() {
		for range g.started { // keep the gate's channel from filling
		}
	}()
	wg.Wait()
	close(g.started)
	assert.LessOrEqual(t, g.peak.Load(), int64(3))
}

// TestPoolMapFailsFastAndAlone: the first failing element's own error comes
// back, the call's other jobs are cancelled (queued ones never run), and
// neither the pool nor another caller's job is touched.
func TestPoolMapFailsFastAndAlone(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		errBad := errors.New("bad element")
		otherRelease := make(chan struct{})
		var ran sync.Map
		p := workerpool.New(func(ctx context.Context, v int) (int, error) {
			ran.Store(v, true)
			switch {
			case v == 3:
				return 0, errBad
			case v == -1: // another caller's job: runs across the failure
				<-otherRelease
				return 0, ctx.Err()
			case v >= 0:
				<-ctx.Done() // this call's jobs wait to be cancelled
				return 0, ctx.Err()
			}
			return v, nil
		}, workerpool.WithWorkers(5), workerpool.WithBufferSize(100))
		defer p.Close()

		other := make(chan error)
		go func() {
			_, err := p.Do(context.Background(), -1)
			other <- err
		}()
		synctest.Wait() // the other caller's job runs
		_, err := p.Map(context.Background(), seq(100))
		assert.ErrorIs(t, err, errBad, "the failing element's own error")
		assert.NotErrorIs(t, err, context.Canceled)

		close(otherRelease)
		assert.NoError(t, <-other, "another caller's job is not cancelled")
		synctest.Wait()
		_, ranQueued := ran.Load(4)
		assert.False(t, ranQueued, "the call's queued job never runs once it failed")
		_, ranLate := ran.Load(99)
		assert.False(t, ranLate, "nor does a later one")
		v, err := p.Do(context.Background(), -7)
		assert.NoError(t, err, "the pool goes on")
		assert.Equal(t, -7, v)
	})
}

// TestPoolMapReturnsWhenCtxEnds: Map returns ctx.Err() at once, without
// waiting for its running jobs, which see their ctx done.
func TestPoolMapReturnsWhenCtxEnds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		p := workerpool.New(func(ctx context.Context, v int) (int, error) {
			<-ctx.Done()
			<-release // holds on after Map has returned
			return v, nil
		}, workerpool.WithWorkers(2))
		ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, 1))
		done := make(chan error)
		go func() {
			_, err := p.Map(ctx, seq(10))
			done <- err
		}()
		synctest.Wait()
		assert.Equal(t, 2, p.Stats().Running)
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
		close(release)
		p.Close()
		assert.Empty(t, drain(p.Results()))

		// A done ctx, or a closed pool, fails at once.
		_, err := p.Map(ctx, seq(3))
		assert.ErrorIs(t, err, context.Canceled)
		_, err = p.Map(context.Background(), seq(3))
		assert.ErrorIs(t, err, workerpool.ErrClosed)
	})
}

// TestPoolMapFairness: a Do that arrives behind a Map of a thousand
// elements waits behind at most N of them, not the thousand.
func TestPoolMapFairness(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const workers = 2
		g := newGate()
		p := workerpool.New(g.fn, workerpool.WithWorkers(workers), workerpool.WithBufferSize(1024))
		defer p.Close()
		mapped := make(chan error)
		go func() {
			_, err := p.Map(context.Background(), seq(1000))
			mapped <- err
		}()
		g.waitStarted(t, workers) // the Map's first jobs hold the workers
		synctest.Wait()
		done := make(chan int)
		go func() {
			v, err := p.Do(context.Background(), -1)
			assert.NoError(t, err)
			done <- v
		}()
		synctest.Wait() // the Do's job is queued behind what the Map queued
		before := 0
		for {
			g.release <- struct{}{} // let one running job finish
			if v := g.waitStarted(t, 1)[0]; v == -1 {
				break
			}
			before++
		}
		// The Map's two jobs in flight both run: none is queued, so the Do
		// is next in line.
		assert.Zero(t, before, "Map elements that started after the Do was queued and before it")
		close(g.release)
		assert.Equal(t, -1, <-done)
		assert.NoError(t, <-mapped)
	})
}

// TestPoolMapsTakeTurns: two Maps on one worker get it in turn.
func TestPoolMapsTakeTurns(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		p := workerpool.New(g.fn, workerpool.WithWorkers(1))
		defer p.Close()
		submitAll(t, p, -1) // holds the worker while both Maps queue
		g.waitStarted(t, 1)
		for c := range 2 {
			go func() {
				in := make([]int, 10)
				for i := range in {
					in[i] = c*100 + i
				}
				_, err := p.Map(context.Background(), in)
				assert.NoError(t, err)
			}()
		}
		var order []int
		for range 20 {
			synctest.Wait() // both Maps have queued what they may
			g.release <- struct{}{}
			order = append(order, g.waitStarted(t, 1)[0]/100)
		}
		g.release <- struct{}{}
		<-p.Results()
		for i := 1; i < len(order); i++ {
			assert.NotEqualf(t, order[i-1], order[i], "two jobs of one Map in a row: %v", order)
		}
	})
}
