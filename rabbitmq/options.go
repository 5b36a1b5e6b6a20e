package rabbitmq

import (
	"fmt"
	"runtime"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/workerpool-go/workerpool"
)

// Option configures [Consume]. Every option checks its argument when it is
// called and panics with a message that starts with "rabbitmq:" and names
// the option and the bad value.
type Option func(*config)

type config struct {
	workers          int
	buffer           int
	poolOpts         []workerpool.Option
	setup            func(*amqp.Channel) error
	backoff          workerpool.Backoff
	maxDeliveries    int
	onError          func(amqp.Delivery, error)
	drainTimeout     time.Duration
	reconnectBackoff workerpool.Backoff
}

func newConfig(opts []Option) config {
	c := config{
		workers:          runtime.GOMAXPROCS(0),
		buffer:           runtime.GOMAXPROCS(0),
		backoff:          workerpool.ExponentialBackoff(time.Second, time.Minute),
		maxDeliveries:    5,
		drainTimeout:     30 * time.Second,
		reconnectBackoff: workerpool.ExponentialBackoff(100*time.Millisecond, 30*time.Second),
	}
	for _, o := range opts {
		if o == nil {
			panic("rabbitmq: nil Option")
		}
		o(&c)
	}
	return c
}

func invalid(option string, value any, why string) {
	panic(fmt.Sprintf("rabbitmq: %s(%v): %s", option, value, why))
}

// WithWorkers sets how many jobs run at once. The default is
// runtime.GOMAXPROCS(0). Panics if n < 1.
func WithWorkers(n int) Option {
	if n < 1 {
		invalid("WithWorkers", n, "n must be at least 1")
	}
	return func(c *config) { c.workers = n }
}

// WithBufferSize sets how many decoded deliveries may wait for a worker. The
// channel's prefetch (basic.qos) is the workers plus the buffer: the broker
// never has more unacknowledged deliveries out to one Consume. The default is
// runtime.GOMAXPROCS(0). Panics if n < 0.
func WithBufferSize(n int) Option {
	if n < 0 {
		invalid("WithBufferSize", n, "n must not be negative")
	}
	return func(c *config) { c.buffer = n }
}

// WithPoolOptions passes options to the workerpool.Pool that runs the jobs,
// such as workerpool.WithJobTimeout, WithRateLimit or WithObserver. The
// worker count, buffers and context are set by Consume and override any given
// here. workerpool.WithRetry retries a job in place, holding its worker and
// its delivery, before the delivery is settled.
func WithPoolOptions(opts ...workerpool.Option) Option {
	for _, o := range opts {
		if o == nil {
			invalid("WithPoolOptions", "nil", "options must not be nil")
		}
	}
	return func(c *config) { c.poolOpts = append(c.poolOpts, opts...) }
}

// WithSetup calls f on every new channel, after every (re)connect and before
// consuming, to declare the topology the queue needs (exchanges, the queue,
// bindings). Declarations are idempotent, so running it again is safe. An
// error from f counts as a failed connect and is retried, unless it says the
// queue does not exist or access was refused. Panics if f is nil.
func WithSetup(f func(*amqp.Channel) error) Option {
	if f == nil {
		invalid("WithSetup", "nil", "f must not be nil")
	}
	return func(c *config) { c.setup = f }
}

// WithBackoff sets the retry delay of a failed delivery: after its n-th
// delivery fails, it comes back after backoff(n), rounded up to a power of two
// milliseconds (see [Consume]). The default is
// workerpool.ExponentialBackoff(time.Second, time.Minute). Panics if b is nil.
func WithBackoff(b workerpool.Backoff) Option {
	if b == nil {
		invalid("WithBackoff", "nil", "backoff must not be nil")
	}
	return func(c *config) { c.backoff = b }
}

// WithMaxDeliveries sets how many times a message is delivered at most: when
// its n-th delivery fails, it is dead-lettered instead of retried. The
// default is 5. Panics if n < 1.
func WithMaxDeliveries(n int) Option {
	if n < 1 {
		invalid("WithMaxDeliveries", n, "n must be at least 1")
	}
	return func(c *config) { c.maxDeliveries = n }
}

// WithErrorHandler calls f for every delivery that is dead-lettered (poison,
// permanent, or its last allowed delivery failed), that cannot be settled
// (its channel was lost; the broker redelivers it), or whose retry could not
// be published; and, with a zero Delivery, for every failed connect or lost
// connection that Consume retries. f is called from Consume's goroutines
// and must be safe for concurrent use. Panics if f is nil.
func WithErrorHandler(f func(amqp.Delivery, error)) Option {
	if f == nil {
		invalid("WithErrorHandler", "nil", "f must not be nil")
	}
	return func(c *config) { c.onError = f }
}

// WithDrainTimeout bounds how long Consume waits, once ctx ends, for the
// jobs in flight; then their contexts are cancelled, and Consume still waits
// for them to return and settles them. The default is 30 seconds. Panics if
// d <= 0.
func WithDrainTimeout(d time.Duration) Option {
	if d <= 0 {
		invalid("WithDrainTimeout", d, "d must be positive")
	}
	return func(c *config) { c.drainTimeout = d }
}

// WithReconnectBackoff sets the delay before the n-th attempt in a row to
// connect again after a lost or failed connection. The count starts again
// after a connect that succeeds. The default is
// workerpool.ExponentialBackoff(100*time.Millisecond, 30*time.Second).
// Panics if b is nil.
func WithReconnectBackoff(b workerpool.Backoff) Option {
	if b == nil {
		invalid("WithReconnectBackoff", "nil", "backoff must not be nil")
	}
	return func(c *config) { c.reconnectBackoff = b }
}
