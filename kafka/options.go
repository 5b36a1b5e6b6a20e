package kafka

import (
	"fmt"
	"log"
	"runtime"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/workerpool-go/workerpool"
)

// Option configures [Consume]. Every option checks its argument when it is
// called and panics with a message that starts with "kafka:" and names the
// option and the bad value.
type Option func(*config)

// Ordering says which records of a partition may run at the same time.
type Ordering int

const (
	// OrderKey runs the records of one key one at a time, in offset order,
	// and records of different keys in parallel. Records with a nil key are
	// ordered among themselves, as one key of their partition. The default.
	OrderKey Ordering = iota
	// OrderPartition runs one record of a partition at a time, in offset
	// order; partitions run in parallel.
	OrderPartition
	// OrderNone runs records in any order; only the commit rule holds.
	OrderNone
)

// String returns the constant's name.
func (o Ordering) String() string {
	switch o {
	case OrderKey:
		return "OrderKey"
	case OrderPartition:
		return "OrderPartition"
	case OrderNone:
		return "OrderNone"
	}
	return fmt.Sprintf("Ordering(%d)", int(o))
}

type config struct {
	ordering       Ordering
	workers        int
	buffer         int
	maxInFlight    int // 0: workers + buffer
	poolOpts       []workerpool.Option
	commitInterval time.Duration
	backoff        workerpool.Backoff
	maxAttempts    int
	deadLetter     string
	onError        func(*kgo.Record, error)
	revokeTimeout  time.Duration
	drainTimeout   time.Duration
}

func newConfig(opts []Option) config {
	c := config{
		workers:        runtime.GOMAXPROCS(0),
		buffer:         defaultBuffer,
		commitInterval: time.Second,
		backoff:        workerpool.ExponentialBackoff(time.Second, time.Minute),
		maxAttempts:    5,
		onError:        logError,
		revokeTimeout:  10 * time.Second,
		drainTimeout:   30 * time.Second,
	}
	for _, o := range opts {
		if o == nil {
			panic("kafka: nil Option")
		}
		o(&c)
	}
	if c.maxInFlight == 0 {
		c.maxInFlight = c.workers + c.buffer
	}
	return c
}

// logError is the default error handler: it logs the error, and the record's
// topic, partition and offset when there is one.
func logError(r *kgo.Record, err error) {
	if r == nil {
		log.Printf("kafka: %v", err)
		return
	}
	log.Printf("kafka: %s/%d@%d: %v", r.Topic, r.Partition, r.Offset, err)
}

func invalid(option string, value any, why string) {
	panic(fmt.Sprintf("kafka: %s(%v): %s", option, value, why))
}

// WithOrdering sets which records may run at the same time; see [Ordering].
// The default is OrderKey. Panics if o is not one of the constants.
func WithOrdering(o Ordering) Option {
	if o < OrderKey || o > OrderNone {
		invalid("WithOrdering", int(o), "o must be OrderKey, OrderPartition or OrderNone")
	}
	return func(c *config) { c.ordering = o }
}

// WithWorkers sets how many jobs run at once. The default is
// runtime.GOMAXPROCS(0). Panics if n < 1.
func WithWorkers(n int) Option {
	if n < 1 {
		invalid("WithWorkers", n, "n must be at least 1")
	}
	return func(c *config) { c.workers = n }
}

// defaultBuffer is the default of WithBufferSize. With a cap on records held
// (the workers plus the buffer) of a few records, partitions are paused and
// resumed all the time, and the client fetches and decodes each batch again
// after every pause: in BenchmarkConsume with 1 worker, a buffer of 2 cost
// 930 MB of allocation for 6,000 records.
const defaultBuffer = 64

// WithBufferSize sets how many records may wait in the pool for a worker.
// The default is 64. Panics if n < 0.
func WithBufferSize(n int) Option {
	if n < 0 {
		invalid("WithBufferSize", n, "n must not be negative")
	}
	return func(c *config) { c.buffer = n }
}

