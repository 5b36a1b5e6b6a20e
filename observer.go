package workerpool

import "time"

// Observer is told when each job starts and finishes, to feed metrics,
// tracing or logs. Both methods are called from the worker goroutine that
// runs the job, so they must be fast and safe for concurrent use; a slow
// Observer slows the pool.
//
// For every accepted job, JobStarted is called exactly once when a worker
// takes it up, and JobFinished exactly once when its Result is produced, just
// before it is delivered: also for a job that panics, calls runtime.Goexit or
// never runs because the pool context ended.
//
// The Observer of a pool with [WithAdaptiveLimit] may also implement
// [LimitObserver], to be told of every change of the limit.
type Observer interface {
	// JobStarted reports that job id was taken up by a worker after waiting
	// for one for waited: from its Submit to this moment.
	JobStarted(id uint64, waited time.Duration)
	// JobFinished reports that job id produced its Result with error err,
	// ran after it started: rate-limit waits, every attempt and the backoff
	// between them.
	JobFinished(id uint64, ran time.Duration, err error)
}

// WithObserver reports every job's start and finish to o. By default nothing
// is reported, at no cost per job.
//
// Panics if o is nil.
func WithObserver(o Observer) Option {
	if o == nil {
		invalid("WithObserver", "nil", "observer must not be nil")
	}
	return func(c *config) { c.observer = o }
}
