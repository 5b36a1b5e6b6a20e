package workerpool_test

import (
	"context"
	"errors"
	"fmt"
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

func TestPoolRunsEveryJobOnce(t *testing.T) {
	t.Parallel()
	p := workerpool.New(double, workerpool.WithWorkers(4))
	go func() {
		defer p.Close()
		submitAll(t, p, seq(1000)...)
	}()
	rs := collect(t, p.Results())
	requireExactlyOnce(t, rs, 1000)
	for _, r := range rs {
		require.NoError(t, r.Err)
		require.Equal(t, int(r.Job.ID)-1, r.Job.Value, "IDs follow submission order")
		require.Equal(t, 2*r.Job.Value, r.Value)
	}
}

func TestPoolNeverRunsMoreThanNWorkers(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 3, 8} {
		t.Run(fmt.Sprintf("workers=%d", n), func(t *testing.T) {
			t.Parallel()
			g := newGate()
			p := workerpool.New(g.fn, workerpool.WithWorkers(n), workerpool.WithBufferSize(64))
			submitAll(t, p, seq(5*n)...)
			p.Close()
			g.waitStarted(t, n) // the pool reaches its limit...
			assert.Equal(t, n, p.Stats().Running)
			close(g.release) // ...and runs everything once let go
			g.waitStarted(t, 4*n)
			requireExactlyOnce(t, collect(t, p.Results()), uint64(5*n))
			assert.Equal(t, int64(n), g.peak.Load(), "peak concurrency")
		})
	}
}

func TestPoolResultsSameChannelClosedAfterClose(t *testing.T) {
	t.Parallel()
	p := workerpool.New(double)
	require.Equal(t, p.Results(), p.Results())
	submitAll(t, p, 1, 2, 3)
	p.Close()
	requireExactlyOnce(t, collect(t, p.Results()), 3)
	_, open := <-p.Results()
	assert.False(t, open)
}

func TestPoolCloseWithNoJobsClosesResults(t *testing.T) {
	t.Parallel()
	p := workerpool.New(double)
	p.Close()
	assert.Empty(t, collect(t, p.Results()))
	assert.Equal(t, workerpool.Stats{Workers: runtime.GOMAXPROCS(0)}, p.Stats())
}

func TestPoolErrorsArePassedThrough(t *testing.T) {
	t.Parallel()
	errOdd := errors.New("odd")
	p := workerpool.New(func(_ context.Context, v int) (int, error) {
		if v%2 == 1 {
			return -1, fmt.Errorf("job %d: %w", v, errOdd)
		}
		return v, nil
	})
	submitAll(t, p, seq(10)...)
	p.Close()
	rs := collect(t, p.Results())
	requireExactlyOnce(t, rs, 10)
	for _, r := range rs {
		if r.Job.Value%2 == 1 {
			require.ErrorIs(t, r.Err, errOdd)
			require.Equal(t, -1, r.Value, "the Func's value is kept with its error")
		} else {
			require.NoError(t, r.Err)
		}
	}
	st := p.Stats()
	assert.Equal(t, uint64(5), st.Failed)
	assert.Equal(t, uint64(0), st.Panicked)
}

func TestPoolPanicBecomesPanicError(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	p := workerpool.New(func(_ context.Context, v int) (int, error) {
		switch v {
		case 1:
			panic(errBoom)
		case 2:
			panic("plain string")
		}
		return v, nil
	}, workerpool.WithWorkers(1)) // one worker: it must survive both panics
	submitAll(t, p, 1, 2, 3)
	p.Close()
	rs := byID(t, collect(t, p.Results()))
	require.Len(t, rs, 3)

	var pe *workerpool.PanicError
	require.ErrorAs(t, rs[1].Err, &pe)
	assert.Equal(t, errBoom, pe.Value)
	assert.ErrorIs(t, rs[1].Err, errBoom, "errors.Is reaches a panicked error")
	assert.Contains(t, string(pe.Stack), "TestPoolPanicBecomesPanicError", "stack of the panicking goroutine")
	assert.Equal(t, "workerpool: job panicked: boom", pe.Error())

	require.ErrorAs(t, rs[2].Err, &pe)
	assert.Equal(t, "plain string", pe.Value)
	assert.NoError(t, pe.Unwrap(), "a non-error panic value unwraps to nil")
	assert.Zero(t, rs[2].Value)

	require.NoError(t, rs[3].Err, "the worker goes on after a panic")
	assert.Equal(t, 3, rs[3].Value)
	st := p.Stats()
	assert.Equal(t, uint64(2), st.Panicked)
	assert.Equal(t, uint64(2), st.Failed)
}

