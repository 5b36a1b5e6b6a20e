package workerpool_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/workerpool-go/workerpool"
	"go.uber.org/goleak"
)

// mapPaths are worker limits that take Map's two ways of running its
// elements: handed out by index (up to 1,024 workers) and submitted through
// the jobs channel (past that).
var mapPaths = []struct {
	name    string
	workers int
}{
	{"by index", 7},
	{"submitted", 2048},
}

// onMapPaths runs test as a parallel subtest on each of mapPaths, with its
// worker limit.
func onMapPaths(t *testing.T, test func(t *testing.T, workers int)) {
	t.Helper()
	for _, path := range mapPaths {
		t.Run(path.name, func(t *testing.T) {
			t.Parallel()
			test(t, path.workers)
		})
	}
}

func TestMapReturnsOutputsInInputOrder(t *testing.T) {
	t.Parallel()
	onMapPaths(t, func(t *testing.T, workers int) {
		in := seq(5000)
		out, err := workerpool.Map(context.Background(), in, func(_ context.Context, v int) (string, error) {
			return strconv.Itoa(v), nil
		}, workerpool.WithWorkers(workers))
		require.NoError(t, err)
		require.Len(t, out, len(in))
		for i, s := range out {
			require.Equal(t, strconv.Itoa(i), s)
		}
	})
}

// TestMapRunsAtMostNAtOnceAndGrowsToN holds every job at a gate: the
// workers Map starts one at a time reach the limit, and never pass it.
func TestMapRunsAtMostNAtOnceAndGrowsToN(t *testing.T) {
	t.Parallel()
	onMapPaths(t, func(t *testing.T, workers int) {
		g := newGate()
		limit := workers
		in := seq(limit + 500) // more than the limit; fewer than the gate's buffer holds after it
		done := make(chan error, 1)
		go func() {
			_, err := workerpool.Map(context.Background(), in, g.fn, workerpool.WithWorkers(limit))
			done <- err
		}()
		g.waitStarted(t, limit)
		assert.Equal(t, int64(limit), g.running.Load(), "jobs running with every worker held")
		close(g.release)
		require.NoError(t, <-done)
		assert.Equal(t, int64(limit), g.peak.Load(), "most jobs running at once")
	})
}

// TestMapRetriesBeforeFailing checks that Map fails fast on a job's last
// attempt, not on an error that a retry then fixes.
func TestMapRetriesBeforeFailing(t *testing.T) {
	t.Parallel()
	onMapPaths(t, func(t *testing.T, workers int) {
		synctest.Test(t, func(t *testing.T) {
			errFlaky := errors.New("flaky")
			var calls atomic.Int64
			out, err := workerpool.Map(context.Background(), seq(20), func(_ context.Context, v int) (int, error) {
				calls.Add(1)
				if v%2 == 0 && calls.Load()%3 != 0 {
					return 0, errFlaky // some even elements fail once or twice
				}
				return v, nil
			}, workerpool.WithWorkers(workers), workerpool.WithRetry(10, workerpool.ExponentialBackoff(time.Millisecond, time.Second)))
			require.NoError(t, err)
			assert.Equal(t, seq(20), out)
			assert.Greater(t, calls.Load(), int64(20), "some elements were retried")

			errBad := errors.New("bad")
			calls.Store(0)
			_, err = workerpool.Map(context.Background(), seq(20), func(_ context.Context, v int) (int, error) {
				calls.Add(1)
				if v == 7 {
					return 0, errBad
				}
				return v, nil
			}, workerpool.WithWorkers(1), workerpool.WithRetry(3, workerpool.ExponentialBackoff(time.Millisecond, time.Second)))
			require.ErrorIs(t, err, errBad)
			assert.Equal(t, int64(7+3), calls.Load(), "elements 0-6 once, then 3 attempts at element 7")
		})
	})
}

// TestMapGoexitFailsTheMap checks that a job calling runtime.Goexit fails
// the Map with ErrGoexit, and leaves no goroutine behind (goleak, at exit).
func TestMapGoexitFailsTheMap(t *testing.T) {
	t.Parallel()
	onMapPaths(t, func(t *testing.T, workers int) {
		out, err := workerpool.Map(context.Background(), seq(100), func(_ context.Context, v int) (int, error) {
			if v == 3 {
				runtime.Goexit()
			}
			return v, nil
		}, workerpool.WithWorkers(workers))
		require.ErrorIs(t, err, workerpool.ErrGoexit)
		assert.Nil(t, out)
	})
}

