package workerpool

import (
	"runtime"
	"sync/atomic"
)

// Stats is a snapshot of a pool's counters, returned by [Pool.Stats].
//
// The counters are read one after another while the pool runs, so a snapshot
// is not taken at a single instant, but it is always consistent in these
// ways: Running and Queued are never negative, Running never exceeds Live,
// Failed and Panicked never exceed Completed, and Completed never exceeds
// Submitted. Once the Results
// channel is closed, Submitted == Completed.
type Stats struct {
	Workers   int    // the worker limit N; an adaptive pool's current limit (WithAdaptiveLimit)
	Live      int    // worker goroutines alive now, busy or idle
	Running   int    // jobs executing now
	Queued    int    // accepted jobs not yet started
	Submitted uint64 // accepted jobs
	Completed uint64 // jobs whose Result has been produced
	Failed    uint64 // of those, Results with a non-nil Err
	Panicked  uint64 // of those, jobs that panicked
}

// shard holds the counters of the workers assigned to it. Workers spread over
// several shards, each on its own cache line, so that workers on different
// cores do not bounce one line between them on every job.
//
// taken, finished and released are the engine's: the jobs running are the
// difference of the first two (see running), which a shrinking Resize waits
// on (engine.awaitSlot), and released counts the workers back from a job
// (engine.idle). Stats reads taken and finished too. failed and panicked are
// only Stats'. The rest are an adaptive limit's samples.
type shard struct {
	taken    atomic.Uint64 // jobs taken from the channel (or run inline)
	finished atomic.Uint64 // of those, jobs whose Result is produced
	released atomic.Uint64 // jobs whose worker is done with them (see engine)
	failed   atomic.Uint64
	panicked atomic.Uint64
	// The calls of the Func, their run time in ns, and how many of them
	// signalled overload: an adaptive limit's samples (see adaptive.record).
	calls      atomic.Uint64
	callNs     atomic.Uint64
	overloaded atomic.Uint64
	timedOut   atomic.Uint64
	_          [128 - 9*8]byte
}

// counters is the set of shards of one pool.
type counters struct {
	shards []shard
	next   atomic.Uint32 // round-robin shard assignment for new workers
}

func newCounters(workers int) counters {
	return counters{shards: make([]shard, shardCount(workers, runtime.GOMAXPROCS(0)))}
}

// shardCount is the number of shards for a pool: two per processor, as
// workers move between them, but no more than the workers nor than 64,
// rounded up to a power of two so that a shard is picked with a mask.
func shardCount(workers, procs int) int {
	want := min(2*procs, workers, 64)
	n := 1
	for n < want {
		n *= 2
	}
	return n
}

// assign returns the shard for a new worker.
func (c *counters) assign() *shard {
	i := c.next.Add(1)
	return &c.shards[int(i)&(len(c.shards)-1)]
}

// sum adds up one counter over all shards.
func (c *counters) sum(f func(*shard) *atomic.Uint64) uint64 {
	var n uint64
	for i := range c.shards {
		n += f(&c.shards[i]).Load()
	}
	return n
}

// running is the number of jobs taken and not finished. It reads finished
// first, so that it errs high: awaitSlot, which waits while it is too high,
// never lets a job start over the limit.
func (c *counters) running() int64 {
	finished := c.sum(func(s *shard) *atomic.Uint64 { return &s.finished })
	taken := c.sum(func(s *shard) *atomic.Uint64 { return &s.taken })
	return int64(taken - finished)
}
