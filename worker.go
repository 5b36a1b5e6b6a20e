package workerpool

import (
	"context"
	"time"
)

// envelope is a job on its way through the jobs channel, or, with ID 0, a
// request to an idle worker to leave (see idle.go).
type envelope[J, R any] struct {
	job      Job[J]
	accepted time.Duration // when its Submit began (see runner.stamp); set only with an Observer
	// to is the handle of the sink where a job of Do, TryDo or Pool.Map
	// delivers its Result, in place of the Results channel (see sinkTable);
	// 0 for Submit and TrySubmit. It is the only word an envelope has beyond
	// the job and its time, and no pointer: in BenchmarkPool an envelope of
	// 40 bytes instead of 32 cost 7-13% a job, one of 32 with a uint64 in it
	// nothing measurable, one of 32 with a pointer 17%
	// (TestEnvelopeStaysSmallAndPointerFree pins both).
	to uint64
}

// chainYield is how many workers in a chain of starts (see engine.cover) run
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
// may start workers while it waits.
const chainYield = 8

// work is a worker goroutine: it runs jobs until the jobs channel is closed
// and drained, or until it leaves (idle retirement, a shrinking Resize).
// chain is its place in a chain of starts: 0 if a submitter, Resize or a
// replacement started it, and one more than the worker that started it
// otherwise.
func (p *Pool[J, R]) work(chain int) {
	defer p.wg.Done()
	p.eng.started(chain)
	sh := p.stats.assign()
	for p.serve(sh) {
		// A job panicked; its Result is delivered. Go on under a new recovery.
	}
}

// serve runs jobs under one deferred recovery, so that a job pays for no
// defer of its own. It reports whether the worker goes on: true after a job
// panicked (its Result delivered), false once the worker exits. After
// runtime.Goexit in a job, the goroutine ends once the recovery has
// delivered the job's Result and started a replacement (engine.replace).
func (p *Pool[J, R]) serve(sh *shard) (again bool) {
	var t task[J, R]
	defer func() {
		if t.busy {
			v := recover()
			settle(&t, v)
			again = p.finish(&t, sh, v != nil, v == nil) && v != nil
		}
	}()
	for {
		e, ok := p.next(sh)
		if !ok {
			return false
		}
		sh.taken.Add(1)
		if p.eng.surplus() {
			p.eng.awaitSlot() // shrunk by Resize: start only below the new limit
		}
		if !p.runJob(&t, &e, sh) {
			return false
		}
	}
}

// next returns the next job, or false when the worker is to exit: the jobs
// channel is closed and drained, or the worker was asked to leave (see
// idle.go). sh is the worker's shard.
func (p *Pool[J, R]) next(sh *shard) (envelope[J, R], bool) {
	since := p.idle.epoch.Load() // when this worker went for a job
	for {
		e, ok := <-p.jobs
		switch {
		case !ok:
			p.eng.exitDrained()
			return e, false
		case e.job.ID != 0:
			return e, true
		case p.leave(&e, since, sh):
			return e, false
		}
	}
}

// runJob runs the job in e, delivers its Result and reports whether the
// worker goes on. A panic or runtime.Goexit in the job leaves t.busy set, for
// the worker's deferred recovery to deliver the Result.
func (p *Pool[J, R]) runJob(t *task[J, R], e *envelope[J, R], sh *shard) bool {
	t.r = Result[J, R]{Job: e.job}
	if e.to != 0 {
		t.to = p.sinks.at(e.to)
	}
	t.busy = true
	if p.run.begin(t, e.accepted) {
		switch {
		case p.ctxEnds && p.ctx.Err() != nil: // a pool context that cannot end is not asked
			t.r.Err = p.ctx.Err() // the pool context ended before the job started
		case t.to != nil:
			p.runFor(t, sh) // a caller's job: under its context too
		default:
			p.run.call(p.jobCtx, &t.r, sh)
		}
	}
	if a := p.run.adapt; a != nil && a.due(sh) {
		p.adapt(t)
	}
	t.busy = false
	*e = envelope[J, R]{} // the job's value is the caller's again
	return p.finish(t, sh, false, false)
}

// runFor runs the job of a caller of Do, TryDo or Pool.Map, recording the
// outcome in t.r: not at all if the caller's context ended while the job
// waited, else under a context that is done when the caller's or the pool's
// is (see jobContext).
func (p *Pool[J, R]) runFor(t *task[J, R], sh *shard) {
	s := t.to
	if err := s.jctx.Err(); err != nil {
		t.r.Err = err // the caller gave up while the job waited: never call the Func
		return
	}
	ctx, stop := p.jobContext(s.jctx)
	if stop != nil {
		defer stop() // also when the Func panics or calls runtime.Goexit
	}
	p.run.call(ctx, &t.r, sh)
}

// finish counts the Result in t and delivers it, then clears t, so that
// nothing of the job stays reachable from the worker. The counters are
// updated before the delivery, so a reader that has received it sees it in
// Stats. It reports whether the worker goes on: a worker leaves a surplus
// when its job ends, and after runtime.Goexit (goexit) it is replaced.
//
// A caller's sink never blocks, so the worker counts itself free before it
// delivers there: a caller that makes another call as soon as it has its
// result finds the worker free. A delivery on Results may wait for a slow
// reader, and the worker counts itself free only after it.
func (p *Pool[J, R]) finish(t *task[J, R], sh *shard, panicked, goexit bool) (goOn bool) {
	p.run.end(t)
	r := &t.r
	sh.finished.Add(1)
	if r.Err != nil {
		sh.failed.Add(1)
	}
	if panicked {
		sh.panicked.Add(1)
	}
	if to := t.to; to != nil {
		goOn = p.release(sh, goexit)
		to.deliver(r)
	} else {
		if p.order != nil {
			p.order.deliver(*r)
		} else {
			p.results <- *r
		}
		goOn = p.release(sh, goexit)
	}
	*t = task[J, R]{}
	return goOn
}

// release is the worker's part after a job: it is replaced after
// runtime.Goexit, leaves a surplus, or counts itself free again.
func (p *Pool[J, R]) release(sh *shard, goexit bool) bool {
	if goexit {
		p.eng.replace(sh)
		return false
	}
	if p.eng.leaveBusy(sh) {
		return false
	}
	p.eng.back(sh)
	return true
}

// jobContext returns the context the job of a caller whose context is ctx
// runs under: ctx itself when the pool's context cannot end (the default),
// and otherwise a context with ctx's values that is done when either is,
// with the earlier of their deadlines. stop, when not nil, must be called
// once the job is done.
func (p *Pool[J, R]) jobContext(ctx context.Context) (jctx context.Context, stop func()) {
	if !p.ctxEnds {
		return ctx, nil
	}
	jctx, cancel := context.WithCancelCause(ctx)
	cancelDeadline := context.CancelFunc(func() {})
	if d, ok := p.ctx.Deadline(); ok {
		if cd, ok := ctx.Deadline(); !ok || d.Before(cd) {
			jctx, cancelDeadline = context.WithDeadline(jctx, d)
		}
	}
	after := context.AfterFunc(p.ctx, func() { cancel(context.Cause(p.ctx)) })
	return jctx, func() {
		after()
		cancelDeadline()
		cancel(nil)
	}
}
