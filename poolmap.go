package workerpool

import (
	"context"
	"sync"
	"sync/atomic"
)

// Map runs every element of in as a job of this pool, on its workers and
// within its limit, and returns the outputs in the order of in.
//
// The pool's workers are shared with every other caller, and so is its limit:
// a Map call keeps at most N of its jobs queued or running at once (N: the
// worker limit when Map is called), submitting the next element as one of
// them finishes. So a [Pool.Do] or another Map that arrives behind a
// million-element Map waits behind at most N of its jobs, and two Maps
// running at once get the workers in turn. Each element is an ordinary job of
// the pool, as in [Pool.Do], run under a context that carries ctx's values
// and is done when ctx, the pool's context or this call's failure is done.
//
// Map blocks until every output is ready, or until it fails. It fails fast:
// on the first element whose Result is an error (after its retries, with
// [WithRetry]) it cancels this call's other jobs (never the pool's, never
// other callers') and returns (nil, err) with that element's own error. If
// ctx ends first it returns (nil, ctx.Err()) at once; if the pool cannot
// accept an element, the error of Submit ([ErrClosed], the pool context's
// error). Jobs of a failed call that are still running then finish on the
// pool's workers with their context done, and their outputs are dropped. An
// empty in returns an empty, non-nil slice and nil.
//
// Called from inside a job of the same pool, under that job's context or one
// derived from it, Map runs the elements one after another on the calling
// worker, as [Pool.Do] does there, so that it cannot deadlock.
//
// Map is safe for concurrent use, with itself and every other method. Panics
// if ctx is nil.
func (p *Pool[J, R]) Map(ctx context.Context, in []J) ([]R, error) {
	if ctx == nil {
		panic("workerpool: Pool.Map: nil Context")
	}
	if len(in) == 0 {
		return []R{}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p.within(ctx) {
		return p.mapInline(ctx, in)
	}
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	window := min(int(max(p.eng.limit.Load(), 1)), len(in))
	jctx := p.ownCtx(mctx) // every element's job runs under it
	m := &mapping[J, R]{
		out:    make([]R, len(in)),
		parent: ctx,
		cancel: cancel,
		done:   make(chan *sink[J, R], window),
	}
	// One sink per job in flight: a finished job's sink comes back on done
	// and carries the next element. The call holds each until it returns,
	// and the worker of a job in flight holds it too (see sink).
	slots := make([]*sink[J, R], 0, window)
	defer func() {
		for _, s := range slots {
			s.release()
		}
	}()
	for i, v := range in {
		var s *sink[J, R]
		if i < window {
			s = p.sinks.get(p)
			slots = append(slots, s)
		} else {
			var err error
			if s, err = m.wait(mctx); err != nil {
				return nil, err
			}
		}
		s.jctx, s.m, s.i = jctx, m, i
		s.refs.Store(2)
		if _, err := p.submit(mctx, v, uint64(s.handle)); err != nil {
			s.refs.Add(-1) // no worker took it
			return nil, m.failure(err)
		}
	}
	for range window {
		if _, err := m.wait(mctx); err != nil {
			return nil, err
		}
	}
	return m.out, nil
}

// mapInline is Map called from inside a job of p: the elements run one after
// another on the calling worker, as Do does there (see doInline), so that the
// call never waits for workers that only jobs like its own hold.
func (p *Pool[J, R]) mapInline(ctx context.Context, in []J) ([]R, error) {
	out := make([]R, len(in))
	for i, v := range in {
		r, err := p.doInline(ctx, v)
		if err != nil {
			return nil, err
		}
		out[i] = r
	}
	return out, nil
}

// mapping is one call of Pool.Map: its jobs write their outputs into out, by
// index, and signal done.
type mapping[J, R any] struct {
	out    []R
	parent context.Context // the caller's ctx
	cancel context.CancelFunc
	// done gets the sink of each finished job; its capacity is the most
	// jobs the call has in flight, so a worker never blocks on it, also
	// after the call has returned.
	done chan *sink[J, R]

	once   sync.Once
	err    error // the first failure; set under once, before failed
	failed atomic.Bool
}

// deliver takes the Result of the element of s, lets go of s and gives it
// back to the call. If the call has returned, the release recycles s, and
// the send, which cannot block, reaches nobody.
func (m *mapping[J, R]) deliver(r *Result[J, R], s *sink[J, R]) {
	if r.Err != nil {
		m.fail(r.Err)
	} else {
		m.out[s.i] = r.Value
	}
	s.release()
	m.done <- s
}

// fail records the call's first failure and cancels its other jobs.
func (m *mapping[J, R]) fail(err error) {
	m.once.Do(func() {
		m.err = err
		if ctxErr := m.parent.Err(); ctxErr != nil {
			m.err = ctxErr // the caller's ctx ended: report that, not its echo
		}
		m.failed.Store(true)
		m.cancel()
	})
}

// wait waits for one job of the call to finish and returns its sink, free
// again, or the call's failure, if it has one by then, or ctx's end.
func (m *mapping[J, R]) wait(ctx context.Context) (*sink[J, R], error) {
	select {
	case s := <-m.done:
		if m.failed.Load() {
			return nil, m.err
		}
		return s, nil
	case <-ctx.Done():
		return nil, m.failure(ctx.Err())
	}
}

// failure is what the call returns when it stops on err: the failure of one
// of its jobs, if any, then the caller's ctx's error, then err.
func (m *mapping[J, R]) failure(err error) error {
	if m.failed.Load() {
		return m.err
	}
	if ctxErr := m.parent.Err(); ctxErr != nil {
		return ctxErr
	}
	return err
}
