package workerpool

import (
	"sync/atomic"
	"time"
)

// idleState retires workers that have been idle for the idle timeout d
// (WithIdleTimeout), at no cost per job but one atomic load.
//
// While the pool has workers, a timer runs reap every d, and each run
// advances epoch. A worker notes the epoch each time it goes for a job
// (next). reap asks idle workers to leave one at a time, with an envelope
// that carries no job (ID 0) and a cutoff: the worker that takes it leaves if
// it has been waiting since an epoch before the cutoff, so for at least d,
// and otherwise stays and says so, which ends this run of reap. A channel
// hands a value to its longest-waiting receiver, so the envelopes reach the
// workers that have waited longest first. A worker thus retires between d
// and 2d after it went idle.
//
// Such an envelope is counted exactly as a job is (engine.claim), and is sent
// only under the acceptance lock while a free worker is spare (idle > 0): it
// never takes a worker a job counts on, it is taken at once by a free worker
// (so it never stays in the buffer while no worker waits), and TrySubmit,
// which counts on the free workers too, is never refused because of it. It
// takes no ID and is not in Stats. A worker running a job, or blocked
// delivering its Result, is not free and is never asked.
//
// The envelopes go through the jobs channel, rather than a channel of their
// own, because a worker that waits on two channels pays a select for every
// job it waits for: +47% a call in BenchmarkDo with one caller (docs/design.md).
type idleState struct {
	d     time.Duration // 0: workers stay until Close
	epoch atomic.Uint64 // runs of reap so far
	acks  chan bool     // the answer of a worker asked to leave: whether it left

	// Guarded by the engine's mu, under which workers start.
	timer   *time.Timer
	on      bool // reap is scheduled or running
	stopped bool // Close was called
}

// watchIdle makes sure reap runs while there are workers. Called with the
// engine's mu held, when a worker starts; set only for an idle timeout above
// zero.
func (p *Pool[J, R]) watchIdle() {
	is := &p.idle
	if is.on || is.stopped {
		return
	}
	is.on = true
	if is.timer == nil {
		is.timer = time.AfterFunc(is.d, p.reap)
	} else {
		is.timer.Reset(is.d)
	}
}

// stopIdle stops reap for good. Called by Close.
func (p *Pool[J, R]) stopIdle() {
	p.eng.mu.Lock()
	defer p.eng.mu.Unlock()
	p.idle.stopped = true
	if p.idle.timer != nil {
		p.idle.timer.Stop()
	}
}

// reap retires the workers that have been idle since before its previous
// run, then runs again in d while the pool is open and has workers.
func (p *Pool[J, R]) reap() {
	is := &p.idle
	cutoff := is.epoch.Add(1) - 1
	for cutoff > 0 && p.askToLeave(cutoff) && <-is.acks {
	}
	p.eng.mu.Lock()
	defer p.eng.mu.Unlock()
	if is.stopped || p.eng.live.Load() == 0 {
		is.on = false // the next worker to start schedules it again
		return
	}
	is.timer.Reset(is.d)
}

// askToLeave sends a free worker an envelope that asks it to leave: if it
// has been idle since an epoch before cutoff, or, with cutoff 0, to end a
// surplus. It reports whether it sent one: not when the acceptance lock is
// busy (a busy pool has no idle worker to spare), no free worker is spare,
// or the buffer is full. A worker asked with a cutoff answers on acks.
func (p *Pool[J, R]) askToLeave(cutoff uint64) bool {
	if !p.mu.TryLock() {
		return false
	}
	defer p.mu.Unlock()
	if p.closed || p.eng.idle() <= 0 {
		return false
	}
	p.eng.claim()
	select {
	case p.jobs <- envelope[J, R]{to: cutoff}:
		return true
	default:
		p.eng.unclaim()
		return false
	}
}

// leave is a worker's answer to an envelope that asks it to leave (ID 0,
// cutoff in to), given the epoch since which it has waited. It reports
// whether the worker leaves; the envelope's claim is given back either way.
func (p *Pool[J, R]) leave(e *envelope[J, R], since uint64, sh *shard) bool {
	cutoff := e.to
	left := p.eng.leaveAsked(cutoff > 0 && since < cutoff, sh)
	if cutoff > 0 {
		p.idle.acks <- left
	}
	return left
}
