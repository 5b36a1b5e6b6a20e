package workerpool

import (
	"math"
	"sync"
	"sync/atomic"
)

// orderer delivers Results in ascending ID order for WithOrderedResults.
//
// It orders them by place, not by ID: jobs of Do, TryDo and Pool.Map take
// IDs too, but their Results go to their callers, so the IDs of the Results
// on the channel have gaps. A Result's place (seq) is its ID less the number
// of such jobs accepted before it, which the orderer learns from marks (see
// mark); a job of a caller thus never holds back the Results after it, and
// the ring and the window below count Results, not IDs.
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
	// marks maps IDs to places: from marks[i].id on, up to the next mark,
	// marks[i].skips IDs before each were not Results. Sorted by id;
	// marks[0] applies to the Results not yet sent, later ones are dropped
	// as the Results they apply to are sent.
	marks []mark
	// next is the place of the next Result to send. While its Result is being
	// sent, next is not yet advanced, so no other worker takes it for its
	// own: only one worker sends at a time.
	next uint64
	ring []slot[J, R]
}

type slot[J, R any] struct {
	r   Result[J, R]
	seq uint64
	set bool
}

func newOrderer[J, R any](out chan<- Result[J, R], limit *atomic.Int64) *orderer[J, R] {
	o := &orderer[J, R]{out: out, limit: limit, room: uint64(cap(out)), next: 1}
	o.ahead.L = &o.mu
	return o
}

type mark struct{ id, skips uint64 }

// window is 2×limit + room, saturating instead of wrapping around for a
// limit near math.MaxInt (a window that wrapped to 0 would hold every Result
// back for ever).
func (o *orderer[J, R]) window() uint64 {
	limit := uint64(o.limit.Load())
	if limit > (math.MaxUint64-o.room)/2 {
		return math.MaxUint64
	}
	return 2*limit + o.room
}

// mark records that from job id on, skips accepted jobs are not Results.
// The pool calls it under its acceptance lock for a Result's job that is the
// first since the count changed, before the job can be taken, so a worker
// always finds the mark of its job. Marks are pushed only after jobs of
// callers, and there are never more than the Results not yet sent plus one,
// so an ordered pool that gets no Do pays nothing for them.
func (o *orderer[J, R]) mark(id, skips uint64) {
	o.mu.Lock()
	o.marks = append(o.marks, mark{id, skips})
	o.mu.Unlock()
}

// unmark drops the last mark, whose job was not accepted after all (its
// TrySubmit found the pool full, or its Submit gave up). The pool calls it
// under its acceptance lock, so no job of that mark was sent.
func (o *orderer[J, R]) unmark() {
	o.mu.Lock()
	o.marks = o.marks[:len(o.marks)-1]
	o.mu.Unlock()
}

// seq returns the place of the Result of job id. Called with mu held.
func (o *orderer[J, R]) seq(id uint64) uint64 {
	i := len(o.marks) - 1
	for i >= 0 && o.marks[i].id > id {
		i-- // few marks: the Results in flight, and mostly the last one
	}
	if i < 0 {
		return id
	}
	return id - o.marks[i].skips
}

// sent drops the marks that only applied to Results up to job id, which has
// just been sent. Called with mu held.
func (o *orderer[J, R]) sent(id uint64) {
	n := 0
	for n+1 < len(o.marks) && o.marks[n+1].id <= id {
		n++
	}
	if n > 0 {
		o.marks = append(o.marks[:0], o.marks[n:]...)
	}
}

// deliver sends r, and every parked Result that follows it, in order, or
// parks r for the worker that will. It blocks while r is a window or more
// ahead, and, for the worker that sends, while the reader is slow.
func (o *orderer[J, R]) deliver(r Result[J, R]) {
	o.mu.Lock()
	seq := o.seq(r.Job.ID)
	for seq-o.next >= o.window() {
		o.ahead.Wait()
	}
	if seq != o.next {
		o.park(seq, r)
		o.mu.Unlock()
		return
	}
	o.mu.Unlock()
	for {
		o.out <- r
		o.mu.Lock()
		o.next++
		if len(o.marks) > 1 {
			o.sent(r.Job.ID)
		}
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

// slotFor returns the ring slot of seq, or nil when the ring is empty.
func (o *orderer[J, R]) slotFor(seq uint64) *slot[J, R] {
	if len(o.ring) == 0 {
		return nil
	}
	return &o.ring[seq&uint64(len(o.ring)-1)]
}

// park stores r, whose place is seq, until its turn, growing the ring (a
// power of two) so that every place in [next, seq] has a slot of its own.
func (o *orderer[J, R]) park(seq uint64, r Result[J, R]) {
	need := seq - o.next + 1
	if uint64(len(o.ring)) < need {
		n := max(len(o.ring), 8)
		for uint64(n) < need {
			n *= 2
		}
		ring := make([]slot[J, R], n)
		for _, s := range o.ring {
			if s.set {
				ring[s.seq&uint64(n-1)] = s
			}
		}
		o.ring = ring
	}
	*o.slotFor(seq) = slot[J, R]{r: r, seq: seq, set: true}
}

// wake lets workers waiting on the window check it again, after the limit
// (and so the window) has changed.
func (o *orderer[J, R]) wake() {
	o.mu.Lock()
	o.ahead.Broadcast()
	o.mu.Unlock()
}
