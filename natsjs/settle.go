package natsjs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/workerpool-go/workerpool"
)

// settleTimeout bounds each call to the server that settling a message waits
// for: a double ack's confirmation, and the publish of a dead letter. Five
// seconds is a round trip to a loaded server many times over, and short
// enough that a lost connection does not hold the settler, which settles the
// messages of every worker one at a time. A call that times out leaves the
// message unsettled, and JetStream redelivers it after the consumer's
// AckWait: at least once, never lost.
const settleTimeout = 5 * time.Second

// settler acknowledges, naks or terminates messages by the rules in the
// package documentation.
type settler struct {
	cfg        config
	maxDeliver int // from the consumer; <= 0: unlimited
}

// settle settles msg after its job ended with err.
func (s *settler) settle(msg jetstream.Msg, err error) {
	if err == nil {
		var ackErr error
		if s.cfg.doubleAck {
			ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
			ackErr = msg.DoubleAck(ctx)
			cancel()
		} else {
			ackErr = msg.Ack()
		}
		s.report(msg, ackErr)
		return
	}
	if workerpool.IsPermanent(err) {
		s.poison(msg, err)
		return
	}
	delivered := deliveries(msg)
	if s.maxDeliver > 0 && delivered >= uint64(s.maxDeliver) {
		s.poison(msg, fmt.Errorf("natsjs: giving up after %d deliveries: %w", delivered, err))
		return
	}
	s.report(msg, msg.NakWithDelay(s.cfg.backoff(int(max(delivered, 1)))))
}

// poison terminates msg after reporting it and publishing it to the dead
// letter subject.
func (s *settler) poison(msg jetstream.Msg, err error) {
	if dl := s.cfg.deadLetter; dl.js != nil {
		out := nats.NewMsg(dl.subject)
		out.Data = msg.Data()
		for k, vs := range msg.Headers() {
			for _, v := range vs {
				out.Header.Add(k, v)
			}
		}
		out.Header.Set("Natsjs-Error", err.Error())
		out.Header.Set("Natsjs-Subject", msg.Subject())
		out.Header.Set("Natsjs-Deliveries", strconv.FormatUint(deliveries(msg), 10))
		ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
		if _, pubErr := dl.js.PublishMsg(ctx, out); pubErr != nil {
			// Not terminated: JetStream redelivers it, and the dead letter
			// is tried again then.
			cancel()
			s.report(msg, errors.Join(err, fmt.Errorf("natsjs: dead letter: %w", pubErr)))
			s.report(msg, msg.NakWithDelay(s.cfg.backoff(int(max(deliveries(msg), 1)))))
			return
		}
		cancel()
	}
	if s.cfg.onError != nil {
		s.cfg.onError(msg, err)
	}
	s.report(msg, msg.TermWithReason(truncate(err.Error(), 200)))
}

// report passes a failed settle call to the error handler.
func (s *settler) report(msg jetstream.Msg, err error) {
	if err != nil && s.cfg.onError != nil {
		s.cfg.onError(msg, err)
	}
}

func deliveries(msg jetstream.Msg) uint64 {
	md, err := msg.Metadata()
	if err != nil {
		return 1
	}
	return md.NumDelivered
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
