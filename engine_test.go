package workerpool_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/workerpool-go/workerpool"
)

// holdFunc returns a Func that reports each value on started and, for a
// value that is not negative, waits for release to be closed.
func holdFunc(started chan<- int, release <-chan struct{}) workerpool.Func[int, int] {
	return func(_ context.Context, v int) (int, error) {
		started <- v
		if v >= 0 {
			<-release
		}
		return v, nil
	}
}

// tryDoAll makes n TryDo calls of v at once, each from its own goroutine, and
// returns once each has either been refused or started its job (reported on
// started): the refusals, and a wait for the accepted calls to return.
func tryDoAll(t *testing.T, p *workerpool.Pool[int, int], n, v int, started <-chan int) (refused int, wait func()) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	go1 := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-go1
			if _, err := p.TryDo(context.Background(), v); err != nil {
				errs <- err
			}
		})
	}
	close(go1)
	for seen := 0; seen < n; seen++ {
		select {
		case err := <-errs:
			assert.ErrorIs(t, err, workerpool.ErrQueueFull)
			refused++
		case <-started:
		case <-time.After(watchdog):
			require.FailNowf(t, "TryDo calls neither refused nor started", "%d of %d", seen, n)
		}
	}
	return refused, wg.Wait
}

// TestTryDoOnIdleWorkersWithoutBuffer is errgroup's TestTryGo on a pool: 42
// callers make one TryDo each at the same moment on 42 idle workers with no
// jobs buffer. None is refused, however they race for the acceptance lock,
// and a 43rd call, with all 42 busy, is.
func TestTryDoOnIdleWorkersWithoutBuffer(t *testing.T) {
	const n = 42
	for range 20 {
		started := make(chan int, 2*n)
		warm, release := make(chan struct{}), make(chan struct{})
		p := workerpool.New(func(_ context.Context, v int) (int, error) {
			started <- v
			if v == 0 {
				<-warm
			} else {
				<-release
			}
			return v, nil
		}, workerpool.WithWorkers(n), workerpool.WithBufferSize(0), workerpool.WithIdleTimeout(0))
		// Start all 42 workers with jobs that overlap, then let them go idle.
		refused, wait := tryDoAll(t, p, n, 0, started)
		require.Zero(t, refused, "a cold pool is not full")
		close(warm)
		wait()
		require.Equal(t, n, p.Stats().Live)

		refused, wait = tryDoAll(t, p, n, 1, started)
		assert.Zero(t, refused, "refused with idle workers")
		_, err := p.TryDo(context.Background(), 2)
		assert.ErrorIs(t, err, workerpool.ErrQueueFull, "all 42 busy and no buffer")
		close(release)
		wait()
		p.Close()
		assert.Empty(t, collect(t, p.Results()))
	}
}

// TestTryDoOnAColdPool: a pool none of whose workers has started, or whose
// workers have all retired, is not full: TryDo and TrySubmit start workers
// for a burst, up to the limit, and refuse only past it.
func TestTryDoOnAColdPool(t *testing.T) {
	started, release := make(chan int, 16), make(chan struct{})
	p := workerpool.New(holdFunc(started, release), workerpool.WithWorkers(4), workerpool.WithBufferSize(0))
	refused, wait := tryDoAll(t, p, 4, 1, started)
	assert.Zero(t, refused, "four calls on a cold pool of four")
	_, err := p.TrySubmit(5)
	assert.ErrorIs(t, err, workerpool.ErrQueueFull, "a fifth")
	close(release)
	wait()
	p.Close()
	assert.Empty(t, collect(t, p.Results()))

	synctest.Test(t, func(t *testing.T) {
		const d = time.Second
		p := workerpool.New(double, workerpool.WithWorkers(2), workerpool.WithBufferSize(0), workerpool.WithIdleTimeout(d))
		defer p.Close()
		_, err := p.Do(context.Background(), 1)
		require.NoError(t, err)
		time.Sleep(3 * d)
		synctest.Wait()
		require.Zero(t, p.Stats().Live, "the worker retired")
		v, err := p.TryDo(context.Background(), 21)
		assert.NoError(t, err, "a pool whose workers retired is not full")
		assert.Equal(t, 42, v)
	})
}

