package workerpool_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/workerpool-go/workerpool"
	"github.com/workerpool-go/workerpool/internal/backend"
)

// The limit settles within [C-1, C+C/4+1] of a backend that serves C calls
// at once (docs/design.md), from a second after the start on.
func TestAdaptiveLimitConvergesToTheBackendsCapacity(t *testing.T) {
	for _, c := range []int{2, 8, 32} {
		t.Run(fmt.Sprint("C=", c), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := sim{callers: 64, min: 1, max: 256, workers: 2, phases: []phase{{c, 4 * time.Second}}}.run(t)
				settled := r.limits[0][20:] // from 1 s on
				for i, l := range settled {
					require.GreaterOrEqual(t, l, c-1, "sample %d of %v", i, settled)
					require.LessOrEqual(t, l, c+c/4+1, "sample %d of %v", i, settled)
				}
			})
		})
	}
}

// After the backend's capacity falls the limit follows it down within half a
// second, and after it recovers back up within a second, in both variants;
// in the last second of each phase it is within the band of
// TestAdaptiveLimitConvergesToTheBackendsCapacity at its median (a probe
// halves it for a moment).
func TestAdaptiveLimitFollowsTheCapacity(t *testing.T) {
	for _, collapse := range []bool{false, true} {
		t.Run(fmt.Sprint("collapse=", collapse), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := sim{callers: 128, min: 1, max: 256, workers: 2, collapse: collapse,
					phases: []phase{{16, 2 * time.Second}, {4, 2 * time.Second}, {16, 2 * time.Second}}}.run(t)
				down := slices.IndexFunc(r.limits[1], func(l int) bool { return l <= 6 }) // 4 + 4/4 + 1
				require.NotEqual(t, -1, down, "never came down: %v", r.limits[1])
				assert.Less(t, down, 10, "came down after %d ms: %v", 50*(down+1), r.limits[1])
				up := slices.IndexFunc(r.limits[2], func(l int) bool { return l >= 16-1 })
				require.NotEqual(t, -1, up, "never went back up: %v", r.limits[2])
				assert.Less(t, up, 20, "went back up after %d ms: %v", 50*(up+1), r.limits[2])
				for i, c := range []int{16, 4, 16} {
					last := slices.Sorted(slices.Values(r.limits[i][20:]))
					median := last[len(last)/2]
					assert.GreaterOrEqual(t, median, c-1, "phase %d: %v", i, r.limits[i])
					assert.LessOrEqual(t, median, c+c/4+1, "phase %d: %v", i, r.limits[i])
				}
			})
		})
	}
}

// The limit never leaves [min, max]: not above max before a backend with
// room to spare, not below min before one that serves a single call, and
// not through Resize.
func TestAdaptiveLimitStaysInItsBounds(t *testing.T) {
	for _, c := range []int{1, 64} {
		t.Run(fmt.Sprint("C=", c), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				log := &limitLog{}
				r := sim{callers: 64, min: 3, max: 6, workers: 1, phases: []phase{{c, 2 * time.Second}},
					opts: []workerpool.Option{workerpool.WithObserver(log)}}.run(t)
				for _, l := range r.limits[0] {
					require.GreaterOrEqual(t, l, 3)
					require.LessOrEqual(t, l, 6)
				}
				changes := log.all()
				require.NotEmpty(t, changes, "the limit moved")
				for _, ch := range changes {
					require.GreaterOrEqual(t, ch.new, 3, "%+v", ch)
					require.LessOrEqual(t, ch.new, 6, "%+v", ch)
				}
			})
		})
	}
}

func TestAdaptiveLimitStartsAtWithWorkersClamped(t *testing.T) {
	for _, tc := range []struct{ workers, min, max, want int }{
		{100, 1, 10, 10}, {1, 4, 10, 4}, {7, 4, 10, 7},
	} {
		p := workerpool.New(double, workerpool.WithWorkers(tc.workers), workerpool.WithAdaptiveLimit(tc.min, tc.max))
		assert.Equal(t, tc.want, p.Stats().Workers, "%+v", tc)
		p.Resize(1000)
		assert.Equal(t, tc.max, p.Stats().Workers, "Resize above max: %+v", tc)
		p.Resize(1)
		assert.Equal(t, tc.min, p.Stats().Workers, "Resize below min: %+v", tc)
		p.Close()
	}
}

