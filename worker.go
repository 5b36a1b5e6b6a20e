package workerpool

import (
	"context"
	"runtime"
	"time"
)

// envelope is a job on its way through the jobs channel. An envelope whose
// job ID is 0 is no job: it tells the worker that takes it to retire (see
// idle.go).
type envelope[J, R any] struct {
	job      Job[J]
	accepted time.Duration // when its Submit began (see stamp); set only with an Observer
	// to is the handle of the sink where a job of Do, TryDo or Pool.Map
	// delivers its Result, in place of the Results channel (see sinkTable);
	// 0 for Submit and TrySubmit. It is the only word an envelope has beyond
	// the job and its time, and no pointer: in BenchmarkPool an envelope of
	// 40 bytes instead of 32 cost 7-13% a job, one of 32 with a uint64 in it
	// nothing measurable, one of 32 with a pointer 17%.
	to uint64
}

// chainYield is how many workers in a chain of starts (see claimLocked) run
// before one yields the processor.
//
// Go runs a goroutine started by a go statement next on the processor that
// started it, within the same time slice, so a chain of workers that never
// yields can start thousands of them in one slice while the goroutines
// already waiting to run wait longer. With every processor busy, those workers
// only add to the load: in the benchmarks' matrix (200,000 workers, a 10 ms
// job, 1 or 100 submitters, 2 cores) the pool ran 29,000-30,000 goroutines.
// Yielding every 64 starts cut that to 19,600-23,100, the CPU time per job by
// 12-13% and the wall time by 12%. Every 8 starts cut the goroutines by a
// further 21-24%, to 15,500-18,200, and the wall time with 100 submitters by
// 9.5% (with 1 submitter 5%, within the noise). With idle processors the
// yield returns at once.
//
// The worker yields after it stops counting as starting, so that submitters
// may start workers while it waits. Yielding before held back every start
// behind it, and with a million runnable submitters ahead of it in the run
// queue the pool ran 125,000 goroutines instead of 46,000. Yielding at every
// start, even after, made that shape 9% slower; every 8 starts leaves it
// within the noise.
const chainYield = 8

// work is a worker goroutine: it runs jobs until the jobs channel is closed
// and drained, or until a Resize makes it surplus. chain is its place in a
// chain of starts: 0 if a submitter, Resize or a replacement started it, and
// one more than the worker that started it otherwise.
func (p *Pool[J, R]) work(sh *shard, chain int) {
	defer p.wg.Done()
	p.starting.Add(-1)
	if chain%chainYield == chainYield-1 {
		runtime.Gosched()
	}
	if p.growing() && p.free.Load() < 0 {
		p.startWorker(chain + 1) // jobs are waiting for workers to start; see claimLocked
	}
	for p.serve(sh) {
		// A job panicked; its Result is delivered. Go on under a new recovery.
	}
}

// serve runs jobs from the jobs channel under one deferred recovery, so that
// a job pays for no defer of its own. It reports whether the worker goes on:
// true after a job panicked (its Result delivered), false once the channel
// is closed and drained or the worker has retired. After runtime.Goexit in a
// job, the goroutine ends once the recovery has delivered the job's Result
// and started a replacement.
func (p *Pool[J, R]) serve(sh *shard) (again bool) {
	var cur current[J, R]
	defer func() {
		if cur.busy {
			v := recover()
			surplus := p.recovered(&cur, sh, v)
			again = v != nil && p.carryOn(surplus) // after Goexit, the replacement carries on
		}
	}()
	for e := range p.jobs {
		if e.job.ID == 0 {
			if p.idleRetire() {
				return false
			}
			continue
		}
		if !p.carryOn(p.run(&cur, e, sh)) {
			return false
		}
	}
	p.workers.Add(-1) // closed and drained: the worker exits
	return false
}

// carryOn is what a worker does after a job, given whether the pool had
// surplus workers when the job finished: it retires if it can, reporting
// false, or counts itself as free again.
func (p *Pool[J, R]) carryOn(surplus bool) bool {
	if surplus && p.retire() {
		return false
	}
	if p.growing() {
		p.free.Add(1) // on its way to take a job; see claimLocked
	}
	return true
}

// current is the job a worker is running, kept where the worker's deferred
// recovery can reach it.
type current[J, R any] struct {
	r     Result[J, R]
	to    *sink[J, R]   // where r goes; nil: Results
	began time.Duration // see clock; set only with an Observer
	// busy is set while the job's limiter wait, Func and backoff run: a
	// panic or runtime.Goexit then comes from the job.
	busy bool
}

