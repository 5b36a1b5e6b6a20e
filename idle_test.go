package workerpool

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIdleWorkersRetire: workers idle for the timeout exit between d and 2d
// later, Live counts them, and workers start again on demand.
func TestIdleWorkersRetire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const d = time.Second
		hold := make(chan struct{})
		p := holdPool(hold, WithWorkers(4), WithIdleTimeout(d))
		doHeld(t, p, 4)
		synctest.Wait()
		require.Equal(t, 4, p.Stats().Live, "a burst of four starts four workers")
		close(hold)
		synctest.Wait() // all four idle from now on
		idleSince := time.Now()

		time.Sleep(d - time.Nanosecond)
		assert.Equal(t, 4, p.Stats().Live, "no worker retires before d")
		time.Sleep(d + time.Nanosecond)
		synctest.Wait()
		assert.Equal(t, 0, p.Stats().Live, "all retired by 2d")
		assert.LessOrEqual(t, time.Since(idleSince), 2*d)
		time.Sleep(d)
		synctest.Wait() // the check due at this instant has run
		p.eng.mu.Lock()
		on := p.idle.on
		p.eng.mu.Unlock()
		assert.False(t, on, "with no worker left, the check for idle workers stops")

		v, err := p.Do(context.Background(), 5)
		assert.NoError(t, err, "a job after retirement starts a worker")
		assert.Equal(t, 5, v)
		assert.Equal(t, 1, p.Stats().Live)
		assert.Equal(t, uint32(5), p.stats.next.Load(),
			"one start for the new job: no retiring envelope was left over to take it first")
		assert.Zero(t, closeAndCount(p), "Do's Results never reach Results()")
		assert.Equal(t, 0, p.Stats().Live)
	})
}

// holdPool returns a pool configured by opts whose jobs of a negative value
// wait until hold is closed.
func holdPool(hold <-chan struct{}, opts ...Option) *Pool[int, int] {
	return New(func(_ context.Context, v int) (int, error) {
		if v < 0 {
			<-hold
		}
		return v, nil
	}, opts...)
}

// doHeld makes n calls of Do(-1) on p, each from a goroutine of its own.
func doHeld(t *testing.T, p *Pool[int, int], n int) {
	for range n {
		go func() {
			_, err := p.Do(context.Background(), -1)
			assert.NoError(t, err)
		}()
	}
}

// TestBusyWorkersDoNotRetire: a worker that gets a job more often than
// every d never retires, and retires once the jobs stop.
func TestBusyWorkersDoNotRetire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const d = time.Second
		p := New(double0, WithWorkers(1), WithIdleTimeout(d))
		for i := range 40 { // a job every d/2 for 20 s
			_, err := p.Do(context.Background(), i)
			require.NoError(t, err)
			time.Sleep(d / 2)
			require.Equalf(t, 1, p.Stats().Live, "after job %d: the worker in use stays", i)
		}
		// Live could not show a worker dismissed and started again between
		// two jobs; every start takes a shard, so the count of them can.
		assert.Equal(t, uint32(1), p.stats.next.Load(), "one worker started, never restarted")
		time.Sleep(2 * d)
		synctest.Wait()
		assert.Equal(t, 0, p.Stats().Live, "idle for 2d once the jobs stopped")
		closeAndCount(p)
	})
}

// TestLongJobsKeepTheirWorkers: workers busy on jobs longer than d are not
// idle: none is dismissed while they run, and when they finish they stay.
func TestLongJobsKeepTheirWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const d = time.Second
		hold := make(chan struct{})
		p := New(func(_ context.Context, v int) (int, error) {
			<-hold
			return v, nil
		}, WithWorkers(2), WithIdleTimeout(d))
		for range 2 {
			go func() { _, _ = p.Do(context.Background(), 1) }()
		}
		synctest.Wait()
		time.Sleep(d*5/2 - time.Nanosecond) // two checks for idle workers while both run
		close(hold)
		synctest.Wait()
		assert.Equal(t, 2, p.Stats().Live, "just finished, not idle: both stay")
		assert.Equal(t, uint32(2), p.stats.next.Load(), "no worker was dismissed and started again")
		closeAndCount(p)
	})
}

// TestIdleTimeoutZeroKeepsWorkers: with WithIdleTimeout(0) workers stay
// until Close.
func TestIdleTimeoutZeroKeepsWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hold := make(chan struct{})
		q := New(func(_ context.Context, v int) (int, error) { <-hold; return v, nil }, WithWorkers(3), WithIdleTimeout(0))
		for range 3 {
			go func() { _, _ = q.Do(context.Background(), 1) }()
		}
		synctest.Wait()
		close(hold)
		synctest.Wait()
		time.Sleep(time.Hour)
		assert.Equal(t, 3, q.Stats().Live, "no worker retires")
		assert.Nil(t, q.idle.timer, "no timer is ever set")
		closeAndCount(q)
	})
}

