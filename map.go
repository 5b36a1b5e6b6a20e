package workerpool

import (
	"context"
	"sync"
)

// Map runs fn over every element of in with a pool configured by opts and
// returns the outputs in the order of in. It blocks until every job it
// started has returned, so it leaves no goroutine behind.
//
// Jobs run under ctx, which replaces any [WithContext] option. Map fails
// fast: on the first error it cancels the jobs that have not finished, waits
// for the running ones to return, and returns (nil, err) with that job's own
// error (a *[PanicError] if the job panicked), never a cancellation error of
// Map's own making. If ctx ends first, Map returns (nil, ctx.Err()). An empty
// in returns an empty, non-nil slice and nil.
//
// [WithOrderedResults] has no effect on Map. Panics if fn is nil or an option
// is invalid.
func Map[J, R any](ctx context.Context, in []J, fn Func[J, R], opts ...Option) ([]R, error) {
	if fn == nil {
		panic("workerpool: Map: fn must not be nil")
	}
	if len(in) == 0 {
		newConfig(opts) // still reject invalid options
		return []R{}, nil
	}
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		once  sync.Once
		first error
	)
	fail := func(err error) {
		once.Do(func() {
			first = err
			if ctxErr := ctx.Err(); ctxErr != nil {
				first = ctxErr // the caller's ctx ended: report that, not its echo
			}
			cancel() // jobs not yet started now fail without running
		})
	}
	// Cancel from the failing worker itself, before it takes another job.
	failFast := func(ctx context.Context, v J) (R, error) {
		r, err := fn(ctx, v)
		if err != nil {
			fail(err)
		}
		return r, err
	}
	p := New(failFast, append(withContextLast(opts, mctx), withJobCount(len(in)))...)
	go func() {
		defer p.Close()
		for _, v := range in {
			if _, err := p.Submit(mctx, v); err != nil {
				return // mctx is done: a job failed or ctx ended
			}
		}
	}()
	out := make([]R, len(in))
	done := 0
	for r := range p.Results() {
		if r.Err != nil {
			fail(r.Err) // a panic, or a job cancelled before it ran
			continue
		}
		out[r.Job.ID-1] = r.Value
		done++
	}
	if first != nil {
		return nil, first
	}
	if done < len(in) {
		return nil, ctx.Err() // ctx ended before every job was accepted
	}
	return out, nil
}

// withContextLast returns a copy of opts that ends with WithContext(ctx), so
// that ctx wins over any WithContext in opts.
func withContextLast(opts []Option, ctx context.Context) []Option {
	all := make([]Option, 0, len(opts)+1)
	all = append(all, opts...)
	return append(all, WithContext(ctx))
}
