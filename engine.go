package workerpool

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// engine owns the worker count of a pool: how many worker goroutines are
// alive, how many of them are free, the limit, and every transition of those
// numbers. Each transition is a method below; nothing else writes these
// fields. The rule they keep:
//
//	idle = (workers alive and holding no job) - (jobs accepted and not yet taken)
//
// A submitter lowers idle for each job it accepts (claim), a worker
// raises it when it is back from a job (back) or has just been started
// (grow, replace), and a free worker that leaves lowers it (leaveIdle,
// exitDrained). So:
//   - idle >= 0: every accepted job has a free worker on its way to take it.
//     A send that has to wait for such a worker waits only for the scheduler
//     (see roomComing), never for a job to finish.
//   - idle < 0: -idle jobs wait for a worker that is busy. Below the limit a
//     worker is started for them, one at a time (see claim and started).
//
// A free worker may leave (idle retirement, a shrinking Resize) only by
// taking one from idle while idle > 0: it never leaves a job it was counted
// on. A busy worker leaves a surplus (more workers than the limit) when its
// job ends, before it counts itself free (leaveBusy). Every path that lowers
// the worker count wakes the workers parked in awaitSlot (wake).
//
// The engine knows nothing of jobs, channels or Results: the pool calls it.
type engine struct {
	// idle is written by the submitter of every job and the worker of
	// every job: a cache line of its own.
	idle atomic.Int64
	// waiter is set while a Submit waits for a worker to come back; back
	// then signals room. Read by every worker after every job, written
	// rarely: it shares idle's line, which that worker has just written.
	waiter atomic.Bool
	_      [64 - 8 - 4]byte

	limit    atomic.Int64 // the worker limit N
	live     atomic.Int64 // worker goroutines alive
	starting atomic.Int64 // workers started that have not run yet
	parked   atomic.Int64 // workers holding a job in awaitSlot
	// room gets a token when a worker comes back while a Submit waits for
	// one (see waiter), or the limit rises.
	room chan struct{}

	mu      sync.Mutex
	slot    sync.Cond // awaitSlot: signalled when running jobs or the surplus fall
	stopped bool      // Close was called: only a live worker may start another
	// start starts a worker goroutine at place chain in a chain of starts;
	// the pool sets it. Called with mu held, after the counts are raised.
	start func(chain int)
	// onStart is called with mu held when a worker starts (idle retirement
	// uses it to wake up); may be nil.
	onStart func()
	// running reports the jobs taken and not finished (see counters); the
	// pool sets it. Read only by awaitSlot.
	running func() int64
}

func (e *engine) init(limit int, start func(chain int), running func() int64) {
	e.limit.Store(int64(limit))
	e.room = make(chan struct{}, 1)
	e.slot.L = &e.mu
	e.start = start
	e.running = running
}

// surplus reports whether more workers are alive than the limit allows.
func (e *engine) surplus() bool {
	return e.live.Load() > e.limit.Load()
}

// claim counts on a free worker for a job about to be sent, and returns idle
// after it: below zero, the job is not covered by a free worker.
func (e *engine) claim() int64 {
	return e.idle.Add(-1)
}

// cover makes sure a worker will come for a job that claim did not cover,
// once it is in the jobs buffer: below the limit, it starts one unless one is
// starting already. Workers start one at a time, and each new worker starts
// the next while jobs are still left without one (started). So a burst of
// short jobs is taken by the first workers back instead of starting
// thousands, and a CPU-bound load does not start every worker the limit
// allows. The submitter lowers idle (claim) before it reads starting, and a
// new worker lowers starting before it reads idle, so one of the two always
// sees the other: no job is left without a worker to come.
func (e *engine) cover() {
	if e.starting.Load() == 0 {
		e.grow(0)
	}
}

// roomComing reports whether a send that found the jobs buffer (of capacity
// buffer) full will go through without any job finishing, given idle after
// its claim (n). The jobs waiting, this one included, less the free workers
// on their way to take them, are -n; once those workers have taken theirs,
// the send fits if -n <= buffer. Otherwise it starts a worker below the
// limit. When roomComing reports false the pool is full: N workers are busy
// (running a job or delivering its Result) and the buffer is full. When it
// reports true the send may block: it waits only for the scheduler.
func (e *engine) roomComing(n int64, buffer int) bool {
	return n >= -int64(buffer) || e.grow(0)
}

// unclaim takes back a claim whose job was not sent.
func (e *engine) unclaim() {
	e.idle.Add(1)
}

// back counts a worker that is done with its job as free again, and lets a
// Submit waiting for a free worker try again.
func (e *engine) back() {
	e.idle.Add(1)
	if e.waiter.Load() {
		e.signalRoom()
	}
}

