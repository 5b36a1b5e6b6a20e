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
// [Pool]. The buffer options and [WithOrderedResults] have no effect on Map.
//
// Map is safe for concurrent use: each call has its own workers. Panics if fn
// is nil or an option is invalid.
func Map[J, R any](ctx context.Context, in []J, fn Func[J, R], opts ...Option) ([]R, error) {
	if fn == nil {
		panic("workerpool: Map: fn must not be nil")
	}
	c := newConfig(opts) // rejects invalid options, also for an empty in
	if len(in) == 0 {
		return []R{}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b := &batch[J, R]{in: in, out: make([]R, len(in)), parent: ctx, cancel: cancel, direct: c.workers <= mapDirectMax}
	p := New(fn, append(withContextLast(opts, mctx), withJobCount(len(in)), forMap(b.direct))...)
	p.batch = b
	b.p = p
	if b.direct {
		b.handOut()
	} else {
		b.submit(mctx)
	}
	p.wg.Wait()
	if b.err != nil {
		return nil, b.err
	}
	return b.out, nil
}

// mapDirectMax is the most workers with which Map hands out its elements by
// index. Below it, starting every worker the limit allows costs at most a few
// MiB of stacks; above it, Map goes through the jobs channel, whose growth
// follows the pace of submission.
const mapDirectMax = 1024

// batch is one call of Map: the pool's workers write their outputs into out,
// by index, instead of sending Results.
type batch[J, R any] struct {
	p      *Pool[J, R]
	in     []J
	out    []R
	parent context.Context // Map's ctx
	cancel context.CancelFunc
	direct bool          // hands out elements by index; else submits them
	at     time.Duration // when Map handed out the elements; see Pool.stamp

	once    sync.Once
	err     error       // the first failure; set under once
	stopped atomic.Bool // set by fail: take no more elements

	// Only when handing out by index: next is taken by every worker for
	// every element, so it has a cache line of its own.
	_        [64]byte
	next     atomic.Int64 // the index of the next element to take
	starting atomic.Bool  // a worker has been started and has not yet run
	_        [64]byte
}

// deliver takes the Result of one element, in place of the Results channel.
// A worker calls it before it takes another element, so a failure stops the
// workers at once.
func (b *batch[J, R]) deliver(r *Result[J, R]) {
	if r.Err != nil {
		b.fail(r.Err)
		return
	}
	b.out[r.Job.ID-1] = r.Value
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

// submit sends the elements through the pool's jobs channel, from Map's own
// goroutine, then closes the pool. IDs follow the order of in, since there is
// only this submitter.
func (b *batch[J, R]) submit(ctx context.Context) {
	for _, v := range b.in {
		if _, err := b.p.Submit(ctx, v); err != nil {
			b.fail(err) // an element failed, or Map's ctx ended
			break
		}
	}
	b.p.Close()
}

// handOut starts the first worker of a batch that hands out its elements by
// index.
func (b *batch[J, R]) handOut() {
	b.at = b.p.stamp()
	b.starting.Store(true)
	b.start()
}

// start starts the next worker. The caller holds starting and has seen the
// pool below its limit since taking it; it is the only goroutine that counts
// a new worker, so workers never passes the limit.
func (b *batch[J, R]) start() {
	b.p.workers.Add(1)
	b.p.wg.Add(1)
	go b.work(b.p.stats.assign(), false)
}

// work takes elements by index and runs them until none is left or the batch
// has failed. Each worker, once it has taken an element and while more are
// left, starts the next worker unless one is already starting: so, as in a
// Pool, workers start one at a time, as fast as the scheduler runs them, and
// a CPU-bound batch is not spread over more goroutines than it can use.
//
// A replacement for a worker that runtime.Goexit ended was not started as
// the next worker, so it leaves starting alone.
func (b *batch[J, R]) work(sh *shard, replacement bool) {
	defer b.p.wg.Done()
	if !replacement {
		b.starting.Store(false)
	}
	// A panic or runtime.Goexit in a job fails the batch, so the worker
	// ends once its Result is delivered.
	var cur current[J, R]
	defer func() {
		if cur.busy {
			b.p.recovered(&cur, sh, recover())
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
		if b.p.growing() && !b.starting.Load() && hi < n && b.starting.CompareAndSwap(false, true) {
			// Another worker may have started the last one the limit allows
			// between the check above and taking starting: check again.
			if b.p.growing() {
				b.start()
			} else {
				b.starting.Store(false)
			}
		}
		for i := lo; i < hi && !b.stopped.Load(); i++ {
			b.p.run(&cur, envelope[J, R]{job: Job[J]{ID: uint64(i) + 1, Value: b.in[i]}, accepted: b.at}, sh)
		}
	}
}

// chunk is how many elements a worker takes at once: a share of what is left
// small enough that every worker could still get four (so the last ones to
// finish are not held up by one long run of slow elements), up to
// mapChunkMax. Taking elements in runs keeps workers from bouncing the
// counter, and the output slice's cache lines, between cores on every
// element.
func (b *batch[J, R]) chunk(n int64) int64 {
	left := n - b.next.Load()
	return min(max(left/(4*b.p.limit.Load()), 1), mapChunkMax)
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