func TestAdaptiveLimitRejectsBadBounds(t *testing.T) {
	for _, tc := range []struct {
		min, max int
		msg      string
	}{
		{0, 5, "workerpool: WithAdaptiveLimit(0, 5): bounds must satisfy 1 <= min <= max"},
		{5, 4, "workerpool: WithAdaptiveLimit(5, 4): bounds must satisfy 1 <= min <= max"},
		{-1, -1, "workerpool: WithAdaptiveLimit(-1, -1): bounds must satisfy 1 <= min <= max"},
	} {
		assert.PanicsWithValue(t, tc.msg, func() { workerpool.WithAdaptiveLimit(tc.min, tc.max) })
	}
}

// callFor has callers goroutines call p.Do in a closed loop for d, and
// returns once they have all stopped.
func callFor[R any](p *workerpool.Pool[int, R], callers int, d time.Duration) {
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for !stop.Load() {
				_, _ = p.Do(context.Background(), 0)
			}
		})
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
}

// overloading runs 32 callers for a second against a Func that answers as
// fast as ever but fails every call with err; it returns the limit at the
// end and the changes.
func overloading(t *testing.T, fn workerpool.Func[int, int], opts ...workerpool.Option) (int, []limitChange) {
	log := &limitLog{}
	p := workerpool.New(fn, append([]workerpool.Option{
		workerpool.WithWorkers(16), workerpool.WithAdaptiveLimit(2, 64), workerpool.WithObserver(log),
	}, opts...)...)
	callFor(p, 32, time.Second)
	limit := p.Stats().Workers
	p.Close()
	return limit, log.all()
}

// Calls that fail with an error marked Overloaded bring the limit down to
// its minimum, though they take no longer than before.
func TestOverloadedErrorsLowerTheLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limit, changes := overloading(t, func(context.Context, int) (int, error) {
			time.Sleep(time.Millisecond)
			return 0, workerpool.Overloaded(errors.New("503"))
		})
		assert.Equal(t, 2, limit)
		require.NotEmpty(t, changes)
		assert.Equal(t, limitChange{old: 16, new: 12, reason: "overloaded"}, changes[0])
	})
}

// Calls that run into the job timeout bring the limit down.
func TestJobTimeoutsLowerTheLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limit, changes := overloading(t, func(ctx context.Context, _ int) (int, error) {
			<-ctx.Done() // a backend that never answers
			return 0, ctx.Err()
		}, workerpool.WithJobTimeout(5*time.Millisecond))
		assert.Equal(t, 2, limit)
		require.NotEmpty(t, changes)
		assert.Equal(t, limitChange{old: 16, new: 12, reason: "timeout"}, changes[0])
	})
}

// Errors that are neither marked nor timeouts leave the limit to the run
// times: calls that fail fast do not bring it down.
func TestPlainErrorsDoNotLowerTheLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, changes := overloading(t, func(context.Context, int) (int, error) {
			time.Sleep(time.Millisecond)
			return 0, errors.New("not found")
		})
		require.NotEmpty(t, changes, "the limit moved on demand")
		for _, ch := range changes {
			assert.Contains(t, []string{"demand", "probe"}, ch.reason, "%+v", ch)
		}
	})
}

func TestOverloadedWrapsItsError(t *testing.T) {
	base := errors.New("too_many_connections")
	err := workerpool.Overloaded(base)
	assert.ErrorIs(t, err, base)
	assert.Equal(t, base.Error(), err.Error())
	var target *wrapped
	assert.ErrorAs(t, workerpool.Overloaded(&wrapped{base}), &target)
	assert.NoError(t, workerpool.Overloaded(nil))
	assert.False(t, workerpool.IsPermanent(err))
}

type wrapped struct{ err error }

func (w *wrapped) Error() string { return "wrapped: " + w.err.Error() }

// WithRetry retries an error marked Overloaded.
func TestOverloadedIsRetried(t *testing.T) {
	var calls atomic.Int32
	p := workerpool.New(func(context.Context, int) (int, error) {
		if calls.Add(1) < 3 {
			return 0, workerpool.Overloaded(errors.New("429"))
		}
		return 7, nil
	}, workerpool.WithRetry(3, func(int) time.Duration { return 0 }), workerpool.WithAdaptiveLimit(1, 4))
	defer p.Close()
	v, err := p.Do(context.Background(), 0)
	require.NoError(t, err)
	assert.Equal(t, 7, v)
	assert.Equal(t, int32(3), calls.Load())
}

// A pool that runs no jobs keeps its limit, however long it waits.
func TestIdleAdaptivePoolDoesNotDrift(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &limitLog{}
		be := backend.New(8, 2*time.Millisecond, 0.3, false, 1)
		p := workerpool.New(func(ctx context.Context, _ int) (time.Duration, error) { return be.Call(ctx) },
			workerpool.WithWorkers(2), workerpool.WithAdaptiveLimit(1, 64), workerpool.WithObserver(log))
		defer func() {
			p.Close()
			for range p.Results() {
			}
		}()
		callFor(p, 32, 2*time.Second)
		limit, moves := p.Stats().Workers, len(log.all())
		require.NotZero(t, moves, "the limit moved under load")
		time.Sleep(time.Hour)
		assert.Equal(t, limit, p.Stats().Workers)
		assert.Len(t, log.all(), moves, "no change while idle")
		// One job after the pause is one call, far from a window.
		_, err := p.Do(context.Background(), 0)
		require.NoError(t, err)
		assert.Equal(t, limit, p.Stats().Workers)
	})
}