func double0(_ context.Context, v int) (int, error) { return 2 * v, nil }

// TestNoWorkerIsAskedToLeaveWhileAJobCountsOnIt: an envelope that asks a
// worker to leave is sent only while a free worker is spare, and is counted
// like a job: with one free worker and one job counting on it, none is sent.
func TestNoWorkerIsAskedToLeaveWhileAJobCountsOnIt(t *testing.T) {
	p := New(double0, WithWorkers(2), WithIdleTimeout(0))
	p.eng.live.Store(1)    // one free worker (as far as the counts go)...
	p.eng.claimed.Store(1) // ...and one job counting on it
	assert.False(t, p.askToLeave(1), "nothing is sent")
	assert.Zero(t, len(p.jobs))
	assert.Equal(t, int64(1), p.eng.claimed.Load(), "and nothing claimed")

	p.eng.claimed.Store(0) // the worker is spare
	assert.True(t, p.askToLeave(1))
	assert.Equal(t, 1, len(p.jobs), "an envelope, for the free worker")
	assert.Equal(t, int64(1), p.eng.claimed.Load(), "claimed as a job is")
	assert.Zero(t, p.eng.idle(), "so that no job counts on that worker")
	<-p.jobs
	p.eng.live.Store(0)
	p.eng.claimed.Store(0)
	assert.Zero(t, closeAndCount(p))
}

// TestRetirementAtTheInstantOfAJob submits jobs at the very instant the
// idle workers are dismissed, many times over: every job runs.
func TestRetirementAtTheInstantOfAJob(t *testing.T) {
	for i := range 50 {
		synctest.Test(t, func(t *testing.T) {
			p := New(double0, WithWorkers(1+i%3), WithIdleTimeout(time.Second), WithBufferSize(i%2))
			for range 1 + i%3 {
				go func() { _, _ = p.Do(context.Background(), 0) }()
			}
			synctest.Wait()
			time.Sleep(2 * time.Second) // the instant of the dismissal
			v, err := p.Do(context.Background(), 21)
			assert.NoError(t, err)
			assert.Equal(t, 42, v)
			closeAndCount(p)
			assert.Zero(t, p.Stats().Live)
		})
	}
}

func TestWithIdleTimeoutRejectsNegative(t *testing.T) {
	assert.PanicsWithValue(t, "workerpool: WithIdleTimeout(-1ns): d must not be negative", func() {
		WithIdleTimeout(-1)
	})
}

// TestWorkerIdleForLessThanDStays: a worker that went idle half-way between
// two checks is not retired by the next (it has been idle for d/2), but by
// the one after (3d/2).
func TestWorkerIdleForLessThanDStays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const d = time.Second
		p := New(double0, WithWorkers(1), WithIdleTimeout(d))
		_, err := p.Do(context.Background(), 1) // starts the worker and the checks, at 0
		require.NoError(t, err)
		time.Sleep(3 * d / 2)
		_, err = p.Do(context.Background(), 2) // idle again from 3d/2
		require.NoError(t, err)
		time.Sleep(d / 2)
		synctest.Wait() // the check at 2d has run
		assert.Equal(t, 1, p.Stats().Live, "idle for d/2 at the check at 2d")
		time.Sleep(d)
		synctest.Wait()
		assert.Equal(t, 0, p.Stats().Live, "idle for 3d/2 at the check at 3d")
		assert.Zero(t, closeAndCount(p))
	})
}

// TestWorkerStartsDoNotPostponeRetirement: a worker that starts while the
// idle check is scheduled leaves it as it was, so workers idle since before
// it still retire by 2d after the first start.
func TestWorkerStartsDoNotPostponeRetirement(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const d = time.Second
		hold := make(chan struct{})
		p := holdPool(hold, WithWorkers(3), WithIdleTimeout(d))
		doHeld(t, p, 2)
		synctest.Wait() // two workers started now, the check due at d
		time.Sleep(d / 2)
		doHeld(t, p, 1)
		synctest.Wait()
		require.Equal(t, 3, p.Stats().Live, "the third job started a third worker at d/2")
		close(hold)
		synctest.Wait() // all three idle from d/2 on
		time.Sleep(d/2 + d)
		synctest.Wait()
		assert.Equal(t, 0, p.Stats().Live, "all retired by 2d after the first start")
		closeAndCount(p)
	})
}
