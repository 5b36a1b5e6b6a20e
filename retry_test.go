package workerpool_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/workerpool-go/workerpool"
)

var errFlaky = errors.New("flaky")

func constantBackoff(d time.Duration) workerpool.Backoff {
	return func(int) time.Duration { return d }
}

// failing returns a Func that fails its first n calls per job value with err.
func failing(n int, err error) (workerpool.Func[int, int], *atomic.Int64) {
	var calls atomic.Int64
	perJob := make([]atomic.Int64, 64)
	return func(_ context.Context, v int) (int, error) {
		calls.Add(1)
		if perJob[v].Add(1) <= int64(n) {
			return -1, err
		}
		return v, nil
	}, &calls
}

func TestRetrySucceedsAfterFailures(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fn, calls := failing(2, errFlaky)
		start := time.Now()
		p := workerpool.New(fn, workerpool.WithRetry(5, constantBackoff(time.Second)))
		submitAll(t, p, 7)
		p.Close()
		rs := drain(p.Results())
		require.Len(t, rs, 1)
		assert.NoError(t, rs[0].Err)
		assert.Equal(t, 7, rs[0].Value)
		assert.Equal(t, 3, rs[0].Attempts)
		assert.Equal(t, int64(3), calls.Load())
		assert.Equal(t, 2*time.Second, time.Since(start), "two backoffs of 1s")
	})
}

func TestRetryGivesUpAfterAttempts(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fn, calls := failing(100, errFlaky)
		var delays []int
		p := workerpool.New(fn, workerpool.WithRetry(4, func(n int) time.Duration {
			delays = append(delays, n) // one worker: no race
			return time.Duration(n) * time.Second
		}), workerpool.WithWorkers(1))
		start := time.Now()
		submitAll(t, p, 1)
		p.Close()
		rs := drain(p.Results())
		require.Len(t, rs, 1)
		assert.ErrorIs(t, rs[0].Err, errFlaky, "the last attempt's error")
		assert.Equal(t, -1, rs[0].Value, "the last attempt's value")
		assert.Equal(t, 4, rs[0].Attempts)
		assert.Equal(t, int64(4), calls.Load())
		assert.Equal(t, []int{1, 2, 3}, delays, "backoff gets the 1-based attempt that failed")
		assert.Equal(t, 6*time.Second, time.Since(start))
		assert.Equal(t, uint64(1), p.Stats().Failed)
	})
}

func TestRetryStopsOnPermanentError(t *testing.T) {
	t.Parallel()
	errBad := errors.New("bad request")
	fn, calls := failing(100, workerpool.Permanent(errBad))
	p := workerpool.New(fn, workerpool.WithRetry(5, constantBackoff(time.Hour)))
	submitAll(t, p, 1)
	p.Close()
	rs := collect(t, p.Results())
	require.Len(t, rs, 1)
	assert.ErrorIs(t, rs[0].Err, errBad, "errors.Is sees through Permanent")
	assert.True(t, workerpool.IsPermanent(rs[0].Err))
	assert.Equal(t, "bad request", rs[0].Err.Error())
	assert.Equal(t, 1, rs[0].Attempts)
	assert.Equal(t, int64(1), calls.Load())
}

func TestPermanent(t *testing.T) {
	t.Parallel()
	assert.NoError(t, workerpool.Permanent(nil))
	assert.False(t, workerpool.IsPermanent(errFlaky))
	assert.False(t, workerpool.IsPermanent(nil))
	wrapped := fmt.Errorf("calling API: %w", workerpool.Permanent(errFlaky))
	assert.True(t, workerpool.IsPermanent(wrapped))
	var target *workerpool.PanicError
	pe := workerpool.Permanent(&workerpool.PanicError{Value: 1})
	assert.ErrorAs(t, pe, &target, "errors.As sees through Permanent")
}

func TestRetryOnceMeansNoRetry(t *testing.T) {
	t.Parallel()
	fn, calls := failing(100, errFlaky)
	p := workerpool.New(fn, workerpool.WithRetry(1, constantBackoff(0)))
	submitAll(t, p, 1)
	p.Close()
	rs := collect(t, p.Results())
	require.Len(t, rs, 1)
	assert.Equal(t, 1, rs[0].Attempts)
	assert.Equal(t, int64(1), calls.Load())
}

func TestRetryNeverRerunsAPanic(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	p := workerpool.New(func(_ context.Context, v int) (int, error) {
		calls.Add(1)
		panic("once is enough")
	}, workerpool.WithRetry(5, constantBackoff(0)))
	submitAll(t, p, 1)
	p.Close()
	rs := collect(t, p.Results())
	require.Len(t, rs, 1)
	var pe *workerpool.PanicError
	assert.ErrorAs(t, rs[0].Err, &pe)
	assert.Equal(t, 1, rs[0].Attempts)
	assert.Equal(t, int64(1), calls.Load())
}

func TestRetryDoesNotRetryAReturnedPanicError(t *testing.T) {
	t.Parallel()
	fn, calls := failing(100, &workerpool.PanicError{Value: "from a nested pool"})
	p := workerpool.New(fn, workerpool.WithRetry(5, constantBackoff(0)))
	submitAll(t, p, 1)
	p.Close()
	rs := collect(t, p.Results())
	assert.Equal(t, 1, rs[0].Attempts)
	assert.Equal(t, int64(1), calls.Load())
}

