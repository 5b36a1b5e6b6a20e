package workerpool

import "context"

// work is a worker goroutine: it runs jobs until the jobs channel is closed
// and drained.
func (p *Pool[J, R]) work(sh *shard) {
	defer p.wg.Done()
	for j := range p.jobs {
		p.run(j, sh)
	}
}

// run runs one job and delivers its Result, whatever the Func does: return,
// panic or runtime.Goexit.
func (p *Pool[J, R]) run(j Job[J], sh *shard) {
	sh.started.Add(1)
	r := Result[J, R]{Job: j}
	returned := false
	defer func() {
		if returned {
			return
		}
		var zero R
		r.Value = zero
		if v := recover(); v != nil {
			r.Err = newPanicError(v)
			p.finish(r, sh, true)
			return // the worker goes on with the next job
		}
		// runtime.Goexit: this goroutine ends when the defer returns, so
		// start its replacement. wg cannot reach zero here: this worker has
		// not called Done yet.
		r.Err = ErrGoexit
		p.wg.Add(1)
		go p.work(sh)
		p.finish(r, sh, false)
	}()
	if err := p.ctx.Err(); err != nil {
		r.Err = err // the pool context ended before the job started
	} else {
		r.Value, r.Err = p.call(j.Value)
	}
	returned = true
	p.finish(r, sh, false)
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

// finish counts r and delivers it. The counters are updated before the
// delivery, so a reader that has received r sees it in Stats.
func (p *Pool[J, R]) finish(r Result[J, R], sh *shard, panicked bool) {
	sh.completed.Add(1)
	if r.Err != nil {
		sh.failed.Add(1)
	}
	if panicked {
		sh.panicked.Add(1)
	}
	if p.order != nil {
		p.order.deliver(r)
		return
	}
	p.results <- r
}
