package workerpool

import (
	"context"
	"time"
)

// envelope is a job on its way through the jobs channel.
type envelope[J any] struct {
	job      Job[J]
	accepted time.Duration // when its Submit began (see stamp); set only with an Observer
}

// work is a worker goroutine: it runs jobs until the jobs channel is closed
// and drained, or until a Resize makes it surplus.
func (p *Pool[J, R]) work(sh *shard) {
	defer p.wg.Done()
	p.starting.Add(-1)
	if p.growing() && p.free.Load() < 0 {
		p.startWorker(true) // jobs are waiting for workers to start; see claimLocked
	}
	for e := range p.jobs {
		if p.run(e, sh) && p.retire() {
			return
		}
		if p.growing() {
			p.free.Add(1) // on its way to take a job; see claimLocked
		}
	}
}

// run runs one job and delivers its Result, whatever the Func does: return,
// panic or runtime.Goexit. It reports whether the pool had surplus workers
// when the job finished.
func (p *Pool[J, R]) run(e envelope[J], sh *shard) (surplus bool) {
	sh.started.Add(1)
	if p.surplus() {
		p.awaitSlot() // shrunk by Resize: start only below the new limit
	}
	var began time.Duration
	if p.observer != nil {
		began = p.clock()
		p.observer.JobStarted(e.job.ID, began-e.accepted)
	}
	r := Result[J, R]{Job: e.job}
	returned := false
	defer func() {
		if returned {
			return
		}
		var zero R
		r.Value = zero
		if v := recover(); v != nil {
			r.Err = newPanicError(v)
			surplus = p.finish(r, sh, true, began)
			return // the worker goes on with the next job
		}
		// runtime.Goexit: this goroutine ends when the defer returns, so
		// start its replacement.
		r.Err = ErrGoexit
		p.replace(sh)
		p.finish(r, sh, false, began)
	}()
	switch {
	case p.ctx.Err() != nil:
		r.Err = p.ctx.Err() // the pool context ended before the job started
	case p.simple:
		r.Attempts = 1
		r.Value, r.Err = p.call(e.job.Value)
	default:
		p.attempt(&r)
	}
	returned = true
	return p.finish(r, sh, false, began)
}

// call runs the Func once under the job's context.
func (p *Pool[J, R]) call(v J) (R, error) {
	if p.cfg.jobTimeout <= 0 {
		return p.fn(p.ctx, v)
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.jobTimeout)
	defer cancel()
	return p.fn(ctx, v)
}

// attempt runs the job with the rate limit and retries of the options,
// recording the outcome in r.
func (p *Pool[J, R]) attempt(r *Result[J, R]) {
	for n := 1; ; n++ {
		if !p.try(r, n) {
			return // the limiter refused: final
		}
		if r.Err == nil || n >= p.cfg.attempts || !retryable(r.Err) || p.ctx.Err() != nil {
			return
		}
		if !p.pause(p.cfg.backoff(n)) {
			return // the pool context ended during the backoff
		}
	}
}

// try makes attempt n: it waits on the limiter, then calls the Func. It
// returns false, with r.Err set to the limiter's error, if the wait failed.
func (p *Pool[J, R]) try(r *Result[J, R], n int) bool {
	ctx := p.ctx
	if p.cfg.jobTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.cfg.jobTimeout)
		defer cancel()
	}
	if p.cfg.limiter != nil {
		if err := p.cfg.limiter.Wait(ctx); err != nil {
			r.Err = err
			return false
		}
	}
	r.Attempts = n
	r.Value, r.Err = p.fn(ctx, r.Job.Value)
	return true
}

// pause waits d (not at all if d <= 0), and reports false if the pool
// context ended first.
func (p *Pool[J, R]) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.ctx.Done():
		return false
	}
}

// finish counts r and delivers it. The counters are updated before the
// delivery, so a reader that has received r sees it in Stats. It reports
// whether the pool has surplus workers, having woken any parked ones.
func (p *Pool[J, R]) finish(r Result[J, R], sh *shard, panicked bool, began time.Duration) (surplus bool) {
	sh.completed.Add(1)
	if r.Err != nil {
		sh.failed.Add(1)
	}
	if panicked {
		sh.panicked.Add(1)
	}
	if surplus = p.surplus(); surplus {
		p.slotFreed()
	}
	if p.observer != nil {
		p.observer.JobFinished(r.Job.ID, p.clock()-began, r.Err)
	}
	switch {
	case p.batch != nil:
		p.batch.deliver(r)
	case p.order != nil:
		p.order.deliver(r)
	default:
		p.results <- r
	}
	return surplus
}

// replace starts a worker in place of one that runtime.Goexit is ending. wg
// cannot reach zero here: the ending worker has not called Done yet.
func (p *Pool[J, R]) replace(sh *shard) {
	p.wg.Add(1)
	if p.batch != nil && p.batch.direct {
		go p.batch.work(sh, true)
		return
	}
	p.starting.Add(1)
	go p.work(sh)
}