func (e *engine) signalRoom() {
	select {
	case e.room <- struct{}{}:
	default: // a token is already there
	}
}

// grow starts a worker if the limit allows and the pool is open, counting it
// as free first, so that the new worker does not see the job it was started
// for as uncovered and start another. chain > 0 is a start by a live worker,
// which may start one after Close: the pool's WaitGroup cannot reach zero
// while that worker runs.
func (e *engine) grow(chain int) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if (e.stopped && chain == 0) || e.live.Load() >= e.limit.Load() {
		return false
	}
	e.live.Add(1)
	e.idle.Add(1)
	e.starting.Add(1)
	e.start(chain)
	if e.onStart != nil {
		e.onStart()
	}
	return true
}

// started is called by a new worker when it first runs: while jobs are left
// without a worker, it starts the next (see claim).
func (e *engine) started(chain int) {
	e.starting.Add(-1)
	if chain%chainYield == chainYield-1 {
		runtime.Gosched()
	}
	if e.idle.Load() < 0 {
		e.grow(chain + 1)
	}
}

// replace starts a worker in place of one that runtime.Goexit is ending,
// after its job's Result was delivered: the count of workers stays, and the
// new one is free. A surplus worker is not replaced: it leaves instead. It
// reports whether the ending worker was replaced.
func (e *engine) replace() bool {
	if e.leaveBusy() {
		return false
	}
	e.mu.Lock()
	e.idle.Add(1)
	e.starting.Add(1)
	e.start(0) // the ending worker is still in the WaitGroup: safe after Close
	e.mu.Unlock()
	if e.waiter.Load() {
		e.signalRoom()
	}
	return true
}

// leaveBusy lets a worker whose job has just ended (it is not counted free)
// leave when there is a surplus, and reports whether it left.
func (e *engine) leaveBusy() bool {
	for {
		n := e.live.Load()
		if n <= e.limit.Load() {
			return false
		}
		if e.live.CompareAndSwap(n, n-1) {
			e.wake()
			return true
		}
	}
}

// leaveIdle lets a free worker leave, and reports whether it left. It leaves
// only if no accepted job counts on it (idle > 0), and, unless it has been
// idle for the idle timeout (expired), only to end a surplus.
func (e *engine) leaveIdle(expired bool) bool {
	for {
		n := e.idle.Load()
		if n <= 0 {
			return false
		}
		if e.idle.CompareAndSwap(n, n-1) {
			break
		}
	}
	if expired {
		e.live.Add(-1)
		e.wake()
		return true
	}
	if e.leaveBusy() {
		return true
	}
	e.idle.Add(1) // no surplus after all: stay, free
	return false
}

// exitDrained counts out a free worker that exits because the pool is closed
// and its jobs channel drained.
func (e *engine) exitDrained() {
	e.idle.Add(-1)
	e.live.Add(-1)
	e.wake()
}

// resize sets the limit to n and returns the old one. Growing starts a
// worker for each job waiting for one (up to the new limit) and lets a
// Submit waiting for room try again; it starts none when no job waits.
func (e *engine) resize(n int) (old int64) {
	old = e.limit.Swap(int64(n))
	if int64(n) > old {
		for e.idle.Load() < 0 && e.grow(0) {
		}
		e.signalRoom()
	}
	e.wake() // parked workers check against the new limit
	return old
}

// stop stops workers from being started except by live workers. Called by
// Close.
func (e *engine) stop() {
	e.mu.Lock()
	e.stopped = true
	e.mu.Unlock()
}

// awaitSlot holds a worker that has taken a job while there is a surplus
// until fewer jobs than the limit run besides its own, or the surplus is
// gone: from the moment a shrinking Resize returns, no job starts while the
// new limit or more run. The pool pays for this only while a surplus lasts;
// otherwise the check (surplus) is two atomic loads.
func (e *engine) awaitSlot() {
	e.mu.Lock()
	defer e.mu.Unlock()
	// Counted as parked before the check, so that wake, which reads parked
	// after its change, either sees it or the check sees the change.
	// running() counts the jobs of parked workers, this one's included.
	e.parked.Add(1)
	for e.surplus() && e.running()-e.parked.Load() >= e.limit.Load() {
		e.slot.Wait()
	}
	e.parked.Add(-1)
}

// wake lets the workers parked in awaitSlot check again, after a job ended
// during a surplus, a worker left or the limit changed.
func (e *engine) wake() {
	if e.parked.Load() == 0 {
		return
	}
	e.mu.Lock()
	e.slot.Broadcast()
	e.mu.Unlock()
}
