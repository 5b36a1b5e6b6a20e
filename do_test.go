package workerpool_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/workerpool-go/workerpool"
)

// TestDoManyCallers shares one pool among many goroutines calling Do: each
// gets its own answer, no more than the limit run at once, nobody reads
// Results, and Close still closes it, with no Result on it.
func TestDoManyCallers(t *testing.T) {
	t.Parallel()
	const workers, callers, calls = 4, 64, 50
	var running, peak atomic.Int64
	p := workerpool.New(func(_ context.Context, v int) (int, error) {
		n := running.Add(1)
		for {
			if m := peak.Load(); n <= m || peak.CompareAndSwap(m, n) {
				break
			}
		}
		runtime.Gosched()
		running.Add(-1)
		return 2 * v, nil
	}, workerpool.WithWorkers(workers))
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := range calls {
				v := c*calls + i
				got, err := p.Do(context.Background(), v)
				if !assert.NoError(t, err) || !assert.Equal(t, 2*v, got, "a caller gets its own answer") {
					return
				}
			}
		})
	}
	wg.Wait()
	p.Close()
	assert.Empty(t, collect(t, p.Results()), "Do's Results never reach Results()")
	assert.LessOrEqual(t, peak.Load(), int64(workers), "at most N at once")
	st := p.Stats()
	assert.Equal(t, uint64(callers*calls), st.Submitted)
	assert.Equal(t, uint64(callers*calls), st.Completed)
	assert.Zero(t, st.Live, "no worker left once Results is closed")
}

// TestDoReturnsWhatTheJobEndedWith: an error as it is, a panic as a
// *PanicError, runtime.Goexit as ErrGoexit; each counted in Stats.
func TestDoReturnsWhatTheJobEndedWith(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	p := workerpool.New(func(_ context.Context, v int) (int, error) {
		switch v {
		case 1:
			return 7, errBoom
		case 2:
			panic("kaboom")
		case 3:
			runtime.Goexit()
		}
		return v, nil
	}, workerpool.WithWorkers(1))
	defer p.Close()

	v, err := p.Do(context.Background(), 1)
	assert.ErrorIs(t, err, errBoom)
	assert.Equal(t, 7, v, "the Func's value comes with its error")

	_, err = p.Do(context.Background(), 2)
	var pe *workerpool.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "kaboom", pe.Value)

	_, err = p.Do(context.Background(), 3)
	assert.ErrorIs(t, err, workerpool.ErrGoexit)

	v, err = p.Do(context.Background(), 4)
	assert.NoError(t, err, "the pool goes on after all three")
	assert.Equal(t, 4, v)
	st := p.Stats()
	assert.Equal(t, uint64(4), st.Completed)
	assert.Equal(t, uint64(3), st.Failed)
	assert.Equal(t, uint64(1), st.Panicked)
}

// TestDoReportsTheCallersErrorOverItsEcho: a job that fails once the
// caller's ctx is done (here with an error of its own, as a driver reports a
// cancelled query) makes Do return ctx's error, whichever of the Result and
// the end of ctx reaches the caller first; a job that fails while ctx is
// live returns its own.
func TestDoReportsTheCallersErrorOverItsEcho(t *testing.T) {
	t.Parallel()
	errQuery := errors.New("query cancelled")
	p := workerpool.New(func(ctx context.Context, cancel context.CancelFunc) (int, error) {
		if cancel == nil {
			return 0, errQuery
		}
		cancel()
		return 0, errQuery
	}, workerpool.WithWorkers(2))
	defer p.Close()
	for range 100 {
		ctx, cancel := context.WithCancel(context.Background())
		_, err := p.Do(ctx, cancel)
		require.ErrorIs(t, err, context.Canceled)
		require.NotErrorIs(t, err, errQuery)
	}
	_, err := p.Do(context.Background(), nil)
	assert.ErrorIs(t, err, errQuery)

	// A context whose Done is nil (it cannot wake the caller) but that
	// reports an error once the job has ended it: Do waits for the Result
	// alone, and then reports ctx's error rather than the job's.
	silent := &silentlyEnding{Context: context.Background()}
	q := workerpool.New(func(context.Context, int) (int, error) {
		silent.ended.Store(true)
		return 0, errQuery
	}, workerpool.WithWorkers(1))
	defer q.Close()
	_, err = q.Do(silent, 1)
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, errQuery)
}

