package workerpool

import (
	"sync/atomic"
	"time"
)

// idleState retires workers that have been idle for the idle timeout d
// (WithIdleTimeout), at no cost per job.
//
// While the pool has workers, a timer runs reap every d, and each run
// advances epoch. A worker that finds no job at once notes the epoch and
// waits in a select on the jobs channel and on the pool's retire channel,
// which carries only pings, never jobs. reap pings the waiting workers one at
// a time; a channel hands a value to its longest-waiting receiver, so the
// pings reach the workers that have waited longest first. A worker that has
// waited since an epoch before the previous run has been idle for at least d
// and leaves, unless an accepted job counts on it (engine.leaveIdle); reap
// stops at the first worker that stays. So a worker retires between d and 2d
// after it went idle. A worker that is running a job, or blocked delivering
// its Result, is not waiting in that select and is never pinged. The workers
// never look at a clock; the only cost on the path of a job is the load of
// epoch by a worker that goes idle.
type idleState struct {
	d     time.Duration // 0: workers stay until Close
	epoch atomic.Uint64 // runs of reap so far
	acks  chan bool     // a pinged worker's answer: whether it left

	// Guarded by the engine's mu, under which workers start.
	timer   *time.Timer
	on      bool // reap is scheduled or running
	stopped bool // Close was called
}

// ping asks an idle worker to leave: because it has been idle since an epoch
// before cutoff (idle retirement, which waits for its answer on ack), or,
// with cutoff 0, to end a surplus (Resize).
type ping struct {
	cutoff uint64
	ack    chan<- bool
}

// expired reports whether a worker idle since epoch since has been idle for
// the timeout.
func (pg ping) expired(since uint64) bool {
	return pg.cutoff > 0 && since < pg.cutoff
}

// watchIdle makes sure reap runs while there are workers. Called with the
// engine's mu held, when a worker starts.
func (p *Pool[J, R]) watchIdle() {
	is := &p.idle
	if is.d <= 0 || is.on || is.stopped {
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
	for range p.eng.live.Load() {
		if !p.pingIdle(cutoff) {
			break // the longest idle worker stays, or none waits: so do the others
		}
	}
	p.eng.mu.Lock()
	defer p.eng.mu.Unlock()
	if is.stopped || p.eng.live.Load() == 0 {
		is.on = false // the next worker to start schedules it again
		return
	}
	is.timer.Reset(is.d)
}

// pingIdle pings the longest idle worker with cutoff and reports whether it
// left; false also when no worker is waiting.
func (p *Pool[J, R]) pingIdle(cutoff uint64) bool {
	select {
	case p.retire <- ping{cutoff: cutoff, ack: p.idle.acks}:
		return <-p.idle.acks
	default:
		return false
	}
}
