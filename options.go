package workerpool

import (
	"context"
	"fmt"
	"runtime"
	"time"
)

// Option configures a [Pool] (and [Map] and [Stream]). Options are applied in
// order, so a later option overrides an earlier one of the same kind.
//
// Every option checks its argument when it is called and panics with a
// message that starts with "workerpool:" and names the option and the bad
// value: an invalid configuration is a programming error.
type Option func(*config)

// config holds every setting of a pool. defaultConfig sets all defaults in one
// place.
type config struct {
	workers       int
	bufferSize    int // -1: derived from workers
	resultBufSize int // -1: derived from workers
	ctx           context.Context
	jobTimeout    time.Duration
	ordered       bool
	limiter       Limiter
	attempts      int // at least 1
	backoff       Backoff
	observer      Observer
	idleTimeout   time.Duration // 0: workers stay until Close
	jobCount      int           // jobs in all when known in advance (Map), else 0
	// adaptMin and adaptMax bound an adaptive limit (WithAdaptiveLimit);
	// 0: the limit is fixed.
	adaptMin, adaptMax int
}

func defaultConfig() config {
	return config{
		workers:       runtime.GOMAXPROCS(0),
		bufferSize:    -1,
		resultBufSize: -1,
		ctx:           context.Background(),
		attempts:      1,
		idleTimeout:   defaultIdleTimeout,
	}
}

// Default buffer sizes, chosen with the benchmarks module and
// BenchmarkBufferSizes in bench_test.go.
//
// A small pool gets 1024 slots per channel, or as many as fit in 64 KiB when
// its jobs or Results are large (but at least 64). In the peer comparison at
// 2 workers, 1,024 slots in both channels made the cpu workload reach 95% of
// its limit (pond's figure) against 85% with 64 and 93% with 256, and made
// the tiny workload 25% faster; enlarging only one of the two channels did
// not. The price is paid once per pool: New, one job and Close take about
// 35 µs and 76 KiB with 1,024 int slots, against 7 µs and 6 KiB with 64, so a
// pool breaks even after some 500 jobs. Map needs no buffers up to 1,024
// workers, and past that sizes its jobs buffer to its input.
//
// Past 1,024 workers a slot per worker is enough (the mem workload, 1,000
// workers, is no faster with 4,000 slots and holds twice the heap). The jobs
// buffer stops at 4096: the 200,000-worker matrix runs 10-30% slower with
// 1,024 slots, and a waiting job holds no goroutine. The Results buffer goes
// on to 65536, because a worker that cannot deliver its Result holds its
// goroutine, and the pool starts another for the next job: a slot costs the
// size of a Result, a blocked worker a stack of kilobytes. In the matrix with
// a 10 ms task, 65,536 slots instead of 4,096 cut the goroutines from about
// 95,000 to 37,000 and the wall time by 10-30%.
const (
	defaultBufferBytes     = 64 << 10
	defaultBufferMin       = 64
	defaultBufferSmall     = 1024
	defaultJobsBufferMax   = 4096
	defaultResultBufferMax = 65536
)

// defaultBufferSize is the default size of a channel of slot-byte elements:
// 1024 slots, or 64 KiB worth but at least 64; then one per worker up to
// most; but no more than the jobs there will be, if known.
func (c *config) defaultBufferSize(slot uintptr, most int) int {
	small := min(max(defaultBufferBytes/int(max(slot, 1)), defaultBufferMin), defaultBufferSmall)
	n := min(max(small, c.workers), most)
	if c.jobCount > 0 {
		n = min(n, c.jobCount)
	}
	return n
}

// withJobCount tells the pool how many jobs it will get in all, so that its
// default buffers are no larger than that.
func withJobCount(n int) Option {
	return func(c *config) { c.jobCount = n }
}