func TestPoolEveryWorkerPanickingAtOnce(t *testing.T) {
	t.Parallel()
	const n = 4
	var ready sync.WaitGroup
	ready.Add(n)
	p := workerpool.New(func(_ context.Context, v int) (int, error) {
		if v < n {
			ready.Done()
			ready.Wait() // all n workers panic together
			panic(v)
		}
		return v, nil
	}, workerpool.WithWorkers(n))
	submitAll(t, p, seq(3*n)...)
	p.Close()
	rs := collect(t, p.Results())
	requireExactlyOnce(t, rs, 3*n)
	var panics int
	for _, r := range rs {
		var pe *workerpool.PanicError
		if errors.As(r.Err, &pe) {
			panics++
		} else {
			require.NoError(t, r.Err)
		}
	}
	assert.Equal(t, n, panics)
}

func TestPoolGoexitYieldsResultAndKeepsWorkers(t *testing.T) {
	t.Parallel()
	const n = 2
	g := newGate()
	p := workerpool.New(func(ctx context.Context, v int) (int, error) {
		if v < 0 {
			runtime.Goexit()
		}
		return g.fn(ctx, v)
	}, workerpool.WithWorkers(n))
	// Every worker goes through a Goexit first.
	submitAll(t, p, -1, -2)
	// The pool must still run n jobs at once.
	submitAll(t, p, 1, 2)
	g.waitStarted(t, n)
	close(g.release)
	p.Close()
	rs := byID(t, collect(t, p.Results()))
	require.Len(t, rs, 4)
	assert.ErrorIs(t, rs[1].Err, workerpool.ErrGoexit)
	assert.ErrorIs(t, rs[2].Err, workerpool.ErrGoexit)
	assert.NoError(t, rs[3].Err)
	assert.NoError(t, rs[4].Err)
	assert.Equal(t, uint64(2), p.Stats().Failed)
}

func TestPoolJobTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		p := workerpool.New(func(ctx context.Context, v int) (time.Duration, error) {
			if v == 0 {
				return time.Since(start), nil // a quick job is unaffected
			}
			<-ctx.Done()
			return time.Since(start), ctx.Err()
		}, workerpool.WithJobTimeout(3*time.Second), workerpool.WithWorkers(1))
		submitAll(t, p, 0, 1, 2)
		p.Close()
		rs := byID(t, drain(p.Results()))
		require.NoError(t, rs[1].Err)
		assert.Equal(t, time.Duration(0), rs[1].Value)
		require.ErrorIs(t, rs[2].Err, context.DeadlineExceeded)
		assert.Equal(t, 3*time.Second, rs[2].Value)
		require.ErrorIs(t, rs[3].Err, context.DeadlineExceeded)
		assert.Equal(t, 6*time.Second, rs[3].Value, "the timeout counts from each job's start")
	})
}

func TestPoolJobThatIgnoresTimeoutFreesWorkerWhenItReturns(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := workerpool.New(func(ctx context.Context, v int) (int, error) {
			if v == 1 {
				time.Sleep(time.Minute) // ignores ctx
				return v, ctx.Err()
			}
			return v, nil
		}, workerpool.WithJobTimeout(time.Second), workerpool.WithWorkers(1))
		submitAll(t, p, 1, 2)
		p.Close()
		rs := byID(t, drain(p.Results()))
		assert.ErrorIs(t, rs[1].Err, context.DeadlineExceeded)
		assert.NoError(t, rs[2].Err, "the single worker ran the next job")
	})
}

