package rabbitmq

import (
	"context"
	"fmt"
	"math/bits"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/workerpool-go/workerpool"
)

// DeliveriesHeader is the header in which a retried message carries how
// many times it has been delivered so far.
const DeliveriesHeader = "Workerpool-Deliveries"

// confirmTimeout bounds the wait for the broker to confirm the publish of a
// retry (to its delay queue) before the original delivery is acked. A broker
// confirms a persistent message once it is written to disk, which under load
// can take seconds; 30 s leaves room for that. If no confirm comes, the
// original is not acked: the broker redelivers it when the channel closes,
// so the message is retried at least once and never lost.
const confirmTimeout = 30 * time.Second

// settler settles the deliveries from their jobs' Results. It runs on one
// goroutine, which also owns every session's retry-queue cache.
type settler struct {
	cfg   *config
	queue string
}

// settle settles delivery d of session s, whose job ended with err.
func (st *settler) settle(s *session, d amqp.Delivery, err error) {
	if err == nil {
		st.must(d, d.Ack(false))
		return
	}
	n := deliveries(d)
	switch {
	case workerpool.IsPermanent(err):
		st.deadLetter(d, fmt.Errorf("rabbitmq: permanent: %w", err))
	case n >= st.cfg.maxDeliveries:
		st.deadLetter(d, fmt.Errorf("rabbitmq: gave up after %d deliveries: %w", n, err))
	default:
		st.retry(s, d, n)
	}
}

// deadLetter reports d with err and rejects it without requeueing, so that
// the queue's dead-letter exchange, if any, gets it.
func (st *settler) deadLetter(d amqp.Delivery, err error) {
	st.report(d, err)
	st.must(d, d.Nack(false, false))
}

// retry publishes d again through a retry queue that sends it back after the
// backoff of its n-th delivery, waits for the broker's confirm, then acks the
// original. Should the publish fail, the original is rejected (dead-lettered)
// rather than requeued at once, which would retry it with no delay and no
// count, for ever.
func (st *settler) retry(s *session, d amqp.Delivery, n int) {
	if s.isLost() {
		st.lost(d, s.why)
		return
	}
	delay := retryDelay(st.cfg.backoff(n))
	err := s.publishRetry(st.queue, delay, d, n)
	if err != nil {
		if s.isLost() {
			st.lost(d, err)
			return
		}
		st.deadLetter(d, fmt.Errorf("rabbitmq: retry not published, dead-lettered: %w", err))
		return
	}
	// The copy is safe with the broker: a lost ack from here on only means
	// the original comes back too (at least once).
	st.must(d, d.Ack(false))
}

// must reports a settle call on d that failed: its channel is gone, and
// the broker will deliver it again.
func (st *settler) must(d amqp.Delivery, err error) {
	if err != nil {
		st.lost(d, err)
	}
}

func (st *settler) lost(d amqp.Delivery, err error) {
	st.report(d, fmt.Errorf("rabbitmq: not settled, the channel is gone (%v); the broker delivers it again", err))
}

func (st *settler) report(d amqp.Delivery, err error) {
	if st.cfg.onError != nil {
		st.cfg.onError(d, err)
	}
}

// deliveries is how many times d has been delivered, this time included,
// counting the retries that went through a retry queue.
func deliveries(d amqp.Delivery) int {
	switch v := d.Headers[DeliveriesHeader].(type) {
	case int64:
		return int(v) + 1
	case int32:
		return int(v) + 1
	case int:
		return v + 1
	}
	return 1
}

// retryDelay rounds d up to a power of two milliseconds, at least 1 ms: the
// delays that retry queues are made for, so that their number stays small
// and each is first-in first-out (a queue with a TTL per message expires
// only the message at its head).
func retryDelay(d time.Duration) int64 {
	ms := uint64(max((d+time.Millisecond-1)/time.Millisecond, 1))
	if ms&(ms-1) == 0 {
		return int64(ms)
	}
	return int64(1) << bits.Len64(ms)
}

// publishRetry publishes d's message to the retry queue of delay ms,
// declaring it on first use, and waits for the broker's confirm.
func (s *session) publishRetry(queue string, ms int64, d amqp.Delivery, n int) error {
	name, ok := s.retry[ms]
	if !ok {
		name = fmt.Sprintf("%s.retry.%dms", queue, ms)
		_, err := s.pub.QueueDeclare(name, true, false, false, false, amqp.Table{
			"x-message-ttl":             ms,
			"x-dead-letter-exchange":    "",
			"x-dead-letter-routing-key": queue,
		})
		if err != nil {
			return fmt.Errorf("declaring %s: %w", name, err)
		}
		s.retry[ms] = name
	}
	headers := amqp.Table{}
	for k, v := range d.Headers {
		headers[k] = v
	}
	headers[DeliveriesHeader] = int64(n)
	ctx, cancel := context.WithTimeout(context.Background(), confirmTimeout)
	defer cancel()
	dc, err := s.pub.PublishWithDeferredConfirmWithContext(ctx, "", name, true, false, amqp.Publishing{
		Headers:         headers,
		ContentType:     d.ContentType,
		ContentEncoding: d.ContentEncoding,
		DeliveryMode:    d.DeliveryMode,
		Priority:        d.Priority,
		CorrelationId:   d.CorrelationId,
		ReplyTo:         d.ReplyTo,
		MessageId:       d.MessageId,
		Timestamp:       d.Timestamp,
		Type:            d.Type,
		UserId:          d.UserId,
		AppId:           d.AppId,
		Body:            d.Body,
	})
	if err != nil {
		return err
	}
	acked, err := dc.WaitContext(ctx)
	switch {
	case err != nil:
		return err
	case !acked:
		return fmt.Errorf("the broker refused the retry of %s", name)
	}
	return nil
}
