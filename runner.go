package workerpool

import (
	"context"
	"errors"
	"time"
)

// runner runs one job: the Observer's calls, the rate limit, the attempts
// and the backoff between them, and the job timeout. It is shared by the
// workers of a Pool, or of a Map call, and holds nothing that changes after
// it is made.
//
// The bracket that catches a panic or runtime.Goexit belongs to the worker
// that calls it, once for many jobs, so that a job pays for no defer: the
// worker keeps the job in a task, whose busy flag tells its deferred
// recovery that the job's code was running, and settle records the outcome.
type runner[J, R any] struct {
	fn       Func[J, R]
	timeout  time.Duration // 0: none
	limiter  Limiter       // nil: none
	attempts int           // at least 1
	backoff  Backoff
	observer Observer // nil: none
	epoch    time.Time
	adapt    *adaptive // nil: the limit is fixed; else each call is timed
	simple   bool      // one attempt, no limiter, a fixed limit: the plain path
}

// newRunner returns the runner of the configuration c. a, when not nil, is
// told of every call of fn (an adaptive limit).
func newRunner[J, R any](fn Func[J, R], c *config, a *adaptive) runner[J, R] {
	return runner[J, R]{
		fn:       fn,
		timeout:  c.jobTimeout,
		limiter:  c.limiter,
		attempts: c.attempts,
		backoff:  c.backoff,
		observer: c.observer,
		epoch:    time.Now(),
		adapt:    a,
		simple:   c.attempts == 1 && c.limiter == nil && a == nil,
	}
}

// task is the job a worker is running, where its deferred recovery finds it.
type task[J, R any] struct {
	r     Result[J, R]
	to    *sink[J, R]   // where r goes; nil: the pool's Results
	began time.Duration // see clock; set only with an Observer
	// busy is set while the job's code runs (Observer.JobStarted, the
	// limiter, the Func, the backoff): a panic or runtime.Goexit then comes
	// from the job.
	busy bool
}

// clock is the time since the runner was made, on the monotonic clock.
func (rn *runner[J, R]) clock() time.Duration {
	return time.Since(rn.epoch)
}

// stamp is the time a job is accepted, from which the Observer measures how
// long it waited; without an Observer it is not read, and is 0.
func (rn *runner[J, R]) stamp() time.Duration {
	if rn.observer == nil {
		return 0
	}
	return rn.clock()
}

// begin tells the Observer that t's job, accepted at accepted, starts. It
// reports false if JobStarted panicked: the job then fails with that panic as
// a *PanicError, and its Func is not called.
func (rn *runner[J, R]) begin(t *task[J, R], accepted time.Duration) bool {
	return rn.observer == nil || rn.observeStart(t, accepted)
}

// observeStart is begin with an Observer: a call of its own, so that begin,
// which has no defer, inlines.
func (rn *runner[J, R]) observeStart(t *task[J, R], accepted time.Duration) (ok bool) {
	t.began = rn.clock()
	defer func() {
		if v := recover(); v != nil {
			t.r.Err = newPanicError(v)
			ok = false
		}
	}()
	rn.observer.JobStarted(t.r.Job.ID, t.began-accepted)
	return true
}

// end tells the Observer that t's job produced its Result. If JobFinished
// panics, the panic is recovered and the Result carries it: as its Err, or
// joined to the job's own error.
func (rn *runner[J, R]) end(t *task[J, R]) {
	if rn.observer != nil {
		rn.observeEnd(t)
	}
}

// observeEnd is end with an Observer.
func (rn *runner[J, R]) observeEnd(t *task[J, R]) {
	defer func() {
		if v := recover(); v != nil {
			t.r.Err = errors.Join(t.r.Err, newPanicError(v))
		}
	}()
	rn.observer.JobFinished(t.r.Job.ID, rn.clock()-t.began, t.r.Err)
}

// call runs the job in r under ctx: its Func once, or with the rate limit
// and retries of the options. sh is the shard of the worker that runs it,
// where an adaptive limit's samples go; nil in Map.
func (rn *runner[J, R]) call(ctx context.Context, r *Result[J, R], sh *shard) {
	switch {
	case !rn.simple:
		rn.attempt(ctx, r, sh)
	case rn.timeout <= 0:
		r.Attempts = 1
		r.Value, r.Err = rn.fn(ctx, r.Job.Value)
	default:
		r.Attempts = 1
		r.Value, r.Err = rn.callTimeout(ctx, r.Job.Value)
	}
}

// callTimeout runs the Func once under ctx with the job timeout.
func (rn *runner[J, R]) callTimeout(ctx context.Context, v J) (R, error) {
	ctx, cancel := context.WithTimeout(ctx, rn.timeout)
	defer cancel()
	return rn.fn(ctx, v)
}

// attempt runs the job under ctx with the rate limit and retries of the
// options, recording the outcome in r.
func (rn *runner[J, R]) attempt(ctx context.Context, r *Result[J, R], sh *shard) {
	for n := 1; ; n++ {
		if !rn.try(ctx, r, n, sh) {
			return // the limiter refused: final
		}
		if r.Err == nil || n >= rn.attempts || !retryable(r.Err) || ctx.Err() != nil {
			return
		}
		if !pause(ctx, rn.backoff(n)) || ended(ctx) {
			return // the job's context ended during the backoff
		}
	}
}

// try makes attempt n under ctx: it waits on the limiter, then calls the
// Func, timed for an adaptive limit. It returns false, with r.Err set to the
// limiter's error, if the wait failed.
func (rn *runner[J, R]) try(ctx context.Context, r *Result[J, R], n int, sh *shard) bool {
	parent := ctx
	if rn.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, rn.timeout)
		defer cancel()
	}
	if rn.limiter != nil {
		if err := rn.limiter.Wait(ctx); err != nil {
			r.Err = err
			return false
		}
	}
	r.Attempts = n
	if rn.adapt == nil || sh == nil {
		r.Value, r.Err = rn.fn(ctx, r.Job.Value)
		return true
	}
	began := time.Now()
	r.Value, r.Err = rn.fn(ctx, r.Job.Value)
	rn.adapt.record(sh, time.Since(began), r.Err, ctx, parent)
	return true
}

// pause waits d (not at all if d <= 0), and reports false if ctx ended
// first.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// ended reports whether ctx is done or its deadline has passed. The backoff
// and a deadline may end at the same instant: a select then picks either,
// and the context's own timer may not have marked it done yet.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// settle records in t the end of a job whose code did not return: it
// panicked with v, or called runtime.Goexit (v == nil).
func settle[J, R any](t *task[J, R], v any) {
	var zero R
	t.r.Value = zero
	if v != nil {
		t.r.Err = newPanicError(v)
	} else {
		t.r.Err = ErrGoexit
	}
}