func TestPoolContextCancelledBeforeStart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	g := newGate()
	var calls atomic.Int64
	p := workerpool.New(func(ctx context.Context, v int) (int, error) {
		calls.Add(1)
		return g.fn(ctx, v)
	}, workerpool.WithWorkers(1), workerpool.WithContext(ctx))
	submitAll(t, p, 1, 2, 3)
	g.waitStarted(t, 1)
	cancel()
	close(g.release)

	_, err := p.Submit(context.Background(), 4)
	require.ErrorIs(t, err, context.Canceled, "Submit reports the pool context's error")
	_, err = p.TrySubmit(4)
	require.ErrorIs(t, err, context.Canceled)

	p.Close()
	rs := byID(t, collect(t, p.Results()))
	require.Len(t, rs, 3)
	assert.NoError(t, rs[1].Err, "the running job finished normally")
	assert.ErrorIs(t, rs[2].Err, context.Canceled)
	assert.ErrorIs(t, rs[3].Err, context.Canceled)
	assert.Equal(t, int64(1), calls.Load(), "queued jobs are not run")
	st := p.Stats()
	assert.Equal(t, uint64(3), st.Completed)
	assert.Equal(t, uint64(2), st.Failed)
}

func TestPoolIDsAreOneToNWithNoGaps(t *testing.T) {
	t.Parallel()
	g := newGate()
	p := workerpool.New(g.fn, workerpool.WithWorkers(1), workerpool.WithBufferSize(2))
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	id, err := p.TrySubmit(0)
	require.NoError(t, err)
	require.Equal(t, uint64(1), id)
	g.waitStarted(t, 1) // the worker holds job 1; the buffer has 2 places
	ids := submitAll(t, p, 1, 2)
	require.Equal(t, []uint64{2, 3}, ids)

	_, err = p.TrySubmit(3)
	require.ErrorIs(t, err, workerpool.ErrQueueFull)
	_, err = p.Submit(cancelled, 3)
	require.ErrorIs(t, err, context.Canceled)

	close(g.release)
	id, err = p.Submit(context.Background(), 3)
	require.NoError(t, err)
	require.Equal(t, uint64(4), id, "failed submissions used up no ID")
	p.Close()
	_, err = p.Submit(context.Background(), 4)
	require.ErrorIs(t, err, workerpool.ErrClosed)
	requireExactlyOnce(t, collect(t, p.Results()), 4)
}

func TestSubmitBlocksWhileBufferIsFull(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		p := workerpool.New(g.fn, workerpool.WithWorkers(1), workerpool.WithBufferSize(1))
		submitAll(t, p, 1, 2) // one running, one buffered
		var id atomic.Uint64
		go func() {
			n, err := p.Submit(context.Background(), 3)
			assert.NoError(t, err)
			id.Store(n)
		}()
		synctest.Wait()
		require.Zero(t, id.Load(), "Submit returned while the buffer was full")
		g.release <- struct{}{} // job 1 ends; job 2 starts; job 3 fits
		synctest.Wait()
		require.Equal(t, uint64(3), id.Load())
		close(g.release)
		p.Close()
		requireExactlyOnce(t, drain(p.Results()), 3)
	})
}

func TestSubmitWaitingReturnsWhenCtxEnds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		p := workerpool.New(g.fn, workerpool.WithWorkers(1), workerpool.WithBufferSize(0))
		submitAll(t, p, 1)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		start := time.Now()
		_, err := p.Submit(ctx, 2)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, time.Minute, time.Since(start))
		close(g.release)
		id, err := p.Submit(context.Background(), 3)
		require.NoError(t, err)
		assert.Equal(t, uint64(2), id)
		p.Close()
		requireExactlyOnce(t, drain(p.Results()), 2)
	})
}

