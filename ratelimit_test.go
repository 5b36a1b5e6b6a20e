package workerpool_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/workerpool-go/workerpool"
)

// everyLimiter lets one caller through per interval, like a token bucket of
// burst 1. The real *rate.Limiter is tested in the examples module.
type everyLimiter struct {
	next     chan time.Time // holds the earliest time of the next pass
	interval time.Duration
	waits    atomic.Int64
}

func newEveryLimiter(interval time.Duration) *everyLimiter {
	l := &everyLimiter{next: make(chan time.Time, 1), interval: interval}
	l.next <- time.Now()
	return l
}

func (l *everyLimiter) Wait(ctx context.Context) error {
	l.waits.Add(1)
	var at time.Time
	select {
	case at = <-l.next:
	case <-ctx.Done():
		return ctx.Err()
	}
	if d := time.Until(at); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			l.next <- at
			return ctx.Err()
		}
	}
	l.next <- time.Now().Add(l.interval)
	return nil
}

func TestRateLimitPacesJobs(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const jobs, perSecond = 20, 4
		l := newEveryLimiter(time.Second / perSecond)
		start := time.Now()
		p := workerpool.New(double, workerpool.WithRateLimit(l), workerpool.WithWorkers(8))
		submitAll(t, p, seq(jobs)...)
		p.Close()
		rs := drain(p.Results())
		require.Len(t, rs, jobs)
		for _, r := range rs {
			require.NoError(t, r.Err)
			require.Equal(t, 1, r.Attempts)
		}
		// The first passes at once, then one per 1/4 s.
		assert.Equal(t, time.Duration(jobs-1)*time.Second/perSecond, time.Since(start))
	})
}

type refusingLimiter struct{ err error }

func (l refusingLimiter) Wait(context.Context) error { return l.err }

func TestRateLimitFailureSkipsTheFunc(t *testing.T) {
	t.Parallel()
	errLimit := errors.New("burst exceeded")
	var calls atomic.Int64
	p := workerpool.New(func(_ context.Context, v int) (int, error) {
		calls.Add(1)
		return v, nil
	}, workerpool.WithRateLimit(refusingLimiter{errLimit}), workerpool.WithRetry(3, constantBackoff(0)))
	submitAll(t, p, 1, 2)
	p.Close()
	rs := collect(t, p.Results())
	require.Len(t, rs, 2)
	for _, r := range rs {
		assert.ErrorIs(t, r.Err, errLimit)
		assert.Zero(t, r.Attempts, "the Func never ran")
	}
	assert.Zero(t, calls.Load())
}

func TestRateLimitWaitsUnderTheJobTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := newEveryLimiter(time.Hour)
		p := workerpool.New(double, workerpool.WithRateLimit(l), workerpool.WithJobTimeout(time.Minute),
			workerpool.WithWorkers(1))
		start := time.Now()
		submitAll(t, p, 1, 2)
		p.Close()
		rs := byID(t, drain(p.Results()))
		assert.NoError(t, rs[1].Err)
		assert.ErrorIs(t, rs[2].Err, context.DeadlineExceeded, "the wait gave up at the job's timeout")
		assert.Zero(t, rs[2].Attempts)
		assert.Equal(t, time.Minute, time.Since(start))
	})
}

func TestRetryWaitsOnTheLimiterEachAttempt(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := newEveryLimiter(time.Second)
		fn, _ := failing(2, errFlaky)
		p := workerpool.New(fn, workerpool.WithRateLimit(l), workerpool.WithRetry(3, constantBackoff(0)))
		start := time.Now()
		submitAll(t, p, 1)
		p.Close()
		rs := drain(p.Results())
		require.NoError(t, rs[0].Err)
		assert.Equal(t, 3, rs[0].Attempts)
		assert.Equal(t, int64(3), l.waits.Load())
		assert.Equal(t, 2*time.Second, time.Since(start))
	})
}
