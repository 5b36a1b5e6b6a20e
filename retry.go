package workerpool

import (
	"errors"
	"math/rand/v2"
	"time"
)

// Backoff returns the delay before the next attempt after failed attempt n
// (1-based). It is called from worker goroutines and must be safe for
// concurrent use.
type Backoff func(attempt int) time.Duration

// ExponentialBackoff returns a Backoff that doubles from base up to max, with
// jitter: after attempt n the delay is d = min(base×2^(n-1), max), drawn
// uniformly from [d/2, d], so that jobs failing together do not retry in
// lockstep. It is safe for concurrent use.
//
// Panics if base <= 0 or max < base.
func ExponentialBackoff(base, max time.Duration) Backoff {
	if base <= 0 {
		invalid("ExponentialBackoff", base, "base must be positive")
	}
	if max < base {
		invalid("ExponentialBackoff", max, "max must be at least base ("+base.String()+")")
	}
	return func(attempt int) time.Duration {
		d := max
		// base<<shift <= max, and so no overflow, exactly when
		// base <= max>>shift (which is 0 for shifts past 62).
		if shift := attempt - 1; shift >= 0 && base <= max>>shift {
			d = base << shift
		}
		return d - rand.N(d/2+1) // in [d/2, d], rounded up
	}
}

// WithRetry runs a job's Func up to attempts times while it fails, waiting
// backoff(n) after failed attempt n. An error is not retried when it is
// marked [Permanent], when it is a *[PanicError] (a panicking job is never
// run again), or once the pool context is done, also during the backoff
// wait. [WithJobTimeout] applies to each attempt, and with [WithRateLimit]
// each attempt waits on the limiter. The Result carries the last attempt's
// value and error, and Result.Attempts how many times the Func ran. The
// default is one attempt.
//
// Panics if attempts < 1 or backoff is nil.
func WithRetry(attempts int, backoff Backoff) Option {
	if attempts < 1 {
		invalid("WithRetry", attempts, "attempts must be at least 1")
	}
	if backoff == nil {
		invalid("WithRetry", "nil Backoff", "backoff must not be nil")
	}
	return func(c *config) {
		c.attempts = attempts
		c.backoff = backoff
	}
}

// Permanent marks err as not worth retrying: [WithRetry] gives up on it at
// once. The returned error's message is err's, and errors.Is and errors.As
// see through it to err. Permanent(nil) is nil.
func Permanent(err error) error {
	return withMark[permanentMark](err)
}

// IsPermanent reports whether err, or an error it wraps, was marked with
// [Permanent].
func IsPermanent(err error) bool {
	return hasMark[permanentMark](err)
}

// retryable reports whether a failed attempt may be tried again.
func retryable(err error) bool {
	var pe *PanicError
	return !IsPermanent(err) && !errors.As(err, &pe)
}