func TestSubmitWaitingReturnsErrClosedOnClose(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		p := workerpool.New(g.fn, workerpool.WithWorkers(1), workerpool.WithBufferSize(1))
		submitAll(t, p, 1, 2)
		errs := make(chan error, 3)
		for range 3 { // one blocks under the lock, two wait their turn
			go func() {
				_, err := p.Submit(context.Background(), 9)
				errs <- err
			}()
		}
		synctest.Wait()
		p.Close()
		for range 3 {
			assert.ErrorIs(t, <-errs, workerpool.ErrClosed)
		}
		_, err := p.Submit(context.Background(), 9) // the buffer is still full
		assert.ErrorIs(t, err, workerpool.ErrClosed, "a Submit after Close fails at once")
		close(g.release)
		requireExactlyOnce(t, drain(p.Results()), 2)
	})
}

func TestSubmitWaitingReturnsWhenPoolContextEnds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		g := newGate()
		p := workerpool.New(g.fn, workerpool.WithWorkers(1), workerpool.WithBufferSize(0),
			workerpool.WithContext(ctx))
		submitAll(t, p, 1)
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				_, err := p.Submit(context.Background(), 2)
				errs <- err
			}()
		}
		synctest.Wait()
		cancel()
		assert.ErrorIs(t, <-errs, context.Canceled)
		assert.ErrorIs(t, <-errs, context.Canceled)
		close(g.release)
		p.Close()
		requireExactlyOnce(t, drain(p.Results()), 1)
	})
}

func TestSubmitWithDoneContextFailsAtOnce(t *testing.T) {
	t.Parallel()
	p := workerpool.New(double)
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Submit(ctx, 1)
	require.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, p.Stats().Submitted)
}

func TestTrySubmit(t *testing.T) {
	t.Parallel()
	g := newGate()
	p := workerpool.New(g.fn, workerpool.WithWorkers(1), workerpool.WithBufferSize(2))
	for want := uint64(1); want <= 3; want++ {
		id, err := p.TrySubmit(int(want))
		require.NoError(t, err)
		require.Equal(t, want, id)
		if want == 1 {
			g.waitStarted(t, 1) // job 1 leaves the buffer for the worker
		}
	}
	_, err := p.TrySubmit(4)
	require.ErrorIs(t, err, workerpool.ErrQueueFull)
	close(g.release)
	p.Close()
	_, err = p.TrySubmit(5)
	require.ErrorIs(t, err, workerpool.ErrClosed)
	requireExactlyOnce(t, collect(t, p.Results()), 3)
}

func TestTrySubmitFromInsideJobDoesNotBlock(t *testing.T) {
	t.Parallel()
	// A job that submits to its own full pool would deadlock with Submit;
	// TrySubmit tells it the buffer is full instead.
	var p *workerpool.Pool[int, error]
	release, bothIn := make(chan struct{}), make(chan struct{})
	p = workerpool.New(func(_ context.Context, v int) (error, error) {
		if v == 0 {
			<-release
			return nil, nil
		}
		<-bothIn
		_, err := p.TrySubmit(0)
		return err, nil
	}, workerpool.WithWorkers(1), workerpool.WithBufferSize(1))
	submitAll(t, p, 1, 0)
	close(bothIn) // job 1 runs and finds job 2 filling the buffer
	r := <-p.Results()
	assert.ErrorIs(t, r.Value, workerpool.ErrQueueFull)
	close(release)
	p.Close()
	requireExactlyOnce(t, append(collect(t, p.Results()), r), 2)
}