// WithPoolOptions passes options to the workerpool.Pool that runs the jobs,
// such as workerpool.WithJobTimeout, WithRateLimit or WithObserver. The
// worker count, buffers and context are set by Consume and override any given
// here. Retries are Consume's (WithBackoff, WithMaxAttempts): a
// workerpool.WithRetry given here retries inside one attempt, holding its
// worker. Panics if an option is nil.
func WithPoolOptions(opts ...workerpool.Option) Option {
	for _, o := range opts {
		if o == nil {
			invalid("WithPoolOptions", "nil", "options must not be nil")
		}
	}
	return func(c *config) { c.poolOpts = append(c.poolOpts, opts...) }
}

// WithMaxInFlight sets how many records Consume holds in all: running,
// waiting for a worker, waiting behind their key, or waiting out a retry's
// backoff. Past it, Consume fetches no more until records are done. The
// default is the workers plus the buffer. Panics if n < 1.
func WithMaxInFlight(n int) Option {
	if n < 1 {
		invalid("WithMaxInFlight", n, "n must be at least 1")
	}
	return func(c *config) { c.maxInFlight = n }
}

// WithCommitInterval sets how often the offsets of done records are
// committed. They are also committed when a partition is revoked and when
// Consume returns. The default is one second. Panics if d <= 0.
func WithCommitInterval(d time.Duration) Option {
	if d <= 0 {
		invalid("WithCommitInterval", d, "d must be positive")
	}
	return func(c *config) { c.commitInterval = d }
}

// WithBackoff sets the delay before a failed record's next attempt: after its
// n-th attempt fails, it runs again after backoff(n). The wait holds no
// worker and blocks only the record's key (its partition with
// OrderPartition). The default is workerpool.ExponentialBackoff(time.Second,
// time.Minute). Panics if b is nil.
func WithBackoff(b workerpool.Backoff) Option {
	if b == nil {
		invalid("WithBackoff", "nil", "backoff must not be nil")
	}
	return func(c *config) { c.backoff = b }
}

// WithMaxAttempts sets how many times a record is tried at most: when its
// n-th attempt fails, it goes to the dead-letter topic (or the error
// handler) instead of being tried again. The default is 5. Panics if n < 1.
func WithMaxAttempts(n int) Option {
	if n < 1 {
		invalid("WithMaxAttempts", n, "n must be at least 1")
	}
	return func(c *config) { c.maxAttempts = n }
}

// WithDeadLetter sends the records that fail for good (a decode error, an
// error marked workerpool.Permanent, or the last allowed attempt) to topic,
// with their key, value and headers, and the headers [HeaderTopic],
// [HeaderPartition], [HeaderOffset], [HeaderError] and [HeaderAttempts]
// added. Such a record counts as done only once the broker has acknowledged
// it; until then the produce is retried with the backoff. Without a
// dead-letter topic, such records are reported to the error handler and
// skipped. Panics if topic is empty.
func WithDeadLetter(topic string) Option {
	if topic == "" {
		invalid("WithDeadLetter", `""`, "topic must not be empty")
	}
	return func(c *config) { c.deadLetter = topic }
}

// WithErrorHandler calls f for every record that fails for good (with the
// error; also when it then goes to the dead-letter topic), and, with a nil
// record, for every error of the consumer itself that it retries: a failed
// commit or fetch, a failed dead-letter produce. f is called from Consume's
// goroutines and must be safe for concurrent use. The default logs with the
// standard logger. Panics if f is nil.
func WithErrorHandler(f func(*kgo.Record, error)) Option {
	if f == nil {
		invalid("WithErrorHandler", "nil", "f must not be nil")
	}
	return func(c *config) { c.onError = f }
}

// WithRevokeTimeout bounds how long a revoked partition waits for its running
// jobs before its offset is committed and it is handed over; the results of
// jobs that finish later are dropped (their records are processed again by
// the partition's next owner). The default is 10 seconds. Panics if d <= 0.
func WithRevokeTimeout(d time.Duration) Option {
	if d <= 0 {
		invalid("WithRevokeTimeout", d, "d must be positive")
	}
	return func(c *config) { c.revokeTimeout = d }
}

// WithDrainTimeout bounds how long Consume waits, once ctx ends, for the
// running jobs; then their contexts are cancelled, Consume waits for them to
// return, commits and returns. The default is 30 seconds. Panics if d <= 0.
func WithDrainTimeout(d time.Duration) Option {
	if d <= 0 {
		invalid("WithDrainTimeout", d, "d must be positive")
	}
	return func(c *config) { c.drainTimeout = d }
}
