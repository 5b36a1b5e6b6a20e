// Package rabbitmq consumes RabbitMQ queues through a workerpool.Pool, with
// a bounded number of workers, a delayed retry that holds no worker, and a
// connection that survives the broker going away.
//
// [Consume] takes deliveries from a queue, decodes each into a job, runs the
// jobs through a workerpool.Pool and settles every delivery from its job's
// Result:
//
//   - success: Ack;
//   - error: the message is published, with publisher confirms, to a retry
//     queue whose TTL routes it back to the queue after the backoff delay,
//     and only then is the original acknowledged; it holds no worker and no
//     prefetch slot while it waits;
//   - a decode error (a poison message), an error marked
//     workerpool.Permanent, or the last allowed delivery failing:
//     Nack(requeue=false), so the queue's own dead-letter exchange, if it has
//     one, gets it, and the [WithErrorHandler] callback is told why.
//
// Consume reconnects with backoff whenever the connection or a channel is
// lost, runs the [WithSetup] declarations again and resumes. Delivery is at
// least once: a delivery whose channel is lost before it is settled is
// redelivered by the broker, so jobs must be idempotent.
package rabbitmq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/workerpool-go/workerpool"
)

// Decode turns a delivery into a job value. A decode error makes the
// message poison: it is dead-lettered, not retried.
type Decode[J any] func(amqp.Delivery) (J, error)

// Dial opens a connection to the broker, for the first connect and every
// reconnect. It should give up when ctx ends.
type Dial func(ctx context.Context) (*amqp.Connection, error)

// item is a job on its way through the pool: its delivery, the session that
// delivered it, and the decoded value.
type item[J any] struct {
	d     amqp.Delivery
	s     *session
	value J
}

// Consume consumes queue through a workerpool.Pool running fn, settling every
// delivery from its job's Result, reconnecting with backoff whenever the
// connection or channel is lost. It blocks until ctx ends, then drains (see
// below) and returns nil; it returns an error early only for a failure that
// reconnecting cannot fix (the queue does not exist, access refused),
// checked again on every reconnect.
//
// The channel's prefetch is the workers plus the buffer ([WithWorkers],
// [WithBufferSize]), so the broker never has more unacknowledged deliveries
// out to one Consume. A failed delivery is retried after the backoff delay
// ([WithBackoff]) rounded up to a power of two milliseconds: through a retry
// queue named queue+".retry.<ms>ms" (declared by Consume, durable, with that
// TTL and a dead-letter route back to queue), so the message comes back no
// earlier than the delay and, broker permitting, before twice the delay. The
// number of deliveries so far travels in the Workerpool-Deliveries header; a
// redelivery by the broker after a lost channel does not count.
//
// When the connection or a channel is lost, the jobs running go on, but their
// deliveries can no longer be settled (their tags belong to the dead
// channel): each is reported to the error handler and left to the broker,
// which redelivers it. Nothing is settled on a new channel with an old tag.
//
// When ctx ends, Consume cancels its consumer (deliveries not yet started are
// given back to the broker), lets the jobs in flight finish, for at most the
// drain timeout ([WithDrainTimeout]) after which their contexts are
// cancelled, settles each, closes the connection and returns.
//
// Several Consume calls, in one process or many, may share a queue: the
// broker gives each message to one of them. Panics if dial, decode or fn is
// nil or queue is empty.
func Consume[J, R any](ctx context.Context, dial Dial, queue string, decode Decode[J],
	fn workerpool.Func[J, R], opts ...Option) error {
	if dial == nil || decode == nil || fn == nil || queue == "" {
		panic("rabbitmq: Consume: dial, queue, decode and fn must be set")
	}
	c := newConfig(opts)

	// Jobs run under their own context: ctx ending stops the consuming, and
	// the running jobs are cancelled only when the drain timeout runs out.
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	poolOpts := append(append([]workerpool.Option{}, c.poolOpts...),
		workerpool.WithWorkers(c.workers), workerpool.WithBufferSize(c.buffer),
		workerpool.WithResultBufferSize(c.workers+c.buffer), workerpool.WithContext(jobCtx))
	p := workerpool.New(func(ctx context.Context, it item[J]) (R, error) { return fn(ctx, it.value) }, poolOpts...)

	st := &settler{cfg: &c, queue: queue}
	settled := make(chan struct{})
	go func() {
		defer close(settled)
		for r := range p.Results() {
			st.settle(r.Job.Value.s, r.Job.Value.d, r.Err)
		}
	}()

	last, err := consume(ctx, dial, queue, &c, st, func(s *session, d amqp.Delivery) {
		v, err := decode(d)
		if err != nil {
			st.deadLetter(d, fmt.Errorf("rabbitmq: poison: decode: %w", err))
			return
		}
		// The prefetch bounds the deliveries in flight: Submit waits only
		// for jobs of a lost session to finish.
		if _, err := p.Submit(context.Background(), item[J]{d: d, s: s, value: v}); err != nil {
			_ = d.Nack(false, true) // cannot happen while the pool is open
		}
	})
	p.Close()
	if c.drainTimeout > 0 {
		t := time.AfterFunc(c.drainTimeout, cancelJobs)
		defer t.Stop()
	}
	<-settled
	if last != nil {
		last.close()
	}
	return err
}