func TestCloseIsIdempotentAndDoesNotWait(t *testing.T) {
	t.Parallel()
	g := newGate()
	p := workerpool.New(g.fn, workerpool.WithWorkers(2))
	submitAll(t, p, 1, 2, 3)
	g.waitStarted(t, 2)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(p.Close) // returns although two jobs are held
	}
	wg.Wait()
	p.Close()
	_, err := p.Submit(context.Background(), 4)
	require.ErrorIs(t, err, workerpool.ErrClosed)
	close(g.release) // accepted jobs still run after Close
	requireExactlyOnce(t, collect(t, p.Results()), 3)
}

func TestSubmitRacingCloseNeverPanicsNorLosesJobs(t *testing.T) {
	t.Parallel()
	for _, bufferSize := range []int{0, 1, 16} {
		t.Run(fmt.Sprintf("buffer=%d", bufferSize), func(t *testing.T) {
			t.Parallel()
			for range 20 {
				p := workerpool.New(double, workerpool.WithWorkers(3), workerpool.WithBufferSize(bufferSize))
				var accepted atomic.Uint64
				var wg sync.WaitGroup
				start, first := make(chan struct{}), make(chan struct{})
				for i := range 8 {
					wg.Go(func() {
						<-start
						for j := range 50 {
							var err error
							if (i+j)%2 == 0 {
								_, err = p.Submit(context.Background(), j)
							} else {
								_, err = p.TrySubmit(j)
							}
							if err == nil {
								if accepted.Add(1) == 1 {
									close(first)
								}
							} else if !errors.Is(err, workerpool.ErrQueueFull) {
								assert.ErrorIs(t, err, workerpool.ErrClosed)
							}
						}
					})
				}
				// Close races the submitters once the pool has accepted a
				// job, so that a pool that accepts nothing fails the test.
				closeAfterFirst := func() {
					select {
					case <-first:
					case <-time.After(watchdog):
					}
					p.Close()
				}
				wg.Go(closeAfterFirst)
				wg.Go(closeAfterFirst)
				rs := make(chan []workerpool.Result[int, int])
				go func() { rs <- collect(t, p.Results()) }()
				close(start)
				wg.Wait()
				require.NotZero(t, accepted.Load(), "the pool accepted a job before Close")
				requireExactlyOnce(t, <-rs, accepted.Load())
				st := p.Stats()
				require.Equal(t, accepted.Load(), st.Submitted)
				require.Equal(t, st.Submitted, st.Completed)
			}
		})
	}
}

func TestStatsWhileRunningAndAtRest(t *testing.T) {
	t.Parallel()
	g := newGate()
	p := workerpool.New(g.fn, workerpool.WithWorkers(2), workerpool.WithBufferSize(8))
	submitAll(t, p, seq(5)...)
	g.waitStarted(t, 2)
	assert.Equal(t, workerpool.Stats{Workers: 2, Live: 2, Running: 2, Queued: 3, Submitted: 5}, p.Stats())
	close(g.release)
	p.Close()
	requireExactlyOnce(t, collect(t, p.Results()), 5)
	assert.Equal(t, workerpool.Stats{Workers: 2, Submitted: 5, Completed: 5}, p.Stats(),
		"at rest after Close: no worker alive")
}

func TestStatsIsSafeUnderLoad(t *testing.T) {
	t.Parallel()
	p := workerpool.New(func(_ context.Context, v int) (int, error) {
		if v%3 == 0 {
			return 0, errors.New("fail")
		}
		return v, nil
	}, workerpool.WithWorkers(4))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			st := p.Stats()
			// Consistent even mid-flight.
			if st.Running < 0 || st.Queued < 0 || st.Completed > st.Submitted || st.Failed > st.Completed {
				assert.Failf(t, "inconsistent Stats", "%+v", st)
				return
			}
			if st.Completed == 3000 {
				return
			}
			runtime.Gosched()
		}
	}()
	go func() {
		defer p.Close()
		submitAll(t, p, seq(3000)...)
	}()
	collect(t, p.Results())
	<-done
	st := p.Stats()
	assert.Equal(t, uint64(3000), st.Submitted)
	assert.Equal(t, uint64(3000), st.Completed)
	assert.Equal(t, uint64(1000), st.Failed)
}