// run runs one job and delivers its Result. A panic or runtime.Goexit in the
// job leaves cur.busy set, for the worker's deferred recovery to deliver the
// Result (see recovered). It reports whether the pool had surplus workers
// when the job finished.
func (p *Pool[J, R]) run(cur *current[J, R], e envelope[J, R], sh *shard) (surplus bool) {
	sh.started.Add(1)
	if p.surplus() {
		p.awaitSlot() // shrunk by Resize: start only below the new limit
	}
	if p.observer != nil {
		cur.began = p.clock()
		p.observer.JobStarted(e.job.ID, cur.began-e.accepted)
	}
	cur.r = Result[J, R]{Job: e.job}
	cur.to = nil
	if e.to != 0 {
		cur.to = p.sinks.at(e.to)
	}
	r := &cur.r
	cur.busy = true
	switch {
	case p.ctx.Err() != nil:
		r.Err = p.ctx.Err() // the pool context ended before the job started
	case cur.to != nil:
		p.runFor(cur.to.ctx, r) // a caller's job: under its context too
	case p.simple:
		r.Attempts = 1
		if p.cfg.jobTimeout <= 0 {
			r.Value, r.Err = p.fn(p.ctx, r.Job.Value)
		} else {
			r.Value, r.Err = p.call(p.ctx, r.Job.Value)
		}
	default:
		p.attempt(p.ctx, r)
	}
	cur.busy = false
	return p.finish(cur, sh, false)
}

// runFor runs the job of a caller of Do, TryDo or Pool.Map, whose context is
// ctx, recording the outcome in r: not at all if ctx ended while the job
// waited, else under a context that is done when ctx or the pool context is.
func (p *Pool[J, R]) runFor(ctx context.Context, r *Result[J, R]) {
	if err := ctx.Err(); err != nil {
		r.Err = err // the caller gave up while the job waited: never call the Func
		return
	}
	jctx, stop := p.jobContext(ctx)
	if stop != nil {
		defer stop() // also when the Func panics or calls runtime.Goexit
	}
	if p.simple {
		r.Attempts = 1
		if p.cfg.jobTimeout <= 0 {
			r.Value, r.Err = p.fn(jctx, r.Job.Value)
		} else {
			r.Value, r.Err = p.call(jctx, r.Job.Value)
		}
	} else {
		p.attempt(jctx, r)
	}
}

// recovered delivers the Result of the job in cur, which did not return: v
// is what it panicked with, or nil if it called runtime.Goexit. After a
// panic, it reports whether the pool had surplus workers when the job
// finished, as run does; after runtime.Goexit, whose goroutine ends, it
// starts a replacement first and reports false.
func (p *Pool[J, R]) recovered(cur *current[J, R], sh *shard, v any) (surplus bool) {
	r := &cur.r
	var zero R
	r.Value = zero
	if v != nil {
		r.Err = newPanicError(v)
		return p.finish(cur, sh, true)
	}
	r.Err = ErrGoexit
	p.replace(sh)
	p.finish(cur, sh, false)
	return false
}

// call runs the Func once under ctx with the job timeout.
func (p *Pool[J, R]) call(ctx context.Context, v J) (R, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.jobTimeout)
	defer cancel()
	return p.fn(ctx, v)
}

// attempt runs the job under ctx with the rate limit and retries of the
// options, recording the outcome in r.
func (p *Pool[J, R]) attempt(ctx context.Context, r *Result[J, R]) {
	for n := 1; ; n++ {
		if !p.try(ctx, r, n) {
			return // the limiter refused: final
		}
		if r.Err == nil || n >= p.cfg.attempts || !retryable(r.Err) || ctx.Err() != nil {
			return
		}
		if !p.pause(ctx, p.cfg.backoff(n)) {
			return // the job's context ended during the backoff
		}
	}
}

// try makes attempt n under ctx: it waits on the limiter, then calls the
// Func. It returns false, with r.Err set to the limiter's error, if the wait
// failed.
func (p *Pool[J, R]) try(ctx context.Context, r *Result[J, R], n int) bool {
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

// pause waits d (not at all if d <= 0), and reports false if ctx ended
// first.
func (p *Pool[J, R]) pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// finish counts the Result in cur and delivers it. The counters are updated
// before the delivery, so a reader that has received it sees it in Stats. It
// reports whether the pool has surplus workers, having woken any parked ones.
func (p *Pool[J, R]) finish(cur *current[J, R], sh *shard, panicked bool) (surplus bool) {
	r := &cur.r
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
		p.observer.JobFinished(r.Job.ID, p.clock()-cur.began, r.Err)
	}
	switch {
	case cur.to != nil:
		cur.to.deliver(r)
	case p.batch != nil:
		p.batch.deliver(r)
	case p.order != nil:
		p.order.deliver(*r)
	default:
		p.results <- *r
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
	go p.work(sh, 0)
}