// forMap sets up the pool behind Map past mapDirectMax workers, which reads
// the Results itself as they come: no ordering, the default Results buffer,
// and the workers end with the call. WithBufferSize applies, as it bounds
// how far the submitter runs ahead of the workers.
func forMap() Option {
	return func(c *config) {
		c.resultBufSize = -1
		c.ordered = false
		c.idleTimeout = 0
		c.fixLimit()
	}
}

// fixLimit turns an adaptive limit into a fixed one, its starting value:
// WithWorkers' value clamped into WithAdaptiveLimit's bounds. Map does not
// adapt.
func (c *config) fixLimit() {
	c.workers = c.startingLimit()
	c.adaptMin, c.adaptMax = 0, 0
}

// startingLimit is the worker limit a pool starts with: WithWorkers' value,
// clamped into WithAdaptiveLimit's bounds if it is set.
func (c *config) startingLimit() int {
	if c.adaptMax == 0 {
		return c.workers
	}
	return min(max(c.workers, c.adaptMin), c.adaptMax)
}

func newConfig(opts []Option) config {
	c := defaultConfig()
	for _, o := range opts {
		if o == nil {
			panic("workerpool: nil Option")
		}
		o(&c)
	}
	return c
}

// sizeBuffers sets the buffer sizes that no option set, for channels of
// jobSlot- and resultSlot-byte elements.
//
// A channel allocates every slot when it is made, so a size set by an option
// is checked against maxBufferBytes here, where the slot size is known: a
// larger one would fail in New with an out-of-memory error that no recover
// can catch, or the runtime's "makechan: size out of range".
func (c *config) sizeBuffers(jobSlot, resultSlot uintptr) {
	if c.bufferSize < 0 {
		c.bufferSize = c.defaultBufferSize(jobSlot, defaultJobsBufferMax)
	}
	if c.resultBufSize < 0 {
		c.resultBufSize = c.defaultBufferSize(resultSlot, defaultResultBufferMax)
	}
	checkBuffer("WithBufferSize", c.bufferSize, jobSlot)
	checkBuffer("WithResultBufferSize", c.resultBufSize, resultSlot)
}

// maxBufferBytes is the most memory a buffer option may ask for: 1 GiB, for
// each of the two channels. At 32 bytes a slot (an int job) that is 33
// million jobs, far past any buffer that helps throughput (the defaults stop
// at 4,096 and 65,536 slots).
const maxBufferBytes = 1 << 30

// checkBuffer panics if n slots of slot bytes each would take more than
// maxBufferBytes.
func checkBuffer(option string, n int, slot uintptr) {
	if slot > 0 && uint64(n) > maxBufferBytes/uint64(slot) {
		invalid(option, n, fmt.Sprintf("a buffer of %d slots of %d bytes would take more than 1 GiB", n, slot))
	}
}

func invalid(option string, value any, why string) {
	panic(fmt.Sprintf("workerpool: %s(%v): %s", option, value, why))
}

// WithWorkers sets the most jobs the pool runs at once: it starts worker
// goroutines as jobs arrive, up to n, one at a time and only when no worker is
// free to take the job, and keeps them until [Pool.Close] or until they have
// been idle for the idle timeout ([WithIdleTimeout]). The default is
// runtime.GOMAXPROCS(0), right for CPU-bound jobs; I/O-bound jobs usually want
// many more.
//
// Panics if n < 1.
func WithWorkers(n int) Option {
	if n < 1 {
		invalid("WithWorkers", n, "n must be at least 1")
	}
	return func(c *config) { c.workers = n }
}

// WithBufferSize sets the capacity of the jobs channel: how many accepted jobs
// may wait for a worker before [Pool.Submit] blocks and [Pool.TrySubmit]
// returns [ErrQueueFull]. With 0, a job is accepted only when a worker takes
// it. The default is 1024 (fewer for jobs so large that 1024 would take more
// than 64 KiB, but at least 64), or one per worker for more than 1024
// workers, up to 4096. A server that sheds load with [Pool.TryDo] wants 0 or
// a small buffer: with 1,024 it queues that many calls before it refuses one.
//
// The buffer is allocated when the pool is made: a slot costs the size of a
// job's value plus 24 bytes (its ID, a time and a handle), 32 bytes for an
// int. Panics if n < 0, and New panics if the buffer would take more than
// 1 GiB.
func WithBufferSize(n int) Option {
	if n < 0 {
		invalid("WithBufferSize", n, "n must not be negative")
	}
	return func(c *config) { c.bufferSize = n }
}