// consume connects, hands every delivery to handle, and connects again after
// a lost connection, until ctx ends or a connect fails for good. It returns
// the session open when ctx ended, for the drained jobs to settle on.
func consume(ctx context.Context, dial Dial, queue string, c *config, st *settler,
	handle func(*session, amqp.Delivery)) (*session, error) {
	attempt := 0
	for {
		s, err := connect(ctx, dial, queue, c)
		if err == nil {
			attempt = 0
			if s.feed(ctx, handle) {
				s.stop() // ctx ended: no more deliveries
				return s, nil
			}
			err = s.lostWhy()
			s.close()
		}
		if ctx.Err() != nil {
			return nil, nil
		}
		if unrecoverable(err) {
			return nil, fmt.Errorf("rabbitmq: %s: %w", queue, err)
		}
		st.report(amqp.Delivery{}, fmt.Errorf("rabbitmq: connection to the broker: %w; connecting again", err))
		attempt++
		if !sleep(ctx, c.reconnectBackoff(attempt)) {
			return nil, nil
		}
	}
}

// unrecoverable reports whether err is one that connecting again cannot
// cure: the queue does not exist, or access was refused (also a login
// refused).
func unrecoverable(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && (ae.Code == amqp.NotFound || ae.Code == amqp.AccessRefused)
}

// sleep waits d, and reports false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// session is one connection: a channel to consume and settle on, and a
// channel in confirm mode to publish retries on.
type session struct {
	conn       *amqp.Connection
	ch, pub    *amqp.Channel
	tag        string
	deliveries <-chan amqp.Delivery
	lost       chan struct{} // closed once the connection or a channel is closed
	why        error         // why; set before lost is closed
	retry      map[int64]string
}

// connect dials, opens the channels, runs the setup, checks that queue
// exists, sets the prefetch and starts consuming.
func connect(ctx context.Context, dial Dial, queue string, c *config) (*session, error) {
	conn, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	s := &session{conn: conn, lost: make(chan struct{}), retry: map[int64]string{}}
	if err := s.open(queue, c); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return s, nil
}

func (s *session) open(queue string, c *config) error {
	var err error
	if s.ch, err = s.conn.Channel(); err != nil {
		return err
	}
	if c.setup != nil {
		if err := c.setup(s.ch); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
	}
	if _, err := s.ch.QueueDeclarePassive(queue, false, false, false, false, nil); err != nil {
		return err
	}
	if err := s.ch.Qos(c.workers+c.buffer, 0, false); err != nil {
		return err
	}
	if s.pub, err = s.conn.Channel(); err != nil {
		return err
	}
	if err := s.pub.Confirm(false); err != nil {
		return err
	}
	s.tag = "workerpool-" + randomHex()
	if s.deliveries, err = s.ch.Consume(queue, s.tag, false, false, false, false, nil); err != nil {
		return err
	}
	connClosed := s.conn.NotifyClose(make(chan *amqp.Error, 1))
	chClosed := s.ch.NotifyClose(make(chan *amqp.Error, 1))
	pubClosed := s.pub.NotifyClose(make(chan *amqp.Error, 1))
	go func() {
		var e *amqp.Error
		select { // each is closed when its object closes, so this ends
		case e = <-connClosed:
		case e = <-chClosed:
		case e = <-pubClosed:
		}
		s.why = errors.New("connection closed")
		if e != nil {
			s.why = e
		}
		close(s.lost)
	}()
	return nil
}

// feed hands every delivery to handle until the deliveries end (the session
// was lost) or ctx ends, and reports which: true for ctx.
func (s *session) feed(ctx context.Context, handle func(*session, amqp.Delivery)) bool {
	for {
		select {
		case d, ok := <-s.deliveries:
			if !ok {
				return ctx.Err() != nil
			}
			handle(s, d)
		case <-ctx.Done():
			return true
		}
	}
}

// lostWhy waits for the session to be lost and says why.
func (s *session) lostWhy() error {
	<-s.lost
	return s.why
}

// isLost reports whether the session has been lost.
func (s *session) isLost() bool {
	select {
	case <-s.lost:
		return true
	default:
		return false
	}
}

// stop cancels the consumer and gives back to the broker the deliveries that
// came before the cancel took effect and have not started.
func (s *session) stop() {
	if err := s.ch.Cancel(s.tag, false); err != nil {
		return // the channel is gone: the broker takes them back itself
	}
	for d := range s.deliveries { // closed once the cancel is done
		_ = d.Nack(false, true)
	}
}

// close closes the connection and waits until it is down.
func (s *session) close() {
	_ = s.conn.Close()
	<-s.lost
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