// TestIdleRetirementKeepsTheBufferForJobs: workers blocked delivering their
// Results to a reader that is not reading are not idle. Idle retirement
// takes no room from jobs while they are blocked: TrySubmit is accepted on a
// pool with an empty buffer, and once the Results are read the workers stay
// for the idle timeout before they retire.
func TestIdleRetirementKeepsTheBufferForJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const d = time.Second
		p := workerpool.New(double, workerpool.WithWorkers(2), workerpool.WithBufferSize(1),
			workerpool.WithResultBufferSize(0), workerpool.WithIdleTimeout(d))
		submitAll(t, p, 1, 2)
		synctest.Wait() // both workers are blocked delivering
		time.Sleep(3 * d)
		synctest.Wait()
		st := p.Stats()
		require.Zero(t, st.Queued)
		require.Equal(t, 2, st.Live, "workers blocked on delivery do not retire")
		_, err := p.TrySubmit(3)
		require.NoError(t, err, "the buffer is empty")
		require.Equal(t, 1, p.Stats().Queued)

		for range 3 {
			<-p.Results()
		}
		synctest.Wait() // both workers idle from now on
		time.Sleep(d - time.Nanosecond)
		assert.Equal(t, 2, p.Stats().Live, "no worker retires before it was idle for d")
		time.Sleep(d + time.Nanosecond)
		synctest.Wait()
		assert.Zero(t, p.Stats().Live, "both retired by 2d")
		p.Close()
		assert.Empty(t, drain(p.Results()))
	})
}

// TestResizeUpStartsNoWorkerWithoutJobs: growing the limit starts a worker
// only for a job that waits for one, as Resize's doc says.
func TestResizeUpStartsNoWorkerWithoutJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := workerpool.New(double, workerpool.WithWorkers(1))
		_, err := p.Do(context.Background(), 1)
		require.NoError(t, err)
		synctest.Wait()
		require.Equal(t, 1, p.Stats().Live)
		p.Resize(8)
		synctest.Wait()
		assert.Equal(t, 1, p.Stats().Live, "no job waits: no worker starts")
		p.Close()
		assert.Empty(t, drain(p.Results()))

		// The only worker busy, nothing queued: still no job waits.
		started, release := make(chan int, 1), make(chan struct{})
		b := workerpool.New(holdFunc(started, release), workerpool.WithWorkers(1))
		submitAll(t, b, 1)
		<-started
		b.Resize(8)
		synctest.Wait()
		assert.Equal(t, 1, b.Stats().Live, "a busy worker and no job waiting: no worker starts")
		submitAll(t, b, 2) // a job that waits: a worker starts for it
		synctest.Wait()
		assert.Equal(t, 2, b.Stats().Live)
		close(release)
		b.Close()
		assert.Len(t, drain(b.Results()), 2)
	})
}

// TestStatsStayWithinTheirBounds reads Stats while jobs of every kind run on
// a one-worker pool: Running never exceeds Live nor the limit, and no count
// is negative.
func TestStatsStayWithinTheirBounds(t *testing.T) {
	p := workerpool.New(func(_ context.Context, v int) (int, error) {
		runtime.Gosched()
		return v, nil
	}, workerpool.WithWorkers(1))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				st := p.Stats()
				if !assert.LessOrEqual(t, st.Running, st.Live) ||
					!assert.LessOrEqual(t, st.Running, 1) ||
					!assert.GreaterOrEqual(t, st.Queued, 0) {
					return
				}
			}
		})
	}
	go func() {
		for range p.Results() {
		}
	}()
	for i := range 2000 {
		if i%2 == 0 {
			_, err := p.Do(context.Background(), i)
			require.NoError(t, err)
		} else {
			submitAll(t, p, i)
		}
	}
	close(stop)
	wg.Wait()
	p.Close()
}

// TestDoFromInsideEveryWorker: every worker of the pool runs a job that calls
// Do, TryDo and Map on the same pool under its job's context. They cannot wait
// for a worker (none is free and the buffer is empty): they run on the
// calling worker, with the usual Results, a panic included.
func TestDoFromInsideEveryWorker(t *testing.T) {
	const workers = 2
	inside := make(chan struct{}, workers)
	all := make(chan struct{})
	var p *workerpool.Pool[int, int]
	p = workerpool.New(func(ctx context.Context, v int) (int, error) {
		switch {
		case v == 7:
			panic("seven")
		case v < 100:
			return 2 * v, nil
		}
		inside <- struct{}{}
		<-all // every worker is inside such a job
		a, err := p.Do(ctx, 1)
		if err != nil {
			return 0, err
		}
		b, err := p.TryDo(context.WithoutCancel(ctx), 2) // derived from the job's context
		if err != nil {
			return 0, err
		}
		m, err := p.Map(ctx, []int{3, 4})
		if err != nil {
			return 0, err
		}
		if _, err := p.Do(ctx, 7); !errors.As(err, new(*workerpool.PanicError)) {
			return 0, errors.New("the panic of a job run inline did not come back")
		}
		return a + b + m[0] + m[1], nil
	}, workerpool.WithWorkers(workers), workerpool.WithBufferSize(0))
	defer p.Close()
	done := make(chan error, workers)
	for range workers {
		go func() {
			v, err := p.Do(context.Background(), 100)
			if err == nil && v != 20 {
				err = errors.New("wrong sum")
			}
			done <- err
		}()
	}
	for range workers {
		<-inside
	}
	close(all)
	for range workers {
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(watchdog):
			require.FailNow(t, "a Do from inside a job deadlocked")
		}
	}
	st := p.Stats()
	assert.Equal(t, uint64(workers*6), st.Submitted, "the inner calls are jobs of the pool")
	assert.Equal(t, uint64(workers), st.Panicked)
}

