package workerpool

import (
	"context"
	"sync/atomic"
)

// Do runs v as one job of the pool and waits for its Result, returning the
// Func's value and error instead of delivering the Result on Results().
//
// The job is an ordinary job of the pool: it takes an ID, counts in
// [Pool.Stats], is seen by the [Observer], and the rate limit, retries, job
// timeout and panic handling all apply (a panic comes back as a
// *[PanicError], runtime.Goexit as [ErrGoexit]). Its Func runs under a
// context that carries ctx's values and is done when ctx or the pool's
// context is done, narrowed by [WithJobTimeout].
//
// Do blocks while the jobs buffer is full, as [Pool.Submit] does, and then
// until the job's Result is ready. It fails like Submit, accepting nothing:
// ctx.Err() if ctx ends first, [ErrClosed] after [Pool.Close] (also when
// Close is called while Do waits for room), the pool context's error once
// that is done. Once the job is accepted, if ctx ends while the job waits
// for a worker, the Func is never called (the job completes with ctx.Err(),
// counted as failed); if ctx ends while the Func runs, the Func sees its
// context done. Either way Do returns ctx.Err() at once, without waiting
// for the Func to return; so does a job that fails once ctx is done.
//
// Called from inside a job of the same pool, under that job's context or one
// derived from it, Do runs the job at once on the calling worker, which
// already holds a place among the N: the job takes an ID, counts in Stats,
// is seen by the Observer, and its Result (a panic included) comes back as
// from any Do. So a job that calls Do never waits for a worker that only its
// own kind holds, and a pool whose every worker does so cannot deadlock.
//
// In steady state a call allocates nothing when ctx is context.Background()
// and the pool's context cannot end (the default); otherwise the job's
// context costs one allocation, or a few when the pool's context can end. Do is safe for concurrent use; a pool used only through Do
// and [Pool.Map] needs nobody reading Results. Panics if ctx is nil.
func (p *Pool[J, R]) Do(ctx context.Context, v J) (R, error) {
	return p.do(ctx, v, false)
}

// TryDo is Do that never waits for room: [ErrQueueFull] at once when the
// pool is full, that is when all N workers are busy and the jobs buffer is
// full (see [Pool.TrySubmit]). The default buffer holds 1,024 jobs, so a
// server that sheds load with TryDo wants [WithBufferSize](0) or a small
// buffer: then TryDo refuses as soon as N calls are in progress. It does wait
// for the result.
//
// On failure to accept the job it returns [ErrQueueFull], [ErrClosed] after
// [Pool.Close], the pool context's error once that is done, or ctx.Err() if
// ctx is already done, accepting nothing. Once the job is accepted it behaves
// as [Pool.Do], and from inside a job of the same pool it runs the job on the
// calling worker as Do does. TryDo is safe for concurrent use. Panics if ctx
// is nil.
func (p *Pool[J, R]) TryDo(ctx context.Context, v J) (R, error) {
	return p.do(ctx, v, true)
}

// do is Do, or TryDo when try is set: the job is accepted with trySubmit
// instead of submit, and the rest is the same.
func (p *Pool[J, R]) do(ctx context.Context, v J, try bool) (R, error) {
	var zero R
	if ctx == nil {
		if try {
			panic("workerpool: TryDo: nil Context")
		}
		panic("workerpool: Do: nil Context")
	}
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	if p.within(ctx) {
		return p.doInline(ctx, v)
	}
	s := p.newSink(ctx)
	var err error
	if try {
		_, err = p.trySubmit(v, uint64(s.handle))
	} else {
		_, err = p.submit(ctx, v, uint64(s.handle))
	}
	if err != nil {
		s.discard() // never sent: nobody else holds it
		return zero, err
	}
	return s.await(ctx)
}

// sink is where the job of a Do, TryDo or Pool.Map call delivers its
// Result, in place of the Results channel.
//
// Sinks live in the pool's sinkTable, which recycles them. Both the caller
// and the worker hold a sink while its job is in flight (refs): the caller
// until it has the Result or has given up, the worker until it has
// delivered. Whichever lets go last puts it back, so a caller that gives up
// early never sees its sink reused under a worker still running its job.
type sink[J, R any] struct {
	pool   *Pool[J, R]
	handle uint32        // its number in pool.sinks; never changes
	next   atomic.Uint32 // the next free sink's handle, while free

	// jctx is the caller's context, marked as a job context of the pool
	// (see ownedCtx); the job runs under it and the pool's.
	jctx *ownedCtx
	refs atomic.Int32

	// A Do call: the worker stores the Result in r, then signals done.
	done chan struct{} // capacity 1
	r    Result[J, R]

	// A Pool.Map call: the Result goes to its mapping, for element i.
	m *mapping[J, R]
	i int
}

// newSink returns a sink for a Do call under ctx, held by the caller and the
// worker to come.
func (p *Pool[J, R]) newSink(ctx context.Context) *sink[J, R] {
	s := p.sinks.get(p)
	s.jctx = p.ownCtx(ctx)
	s.refs.Store(2)
	return s
}

// deliver takes the Result r of the job. The worker must not touch s after.
func (s *sink[J, R]) deliver(r *Result[J, R]) {
	if s.m != nil {
		s.m.deliver(r, s)
		return
	}
	s.r = *r
	s.done <- struct{}{} // never blocks: one delivery per call
	s.release()
}

// await waits for the Result of the call's job, or for ctx to end. A job
// that failed once ctx was done reports ctx's error, not its echo: the
// Result and the end of ctx often come at the same moment (a retry's backoff
// cut short by the caller's deadline), and the answer must not depend on
// which one the scheduler shows first.
func (s *sink[J, R]) await(ctx context.Context) (R, error) {
	var zero R
	if done := ctx.Done(); done == nil {
		<-s.done // ctx cannot end: a receive is cheaper than a select
	} else {
		select {
		case <-s.done:
		case <-done:
			s.release()
			return zero, ctx.Err()
		}
	}
	v, err := s.r.Value, s.r.Err
	s.release()
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return zero, ctxErr
		}
	}
	return v, err
}

// discard recycles a sink that no job took.
func (s *sink[J, R]) discard() {
	s.jctx = nil
	s.pool.sinks.put(s)
}

// release lets go of s; the last of its two holders recycles it.
func (s *sink[J, R]) release() {
	if s.refs.Add(-1) != 0 {
		return
	}
	select {
	case <-s.done: // delivered to a caller that had given up
	default:
	}
	s.jctx, s.m = nil, nil
	s.r = Result[J, R]{}
	s.pool.sinks.put(s)
}