// TestMapObserverSeesEveryElement checks that each element is observed once,
// with its index plus one as the job ID.
func TestMapObserverSeesEveryElement(t *testing.T) {
	t.Parallel()
	onMapPaths(t, func(t *testing.T, workers int) {
		o := newRecorder()
		const n = 300
		_, err := workerpool.Map(context.Background(), seq(n), func(_ context.Context, v int) (int, error) {
			return v, nil
		}, workerpool.WithWorkers(workers), workerpool.WithObserver(o))
		require.NoError(t, err)
		require.Len(t, o.events, n)
		for id := uint64(1); id <= n; id++ {
			evs := o.events[id]
			require.Len(t, evs, 2, "job %d", id)
			assert.True(t, evs[0].started, "job %d", id)
			assert.False(t, evs[1].started, "job %d", id)
			assert.NoError(t, evs[1].err, "job %d", id)
		}
	})
}

func TestMapEmptyInput(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	out, err := workerpool.Map(context.Background(), nil, func(_ context.Context, v int) (int, error) {
		calls.Add(1)
		return v, nil
	})
	require.NoError(t, err)
	require.NotNil(t, out)
	assert.Empty(t, out)
	assert.Zero(t, calls.Load())
}

func TestMapFailsFastWithTheJobsOwnError(t *testing.T) {
	t.Parallel()
	errBad := errors.New("bad input")
	var calls atomic.Int64
	o := newRecorder()
	out, err := workerpool.Map(context.Background(), seq(10000), func(ctx context.Context, v int) (int, error) {
		calls.Add(1)
		if v == 10 {
			return 0, errBad
		}
		return v, ctx.Err()
	}, workerpool.WithWorkers(1), workerpool.WithBufferSize(4), workerpool.WithObserver(o))
	require.ErrorIs(t, err, errBad)
	assert.Nil(t, out)
	// One worker ran 0..10 in order and took no element after the failure:
	// none was even started to get a cancellation error.
	assert.Equal(t, int64(11), calls.Load())
	assert.Len(t, o.events, 11, "elements the Observer saw")
}

// TestMapSubmittedFailsFast is TestMapFailsFastWithTheJobsOwnError past
// 1,024 workers, where Map submits its elements: after the failure, Map
// submits no more, so most of the 100,000 never run.
func TestMapSubmittedFailsFast(t *testing.T) {
	t.Parallel()
	errBad := errors.New("bad input")
	var calls atomic.Int64
	const n = 100_000
	_, err := workerpool.Map(context.Background(), seq(n), func(ctx context.Context, v int) (int, error) {
		calls.Add(1)
		if v == 10 {
			return 0, errBad
		}
		return v, ctx.Err()
	}, workerpool.WithWorkers(2048), workerpool.WithBufferSize(4))
	require.ErrorIs(t, err, errBad)
	// Before the failure is seen, the submitter is at most a buffer and a
	// worker per running job ahead of element 10.
	assert.LessOrEqual(t, calls.Load(), int64(11+4+2048))
}

func TestMapReportsAPanic(t *testing.T) {
	t.Parallel()
	onMapPaths(t, func(t *testing.T, workers int) {
		_, err := workerpool.Map(context.Background(), seq(50), func(_ context.Context, v int) (int, error) {
			if v == 20 {
				panic("twenty")
			}
			return v, nil
		}, workerpool.WithWorkers(workers))
		var pe *workerpool.PanicError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "twenty", pe.Value)
	})
}

func TestMapReturnsCallerContextError(t *testing.T) {
	t.Parallel()
	onMapPaths(t, func(t *testing.T, workers int) {
		ctx, cancel := context.WithCancel(context.Background())
		g := newGate()
		done := make(chan error, 1)
		go func() {
			_, err := workerpool.Map(ctx, seq(100), func(ctx context.Context, v int) (int, error) {
				g.started <- v
				<-ctx.Done()
				return 0, errors.New("job saw: " + ctx.Err().Error())
			}, workerpool.WithWorkers(workers))
			done <- err
		}()
		g.waitStarted(t, 2)
		cancel()
		err := <-done
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, context.Canceled, err, "ctx.Err() itself, not the job's echo of it")
	})
}

func TestMapContextAlreadyDone(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var calls atomic.Int64
	out, err := workerpool.Map(ctx, seq(100), func(_ context.Context, v int) (int, error) {
		calls.Add(1)
		return v, nil
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.Nil(t, out)
	assert.Zero(t, calls.Load())
}

func TestMapRunsUnderItsContextArgument(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "from Map")
	out, err := workerpool.Map(ctx, []int{1, 2}, func(ctx context.Context, v int) (string, error) {
		return ctx.Value(key{}).(string), ctx.Err()
	}, workerpool.WithContext(cancelled))
	require.NoError(t, err)
	assert.Equal(t, []string{"from Map", "from Map"}, out)
}

// TestMapLeavesNothingBehindAfterAnError is not parallel: it checks for
// leaked goroutines the moment Map returns.
func TestMapLeavesNothingBehindAfterAnError(t *testing.T) {
	for _, path := range mapPaths {
		t.Run(path.name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			errFirst := errors.New("first")
			_, err := workerpool.Map(context.Background(), seq(5000), func(_ context.Context, v int) (int, error) {
				if v == 0 {
					return 0, errFirst
				}
				return v, nil
			}, workerpool.WithWorkers(path.workers), workerpool.WithResultBufferSize(0))
			require.ErrorIs(t, err, errFirst)
			// Every job Map started has returned and delivered its Result: no
			// worker is left behind.
			goleak.VerifyNone(t, ignore)
		})
	}
}

