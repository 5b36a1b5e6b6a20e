package natsjs_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/workerpool-go/workerpool/natsjs"
)

// publish puts n messages on a fresh JOBS stream.
func publish(b *testing.B, js jetstream.JetStream, n int) {
	b.Helper()
	ctx := context.Background()
	_ = js.DeleteStream(ctx, "JOBS")
	setup(b, js, 0, jetstream.ConsumerConfig{MaxAckPending: 100_000})
	for i := range n {
		if _, err := js.PublishAsync("jobs.work", []byte(strconv.Itoa(i))); err != nil {
			b.Fatal(err)
		}
	}
	<-js.PublishAsyncComplete()
}

// BenchmarkConsume is messages through the adapter, with a trivial job, per
// second: msg/s is reported, ns/op is per message.
func BenchmarkConsume(b *testing.B) {
	s := runServer(b)
	_, js := connect(b, s)
	for _, w := range []int{1, runtime.GOMAXPROCS(0), 64} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			b.ReportAllocs()
			publish(b, js, b.N)
			var done atomic.Int64
			all := make(chan struct{})
			ctx, cancel := context.WithCancel(context.Background())
			b.ResetTimer()
			start := time.Now()
			errc := make(chan error, 1)
			go func() {
				errc <- natsjs.Consume(ctx, consumer(b, js), decode, func(_ context.Context, j job) (int, error) {
					if done.Add(1) == int64(b.N) {
						close(all)
					}
					return j.n, nil
				}, natsjs.WithWorkers(w), natsjs.WithBufferSize(4*w), natsjs.WithFetchMaxWait(100*time.Millisecond))
			}()
			<-all
			elapsed := time.Since(start)
			b.StopTimer()
			cancel()
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
		})
	}
	// The baseline: one goroutine fetching and acking in a loop.
	b.Run("plain-loop", func(b *testing.B) {
		b.ReportAllocs()
		publish(b, js, b.N)
		cons := consumer(b, js)
		b.ResetTimer()
		start := time.Now()
		for got := 0; got < b.N; {
			batch, err := cons.Fetch(min(b.N-got, 256), jetstream.FetchMaxWait(time.Second))
			if err != nil {
				b.Fatal(err)
			}
			for msg := range batch.Messages() {
				if _, err := decode(msg); err != nil {
					b.Fatal(err)
				}
				if err := msg.Ack(); err != nil {
					b.Fatal(err)
				}
				got++
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
	})
}