func TestNewRejectsBadInput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		fn   func()
		want string
	}{
		{"nil Func", func() { workerpool.New[int, int](nil) }, "workerpool: New(nil)"},
		{"zero workers", func() { workerpool.New(double, workerpool.WithWorkers(0)) }, "workerpool: WithWorkers(0)"},
		{"negative workers", func() { workerpool.New(double, workerpool.WithWorkers(-3)) }, "workerpool: WithWorkers(-3)"},
		{"negative buffer", func() { workerpool.New(double, workerpool.WithBufferSize(-1)) }, "workerpool: WithBufferSize(-1)"},
		{"negative result buffer", func() { workerpool.New(double, workerpool.WithResultBufferSize(-2)) }, "workerpool: WithResultBufferSize(-2)"},
		//lint:ignore SA1012 passing nil is the point of the test
		{"nil context", func() { workerpool.New(double, workerpool.WithContext(nil)) }, "workerpool: WithContext(nil)"},
		{"zero timeout", func() { workerpool.New(double, workerpool.WithJobTimeout(0)) }, "workerpool: WithJobTimeout(0s)"},
		{"negative timeout", func() { workerpool.New(double, workerpool.WithJobTimeout(-time.Second)) }, "workerpool: WithJobTimeout(-1s)"},
		{"nil option", func() { workerpool.New(double, nil) }, "workerpool: nil Option"},
		{"Map nil Func", func() { _, _ = workerpool.Map[int, int](context.Background(), nil, nil) }, "workerpool: Map"},
		{"Stream nil Func", func() { workerpool.Stream[int, int](context.Background(), nil, nil) }, "workerpool: Stream"},
		{"zero attempts", func() { workerpool.WithRetry(0, constantBackoff(0)) }, "workerpool: WithRetry(0)"},
		{"nil backoff", func() { workerpool.WithRetry(3, nil) }, "workerpool: WithRetry(nil Backoff)"},
		{"nil limiter", func() { workerpool.WithRateLimit(nil) }, "workerpool: WithRateLimit(nil)"},
		{"nil observer", func() { workerpool.WithObserver(nil) }, "workerpool: WithObserver(nil)"},
		{"zero backoff base", func() { workerpool.ExponentialBackoff(0, time.Second) }, "workerpool: ExponentialBackoff(0s)"},
		{"backoff max below base", func() {
			workerpool.ExponentialBackoff(time.Second, time.Millisecond)
		}, "workerpool: ExponentialBackoff(1ms): max must be at least base (1s)"},
		{"Map bad option", func() {
			_, _ = workerpool.Map(context.Background(), nil, double, workerpool.WithWorkers(0))
		}, "workerpool: WithWorkers(0)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				msg := fmt.Sprint(recover())
				assert.Truef(t, len(msg) >= len(c.want) && msg[:len(c.want)] == c.want,
					"panic %q, want it to start with %q", msg, c.want)
			}()
			c.fn()
		})
	}
}

func TestSlowConsumerBoundsMemory(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const workers, buffer, resultBuffer = 3, 5, 4
		p := workerpool.New(double, workerpool.WithWorkers(workers),
			workerpool.WithBufferSize(buffer), workerpool.WithResultBufferSize(resultBuffer))
		go func() {
			defer p.Close()
			submitAll(t, p, seq(10_000)...)
		}()
		synctest.Wait() // nobody reads: the submitter is blocked
		st := p.Stats()
		// Each worker holds one finished Result it cannot deliver; the rest
		// waits in the two buffers. Nothing else is accepted.
		assert.Equal(t, uint64(workers+buffer+resultBuffer), st.Submitted)
		assert.Equal(t, uint64(workers+resultBuffer), st.Completed)
		requireExactlyOnce(t, drain(p.Results()), 10_000)
	})
}