// silentlyEnding is a context that never closes its Done channel (it has
// none) but whose Err is context.Canceled once ended is set.
type silentlyEnding struct {
	context.Context
	ended atomic.Bool
}

func (*silentlyEnding) Done() <-chan struct{} { return nil }

func (c *silentlyEnding) Err() error {
	if c.ended.Load() {
		return context.Canceled
	}
	return nil
}

// TestDoCallerGivesUpWhileQueued: the caller's ctx ends while its job waits
// behind a busy worker. Do returns ctx.Err() at once, the Func is never
// called for that job, and the job completes, counted as failed.
func TestDoCallerGivesUpWhileQueued(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		var calledFor sync.Map
		p := workerpool.New(func(ctx context.Context, v int) (int, error) {
			calledFor.Store(v, true)
			return g.fn(ctx, v)
		}, workerpool.WithWorkers(1))
		submitAll(t, p, 0)
		g.waitStarted(t, 1) // the only worker is busy

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			_, err := p.Do(ctx, 1)
			done <- err
		}()
		synctest.Wait()
		require.Equal(t, 1, p.Stats().Queued, "Do's job waits in the buffer")
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled, "Do returns while its job still waits")
		close(g.release)
		p.Close()
		require.Len(t, drain(p.Results()), 1, "only the Submit job's Result is on Results")
		_, called := calledFor.Load(1)
		assert.False(t, called, "the Func never ran for a job whose caller had gone")
		st := p.Stats()
		assert.Equal(t, uint64(2), st.Completed)
		assert.Equal(t, uint64(1), st.Failed, "the abandoned job counts as failed")
	})
}

type ctxKey struct{}

// TestDoCallerGivesUpWhileRunning: the Func sees the caller's values and its
// ctx done when the caller's ctx ends, and Do returns without waiting for
// the Func to return.
func TestDoCallerGivesUpWhileRunning(t *testing.T) {
	t.Parallel()
	sawValue := make(chan any, 1)
	sawDone := make(chan struct{})
	release := make(chan struct{})
	p := workerpool.New(func(ctx context.Context, v int) (int, error) {
		sawValue <- ctx.Value(ctxKey{})
		<-ctx.Done()
		close(sawDone)
		<-release // holds on after Do has returned
		return v, ctx.Err()
	}, workerpool.WithWorkers(1))

	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "trace-42"))
	done := make(chan error)
	go func() {
		_, err := p.Do(ctx, 1)
		done <- err
	}()
	select {
	case v := <-sawValue:
		assert.Equal(t, "trace-42", v, "the caller's values reach the Func")
	case <-time.After(watchdog):
		require.FailNow(t, "the job did not start")
	}
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(watchdog):
		require.FailNow(t, "Do waited for the Func")
	}
	select {
	case <-sawDone:
	case <-time.After(watchdog):
		require.FailNow(t, "the Func's ctx was not done")
	}
	close(release)
	p.Close()
	assert.Empty(t, collect(t, p.Results()))
	assert.Equal(t, uint64(1), p.Stats().Completed, "the job still completes")
}