// TestMapBuffersFitTheInput checks that Map sizes its default buffers to the
// input: a pool of 200,000 workers would otherwise allocate 65,536 Result
// slots (3 MiB here) for a handful of elements.
func TestMapBuffersFitTheInput(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out, err := workerpool.Map(context.Background(), seq(10), double, workerpool.WithWorkers(200_000))
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	require.Len(t, out, 10)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "bytes allocated by a Map over 10 elements")
}

// TestMapByIndexNeedsNoBuffers checks that up to 1,024 workers Map allocates
// no channel buffers: its output and some 3 KiB (up to 8 KiB seen under
// -race). Past 1,024 workers, with its jobs buffer, it takes some 27 KiB
// beyond its output here. Not parallel: it reads the process's allocation
// counter.
func TestMapByIndexNeedsNoBuffers(t *testing.T) {
	const n = 1000
	in := seq(n)
	for _, workers := range []int{4, 1024} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		out, err := workerpool.Map(context.Background(), in, double, workerpool.WithWorkers(workers))
		runtime.ReadMemStats(&after)
		require.NoError(t, err)
		require.Len(t, out, n)
		output := uint64(n * 8)
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, output+16<<10, "bytes allocated with %d workers", workers)
	}
}

// TestMapStartsNoMoreWorkersThanTheLimit watches the goroutines while a Map
// runs: at most the limit of them run its workers. Each element yields, so
// that a worker started is soon running and could start another. Counting
// goroutines is cheap, but counts any goroutine of the process; when the
// count passes the limit, the test reads every goroutine's stack and counts
// those in Map's workers. Not parallel, to keep that rare.
func TestMapStartsNoMoreWorkersThanTheLimit(t *testing.T) {
	const workers = 3
	base := runtime.NumGoroutine()
	var most atomic.Int64
	_, err := workerpool.Map(context.Background(), seq(20_000), func(_ context.Context, v int) (int, error) {
		runtime.Gosched()
		if runtime.NumGoroutine()-base <= workers {
			return v, nil
		}
		g := int64(mapWorkers())
		for m := most.Load(); g > m && !most.CompareAndSwap(m, g); m = most.Load() {
		}
		return v, nil
	}, workerpool.WithWorkers(workers))
	require.NoError(t, err)
	assert.LessOrEqual(t, most.Load(), int64(workers), "goroutines running Map's workers")
}

// mapWorkers counts the goroutines whose stack is in Map's worker loop.
func mapWorkers() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "workerpool.(*batch[...]).work(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestMapSpreadsFewSlowElementsOverTheWorkers holds every element at a gate:
// with twice as many elements as workers, each worker takes one at a time,
// so that all of them run at once instead of one worker taking a run.
func TestMapSpreadsFewSlowElementsOverTheWorkers(t *testing.T) {
	t.Parallel()
	const workers = 8
	g := newGate()
	done := make(chan error, 1)
	go func() {
		_, err := workerpool.Map(context.Background(), seq(2*workers), g.fn, workerpool.WithWorkers(workers))
		done <- err
	}()
	g.waitStarted(t, workers)
	close(g.release)
	require.NoError(t, <-done)
}

// TestMapObserverWaitsFromTheCall checks what Map's doc says of an Observer
// up to 1,024 workers: every element is submitted when Map is called, so an
// element's wait runs from the call. With one worker and elements that take
// a second each, element k waits k-1 seconds.
func TestMapObserverWaitsFromTheCall(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		o := newRecorder()
		_, err := workerpool.Map(context.Background(), seq(4), func(_ context.Context, v int) (int, error) {
			time.Sleep(time.Second)
			return v, nil
		}, workerpool.WithWorkers(1), workerpool.WithObserver(o))
		require.NoError(t, err)
		for id := uint64(1); id <= 4; id++ {
			require.Len(t, o.events[id], 2, "job %d", id)
			assert.Equal(t, time.Duration(id-1)*time.Second, o.events[id][0].duration, "job %d waited", id)
			assert.Equal(t, time.Second, o.events[id][1].duration, "job %d ran", id)
		}
	})
}

// TestMapSubmittedEndsWithItsJobs: past 1,024 workers, a Map whose jobs all
// succeed returns their outputs even if ctx ends just as the last one does.
func TestMapSubmittedEndsWithItsJobs(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	out, err := workerpool.Map(ctx, []int{7}, func(_ context.Context, v int) (int, error) {
		cancel() // after the only element's job, nothing is left to run
		return 2 * v, nil
	}, workerpool.WithWorkers(2048))
	require.NoError(t, err)
	assert.Equal(t, []int{14}, out)

}
