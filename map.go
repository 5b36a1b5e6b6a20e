package workerpool

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Map runs fn over every element of in with a pool configured by opts and
// returns the outputs in the order of in. It blocks until every job it
// started has returned, so it leaves no goroutine behind.
//
// Jobs run under ctx, which replaces any [WithContext] option. Map fails
// fast: on the first job whose Result is an error (after its retries, with
// [WithRetry]) it cancels the jobs that have not finished, waits for the
// running ones to return, and returns (nil, err) with that job's own error
// (a *[PanicError] if the job panicked), never a cancellation error of Map's
// own making. If ctx ends first, Map returns (nil, ctx.Err()). An empty in
// returns an empty, non-nil slice and nil.
//
// Job IDs are the indexes in in plus one. Up to 1,024 workers, Map hands out
// the elements by index, in runs, without channels, and starts workers one at
// a time as they find elements left to take; an element then costs some
// 20-40 ns of overhead, against some 200 ns through a [Pool]. For an
// [Observer], every element is submitted when Map is called. Past 1,024
// workers, Map submits the elements one by one to a pool as its buffer makes
// room, so that the workers it starts keep pace with the jobs, as in a
// [Pool], and [WithBufferSize] bounds how far Map's submitter runs ahead of
// them. [WithResultBufferSize] and [WithOrderedResults] have no effect on Map,
// and with [WithAdaptiveLimit] it runs its starting limit, fixed.
//
// Map is safe for concurrent use: each call has its own workers. Panics if fn
// or ctx is nil or an option is invalid.
func Map[J, R any](ctx context.Context, in []J, fn Func[J, R], opts ...Option) ([]R, error) {
	if fn == nil {
		panic("workerpool: Map: fn must not be nil")
	}
	if ctx == nil {
		panic("workerpool: Map: nil Context")
	}
	c := newConfig(opts) // rejects invalid options, also for an empty in
	c.fixLimit()
	if len(in) == 0 {
		return []R{}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if c.workers > mapDirectMax {
		return mapThroughPool(ctx, mctx, cancel, in, fn, opts)
	}
	c.ctx = mctx
	b := &batch[J, R]{run: newRunner(fn, &c, nil), ctx: mctx, in: in, out: make([]R, len(in)),
		parent: ctx, cancel: cancel, limit: int64(c.workers)}
	b.handOut()
	b.wg.Wait()
	if b.err != nil {
		return nil, b.err
	}
	return b.out, nil
}

// mapDirectMax is the most workers with which Map hands out its elements by
// index. Below it, starting every worker the limit allows costs at most a few
// MiB of stacks; above it, Map goes through a Pool's jobs channel, whose
// growth follows the pace of submission.
const mapDirectMax = 1024

// mapThroughPool is Map past mapDirectMax workers: a Pool, used through its
// API alone, with one submitter (so IDs follow the order of in) and Map's
// goroutine reading the Results into place.
func mapThroughPool[J, R any](ctx, mctx context.Context, cancel context.CancelFunc, in []J, fn Func[J, R], opts []Option) ([]R, error) {
	p := New(fn, append(withContextLast(opts, mctx), withJobCount(len(in)), forMap())...)
	go func() {
		defer p.Close()
		for _, v := range in {
			if _, err := p.Submit(mctx, v); err != nil {
				return // an element failed (mctx is cancelled), or ctx ended
			}
		}
	}()
	out := make([]R, len(in))
	var err error
	n := 0
	for r := range p.Results() {
		n++
		switch {
		case err != nil: // failed: drain what is left
		case r.Err != nil:
			err = r.Err
			if ctxErr := ctx.Err(); ctxErr != nil {
				err = ctxErr // Map's ctx ended: report that, not its echo
			}
			cancel()
		default:
			out[r.Job.ID-1] = r.Value
		}
	}
	if err == nil && n < len(in) {
		err = ctx.Err() // ctx ended before every element was submitted
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// batch is one call of Map with its elements handed out by index: its own
// workers run them through the runner and write the outputs into out.
type batch[J, R any] struct {
	run    runner[J, R]
	ctx    context.Context // the jobs': Map's ctx, cancelled on failure
	in     []J
	out    []R
	parent context.Context // Map's ctx
	cancel context.CancelFunc
	limit  int64
	at     time.Duration // when Map handed out the elements; see runner.stamp
	wg     sync.WaitGroup

	once    sync.Once
	err     error       // the first failure; set under once
	stopped atomic.Bool // set by fail: take no more elements

	// next is taken by every worker for every element, so it has a cache
	// line of its own.
	_        [64]byte
	next     atomic.Int64 // the index of the next element to take
	live     atomic.Int64 // workers started
	starting atomic.Bool  // a worker has been started and has not yet run
	_        [64]byte
}

// fail records the first failure and stops the batch: workers take no more
// elements, and running jobs see their context cancelled.
func (b *batch[J, R]) fail(err error) {
	b.once.Do(func() {
		b.err = err
		if ctxErr := b.parent.Err(); ctxErr != nil {
			b.err = ctxErr // Map's ctx ended: report that, not its echo
		}
		b.stopped.Store(true)
		b.cancel()
	})
}

// handOut starts the first worker.
func (b *batch[J, R]) handOut() {
	b.at = b.run.stamp()
	b.starting.Store(true)
	b.start()
}

// start starts the next worker. The caller holds starting and has seen the
// batch below its limit since taking it; it is the only goroutine that counts
// a new worker, so workers never pass the limit.
func (b *batch[J, R]) start() {
	b.live.Add(1)
	b.wg.Add(1)
	go b.work()
}

// work takes elements by index and runs them until none is left or the batch
// has failed. Each worker, once it has taken an element and while more are
// left, starts the next worker unless one is already starting: so, as in a
// Pool, workers start one at a time, as fast as the scheduler runs them, and
// a CPU-bound batch is not spread over more goroutines than it can use.
func (b *batch[J, R]) work() {
	defer b.wg.Done()
	b.starting.Store(false)
	// A panic or runtime.Goexit in a job fails the batch, so the worker ends
	// once the failure is recorded.
	var t task[J, R]
	defer func() {
		if t.busy {
			settle(&t, recover())
			b.run.end(&t)
			b.fail(t.r.Err)
		}
	}()
	n := int64(len(b.in))
	for !b.stopped.Load() {
		k := b.chunk(n)
		lo := b.next.Add(k) - k
		if lo >= n {
			return
		}
		hi := min(lo+k, n)
		if b.live.Load() < b.limit && !b.starting.Load() && hi < n && b.starting.CompareAndSwap(false, true) {
			// Another worker may have started the last one the limit allows
			// between the check above and taking starting: check again.
			if b.live.Load() < b.limit {
				b.start()
			} else {
				b.starting.Store(false)
			}
		}
		for i := lo; i < hi && !b.stopped.Load(); i++ {
			b.runOne(&t, i)
		}
	}
}

// runOne runs element i and records its output, or fails the batch.
func (b *batch[J, R]) runOne(t *task[J, R], i int64) {
	t.r = Result[J, R]{Job: Job[J]{ID: uint64(i) + 1, Value: b.in[i]}}
	t.busy = true
	if b.run.begin(t, b.at) {
		b.run.call(b.ctx, &t.r, nil)
	}
	t.busy = false
	b.run.end(t)
	if t.r.Err != nil {
		b.fail(t.r.Err)
	} else {
		b.out[i] = t.r.Value
	}
	t.r = Result[J, R]{}
}

// chunk is how many elements a worker takes at once: a share of what is left
// small enough that every worker could still get four (so the last ones to
// finish are not held up by one long run of slow elements), up to
// mapChunkMax. Taking elements in runs keeps workers from bouncing the
// counter, and the output slice's cache lines, between cores on every
// element.
func (b *batch[J, R]) chunk(n int64) int64 {
	left := n - b.next.Load()
	return min(max(left/(4*b.limit), 1), mapChunkMax)
}

// mapChunkMax is the most elements a worker takes at once.
const mapChunkMax = 64

// withContextLast returns a copy of opts that ends with WithContext(ctx), so
// that ctx wins over any WithContext in opts.
func withContextLast(opts []Option, ctx context.Context) []Option {
	all := make([]Option, 0, len(opts)+1)
	all = append(all, opts...)
	return append(all, WithContext(ctx))
}
