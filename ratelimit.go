package workerpool

import "context"

// Limiter is what a rate limiter offers: Wait blocks until the caller may
// proceed, or returns an error when it may not (its ctx is done, or the wait
// would outlast ctx's deadline). *rate.Limiter from golang.org/x/time/rate
// satisfies it, so the pool needs no dependency to use one.
type Limiter interface {
	Wait(ctx context.Context) error
}

// WithRateLimit makes each job wait on l just before its Func is called,
// under the job's context (with its [WithJobTimeout] if set), so jobs start
// no faster than l allows however many workers there are. With [WithRetry]
// every attempt waits. If Wait fails, the Func is not called and the job's
// Result.Err is Wait's error. By default jobs do not wait.
//
// Panics if l is nil.
func WithRateLimit(l Limiter) Option {
	if l == nil {
		invalid("WithRateLimit", "nil", "limiter must not be nil")
	}
	return func(c *config) { c.limiter = l }
}
