package rabbitmq_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
	"github.com/workerpool-go/workerpool/rabbitmq"
)

// Run with a broker (see brokerURL):
//
//	go test -run '^$' -bench Consume -benchtime 20000x -count 3 .
//
// Each run publishes b.N persistent messages first, untimed, then times
// consuming and acknowledging all of them. The job is trivial, so what is
// measured is the consumer: the broker round trips, the pool and the acks.

// fill publishes n persistent messages to a new queue and returns its name.
func fill(b *testing.B, a *admin, n int) string {
	b.Helper()
	q := a.queue(b, nil)
	confirms := make([]*amqp.DeferredConfirmation, 0, n)
	for i := range n {
		dc, err := a.ch.PublishWithDeferredConfirmWithContext(context.Background(), "", q, false, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte(strconv.Itoa(i))})
		require.NoError(b, err)
		confirms = append(confirms, dc)
	}
	for _, dc := range confirms {
		ok, err := dc.WaitContext(context.Background())
		require.NoError(b, err)
		require.True(b, ok)
	}
	return q
}

// BenchmarkConsume is Consume with 1, GOMAXPROCS and 64 workers, and the
// plain loop it replaces: one goroutine consuming and acking, with the
// prefetch Consume would use at GOMAXPROCS.
func BenchmarkConsume(b *testing.B) {
	url := brokerURL(b)
	procs := runtime.GOMAXPROCS(0)
	for _, w := range []int{1, procs, 64} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			b.ReportAllocs()
			a := newAdmin(b, url)
			q := fill(b, a, b.N)
			var done atomic.Int64
			all := make(chan struct{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b.ResetTimer()
			errc := make(chan error, 1)
			go func() {
				errc <- rabbitmq.Consume(ctx, dialer(url), q, decodeInt, func(_ context.Context, v int) (int, error) {
					if done.Add(1) == int64(b.N) {
						close(all)
					}
					return v, nil
				}, rabbitmq.WithWorkers(w))
			}()
			<-all
			cancel()
			require.NoError(b, <-errc)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
	b.Run("plain-loop", func(b *testing.B) {
		b.ReportAllocs()
		a := newAdmin(b, url)
		q := fill(b, a, b.N)
		b.ResetTimer()
		conn, err := amqp.Dial(url)
		require.NoError(b, err)
		defer conn.Close()
		ch, err := conn.Channel()
		require.NoError(b, err)
		require.NoError(b, ch.Qos(2*procs, 0, false))
		ds, err := ch.Consume(q, "", false, false, false, false, nil)
		require.NoError(b, err)
		for range b.N {
			d := <-ds
			if _, err := decodeInt(d); err != nil {
				b.Fatal(err)
			}
			require.NoError(b, d.Ack(false))
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}