// TestDoWaitingOnFullBufferWhenCloseComes: Do blocks while the buffer is
// full, and Close ends it with ErrClosed, having accepted nothing.
func TestDoWaitingOnFullBufferWhenCloseComes(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		p := workerpool.New(g.fn, workerpool.WithWorkers(1), workerpool.WithBufferSize(1))
		submitAll(t, p, 0)
		g.waitStarted(t, 1)
		submitAll(t, p, 1) // fills the buffer

		var returned atomic.Bool
		done := make(chan error)
		go func() {
			_, err := p.Do(context.Background(), 2)
			returned.Store(true)
			done <- err
		}()
		synctest.Wait()
		require.False(t, returned.Load(), "Do waits while the buffer is full")
		p.Close()
		assert.ErrorIs(t, <-done, workerpool.ErrClosed, "Close ends the waiting Do")
		close(g.release)
		requireExactlyOnce(t, drain(p.Results()), 2)
		assert.Equal(t, uint64(2), p.Stats().Submitted, "the failed Do accepted nothing")
	})
}

// TestDoFailsLikeSubmit: a done ctx, a closed pool and a done pool context
// each fail Do at once, accepting nothing.
func TestDoFailsLikeSubmit(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	p := workerpool.New(double)
	_, err := p.Do(cancelled, 1)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = p.TryDo(cancelled, 1)
	assert.ErrorIs(t, err, context.Canceled)
	p.Close()
	_, err = p.Do(context.Background(), 1)
	assert.ErrorIs(t, err, workerpool.ErrClosed)
	_, err = p.TryDo(context.Background(), 1)
	assert.ErrorIs(t, err, workerpool.ErrClosed)
	assert.Zero(t, p.Stats().Submitted)

	poolCtx, stop := context.WithCancel(context.Background())
	stop()
	q := workerpool.New(double, workerpool.WithContext(poolCtx))
	_, err = q.Do(context.Background(), 1)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = q.TryDo(context.Background(), 1)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, q.Stats().Submitted)
	q.Close()
	assert.Empty(t, collect(t, q.Results()))
}

// TestDoUnderPoolContextAndCallerContext: with a pool context that can end,
// the Func's ctx carries the caller's values and is done when the pool's
// context ends, with the earlier deadline of the two.
func TestDoUnderPoolContextAndCallerContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		poolCtx, stopPool := context.WithTimeout(context.Background(), time.Hour)
		type seen struct {
			value    any
			deadline time.Time
			err      error
		}
		got := make(chan seen, 1)
		p := workerpool.New(func(ctx context.Context, v int) (int, error) {
			d, _ := ctx.Deadline()
			<-ctx.Done()
			got <- seen{ctx.Value(ctxKey{}), d, ctx.Err()}
			return v, ctx.Err()
		}, workerpool.WithContext(poolCtx))
		start := time.Now()
		caller, cancel := context.WithTimeout(context.WithValue(context.Background(), ctxKey{}, "v"), 2*time.Hour)
		defer cancel()
		done := make(chan error)
		go func() {
			_, err := p.Do(caller, 1)
			done <- err
		}()
		synctest.Wait() // the Func waits on its ctx
		stopPool()
		s := <-got
		assert.Equal(t, "v", s.value)
		assert.Equal(t, start.Add(time.Hour), s.deadline, "the pool's deadline is the earlier")
		assert.ErrorIs(t, s.err, context.Canceled, "done when the pool's context ends")
		assert.ErrorIs(t, <-done, context.Canceled)
		p.Close()
		assert.Empty(t, drain(p.Results()))
	})
}

// TestDoWithPoolHandling: retries, the job timeout and the rate limiter
// apply to Do's job as to any other, under the caller's context.
func TestDoWithPoolHandling(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var tries atomic.Int64
		lim := &countingLimiter{}
		p := workerpool.New(func(ctx context.Context, v int) (int, error) {
			if tries.Add(1) < 3 {
				return 0, errors.New("transient")
			}
			d, ok := ctx.Deadline()
			if !ok || time.Until(d) != time.Minute {
				return 0, errors.New("no job timeout")
			}
			return v, nil
		},
			workerpool.WithRetry(3, func(int) time.Duration { return time.Second }),
			workerpool.WithJobTimeout(time.Minute),
			workerpool.WithRateLimit(lim))
		start := time.Now()
		v, err := p.Do(context.Background(), 5)
		assert.NoError(t, err)
		assert.Equal(t, 5, v)
		assert.Equal(t, int64(3), tries.Load(), "retried until it succeeded")
		assert.Equal(t, 2*time.Second, time.Since(start), "two backoffs of a second")
		assert.Equal(t, int64(3), lim.waits.Load(), "each attempt waited on the limiter")

		// The caller's ctx ending during a backoff ends the retries.
		tries.Store(-100)
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		_, err = p.Do(ctx, 6)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		synctest.Wait()
		assert.Equal(t, int64(-98), tries.Load(), "two attempts, then the caller's deadline in the backoff")
		p.Close()
		assert.Empty(t, drain(p.Results()))
	})
}