// TestInlineJobsAreJobsOfThePool: a Do made from inside a job is accepted as
// any job is: it takes an ID, counts in Stats (a failure too), takes no place
// among the ordered Results, is refused after Close or once the pool's
// context ended, and a failure once its caller's context is done reports
// that context's error.
func TestInlineJobsAreJobsOfThePool(t *testing.T) {
	errInner := errors.New("inner")
	inner := make(chan error, 8)
	var cancelInner context.CancelFunc
	var p *workerpool.Pool[int, int]
	p = workerpool.New(func(ctx context.Context, v int) (int, error) {
		switch v {
		case 1: // an inline job that fails
			_, err := p.Do(ctx, -1)
			inner <- err
		case 2: // an inline job that fails once its caller gave up
			cctx, cancel := context.WithCancel(ctx)
			cancelInner = cancel
			_, err := p.Do(cctx, -2)
			inner <- err
		case 3: // after Close
			p.Close()
			_, err := p.Do(ctx, 5)
			inner <- err
		case -1:
			return 0, errInner
		case -2:
			cancelInner()
			return 0, errInner
		}
		return v, nil
	}, workerpool.WithWorkers(1), workerpool.WithOrderedResults())
	submitAll(t, p, 1)
	assert.ErrorIs(t, <-inner, errInner)
	submitAll(t, p, 2)
	assert.ErrorIs(t, <-inner, context.Canceled, "the caller's context's error, not the job's")
	submitAll(t, p, 3)
	assert.ErrorIs(t, <-inner, workerpool.ErrClosed)
	rs := collect(t, p.Results())
	require.Len(t, rs, 3, "the ordered Results are not held back by the inline jobs")
	assert.Equal(t, []uint64{1, 3, 5}, []uint64{rs[0].Job.ID, rs[1].Job.ID, rs[2].Job.ID},
		"inline jobs take IDs 2 and 4")
	st := p.Stats()
	assert.Equal(t, uint64(5), st.Submitted)
	assert.Equal(t, uint64(2), st.Failed, "the two inline jobs failed")

	rctx, endR := context.WithCancel(context.Background())
	defer endR()
	var r *workerpool.Pool[int, int]
	r = workerpool.New(func(ctx context.Context, v int) (int, error) {
		if v < 0 {
			return v, nil
		}
		endR()
		return r.Do(context.WithoutCancel(ctx), -1)
	}, workerpool.WithContext(rctx))
	_, err := r.Do(context.Background(), 1)
	assert.ErrorIs(t, err, context.Canceled, "the pool's context ended: the inline job is refused")
	r.Close()
	assert.Empty(t, collect(t, r.Results()))
}

// TestResizeDownRetiresIdleSurplusAtOnce: a shrinking Resize asks the idle
// surplus workers to leave at once, without waiting for a job to reach them.
func TestResizeDownRetiresIdleSurplusAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		started, release := make(chan int, 4), make(chan struct{})
		p := workerpool.New(holdFunc(started, release), workerpool.WithWorkers(4), workerpool.WithIdleTimeout(0))
		submitAll(t, p, 1, 2, 3, 4)
		synctest.Wait()
		close(release)
		for range 4 {
			<-p.Results()
		}
		synctest.Wait()
		require.Equal(t, 4, p.Stats().Live, "four idle workers")
		p.Resize(1)
		synctest.Wait()
		assert.Equal(t, 1, p.Stats().Live, "the three surplus idle workers left")
		p.Close()
		assert.Empty(t, drain(p.Results()))
	})
}

// TestOneCallerUsesOneWorker: a caller that makes its Do calls one after
// another finds the worker of its last call free each time (a worker counts
// itself free before it hands a caller its Result), so no second worker is
// ever started for it, whatever the limit.
func TestOneCallerUsesOneWorker(t *testing.T) {
	p := workerpool.New(double, workerpool.WithWorkers(8))
	for i := range 2000 {
		v, err := p.Do(context.Background(), i)
		require.NoError(t, err)
		require.Equal(t, 2*i, v)
		require.Equalf(t, 1, p.Stats().Live, "after call %d", i)
	}
	p.Close()
	assert.Empty(t, drain(p.Results()))
}
