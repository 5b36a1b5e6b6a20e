package workerpool_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/workerpool-go/workerpool"
)

func requireAscending[J, R any](t testing.TB, rs []workerpool.Result[J, R], n int) {
	t.Helper()
	require.Len(t, rs, n)
	for i, r := range rs {
		require.Equalf(t, uint64(i+1), r.Job.ID, "Result %d", i)
	}
}

func TestOrderedResultsArriveInIDOrder(t *testing.T) {
	t.Parallel()
	p := workerpool.New(func(_ context.Context, v int) (int, error) {
		for range rand.IntN(2000) { // uneven work, so jobs finish out of order
			runtime.Gosched()
		}
		return v, nil
	}, workerpool.WithWorkers(8), workerpool.WithOrderedResults())
	go func() {
		defer p.Close()
		submitAll(t, p, seq(2000)...)
	}()
	rs := collect(t, p.Results())
	requireAscending(t, rs, 2000)
	for _, r := range rs {
		require.Equal(t, int(r.Job.ID)-1, r.Value)
	}
}

func TestOrderedResultsStayOrderedWhenJobsFailPanicOrTimeOut(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		errFail := errors.New("fail")
		p := workerpool.New(func(ctx context.Context, v int) (int, error) {
			switch v % 5 {
			case 1:
				return 0, errFail
			case 2:
				panic(v)
			case 3:
				<-ctx.Done() // times out
				return 0, ctx.Err()
			case 4:
				runtime.Goexit()
			}
			time.Sleep(time.Duration(100-v) * time.Millisecond) // later jobs finish first
			return v, nil
		}, workerpool.WithWorkers(4), workerpool.WithOrderedResults(), workerpool.WithJobTimeout(time.Second))
		go func() {
			defer p.Close()
			submitAll(t, p, seq(100)...)
		}()
		rs := drain(p.Results())
		requireAscending(t, rs, 100)
		var pe *workerpool.PanicError
		for _, r := range rs {
			switch r.Job.Value % 5 {
			case 0:
				assert.NoError(t, r.Err)
			case 1:
				assert.ErrorIs(t, r.Err, errFail)
			case 2:
				assert.ErrorAs(t, r.Err, &pe)
			case 3:
				assert.ErrorIs(t, r.Err, context.DeadlineExceeded)
			case 4:
				assert.ErrorIs(t, r.Err, workerpool.ErrGoexit)
			}
		}
	})
}

func TestOrderedResultsBoundedBehindSlowJob(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const workers, resultBuf = 3, 4
		const window = 2*workers + resultBuf
		release := make(chan struct{})
		p := workerpool.New(func(_ context.Context, v int) (int, error) {
			if v == 0 {
				<-release // the oldest job is slow
			}
			return v, nil
		}, workerpool.WithWorkers(workers), workerpool.WithOrderedResults(),
			workerpool.WithBufferSize(1000), workerpool.WithResultBufferSize(resultBuf))
		submitAll(t, p, seq(1000)...)
		synctest.Wait() // every worker is now blocked: on job 1 or on the window
		st := p.Stats()
		// Parked Results stay under the window, plus one held by each
		// waiting worker.
		assert.LessOrEqual(t, st.Completed, uint64(window-1+workers-1))
		assert.GreaterOrEqual(t, st.Queued, 1000-(window+workers-1), "the rest stays queued, unstarted")
		close(release)
		p.Close()
		requireAscending(t, drain(p.Results()), 1000)
	})
}

func TestOrderedResultsBoundedBehindSlowReader(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const workers, resultBuf, jobBuf = 2, 4, 8
		const window = 2*workers + resultBuf
		p := workerpool.New(double, workerpool.WithWorkers(workers), workerpool.WithOrderedResults(),
			workerpool.WithResultBufferSize(resultBuf), workerpool.WithBufferSize(jobBuf))
		go func() {
			defer p.Close()
			submitAll(t, p, seq(10000)...)
		}()
		synctest.Wait() // nobody reads: everything stops at the buffers
		st := p.Stats()
		// The Results buffer, the one the sending worker holds, the ring
		// (under the window), one held by each other worker, and the jobs
		// buffer.
		assert.LessOrEqual(t, st.Submitted, uint64(resultBuf+1+window-1+workers-1+jobBuf),
			"accepted jobs are bounded by the buffers")
		requireAscending(t, drain(p.Results()), 10000)
	})
}

// TestOrderedWorkersGoOnWhileOneSends checks that the worker sending
// Results in order does not hold up the others while the reader is slow:
// they park their Results and take more jobs, up to the window.
func TestOrderedWorkersGoOnWhileOneSends(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const workers = 2
		const window = 2 * workers // no Results buffer
		p := workerpool.New(double, workerpool.WithWorkers(workers), workerpool.WithOrderedResults(),
			workerpool.WithResultBufferSize(0), workerpool.WithBufferSize(10))
		submitAll(t, p, seq(10)...)
		synctest.Wait() // nobody reads: job 1's worker is stuck sending
		// Job 1 is being sent, 2..window are parked, and the next job
		// waits on the window.
		assert.Equal(t, uint64(1+window), p.Stats().Completed)
		p.Close()
		requireAscending(t, drain(p.Results()), 10)
	})
}

func TestOrderedResultsNoStallWhenSubmitGivesUp(t *testing.T) {
	t.Parallel()
	p := workerpool.New(double, workerpool.WithWorkers(2), workerpool.WithOrderedResults())
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	submitAll(t, p, 1, 2)
	_, err := p.Submit(cancelled, 3)
	require.Error(t, err)
	_, err = p.TrySubmit(4)
	require.NoError(t, err)
	p.Close()
	requireAscending(t, collect(t, p.Results()), 3)
}

// TestOrderedWindowAtTheLargestLimit: the window of an ordered pool is twice
// the limit plus the Results buffer, and for a limit near math.MaxInt, set by
// WithWorkers or Resize, it must not wrap around to nothing, which would hold
// every Result back for ever.
func TestOrderedWindowAtTheLargestLimit(t *testing.T) {
	for _, viaResize := range []bool{false, true} {
		workers := math.MaxInt
		if viaResize {
			workers = 1
		}
		p := workerpool.New(double, workerpool.WithWorkers(workers), workerpool.WithOrderedResults(),
			workerpool.WithResultBufferSize(2))
		if viaResize {
			p.Resize(math.MaxInt)
		}
		go func() {
			submitAll(t, p, seq(10)...)
			p.Close()
		}()
		rs := collect(t, p.Results())
		require.Len(t, rs, 10, "Results held back (resize: %v)", viaResize)
		for i, r := range rs {
			assert.Equal(t, uint64(i+1), r.Job.ID)
		}
	}
}
