package workerpool_test

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/workerpool-go/workerpool"
)

func TestResizeShrinkNeverExceedsNewLimit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const before, after = 6, 3
		var live, peak atomic.Int64 // jobs inside the Func
		release := make(chan struct{})
		p := workerpool.New(func(_ context.Context, v int) (int, error) {
			n := live.Add(1)
			if n > peak.Load() {
				peak.Store(n)
			}
			<-release
			live.Add(-1)
			return v, nil
		}, workerpool.WithWorkers(before), workerpool.WithBufferSize(100))
		submitAll(t, p, seq(before)...)
		synctest.Wait()
		require.Equal(t, int64(before), live.Load())
		// Four jobs end: their workers go idle, two jobs keep running.
		for range before - 2 {
			release <- struct{}{}
			<-p.Results()
		}
		synctest.Wait()
		p.Resize(after)
		peak.Store(live.Load())
		assert.Equal(t, after, p.Stats().Workers)
		// The idle surplus workers take the new jobs, but only one may start.
		submitAll(t, p, seq(20)...)
		synctest.Wait()
		assert.Equal(t, int64(after), live.Load())
		st := p.Stats()
		assert.Equal(t, after, st.Running)
		// 16 jobs in the buffer and 3 taken by surplus workers that wait
		// for a slot: all accepted, none started.
		assert.Equal(t, 16+3, st.Queued)
		// Let the jobs go one at a time: each end lets exactly one start.
		for range 2 + 20 {
			release <- struct{}{}
			synctest.Wait()
			require.LessOrEqual(t, live.Load(), int64(after))
		}
		p.Close()
		assert.Len(t, byID(t, drain(p.Results())), 2+20, "the rest of the 26 Results")
		assert.Equal(t, int64(after), peak.Load(), "peak concurrency after the shrink")
	})
}

func TestResizeShrinkLetsRunningJobsFinish(t *testing.T) {
	t.Parallel()
	g := newGate()
	p := workerpool.New(g.fn, workerpool.WithWorkers(3))
	submitAll(t, p, 1, 2, 3)
	g.waitStarted(t, 3)
	p.Resize(1)
	assert.Equal(t, 3, p.Stats().Running, "nothing is interrupted")
	close(g.release)
	p.Close()
	for _, r := range collect(t, p.Results()) {
		assert.NoError(t, r.Err)
	}
}

func TestResizeGrowWakesBlockedSubmitters(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		p := workerpool.New(g.fn, workerpool.WithWorkers(1), workerpool.WithBufferSize(0))
		submitAll(t, p, 0)
		var accepted atomic.Int64
		for i := 1; i <= 3; i++ {
			go func() {
				_, err := p.Submit(context.Background(), i)
				assert.NoError(t, err)
				accepted.Add(1)
			}()
		}
		synctest.Wait()
		require.Zero(t, accepted.Load(), "the single worker is busy and there is no buffer")
		p.Resize(4)
		synctest.Wait()
		assert.Equal(t, int64(3), accepted.Load(), "new workers took the blocked jobs")
		assert.Equal(t, 4, p.Stats().Running)
		assert.Equal(t, 4, p.Stats().Workers)
		close(g.release)
		p.Close()
		requireExactlyOnce(t, drain(p.Results()), 4)
	})
}

func TestResizeAfterCloseHasNoEffect(t *testing.T) {
	t.Parallel()
	p := workerpool.New(double, workerpool.WithWorkers(3))
	p.Close()
	p.Resize(10)
	assert.Equal(t, 3, p.Stats().Workers)
	collect(t, p.Results())
}

func TestResizeRejectsNonPositive(t *testing.T) {
	t.Parallel()
	p := workerpool.New(double)
	defer p.Close()
	assert.PanicsWithValue(t, "workerpool: Resize(0): n must be at least 1", func() { p.Resize(0) })
}

func TestResizeConcurrentUnderLoad(t *testing.T) {
	t.Parallel()
	for _, ordered := range []bool{false, true} {
		opts := []workerpool.Option{workerpool.WithWorkers(4)}
		if ordered {
			opts = append(opts, workerpool.WithOrderedResults())
		}
		var running, peak atomic.Int64
		const maxLimit = 6
		p := workerpool.New(func(_ context.Context, v int) (int, error) {
			n := running.Add(1)
			for {
				old := peak.Load()
				if n <= old || peak.CompareAndSwap(old, n) {
					break
				}
			}
			for range rand.IntN(10) {
				runtime.Gosched()
			}
			running.Add(-1)
			return v, nil
		}, opts...)
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				for range 100 {
					p.Resize(1 + rand.IntN(maxLimit))
					runtime.Gosched()
				}
			})
		}
		go func() {
			defer p.Close()
			submitAll(t, p, seq(1000)...)
		}()
		rs := collect(t, p.Results())
		wg.Wait()
		if ordered {
			requireAscending(t, rs, 1000)
		} else {
			requireExactlyOnce(t, rs, 1000)
		}
		assert.LessOrEqual(t, peak.Load(), int64(maxLimit))
		st := p.Stats()
		assert.Equal(t, st.Submitted, st.Completed)
		assert.Zero(t, st.Running)
		assert.Zero(t, st.Queued)
	}
}
