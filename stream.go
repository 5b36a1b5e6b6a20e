package workerpool

import "context"

// Stream runs fn over the values received from in, with a pool configured by
// opts, and returns the pool's Results channel. It returns at once; a
// goroutine reads in until in is closed or ctx ends, then closes the pool.
// The returned channel is closed once every value read from in has its
// Result, so the caller must read it until it is closed.
//
// Jobs run under ctx, which replaces any [WithContext] option. No value read
// from in is lost: a value read as ctx ends still gets a Result, whose Err is
// ctx.Err(). Job IDs follow the order in which values were read. With
// [WithOrderedResults], Results arrive in that order too.
//
// A nil in is never ready, as a receive from a nil channel never is: Stream
// then reads nothing until ctx ends. To stop a queue consumer gracefully,
// close in: every value read is run and its Result delivered. Cancelling ctx
// also stops it, but jobs not yet started then get ctx's error instead of
// running (see the example with signal.NotifyContext).
//
// Panics if fn or ctx is nil or an option is invalid.
func Stream[J, R any](ctx context.Context, in <-chan J, fn Func[J, R], opts ...Option) <-chan Result[J, R] {
	if fn == nil {
		panic("workerpool: Stream: fn must not be nil")
	}
	if ctx == nil {
		panic("workerpool: Stream: nil Context")
	}
	p := newStreamPool(ctx, fn, opts)
	go func() {
		defer p.Close()
		for {
			select {
			case v, ok := <-in:
				if !ok {
					return
				}
				// Only Close makes this fail, and only this goroutine closes.
				_, _ = p.Submit(context.Background(), v)
			case <-ctx.Done():
				return
			}
		}
	}()
	return p.Results()
}

// newStreamPool returns the pool behind Stream: it runs jobs under ctx and
// accepts every value read, even once ctx has ended, so that the job gets
// ctx's error as its Result instead of vanishing.
func newStreamPool[J, R any](ctx context.Context, fn Func[J, R], opts []Option) *Pool[J, R] {
	c := newConfig(withContextLast(opts, ctx))
	return newPool(fn, &c, true)
}