// blockingLimitLog holds the worker that reports a change until released.
type blockingLimitLog struct {
	limitLog
	once    sync.Once
	changed chan struct{}
	release chan struct{}
}

func (b *blockingLimitLog) LimitChanged(old, new int, reason string) {
	b.limitLog.LimitChanged(old, new, reason)
	b.once.Do(func() {
		close(b.changed)
		<-b.release
	})
}

// Close while the limit moves: every accepted job gets its Result, Close
// returns, and no goroutine is left behind (goleak checks the package).
func TestCloseDuringAnAdjustmentLosesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := &blockingLimitLog{changed: make(chan struct{}), release: make(chan struct{})}
		p := workerpool.New(func(context.Context, int) (int, error) {
			time.Sleep(time.Millisecond)
			return 1, nil
		}, workerpool.WithWorkers(4), workerpool.WithAdaptiveLimit(1, 64), workerpool.WithObserver(obs))
		var ids atomic.Int64
		submitted := make(chan struct{})
		go func() {
			defer close(submitted)
			for {
				if _, err := p.Submit(context.Background(), 0); err != nil {
					require.ErrorIs(t, err, workerpool.ErrClosed)
					return
				}
				ids.Add(1)
			}
		}()
		<-obs.changed
		closed := make(chan struct{})
		go func() {
			p.Close()
			close(closed)
		}()
		synctest.Wait()
		close(obs.release)
		n := 0
		for r := range p.Results() {
			require.NoError(t, r.Err)
			n++
		}
		<-closed
		<-submitted
		assert.Equal(t, ids.Load(), int64(n))
	})
}

// panickyLimits panics when told of a change.
type panickyLimits struct{ limitLog }

func (*panickyLimits) LimitChanged(int, int, string) { panic("chart is full") }

// A panic in LimitChanged fails the job after which the change was made, as
// a panic in JobFinished does; the pool goes on.
func TestLimitObserverPanicIsTheJobsError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := workerpool.New(func(context.Context, int) (int, error) {
			time.Sleep(time.Millisecond)
			return 1, nil
		}, workerpool.WithWorkers(1), workerpool.WithAdaptiveLimit(1, 64), workerpool.WithObserver(&panickyLimits{}))
		var pe *workerpool.PanicError
		for i := 0; ; i++ {
			require.Less(t, i, 10_000, "no change reported")
			_, err := p.Do(context.Background(), 0)
			if err != nil {
				require.ErrorAs(t, err, &pe)
				break
			}
		}
		assert.Equal(t, "chart is full", pe.Value)
		v, err := p.Do(context.Background(), 0)
		assert.NoError(t, err)
		assert.Equal(t, 1, v)
		p.Close()
	})
}

// Map does not adapt: it runs the starting limit, WithWorkers' value
// clamped into the bounds.
func TestMapRunsTheStartingLimit(t *testing.T) {
	for _, workers := range []int{100, 2000} { // by index, and through a Pool
		synctest.Test(t, func(t *testing.T) {
			var inflight, most atomic.Int32
			_, err := workerpool.Map(context.Background(), make([]int, 50), func(context.Context, int) (int, error) {
				n := inflight.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(time.Millisecond)
				inflight.Add(-1)
				return 0, nil
			}, workerpool.WithWorkers(workers), workerpool.WithAdaptiveLimit(1, 3))
			require.NoError(t, err)
			assert.Equal(t, int32(3), most.Load(), "workers %d", workers)
		})
	}
}

// A pool whose callers never keep every worker busy does not grow: one
// caller at a time on a limit of 4.
func TestAdaptiveLimitGrowsOnlyWhenEveryWorkerIsBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &limitLog{}
		p := workerpool.New(func(context.Context, int) (int, error) {
			time.Sleep(time.Millisecond)
			return 0, nil
		}, workerpool.WithWorkers(4), workerpool.WithAdaptiveLimit(1, 64), workerpool.WithObserver(log))
		for i := range 2000 {
			_, err := p.Do(context.Background(), i)
			require.NoError(t, err)
		}
		assert.Equal(t, 4, p.Stats().Workers)
		assert.Empty(t, log.all())
		p.Close()
	})
}
