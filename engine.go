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
//	idle = (workers alive and holding no job) - (jobs sent and not yet taken)
//	     = live + released - claimed
//
// where claimed counts the jobs sent on the jobs channel (and a Submit's job
// while it waits in its send), and released counts the jobs whose worker is
// done with them: back after delivering the Result, or gone (leaveBusy,
// replace). A new worker raises idle through live (grow), a free worker that
// leaves lowers it (leaveIdle, exitDrained). idle is derived rather than kept
// in one counter so that neither side writes a cache line the other writes
// on every job: claimed is written only under the pool's acceptance lock,
// released on the worker's own shard. So:
//   - idle >= 0: every job sent has a free worker on its way to take it. A
//     send that has to wait for such a worker waits only for the scheduler
//     (see roomComing), never for a job to finish.
//   - idle < 0: -idle jobs wait for a worker that is busy. Below the limit a
//     worker is started for them, one at a time (see cover and started).
//
// A free worker may leave (idle retirement, a shrinking Resize) only when
// asked with an envelope that was claimed, as a job is, while idle > 0
// (leaveAsked): it never leaves a job that counts on it. A busy worker leaves a surplus (more workers than the limit)
// when its job ends, instead of coming back (leaveBusy). Every path that
// lowers the worker count wakes the workers parked in awaitSlot (wake).
//
// The engine knows nothing of jobs, channels or Results: the pool calls it.
type engine struct {
	limit    atomic.Int64 // the worker limit N
	live     atomic.Int64 // worker goroutines alive
	starting atomic.Int64 // workers started that have not run yet
	parked   atomic.Int64 // workers holding a job in awaitSlot
	// claimed is written only under the pool's acceptance lock, on every
	// job: the padding keeps it off the line of limit and live, which every
	// worker reads on every job (surplus, takeSurplus).
	_       [64]byte
	claimed atomic.Int64
	_       [64]byte
	counts  *counters // released, taken and finished, per shard

	mu      sync.Mutex
	slot    sync.Cond // awaitSlot: signalled when running jobs or the surplus fall
	stopped bool      // Close was called: only a live worker may start another
	// start starts a worker goroutine at place chain in a chain of starts;
	// the pool sets it. Called with mu held, after live is raised.
	start func(chain int)
	// onStart is called with mu held when a worker starts (idle retirement
	// uses it to wake up); may be nil.
	onStart func()
}

func (e *engine) init(limit int, counts *counters, start func(chain int)) {
	e.limit.Store(int64(limit))
	e.slot.L = &e.mu
	e.counts = counts
	e.start = start
}

// idle returns live + released - claimed (see engine). released is read
// first and live after it, and the transitions lower live before they raise
// released, so a reader without the acceptance lock errs low, never high:
// it may start a worker too many, never count on one that is not there.
func (e *engine) idle() int64 {
	released := e.counts.sum(func(s *shard) *atomic.Uint64 { return &s.released })
	return int64(released) + e.live.Load() - e.claimed.Load()
}

// surplus reports whether more workers are alive than the limit allows.
func (e *engine) surplus() bool {
	return e.live.Load() > e.limit.Load()
}

// below reports whether fewer workers are alive than the limit allows: a
// look without the lock before grow takes it, which at the limit is most
// calls.
func (e *engine) below() bool {
	return e.live.Load() < e.limit.Load()
}

// claim counts a job about to be sent (under the acceptance lock).
func (e *engine) claim() {
	e.claimed.Store(e.claimed.Load() + 1)
}

// unclaim takes back a claim whose job was not sent (under the acceptance
// lock).
func (e *engine) unclaim() {
	e.claimed.Store(e.claimed.Load() - 1)
}

// cover makes sure a worker will come for a job just sent that no free
// worker covers: below the limit, it starts one unless one is starting
// already. Workers start one at a time, and each new worker starts the next
// while jobs are still left without one (started). So a burst of short jobs
// is taken by the first workers back instead of starting thousands, and a
// CPU-bound load does not start every worker the limit allows. The submitter
// raises claimed before it reads starting, and a new worker lowers starting
// before it reads claimed, so one of the two always sees the other: no job is
// left without a worker to come.
func (e *engine) cover() {
	if e.below() && e.starting.Load() == 0 && e.idle() < 0 {
		e.grow(0)
	}
}