func TestRetryStopsWhenPoolContextEndsDuringBackoff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		fn, calls := failing(100, errFlaky)
		p := workerpool.New(fn, workerpool.WithRetry(10, constantBackoff(time.Minute)),
			workerpool.WithContext(ctx))
		start := time.Now()
		submitAll(t, p, 1)
		time.AfterFunc(90*time.Second, cancel) // during the second backoff
		p.Close()
		rs := drain(p.Results())
		require.Len(t, rs, 1)
		assert.ErrorIs(t, rs[0].Err, errFlaky, "the last attempt's error, not the context's")
		assert.Equal(t, 2, rs[0].Attempts)
		assert.Equal(t, int64(2), calls.Load())
		assert.Equal(t, 90*time.Second, time.Since(start))
	})
}

func TestRetryTimeoutAppliesToEachAttempt(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		p := workerpool.New(func(ctx context.Context, v int) (int, error) {
			<-ctx.Done()
			return v, ctx.Err()
		}, workerpool.WithJobTimeout(time.Second), workerpool.WithRetry(3, constantBackoff(0)))
		submitAll(t, p, 1)
		p.Close()
		rs := drain(p.Results())
		require.Len(t, rs, 1)
		assert.ErrorIs(t, rs[0].Err, context.DeadlineExceeded)
		assert.Equal(t, 3, rs[0].Attempts)
		assert.Equal(t, 3*time.Second, time.Since(start), "a fresh 1s timeout per attempt")
	})
}

func TestRetryKeepsOneResultPerJobAndOrder(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		calls := make([]atomic.Int64, 50)
		p := workerpool.New(func(_ context.Context, v int) (int, error) {
			n := calls[v].Add(1)
			if int(n) <= v%4 { // job v fails v%4 times
				time.Sleep(time.Duration(50-v) * time.Millisecond)
				return 0, errFlaky
			}
			return v, nil
		}, workerpool.WithRetry(4, workerpool.ExponentialBackoff(time.Millisecond, time.Second)),
			workerpool.WithWorkers(5), workerpool.WithOrderedResults())
		go func() {
			defer p.Close()
			submitAll(t, p, seq(50)...)
		}()
		rs := drain(p.Results())
		requireAscending(t, rs, 50)
		for _, r := range rs {
			require.NoError(t, r.Err)
			require.Equal(t, r.Job.Value%4+1, r.Attempts)
		}
	})
}

func TestExponentialBackoff(t *testing.T) {
	t.Parallel()
	b := workerpool.ExponentialBackoff(100*time.Millisecond, 2*time.Second)
	caps := map[int]time.Duration{
		1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		4: 800 * time.Millisecond, 5: 1600 * time.Millisecond, 6: 2 * time.Second,
		10: 2 * time.Second, 63: 2 * time.Second, 64: 2 * time.Second, 1000: 2 * time.Second,
	}
	for attempt, want := range caps {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := b(attempt)
			require.GreaterOrEqualf(t, d, want/2, "attempt %d", attempt)
			require.LessOrEqualf(t, d, want, "attempt %d", attempt)
			seen[d] = true
		}
		assert.Greaterf(t, len(seen), 1, "attempt %d: jitter varies the delay", attempt)
	}
	// The smallest delays, and max == base, are valid.
	for attempt := range 5 {
		assert.Equal(t, time.Nanosecond, workerpool.ExponentialBackoff(time.Nanosecond, time.Nanosecond)(attempt+1))
		d := workerpool.ExponentialBackoff(2*time.Nanosecond, 2*time.Nanosecond)(attempt + 1)
		assert.True(t, d == time.Nanosecond || d == 2*time.Nanosecond, "got %v", d)
	}
	// A max that is not base×2^k caps only where doubling passes it.
	odd := workerpool.ExponentialBackoff(time.Nanosecond, 3*time.Nanosecond)
	for range 100 {
		require.LessOrEqual(t, odd(2), 2*time.Nanosecond, "attempt 2 doubles to 2ns, under max")
		require.GreaterOrEqual(t, odd(3), 2*time.Nanosecond, "attempt 3 would be 4ns: capped at 3ns")
	}
	huge := workerpool.ExponentialBackoff(time.Nanosecond, time.Duration(1<<62))
	assert.LessOrEqual(t, huge(100), time.Duration(1<<62), "no overflow")
	assert.Positive(t, huge(100))
}

// TestRetryStopsWhenBackoffAndContextEndTogether: a caller's deadline that
// falls at the very instant a backoff ends stops the retries: the Func is not
// called again with its context already done. The fake clock makes the two
// coincide exactly; a select would pick either.
func TestRetryStopsWhenBackoffAndContextEndTogether(t *testing.T) {
	for range 40 {
		synctest.Test(t, func(t *testing.T) {
			var calls atomic.Int64
			p := workerpool.New(func(ctx context.Context, _ int) (int, error) {
				calls.Add(1)
				if err := ctx.Err(); err != nil {
					return 0, fmt.Errorf("called with its context done: %w", err)
				}
				return 0, errors.New("transient")
			}, workerpool.WithRetry(3, func(int) time.Duration { return time.Second }))
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err := p.Do(ctx, 1)
			assert.Error(t, err)
			assert.Equal(t, int64(1), calls.Load(), "no attempt after the deadline")
		})
	}
}
