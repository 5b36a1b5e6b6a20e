package kafka

import (
	"github.com/twmb/franz-go/pkg/kgo"
)

// record is one fetched record on its way through Consume.
type record[J any] struct {
	r        *kgo.Record
	p        *partition[J] // the assignment it was fetched under
	value    J
	poison   error // the decode error; the record never runs
	attempts int   // attempts made so far
	done     bool
	key      string // its ordering key within its partition
}

// partition is the state of one assigned partition during one assignment:
// a partition revoked and assigned again gets a new one, so a result that
// arrives for the old one is recognised and dropped.
//
// Guarded by the tracker's mutex.
type partition[J any] struct {
	topic string
	id    int32
	// revoking is set once the partition is taken out of the assignment:
	// nothing more of it starts, and only its running records finish. gone
	// is set once it is handed over: their results are dropped.
	revoking bool
	gone     bool

	// pending holds the records handed out and not yet known done, in
	// offset order from head: the commit point is the offset of the first
	// one not done, or next when none is pending.
	pending []*record[J]
	head    int
	next    int64 // the offset after the last record fetched; -1: none yet
	epoch   int32 // the leader epoch of the last record fetched

	committed int64 // the last offset committed in this assignment; -1: none

	// waiting holds, per ordering key, the records that wait for the one of
	// that key that runs; a key is in the map while one of its records runs
	// or waits out a backoff.
	waiting map[string][]*record[J]

	undone  int           // records handed out and not done
	running int           // records in an attempt now
	drained chan struct{} // closed when running falls to 0 during a revoke
	paused  bool
}

func newPartition[J any](topic string, id int32) *partition[J] {
	return &partition[J]{topic: topic, id: id, next: -1, committed: -1, waiting: map[string][]*record[J]{}}
}

// held is the number of records from the commit point to the last one
// fetched, done or not: what a crash now would run again. The partition's
// window bounds it (see consumer.handOut).
func (p *partition[J]) held() int { return len(p.pending) - p.head }

// commitPoint returns the offset to commit, that of the first record handed
// out and not done, and its leader epoch; ok is false when nothing was
// fetched yet.
func (p *partition[J]) commitPoint() (offset int64, epoch int32, ok bool) {
	if p.head < len(p.pending) {
		r := p.pending[p.head].r
		return r.Offset, r.LeaderEpoch, true
	}
	return p.next, p.epoch, p.next >= 0
}

// add appends a fetched record and reports whether it may start now: its key
// has no record running or waiting.
func (p *partition[J]) add(x *record[J], ordering Ordering) (start bool) {
	p.pending = append(p.pending, x)
	p.undone++
	p.next, p.epoch = x.r.Offset+1, x.r.LeaderEpoch
	if ordering == OrderNone {
		return true
	}
	if q, busy := p.waiting[x.key]; busy {
		p.waiting[x.key] = append(q, x)
		return false
	}
	p.waiting[x.key] = nil
	return true
}

// finish marks x done, drops the done records at the front of pending, and
// returns the record of x's key to start next, if any.
func (p *partition[J]) finish(x *record[J], ordering Ordering) (next *record[J]) {
	x.done = true
	p.undone--
	for p.head < len(p.pending) && p.pending[p.head].done {
		p.pending[p.head] = nil
		p.head++
	}
	if p.head == len(p.pending) || p.head > 1024 && p.head*2 > len(p.pending) {
		p.pending = append(p.pending[:0], p.pending[p.head:]...)
		p.head = 0
	}
	if ordering == OrderNone {
		return nil
	}
	q := p.waiting[x.key]
	if len(q) == 0 {
		delete(p.waiting, x.key)
		return nil
	}
	p.waiting[x.key] = q[1:]
	return q[0]
}

// orderingKey returns the key that orders r among the records of its
// partition.
func orderingKey(r *kgo.Record, o Ordering) string {
	if o == OrderKey && r.Key != nil {
		return "k" + string(r.Key)
	}
	return "" // the partition's own key: OrderPartition, or a nil key
}
