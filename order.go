package workerpool

import (
	"sync"
	"sync/atomic"
)

// orderer delivers Results in ascending ID order for WithOrderedResults.
//
// Workers hand their Results to deliver. A Result that is next in line is
// sent at once, followed by any that were waiting for it; the others are
// parked in a ring. A worker whose Result is a window or more ahead of the
// next one waits, so the ring holds less than a window and memory stays
// bounded however slow the oldest job is. The window is twice the worker
// limit. Waiting cannot deadlock: IDs are dequeued in order, so the job
// holding back the line has been dequeued and is running on a worker that is
// not waiting.
type orderer[J, R any] struct {
	out   chan<- Result[J, R]
	limit *atomic.Int64

	mu    chanMutex
	ahead sync.Cond // signalled when next advances
	next  uint64    // ID of the next Result to send
	ring  []slot[J, R]
}

type slot[J, R any] struct {
	r   Result[J, R]
	set bool
}

func newOrderer[J, R any](out chan<- Result[J, R], limit *atomic.Int64) *orderer[J, R] {
	o := &orderer[J, R]{out: out, limit: limit, next: 1, mu: make(chanMutex, 1)}
	o.ahead.L = o.mu
	return o
}

func (o *orderer[J, R]) window() uint64 {
	return 2 * uint64(o.limit.Load())
}

// deliver sends r, and every parked Result that follows it, in ID order. It
// blocks while r is a window or more ahead, and while the reader is slow.
func (o *orderer[J, R]) deliver(r Result[J, R]) {
	o.mu.Lock()
	defer o.mu.Unlock()
	id := r.Job.ID
	for id-o.next >= o.window() {
		o.ahead.Wait()
	}
	if id != o.next {
		o.park(r)
		return
	}
	o.out <- r
	o.next++
	for {
		s := o.slotFor(o.next)
		if s == nil || !s.set {
			break
		}
		r := s.r
		*s = slot[J, R]{}
		o.out <- r
		o.next++
	}
	o.ahead.Broadcast() // cheap when nobody waits
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

// chanMutex is a mutex made of a channel with room for one token. The orderer
// holds its lock while it sends to a reader that may be slow, so workers can
// wait on it for long: waiting on a channel, unlike on a sync.Mutex, counts as
// durably blocked for testing/synctest, which lets tests of ordered mode wait
// for the pool to settle.
type chanMutex chan struct{}

func (m chanMutex) Lock()   { m <- struct{}{} }
func (m chanMutex) Unlock() { <-m }

// wake lets workers waiting on the window check it again, after the limit
// (and so the window) has changed.
func (o *orderer[J, R]) wake() {
	o.mu.Lock()
	o.ahead.Broadcast()
	o.mu.Unlock()
}
