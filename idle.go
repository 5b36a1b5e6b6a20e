package workerpool

import (
	"sync/atomic"
	"time"
)

// idleState retires workers that have been idle for the idle timeout d
// (WithIdleTimeout), at no cost per job.
//
// While the pool has workers, a timer runs reap every d. reap compares the
// workers idle now with those idle at its previous run and the jobs started
// in between: each job started took at most one of the workers idle then, so
// at least prevIdle - started workers have been idle for the whole period,
// which is d long. For each of them it sends the jobs channel an envelope
// with ID 0, which is no job: the worker that takes it retires (idleRetire).
// A channel hands a value to its longest-waiting receiver, so the envelopes
// go to the workers that have waited longest. A worker thus retires between d
// and 2d after it went idle. The workers themselves never look at a clock.
type idleState struct {
	// Guarded by spawnMu.
	timer *time.Timer
	on    bool // reap is scheduled or running

	// Used by reap only, which runs one at a time; reset while !on.
	prevIdle    int64
	prevStarted uint64
}

// watchIdle makes sure reap runs while there are workers. Called with
// spawnMu held, when a worker starts.
func (p *Pool[J, R]) watchIdle() {
	d := p.cfg.idleTimeout
	if d <= 0 || p.idle.on {
		return
	}
	p.idle.on = true
	p.idle.prevIdle = 0 // nobody has been idle for a whole period yet
	if p.idle.timer == nil {
		p.idle.timer = time.AfterFunc(d, p.reap)
	} else {
		p.idle.timer.Reset(d)
	}
}

// stop stops reap for good. Called by Close with spawnMu held.
func (is *idleState) stop() {
	if is.timer != nil {
		is.timer.Stop()
	}
}

// reap retires the workers that have been idle since its previous run, then
// runs again in d while the pool is open and has workers.
func (p *Pool[J, R]) reap() {
	is := &p.idle
	// Read the workers first and the jobs running last, so that the count
	// of idle workers errs low.
	workers := p.workers.Load()
	completed := p.stats.sum(func(s *shard) *atomic.Uint64 { return &s.completed })
	started := p.stats.sum(func(s *shard) *atomic.Uint64 { return &s.started })
	idle := max(workers-int64(started-completed), 0)
	n := min(is.prevIdle-int64(started-is.prevStarted), idle)
	is.prevIdle, is.prevStarted = idle, started
	if n > 0 {
		p.dismiss(n)
	}
	p.spawnMu.Lock()
	defer p.spawnMu.Unlock()
	if p.stopped || p.workers.Load() == 0 {
		is.on = false // the next worker to start schedules it again
		return
	}
	is.timer.Reset(p.cfg.idleTimeout)
}

// dismiss sends up to n idle workers an envelope that retires them. It gives
// up when the acceptance lock is busy (a busy pool has no idle workers to
// spare) or no worker is free to take one at once.
func (p *Pool[J, R]) dismiss(n int64) {
	if !p.mu.TryLock() {
		return
	}
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	for ; n > 0; n-- {
		select {
		case p.jobs <- envelope[J, R]{}:
		default:
			return
		}
	}
}

// idleRetire retires the worker that took a retiring envelope, and reports
// whether it did: after Close the worker goes on, to drain the jobs left.
//
// The worker was counted in free, which the retirement leaves too high: a
// job accepted now could count on a worker that is gone and wait with no
// worker to take it. So, as Resize does when it raises the limit, it resets
// free and only then looks for jobs that may be waiting, starting a worker
// for each: those in the buffer, and a Submit that may be blocked in its send
// (it holds the slow token before it takes mu; on an unbuffered channel its
// job is in no buffer). A Submit that comes later sees free at zero or below
// and starts its own. No job is left without a worker to come.
func (p *Pool[J, R]) idleRetire() bool {
	select {
	case <-p.closing:
		return false
	default:
	}
	p.workers.Add(-1)
	p.free.Store(0)
	if n := len(p.jobs) + len(p.slow); n > 0 {
		// chain 1: this worker has not called wg.Done yet, so a start
		// racing Close is safe (see spawn).
		p.spawn(n, 1)
	}
	if p.resizing.parked.Load() > 0 {
		p.slotFreed() // one worker fewer may end a Resize's surplus
	}
	return true
}
