package workerpool

import (
	"sync"
	"sync/atomic"
)

// orderer delivers Results in ascending ID order for WithOrderedResults.
//
// Workers hand their Results to deliver. The worker whose Result is next in
// line sends it, then every parked Result that follows it; the others park
// theirs in a ring and go back to work. The lock is held only to park or to
// take the next Result, never while sending to a reader that may be slow, so
// a worker waits on it only briefly.
//
// A worker whose Result is a window or more ahead of the next one waits, so
// the ring holds less than a window and memory stays bounded however slow
// the oldest job is. The window is twice the worker limit plus the capacity
// of the Results channel: as many Results as the caller lets wait for a
// reader may also wait for a slow job. That slack keeps workers busy through
// the jitter of scheduling; with 2×workers alone, a job cost twice as much
// at 2 workers. Waiting cannot deadlock: IDs are dequeued in order, so the
// job holding back the line has been dequeued and is running on a worker
// that is not waiting.
type orderer[J, R any] struct {
	out   chan<- Result[J, R]
	limit *atomic.Int64
	room  uint64 // cap(out), part of the window

	mu    sync.Mutex
	ahead sync.Cond // signalled when next advances
	// next is the ID of the next Result to send. While its Result is being
	// sent, next is not yet advanced, so no other worker takes it for its
	// own: only one worker sends at a time.
	next uint64
	ring []slot[J, R]
}

type slot[J, R any] struct {
	r   Result[J, R]
	set bool
}

func newOrderer[J, R any](out chan<- Result[J, R], limit *atomic.Int64) *orderer[J, R] {
	o := &orderer[J, R]{out: out, limit: limit, room: uint64(cap(out)), next: 1}
	o.ahead.L = &o.mu
	return o
}

func (o *orderer[J, R]) window() uint64 {
	return 2*uint64(o.limit.Load()) + o.room
}

// deliver sends r, and every parked Result that follows it, in ID order, or
// parks r for the worker that will. It blocks while r is a window or more
// ahead, and, for the worker that sends, while the reader is slow.
func (o *orderer[J, R]) deliver(r Result[J, R]) {
	o.mu.Lock()
	id := r.Job.ID
	for id-o.next >= o.window() {
		o.ahead.Wait()
	}
	if id != o.next {
		o.park(r)
		o.mu.Unlock()
		return
	}
	o.mu.Unlock()
	for {
		o.out <- r
		o.mu.Lock()
		o.next++
		o.ahead.Broadcast() // cheap when nobody waits
		s := o.slotFor(o.next)
		if s == nil || !s.set {
			o.mu.Unlock()
			return
		}
		r = s.r
		*s = slot[J, R]{}
		o.mu.Unlock()
	}
}

// slotFor returns the ring slot of id, or nil when the ring is empty.
func (o *orderer[J, R]) slotFor(id uint64) *slot[J, R] {
	if len(o.ring) == 0 {
		return nil
	}
	return &o.ring[id&uint64(len(o.ring)-1)]
}

// park stores r until its turn, growing the ring (a power of two) so that
// every ID in [next, r.Job.ID] has a slot of its own.
func (o *orderer[J, R]) park(r Result[J, R]) {
	need := r.Job.ID - o.next + 1
	if uint64(len(o.ring)) < need {
		n := max(len(o.ring), 8)
		for uint64(n) < need {
			n *= 2
		}
		ring := make([]slot[J, R], n)
		for _, s := range o.ring {
			if s.set {
				ring[s.r.Job.ID&uint64(n-1)] = s
			}
		}
		o.ring = ring
	}
	*o.slotFor(r.Job.ID) = slot[J, R]{r: r, set: true}
}

// wake lets workers waiting on the window check it again, after the limit
// (and so the window) has changed.
func (o *orderer[J, R]) wake() {
	o.mu.Lock()
	o.ahead.Broadcast()
	o.mu.Unlock()
}
