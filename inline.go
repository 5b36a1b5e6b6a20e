package workerpool

import "context"

// ownerKey is the context key under which a job's context names its pool.
type ownerKey struct{}

// ownedCtx is a context marked as the context of a job of pool owner: the
// pool's context for the jobs of Submit, and each caller's context for the
// jobs of Do, TryDo and Pool.Map. A Do or TryDo made under it, or under a
// context derived from it, runs inline (doInline). An ownedCtx never changes
// once made, so a Func may keep its context as long as it likes.
type ownedCtx struct {
	context.Context
	owner any
}

// Value returns the pool for ownerKey, and otherwise asks the context it
// marks.
func (c *ownedCtx) Value(key any) any {
	if key == (ownerKey{}) {
		return c.owner
	}
	return c.Context.Value(key)
}

// ownCtx returns ctx marked as a job context of p: made once per pool for
// context.Background(), the context of most calls that cannot be cancelled,
// and once per call otherwise.
func (p *Pool[J, R]) ownCtx(ctx context.Context) *ownedCtx {
	if ctx == context.Background() {
		return p.bgJobCtx
	}
	return &ownedCtx{Context: ctx, owner: p}
}

// within reports whether ctx is the context of a job of p, or derived from
// one: a Do or TryDo made under it comes from a worker of p.
func (p *Pool[J, R]) within(ctx context.Context) bool {
	o, _ := ctx.Value(ownerKey{}).(*Pool[J, R])
	return o == p
}

// doInline runs v as a job of p on the calling goroutine, which is a worker
// of p running a job: it already holds one of the N places, so the job needs
// no other. The job is accepted like any other (an ID, Stats, the Observer,
// ErrClosed after Close) but never goes through the jobs channel. A panic in
// it comes back as its *PanicError; runtime.Goexit ends the calling job too,
// whose worker's recovery handles it, after this job's end is counted.
func (p *Pool[J, R]) doInline(ctx context.Context, v J) (R, error) {
	var zero R
	id, err := p.acceptInline()
	if err != nil {
		return zero, err
	}
	sh := p.stats.assign()
	sh.taken.Add(1)
	t := task[J, R]{r: Result[J, R]{Job: Job[J]{ID: id, Value: v}}}
	p.runInline(ctx, &t, sh)
	if t.r.Err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return zero, ctxErr // as await reports a job that failed once ctx was done
		}
	}
	return t.r.Value, t.r.Err
}

// acceptInline gives an inline job its ID, as offerLocked does for a job
// it sends, or says why the pool refuses it.
func (p *Pool[J, R]) acceptInline() (uint64, error) {
	p.lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, ErrClosed
	}
	if !p.acceptAfterDone {
		if err := p.ctx.Err(); err != nil {
			return 0, err
		}
	}
	id := p.submitted.Load() + 1
	p.submitted.Store(id)
	if p.order != nil {
		p.skips++ // its Result goes to its caller
	}
	return id, nil
}

// runInline runs the job in t under ctx with its own recovery, and counts
// its end, also when it calls runtime.Goexit.
func (p *Pool[J, R]) runInline(ctx context.Context, t *task[J, R], sh *shard) {
	panicked := false
	defer func() {
		if t.busy {
			v := recover()
			settle(t, v)
			panicked = v != nil
		}
		p.run.end(t)
		sh.finished.Add(1)
		if t.r.Err != nil {
			sh.failed.Add(1)
		}
		if panicked {
			sh.panicked.Add(1)
		}
	}()
	t.busy = true
	if p.run.begin(t, p.run.stamp()) {
		p.run.call(ctx, &t.r, sh)
	}
	t.busy = false
}
