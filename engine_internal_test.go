package workerpool

import (
	"context"
	"runtime"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGoexitDuringAShrinkWakesTheParkedWorker: two workers; job 1 will call
// runtime.Goexit; the limit shrinks to 1 while the other worker is idle and
// misses the request to leave (the acceptance lock is busy); a new job is
// taken by that worker, which parks for a slot; the pool is closed; then job
// 1 calls Goexit. Its worker leaves (a surplus is not replaced) and must
// wake the parked one: the parked job runs, its Do returns and Results
// closes.
func TestGoexitDuringAShrinkWakesTheParkedWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		exit := make(chan struct{})
		p := New(func(_ context.Context, v int) (int, error) {
			if v == 1 {
				<-exit
				runtime.Goexit()
			}
			return v, nil
		}, WithWorkers(2), WithBufferSize(0))
		results := make(chan []Result[int, int])
		go func() {
			var rs []Result[int, int]
			for r := range p.Results() {
				rs = append(rs, r)
			}
			results <- rs
		}()
		_, err := p.Submit(context.Background(), 1)
		require.NoError(t, err)
		_, err = p.Do(context.Background(), 0) // a second worker, idle after
		require.NoError(t, err)
		synctest.Wait()
		require.Equal(t, int64(2), p.eng.live.Load())

		p.mu.Lock() // the request to leave finds the lock busy
		p.Resize(1)
		p.mu.Unlock()
		require.Equal(t, int64(2), p.eng.live.Load(), "the idle worker stayed")
		done := make(chan error)
		go func() {
			_, err := p.Do(context.Background(), 2)
			done <- err
		}()
		synctest.Wait()
		require.Equal(t, int64(1), p.eng.parked.Load(), "job 2 waits for a slot")
		st := p.Stats()
		assert.Equal(t, 1, st.Running, "job 1 runs; job 2 does not")
		assert.Equal(t, 1, st.Queued, "job 2 waits")
		p.Close()
		close(exit)
		assert.NoError(t, <-done)
		rs := <-results
		require.Len(t, rs, 1)
		assert.ErrorIs(t, rs[0].Err, ErrGoexit)
		assert.Zero(t, p.eng.live.Load())
	})
}

// TestStatsRunningStaysWithinLive: a reader descheduled between its loads can
// see more jobs taken than finished by far; the snapshot still keeps Running
// within Live.
func TestStatsRunningStaysWithinLive(t *testing.T) {
	p := New(double0, WithWorkers(1))
	defer closeAndCount(p)
	p.eng.live.Store(1)
	p.stats.shards[0].taken.Store(1561) // as if read long after finished
	p.submitted.Store(1561)
	st := p.Stats()
	assert.Equal(t, 1, st.Running)
	assert.Equal(t, 1560, st.Queued)
	p.stats.shards[0].taken.Store(0)
	p.submitted.Store(0)
	p.eng.live.Store(0)
}

// TestFailedOffersLeaveNoMarks: in an ordered pool, a TrySubmit refused on a
// full pool after a Do takes back the mark it made for the orderer, so that
// a thousand refusals between Do calls leave no marks behind.
func TestFailedOffersLeaveNoMarks(t *testing.T) {
	release := make(chan struct{})
	p := New(func(_ context.Context, v int) (int, error) {
		if v == 0 {
			<-release
		}
		return v, nil
	}, WithWorkers(1), WithBufferSize(0), WithOrderedResults())
	_, err := p.Submit(context.Background(), 0) // holds the only worker
	require.NoError(t, err)
	for range 1000 {
		p.mu.Lock()
		p.skips++ // as a Do accepted here would
		p.mu.Unlock()
		_, err := p.TrySubmit(1)
		require.ErrorIs(t, err, ErrQueueFull)
	}
	p.order.mu.Lock()
	marks := len(p.order.marks)
	p.order.mu.Unlock()
	assert.Zero(t, marks, "refused offers leave no marks")
	p.mu.Lock()
	p.skips = 0
	p.mu.Unlock()
	close(release)
	assert.Equal(t, 1, closeAndCount(p))
}

// newTestEngine returns an engine over counters of its own whose starts are
// only counted, with the given limit.
func newTestEngine(limit int) (*engine, *counters, *int) {
	c := newCounters(2)
	starts := new(int)
	e := new(engine)
	e.init(limit, &c, func(int) { *starts++ })
	return e, &c, starts
}

// TestEngineCounts pins the engine's helpers at their boundaries: surplus
// and below at the limit, grow refusing to pass it, roomComing's rule
// (-idle <= buffer) and a claim taken back.
func TestEngineCounts(t *testing.T) {
	e, c, starts := newTestEngine(2)
	e.live.Store(2)
	assert.False(t, e.surplus(), "at the limit")
	assert.False(t, e.below(), "at the limit")
	assert.False(t, e.grow(0), "grow stops at the limit")
	assert.Zero(t, *starts)
	e.live.Store(3)
	assert.True(t, e.surplus())
	e.live.Store(1)
	assert.True(t, e.below())

	// One worker alive and busy (one job taken, not released), one job
	// waiting, and a job being sent: idle = 1 + 0 - 3 = -2.
	e.limit.Store(1)
	e.claimed.Store(3)
	assert.Equal(t, int64(-2), e.idle())
	assert.True(t, e.roomComing(2), "two jobs to place, two slots")
	assert.False(t, e.roomComing(1), "two jobs to place, one slot, at the limit")
	c.shards[1].released.Store(1) // the busy worker came back
	assert.True(t, e.roomComing(1))
	assert.Equal(t, int64(-1), e.idle())
	e.unclaim()
	assert.Equal(t, int64(2), e.claimed.Load(), "unclaim takes one back")
	e.claim()
	assert.Equal(t, int64(3), e.claimed.Load())
	assert.Zero(t, *starts, "nothing was started at the limit")

	e.limit.Store(2) // below the limit, roomComing starts a worker
	assert.True(t, e.roomComing(0))
	assert.Equal(t, 1, *starts)
	assert.Equal(t, int64(2), e.live.Load())
	c.shards[1].released.Store(0)
}

// TestSurplusWorkerLeavesAfterAPanic: a worker whose job panics while there
// is a surplus leaves, as it would after a job that returned, instead of
// going on under a new recovery.
func TestSurplusWorkerLeavesAfterAPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := []chan struct{}{make(chan struct{}), make(chan struct{})}
		p := New(func(_ context.Context, v int) (int, error) {
			<-release[v]
			if v == 0 {
				panic("zero")
			}
			return v, nil
		}, WithWorkers(2), WithBufferSize(0), WithResultBufferSize(2))
		for v := range 2 {
			_, err := p.Submit(context.Background(), v)
			require.NoError(t, err)
		}
		synctest.Wait()
		require.Equal(t, int64(2), p.eng.live.Load())
		p.Resize(1)
		close(release[0]) // job 0 panics while there is a surplus
		synctest.Wait()
		assert.Equal(t, int64(1), p.eng.live.Load(), "its worker left")
		close(release[1])
		n := closeAndCount(p)
		assert.Equal(t, 2, n)
		assert.Zero(t, p.eng.live.Load(), "every worker counted out once")
	})
}