// WithResultBufferSize sets the capacity of the channel returned by
// [Pool.Results]: how many Results may wait for the reader before workers
// block. The default is 1024 (fewer for Results so large that 1024 would
// take more than 64 KiB, but at least 64), or one per worker for more than
// 1024 workers, up to 65536.
//
// The buffer is allocated when the pool is made: a slot costs the size of a
// [Result], 48 bytes for int jobs and outputs. Panics if n < 0, and New
// panics if the buffer would take more than 1 GiB.
func WithResultBufferSize(n int) Option {
	if n < 0 {
		invalid("WithResultBufferSize", n, "n must not be negative")
	}
	return func(c *config) { c.resultBufSize = n }
}

// WithContext sets the context jobs run under. Once ctx is done, Submit
// returns ctx.Err(), jobs that have not started yet get a Result whose Err is
// ctx.Err() without their Func being called, and running jobs see ctx done.
// The pool still delivers every Result and must still be closed. The default
// is context.Background().
//
// [Map] and [Stream] replace this option with their ctx argument.
//
// Panics if ctx is nil.
func WithContext(ctx context.Context) Option {
	if ctx == nil {
		invalid("WithContext", "nil", "ctx must not be nil")
	}
	return func(c *config) { c.ctx = ctx }
}

// WithJobTimeout gives every job's context a timeout of d, counted from the
// moment the job starts. A job that overruns gets its ctx done with
// context.DeadlineExceeded; its Result carries whatever the Func then
// returns. By default jobs have no timeout.
//
// Panics if d <= 0.
func WithJobTimeout(d time.Duration) Option {
	if d <= 0 {
		invalid("WithJobTimeout", d, "d must be positive")
	}
	return func(c *config) { c.jobTimeout = d }
}

// WithOrderedResults makes [Pool.Results] deliver Results in ascending Job.ID
// order, that is in acceptance order. Jobs still run concurrently; a worker
// that finishes a job too far ahead of the oldest unfinished one waits, so a
// slow job holds back at most about 2×workers finished Results plus the
// Results buffer ([WithResultBufferSize]), never the whole stream. By default
// Results arrive in completion order.
func WithOrderedResults() Option {
	return func(c *config) { c.ordered = true }
}

// defaultIdleTimeout is how long a worker waits for a job before it exits,
// unless WithIdleTimeout says otherwise.
//
// A worker that exits costs its restart when jobs come back: starting one is
// a go statement, against the stack an idle worker holds for as long as it
// waits. Retiring costs nothing per job (the pool looks for idle workers once
// per timeout, not on every job; BenchmarkPool reads the same with and
// without it), so the timeout only decides how soon a burst's goroutines are
// given back. A second is ants's default and half gammazero/workerpool's,
// and long enough that a steady load with gaps under a second never
// restarts a worker (TestBusyWorkersDoNotRetire).
const defaultIdleTimeout = time.Second

// WithIdleTimeout makes a worker that has had no job for d exit: it does so
// between d and 2d after it went idle, and workers start again on demand as
// jobs arrive, up to the limit. With d = 0 workers stay until [Pool.Close].
// The default is 1 s. [Pool.Stats] reports the workers
// alive as Live. [Map] is not affected: its workers end with the call.
//
// Panics if d < 0.
func WithIdleTimeout(d time.Duration) Option {
	if d < 0 {
		invalid("WithIdleTimeout", d, "d must not be negative")
	}
	return func(c *config) { c.idleTimeout = d }
}