type countingLimiter struct{ waits atomic.Int64 }

func (l *countingLimiter) Wait(ctx context.Context) error {
	l.waits.Add(1)
	return ctx.Err()
}

// TestTryDo: ErrQueueFull at once with the buffer full, or with no buffer
// and no worker waiting; otherwise it waits for the result.
func TestTryDo(t *testing.T) {
	t.Parallel()
	g := newGate()
	p := workerpool.New(g.fn, workerpool.WithWorkers(1), workerpool.WithBufferSize(1))
	submitAll(t, p, 0)
	g.waitStarted(t, 1)
	submitAll(t, p, 1)
	_, err := p.TryDo(context.Background(), 2)
	assert.ErrorIs(t, err, workerpool.ErrQueueFull)
	assert.Equal(t, uint64(2), p.Stats().Submitted, "a refused TryDo accepts nothing")
	close(g.release)
	p.Close()
	requireExactlyOnce(t, collect(t, p.Results()), 2)

	synctest.Test(t, func(t *testing.T) {
		u := workerpool.New(double, workerpool.WithWorkers(1), workerpool.WithBufferSize(0))
		defer u.Close()
		// No worker has started, but none of the one allowed is busy: TryDo
		// starts it and hands the job over.
		v, err := u.TryDo(context.Background(), 1)
		assert.NoError(t, err, "a cold pool is not full")
		assert.Equal(t, 2, v)
		synctest.Wait() // the worker waits for a job
		v, err = u.TryDo(context.Background(), 21)
		assert.NoError(t, err, "a waiting worker takes the job")
		assert.Equal(t, 42, v, "and TryDo waits for its result")
	})
}

// TestTryDoFromInsideAJob: a job may TryDo on its own pool without blocking
// on room, as with TrySubmit.
func TestTryDoFromInsideAJob(t *testing.T) {
	t.Parallel()
	var p *workerpool.Pool[int, int]
	p = workerpool.New(func(ctx context.Context, v int) (int, error) {
		if v == 0 {
			return v, nil
		}
		got, err := p.TryDo(ctx, v-1)
		if errors.Is(err, workerpool.ErrQueueFull) {
			return -1, nil
		}
		return got + 1, err
	}, workerpool.WithWorkers(2), workerpool.WithBufferSize(0))
	defer p.Close()
	v, err := p.Do(context.Background(), 3)
	require.NoError(t, err)
	assert.Contains(t, []int{-1, 0, 1, 2, 3}, v)
}

