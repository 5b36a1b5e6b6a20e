// Package natsjs feeds workerpool pools from NATS JetStream, so that the same
// worker program can run on many machines and share the work of one durable
// consumer.
//
// [Consume] pulls messages from a JetStream consumer, decodes each into a job,
// runs the jobs through a workerpool.Pool and settles every message from its
// job's Result:
//
//   - success: Ack (DoubleAck with [WithDoubleAck]);
//   - error: NakWithDelay, the delay taken from a workerpool.Backoff on the
//     number of deliveries so far, so JetStream redelivers it, to this process
//     or another;
//   - an error marked workerpool.Permanent, a decode error (a poison message),
//     or an error on the consumer's last allowed delivery (MaxDeliver): Term,
//     and the message is reported to the [WithErrorHandler] callback and
//     published to the [WithDeadLetter] subject, if set;
//   - while a job runs longer than a fraction of the consumer's AckWait, its
//     message is kept alive with InProgress.
//
// Delivery is at least once: a message whose process dies before settling it
// is redelivered by JetStream once its AckWait runs out, so jobs must be
// idempotent.
package natsjs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/workerpool-go/workerpool"
)

// Decode turns a message into a job value. A decode error makes the message
// poison: it is terminated, not retried.
type Decode[J any] func(jetstream.Msg) (J, error)

// item is a job on its way through the pool: the message and its value.
type item[J any] struct {
	msg   jetstream.Msg
	value J
}

// Consume pulls messages from consumer, decodes each with decode and runs fn
// on it in a workerpool.Pool, settling each message from its job's Result as
// the package documentation describes. It blocks until ctx ends, then stops
// pulling, lets the jobs in flight finish (for at most the drain timeout,
// after which their contexts are cancelled), settles each of them and
// returns nil. It returns early with an error only if pulling from the
// consumer fails for good (the consumer or stream was deleted, the
// connection closed).
//
// The messages in flight (pulled and not yet settled) never exceed the
// pool's workers plus its buffer ([WithWorkers], [WithBufferSize]). Several
// Consume calls, in one process or many, may share one durable consumer:
// JetStream gives each message to one of them.
//
// Panics if consumer, decode or fn is nil, or an option is invalid.
func Consume[J, R any](ctx context.Context, consumer jetstream.Consumer, decode Decode[J], fn workerpool.Func[J, R], opts ...Option) error {
	if consumer == nil || decode == nil || fn == nil {
		panic("natsjs: Consume: consumer, decode and fn must not be nil")
	}
	c := newConfig(opts)
	info, err := consumer.Info(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("natsjs: consumer info: %w", err)
	}
	if c.inProgress == 0 && info.Config.AckWait > 0 {
		c.inProgress = info.Config.AckWait / 3
	}
	s := &settler{cfg: c, maxDeliver: info.Config.MaxDeliver}

	// Jobs run under their own context: ctx ending stops the pulling, and
	// the running jobs are cancelled only when the drain timeout runs out.
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	run := func(ctx context.Context, it item[J]) (R, error) {
		if c.inProgress > 0 {
			stop := keepAlive(it.msg, c.inProgress)
			defer stop()
		}
		return fn(ctx, it.value)
	}
	poolOpts := append(append([]workerpool.Option{}, c.poolOpts...),
		workerpool.WithWorkers(c.workers), workerpool.WithBufferSize(c.buffer),
		workerpool.WithResultBufferSize(c.workers+c.buffer), workerpool.WithContext(jobCtx))
	p := workerpool.New(run, poolOpts...)

	// slots bounds the messages in flight: one is taken per message pulled
	// and given back when it is settled.
	capacity := c.workers + c.buffer
	slots := make(chan struct{}, capacity)
	settled := make(chan struct{})
	go func() {
		defer close(settled)
		for r := range p.Results() {
			s.settle(r.Job.Value.msg, r.Err)
			<-slots
		}
	}()

	pullErr := pull(ctx, consumer, c, slots, func(msg jetstream.Msg) {
		v, err := decode(msg)
		if err != nil {
			s.poison(msg, fmt.Errorf("natsjs: decode: %w", err))
			<-slots
			return
		}
		// The slot guarantees room: Submit does not block for long.
		if _, err := p.Submit(context.Background(), item[J]{msg: msg, value: v}); err != nil {
			_ = msg.Nak() // cannot happen while the pool is open; give it back
			<-slots
		}
	})
	p.Close()
	if c.drainTimeout > 0 {
		t := time.AfterFunc(c.drainTimeout, cancelJobs)
		defer t.Stop()
	}
	<-settled
	return pullErr
}

// pull fetches messages while there are free slots, until ctx ends or the
// consumer fails for good.
func pull(ctx context.Context, consumer jetstream.Consumer, c config, slots chan struct{}, handle func(jetstream.Msg)) error {
	for {
		// Wait for at least one free slot, then take every free one.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		n := 1
	more:
		for n < cap(slots) {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break more
			}
		}
		fctx, cancel := context.WithTimeout(ctx, c.fetchWait)
		batch, err := consumer.Fetch(n, jetstream.FetchContext(fctx))
		got := 0
		if err == nil {
			for msg := range batch.Messages() {
				got++
				handle(msg)
			}
			err = batch.Error()
		}
		cancel()
		for ; got < n; got++ {
			<-slots // give back what the fetch did not fill
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil, errors.Is(err, context.DeadlineExceeded), errors.Is(err, jetstream.ErrNoMessages):
			continue
		case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound),
			errors.Is(err, jetstream.ErrStreamNotFound), errors.Is(err, jetstream.ErrConnectionClosed):
			return fmt.Errorf("natsjs: fetch: %w", err)
		default:
			// A passing failure (a leader election, a slow server): report
			// it, and try again after a pause, unless ctx ends first.
			if c.onError != nil {
				c.onError(nil, fmt.Errorf("natsjs: fetch: %w", err))
			}
			select {
			case <-time.After(c.fetchWait / 10):
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// keepAlive calls msg.InProgress every interval until stop is called.
func keepAlive(msg jetstream.Msg, interval time.Duration) (stop func()) {
	var (
		mu      sync.Mutex // orders the timer's callback after its creation
		stopped bool
		t       *time.Timer
	)
	mu.Lock()
	defer mu.Unlock()
	t = time.AfterFunc(interval, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		_ = msg.InProgress()
		t.Reset(interval)
	})
	return func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
		t.Stop()
	}
}