// roomComing reports whether a send that found the jobs buffer (of capacity
// buffer) full will go through without any job finishing, its job claimed.
// The jobs waiting, this one included, less the free workers on their way to
// take them, are -idle; once those workers have taken theirs, the send fits
// if -idle <= buffer. Otherwise it starts a worker below the limit. When
// roomComing reports false the pool is full: N workers are busy (running a
// job or delivering its Result) and the buffer is full. When it reports true
// the send may block: it waits only for the scheduler.
func (e *engine) roomComing(buffer int) bool {
	return e.idle() >= -int64(buffer) || (e.below() && e.grow(0))
}

// back counts a worker that is done with its job as free again. sh is the
// worker's shard.
func (e *engine) back(sh *shard) {
	sh.released.Add(1)
}

// grow starts a worker if the limit allows and the pool is open, counted as
// free from the start, so that the new worker does not see the job it was
// started for as uncovered and start another. chain > 0 is a start by a live
// worker, which may start one after Close: the pool's WaitGroup cannot reach
// zero while that worker runs.
func (e *engine) grow(chain int) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if (e.stopped && chain == 0) || e.live.Load() >= e.limit.Load() {
		return false
	}
	e.live.Add(1)
	e.starting.Add(1)
	e.start(chain)
	if e.onStart != nil {
		e.onStart()
	}
	return true
}

// started is called by a new worker when it first runs: while jobs are left
// without a worker, it starts the next (see cover).
func (e *engine) started(chain int) {
	e.starting.Add(-1)
	if chain%chainYield == chainYield-1 {
		runtime.Gosched()
	}
	if e.below() && e.idle() < 0 {
		e.grow(chain + 1)
	}
}

// replace starts a worker in place of one that runtime.Goexit is ending,
// after its job's Result was delivered: the count of workers stays, and the
// new one is free. A surplus worker is not replaced: it leaves instead. sh is
// the ending worker's shard.
func (e *engine) replace(sh *shard) {
	if e.leaveBusy(sh) {
		return
	}
	e.mu.Lock()
	e.starting.Add(1)
	e.start(0) // the ending worker is still in the WaitGroup: safe after Close
	e.mu.Unlock()
	sh.released.Add(1)
}

// leaveBusy lets a worker whose job has just ended (it has not come back)
// leave when there is a surplus, and reports whether it left.
func (e *engine) leaveBusy(sh *shard) bool {
	if !e.takeSurplus() {
		return false
	}
	sh.released.Add(1) // after live: see idle
	e.wake()
	return true
}

// leaveAsked is a free worker's answer to an envelope that asks it to leave
// (see idle.go): the envelope was claimed while a free worker was spare, so
// the worker that takes it may leave without leaving a job uncovered. It
// leaves if it has been idle for the timeout (expired), or, asked to end a
// surplus, if there still is one, and reports whether it left. Either way the
// envelope's claim is released: after live, when it leaves (see idle).
//
// A job sent after the envelope may have found no free worker and count on
// this one to come back: a worker that leaves for its idle timeout then
// starts another, as cover would have. (It lowers live before it reads
// claimed, and a submitter raises claimed before it reads live, so one of
// the two sees the other.) It starts it as a live worker, chain 1, since
// after Close jobs may still wait in the buffer. One that leaves a surplus
// leaves the limit's worth of workers, which come back for such a job.
func (e *engine) leaveAsked(expired bool, sh *shard) bool {
	left := expired
	if expired {
		e.live.Add(-1)
	} else {
		left = e.takeSurplus()
	}
	sh.released.Add(1)
	if expired && e.idle() < 0 {
		e.grow(1)
	}
	if left {
		e.wake()
	}
	return left
}

// takeSurplus lowers live by one if it is above the limit, and reports
// whether it did.
func (e *engine) takeSurplus() bool {
	for {
		n := e.live.Load()
		if n <= e.limit.Load() {
			return false
		}
		if e.live.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// exitDrained counts out a free worker that exits because the pool is closed
// and its jobs channel drained.
func (e *engine) exitDrained() {
	e.live.Add(-1)
	e.wake()
}

// resize sets the limit to n and returns the old one. Growing starts a
// worker for each job waiting for one (up to the new limit), a Submit waiting
// in its send on a full pool included (its job is claimed while it waits); it
// starts none when no job waits.
func (e *engine) resize(n int) (old int64) {
	old = e.limit.Swap(int64(n))
	if int64(n) > old {
		for e.below() && e.idle() < 0 && e.grow(0) {
		}
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
	// running counts the jobs of parked workers, this one's included.
	e.parked.Add(1)
	for e.surplus() && e.counts.running()-e.parked.Load() >= e.limit.Load() {
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