// TestDoSubmitAndTryDoMixed: jobs of all three kinds at once. Results has
// exactly the Submit jobs, each Do and TryDo caller gets its own answer, and
// the IDs of all of them are 1..n with no gaps, each finished once.
func TestDoSubmitAndTryDoMixed(t *testing.T) {
	t.Parallel()
	obs := &idObserver{}
	p := workerpool.New(double, workerpool.WithWorkers(3), workerpool.WithBufferSize(4),
		workerpool.WithObserver(obs))
	var submitted sync.Map
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := range 200 {
				v := g*1000 + i
				switch g % 3 {
				case 0:
					id, err := p.Submit(context.Background(), v)
					if assert.NoError(t, err) {
						submitted.Store(id, v)
						accepted.Add(1)
					}
				case 1:
					got, err := p.Do(context.Background(), v)
					if assert.NoError(t, err) {
						assert.Equal(t, 2*v, got)
						accepted.Add(1)
					}
				case 2:
					got, err := p.TryDo(context.Background(), v)
					if errors.Is(err, workerpool.ErrQueueFull) {
						continue
					}
					if assert.NoError(t, err) {
						assert.Equal(t, 2*v, got)
						accepted.Add(1)
					}
				}
			}
		})
	}
	results := make(chan []workerpool.Result[int, int])
	go func() { results <- collect(t, p.Results()) }()
	wg.Wait()
	p.Close()
	rs := <-results
	n := 0
	submitted.Range(func(any, any) bool { n++; return true })
	require.Len(t, rs, n, "Results holds the Submit jobs and no other")
	for _, r := range rs {
		v, ok := submitted.Load(r.Job.ID)
		require.True(t, ok, "a Result on Results that no Submit made: %d", r.Job.ID)
		assert.Equal(t, v, r.Job.Value)
	}
	total := uint64(accepted.Load())
	assert.Equal(t, total, p.Stats().Submitted)
	obs.requireOneToN(t, total)
}

// idObserver records the IDs of the jobs that finished.
type idObserver struct {
	mu  sync.Mutex
	ids map[uint64]int
}

func (o *idObserver) JobStarted(uint64, time.Duration) {}

func (o *idObserver) JobFinished(id uint64, _ time.Duration, _ error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ids == nil {
		o.ids = map[uint64]int{}
	}
	o.ids[id]++
}

// requireOneToN checks that exactly the jobs 1..n finished, each once.
func (o *idObserver) requireOneToN(t testing.TB, n uint64) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	require.Len(t, o.ids, int(n))
	for id := uint64(1); id <= n; id++ {
		require.Equalf(t, 1, o.ids[id], "job %d finished %d times", id, o.ids[id])
	}
}

// TestOrderedResultsAreNotHeldBackByDo: in an ordered pool a Do job takes an
// ID but holds back no Result on Results, however long it runs.
func TestOrderedResultsAreNotHeldBackByDo(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{})
	p := workerpool.New(func(_ context.Context, v int) (int, error) {
		if v < 0 {
			close(started)
			<-release // the slow Do job
		}
		return v, nil
	}, workerpool.WithWorkers(2), workerpool.WithOrderedResults())
	submitAll(t, p, 1)
	done := make(chan int)
	go func() {
		v, err := p.Do(context.Background(), -1)
		assert.NoError(t, err)
		done <- v
	}()
	<-started // the Do job has ID 2 and runs
	submitAll(t, p, 3, 4, 5)
	for _, want := range []int{1, 3, 4, 5} {
		select {
		case r := <-p.Results():
			assert.Equal(t, want, r.Job.Value, "in order, skipping the Do job")
		case <-time.After(watchdog):
			require.FailNow(t, "an ordered Result waited for the Do job", "waiting for %d", want)
		}
	}
	close(release)
	assert.Equal(t, -1, <-done)
	p.Close()
	assert.Empty(t, collect(t, p.Results()))
}

// TestDoJobContextIsReleasedAfterAPanic: with a pool context that can end,
// a caller's job runs under a context of its own; it is released (done) once
// the job ends, also when the Func panicked, so nothing stays registered on
// the pool's or the caller's context.
func TestDoJobContextIsReleasedAfterAPanic(t *testing.T) {
	t.Parallel()
	poolCtx, stop := context.WithCancel(context.Background())
	defer stop()
	seen := make(chan context.Context, 1)
	p := workerpool.New(func(ctx context.Context, _ int) (int, error) {
		seen <- ctx
		panic("boom")
	}, workerpool.WithContext(poolCtx))
	defer p.Close()
	caller, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := p.Do(caller, 1)
	var pe *workerpool.PanicError
	require.ErrorAs(t, err, &pe)
	jctx := <-seen
	assert.Error(t, jctx.Err(), "the job's context was released")
	assert.NoError(t, caller.Err(), "the caller's context is its own")
	assert.NoError(t, poolCtx.Err())
}
