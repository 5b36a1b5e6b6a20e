package natsjs

import (
	"fmt"
	"runtime"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/workerpool-go/workerpool"
)

// Option configures [Consume].
type Option func(*config)

type config struct {
	workers      int
	buffer       int
	poolOpts     []workerpool.Option
	backoff      workerpool.Backoff
	doubleAck    bool
	onError      func(jetstream.Msg, error)
	deadLetter   deadLetter
	drainTimeout time.Duration
	inProgress   time.Duration // 0: a third of the consumer's AckWait
	fetchWait    time.Duration
}

type deadLetter struct {
	js      jetstream.JetStream
	subject string
}

func newConfig(opts []Option) config {
	c := config{
		workers:      runtime.GOMAXPROCS(0),
		buffer:       runtime.GOMAXPROCS(0),
		backoff:      workerpool.ExponentialBackoff(time.Second, time.Minute),
		drainTimeout: 30 * time.Second,
		fetchWait:    time.Second,
	}
	for _, o := range opts {
		if o == nil {
			panic("natsjs: nil Option")
		}
		o(&c)
	}
	return c
}

func invalid(option string, value any, why string) {
	panic(fmt.Sprintf("natsjs: %s(%v): %s", option, value, why))
}

// WithWorkers sets how many jobs run at once. The default is
// runtime.GOMAXPROCS(0). Panics if n < 1.
func WithWorkers(n int) Option {
	if n < 1 {
		invalid("WithWorkers", n, "n must be at least 1")
	}
	return func(c *config) { c.workers = n }
}

// WithBufferSize sets how many decoded messages may wait for a worker. With
// the workers it bounds the messages pulled and not yet settled. The default
// is runtime.GOMAXPROCS(0). Panics if n < 0.
func WithBufferSize(n int) Option {
	if n < 0 {
		invalid("WithBufferSize", n, "n must not be negative")
	}
	return func(c *config) { c.buffer = n }
}

// WithPoolOptions passes options to the workerpool.Pool that runs the jobs,
// such as workerpool.WithJobTimeout, WithRateLimit or WithObserver. The
// worker count, buffers and context are set by Consume and override any given
// here. workerpool.WithRetry retries a job in place, before its message is
// settled.
//
// Panics if an option is nil.
func WithPoolOptions(opts ...workerpool.Option) Option {
	for _, o := range opts {
		if o == nil {
			invalid("WithPoolOptions", "nil", "options must not be nil")
		}
	}
	return func(c *config) { c.poolOpts = append(c.poolOpts, opts...) }
}

// WithBackoff sets the redelivery delay of a failed message: it is Nak'ed
// with the delay backoff(n) after its n-th delivery. The default is
// workerpool.ExponentialBackoff(time.Second, time.Minute). Panics if b is nil.
func WithBackoff(b workerpool.Backoff) Option {
	if b == nil {
		invalid("WithBackoff", "nil", "backoff must not be nil")
	}
	return func(c *config) { c.backoff = b }
}

// WithDoubleAck acknowledges with DoubleAck, waiting for the server to
// confirm each ack, so that a processed message is not redelivered because
// its ack was lost. It costs a round trip per message.
func WithDoubleAck() Option {
	return func(c *config) { c.doubleAck = true }
}

// WithErrorHandler calls f for every message that is terminated (a poison
// message, a permanent error, or the last allowed delivery failing), for
// every settle call that fails, and, with a nil msg, for every failed pull
// that Consume retries. f is called from Consume's goroutines and
// must be safe for concurrent use. Panics if f is nil.
func WithErrorHandler(f func(msg jetstream.Msg, err error)) Option {
	if f == nil {
		invalid("WithErrorHandler", "nil", "handler must not be nil")
	}
	return func(c *config) { c.onError = f }
}

// WithDeadLetter publishes every terminated message (its data and headers,
// plus Natsjs-Error, Natsjs-Subject and Natsjs-Deliveries headers) to subject
// through js before terminating it. Panics if js is nil or subject is empty.
func WithDeadLetter(js jetstream.JetStream, subject string) Option {
	if js == nil || subject == "" {
		invalid("WithDeadLetter", subject, "js and subject must be set")
	}
	return func(c *config) { c.deadLetter = deadLetter{js: js, subject: subject} }
}

// WithDrainTimeout bounds how long Consume waits, after ctx ends, for the
// jobs in flight; then their contexts are cancelled, and Consume still waits
// for them to return and settles them. The default is 30 seconds. Panics if
// d <= 0.
func WithDrainTimeout(d time.Duration) Option {
	if d <= 0 {
		invalid("WithDrainTimeout", d, "d must be positive")
	}
	return func(c *config) { c.drainTimeout = d }
}

// WithInProgressInterval sets how often a running job's message is kept
// alive with InProgress. The default is a third of the consumer's AckWait.
// Panics if d <= 0.
func WithInProgressInterval(d time.Duration) Option {
	if d <= 0 {
		invalid("WithInProgressInterval", d, "d must be positive")
	}
	return func(c *config) { c.inProgress = d }
}

// WithFetchMaxWait sets how long one pull waits for messages before asking
// again. The default is one second. Panics if d <= 0.
func WithFetchMaxWait(d time.Duration) Option {
	if d <= 0 {
		invalid("WithFetchMaxWait", d, "d must be positive")
	}
	return func(c *config) { c.fetchWait = d }
}
