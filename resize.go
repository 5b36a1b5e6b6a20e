package workerpool

import (
	"sync"
	"sync/atomic"
)

// resizeState lets workers wait for a running slot after Resize has lowered
// the limit below the number of workers. Until the surplus workers have
// retired, a worker about to start a job counts the jobs running and waits
// while the new limit is reached. The pool pays for this only in that
// window: otherwise the check is two atomic loads.
type resizeState struct {
	mu     sync.Mutex
	cond   sync.Cond // signalled when a slot may have come free
	parked atomic.Int64
}

// Resize sets the worker limit to n, at once and for all later jobs.
//
// Growing starts at once as many new workers as there are jobs waiting (up
// to n), which also wakes submitters blocked on a full buffer; more start as
// jobs arrive. Shrinking never interrupts a running job: surplus workers exit
// when idle (once the next job reaches them) or when their current job ends,
// and from the moment Resize returns no new job starts while n or more are
// running. [Pool.Stats] reports n as Workers.
//
// Resize is safe for concurrent use. After Close it has no effect. Panics if
// n < 1.
func (p *Pool[J, R]) Resize(n int) {
	if n < 1 {
		invalid("Resize", n, "n must be at least 1")
	}
	select {
	case <-p.closing:
		return
	default:
	}
	old := p.limit.Swap(int64(n))
	if int64(n) > old {
		// free went stale at the old limit. Reset it before reading the
		// buffer, so that a job accepted on a stale count is in len(p.jobs)
		// and gets a worker here.
		p.free.Store(0)
		p.spawn(len(p.jobs)+1, 0)
	}
	if p.order != nil {
		p.order.wake() // the window follows the limit
	}
	p.slotFreed() // parked workers re-check against the new limit
}

// surplus reports whether there are more workers than the limit.
func (p *Pool[J, R]) surplus() bool {
	return p.workers.Load() > p.limit.Load()
}

// running counts the jobs that have started and are not parked in awaitSlot.
// Called with resizing.mu held.
func (p *Pool[J, R]) running() int64 {
	completed := p.stats.sum(func(s *shard) *atomic.Uint64 { return &s.completed })
	started := p.stats.sum(func(s *shard) *atomic.Uint64 { return &s.started })
	return int64(started-completed) - p.resizing.parked.Load()
}

// awaitSlot holds a worker that has counted its job as started until the
// others running are fewer than the limit, or the surplus is gone.
func (p *Pool[J, R]) awaitSlot() {
	rs := &p.resizing
	rs.mu.Lock()
	defer rs.mu.Unlock()
	// running() includes this worker's job, hence the -1.
	for p.surplus() && p.running()-1 >= p.limit.Load() {
		rs.parked.Add(1)
		rs.cond.Wait()
		rs.parked.Add(-1)
	}
}

// slotFreed wakes the workers parked in awaitSlot to check again.
func (p *Pool[J, R]) slotFreed() {
	rs := &p.resizing
	rs.mu.Lock()
	rs.cond.Broadcast()
	rs.mu.Unlock()
}

// retire lets a surplus worker exit. It reports false if the surplus was
// taken by another worker first.
func (p *Pool[J, R]) retire() bool {
	for {
		w := p.workers.Load()
		if w <= p.limit.Load() {
			return false
		}
		if p.workers.CompareAndSwap(w, w-1) {
			p.slotFreed()
			return true
		}
	}
}
