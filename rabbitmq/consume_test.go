package rabbitmq_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/workerpool-go/workerpool"
	"github.com/workerpool-go/workerpool/rabbitmq"
)

func decodeInt(d amqp.Delivery) (int, error) { return strconv.Atoi(string(d.Body)) }

func bodies(n int) []string {
	bs := make([]string, n)
	for i := range bs {
		bs[i] = strconv.Itoa(i)
	}
	return bs
}

// seen records which values jobs ran on, and signals once all of want have.
type seen struct {
	mu   sync.Mutex
	runs map[int]int
	want int
	all  chan struct{}
}

func newSeen(want int) *seen { return &seen{runs: map[int]int{}, want: want, all: make(chan struct{})} }

func (s *seen) add(v int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs[v]++
	if len(s.runs) == s.want {
		close(s.all)
	}
}

func (s *seen) wait(t *testing.T) {
	t.Helper()
	select {
	case <-s.all:
	case <-time.After(watchdog):
		s.mu.Lock()
		defer s.mu.Unlock()
		require.FailNow(t, "not every message was processed", "%d of %d", len(s.runs), s.want)
	}
}

// run starts Consume and returns a function that stops it and returns its
// error.
func run(t *testing.T, url, queue string, fn workerpool.Func[int, int], opts ...rabbitmq.Option) func() error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rabbitmq.Consume(ctx, dialer(url), queue, decodeInt, fn, opts...) }()
	stopped := false
	stop := func() error {
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(watchdog):
			t.Fatal("Consume did not return")
			return nil
		}
	}
	t.Cleanup(func() {
		if !stopped {
			_ = stop()
		}
	})
	return stop
}

// TestTwoConsumersShareAQueue: two Consume calls on one queue split its
// messages, every one is processed, acked, and the queue is left empty.
func TestTwoConsumersShareAQueue(t *testing.T) {
	url := brokerURL(t)
	a := newAdmin(t, url)
	q := a.queue(t, nil)
	a.publish(t, q, bodies(300)...)
	s := newSeen(300)
	var byConsumer [2]atomic.Int64
	var stops []func() error
	for i := range 2 {
		stops = append(stops, run(t, url, q, func(_ context.Context, v int) (int, error) {
			byConsumer[i].Add(1)
			s.add(v)
			return v, nil
		}, rabbitmq.WithWorkers(2)))
	}
	s.wait(t)
	for _, stop := range stops {
		assert.NoError(t, stop())
	}
	t.Logf("consumer 0 ran %d jobs, consumer 1 %d", byConsumer[0].Load(), byConsumer[1].Load())
	assert.Positive(t, byConsumer[0].Load())
	assert.Positive(t, byConsumer[1].Load())
	assert.Zero(t, a.ready(t, q), "every message acked")
	assert.Zero(t, unacked(t, q))
}

// TestPrefetchBoundsTheDeliveriesInFlight: with workers 2 and buffer 3 the
// broker has exactly 5 unacknowledged deliveries out while jobs are held,
// and no more than 2 jobs run at once.
func TestPrefetchBoundsTheDeliveriesInFlight(t *testing.T) {
	url := brokerURL(t)
	a := newAdmin(t, url)
	q := a.queue(t, nil)
	a.publish(t, q, bodies(50)...)
	started, release := make(chan int, 50), make(chan struct{})
	var running, peak atomic.Int64
	stop := run(t, url, q, func(_ context.Context, v int) (int, error) {
		n := running.Add(1)
		for m := peak.Load(); n > m && !peak.CompareAndSwap(m, n); m = peak.Load() {
		}
		started <- v
		<-release
		running.Add(-1)
		return v, nil
	}, rabbitmq.WithWorkers(2), rabbitmq.WithBufferSize(3))
	for range 2 {
		select {
		case <-started:
		case <-time.After(watchdog):
			t.Fatal("jobs did not start")
		}
	}
	// The broker's counts settle once it has sent the prefetch: ask until
	// they do, within the watchdog.
	deadline := time.Now().Add(watchdog)
	for unacked(t, q) != 5 && time.Now().Before(deadline) {
	}
	assert.Equal(t, 5, unacked(t, q), "prefetch = workers + buffer")
	assert.Equal(t, 45, a.ready(t, q))
	close(release)
	s := 2
	for s < 50 {
		select {
		case <-started:
			s++
		case <-time.After(watchdog):
			t.Fatal("jobs did not finish")
		}
	}
	assert.NoError(t, stop())
	assert.LessOrEqual(t, peak.Load(), int64(2), "jobs at once")
	assert.Zero(t, a.ready(t, q))
}

// TestRetryAfterTheBackoffWithTheDeliveryCount: a failing job's message
// comes back after the backoff, no earlier, with its delivery count, and
// holds no worker meanwhile: another message runs on the only worker.
func TestRetryAfterTheBackoffWithTheDeliveryCount(t *testing.T) {
	url := brokerURL(t)
	a := newAdmin(t, url)
	q := a.queue(t, nil)
	const backoff = 300 * time.Millisecond
	type delivery struct {
		v  int
		at time.Time
	}
	deliveries := make(chan delivery, 10)
	var tries atomic.Int64
	stop := run(t, url, q, func(_ context.Context, v int) (int, error) {
		deliveries <- delivery{v, time.Now()}
		if v == 0 && tries.Add(1) < 3 {
			return 0, errors.New("transient")
		}
		return v, nil
	}, rabbitmq.WithWorkers(1), rabbitmq.WithBufferSize(0),
		rabbitmq.WithBackoff(func(int) time.Duration { return backoff }))
	a.publish(t, q, "0")
	first := <-deliveries
	a.publish(t, q, "1") // published while message 0 waits to come back
	var got []delivery
	for len(got) < 3 {
		select {
		case d := <-deliveries:
			got = append(got, d)
		case <-time.After(watchdog):
			t.Fatalf("deliveries: %v", got)
		}
	}
	require.NoError(t, stop())
	assert.Equal(t, []int{1, 0, 0}, []int{got[0].v, got[1].v, got[2].v},
		"message 1 ran on the only worker while message 0 waited")
	assert.GreaterOrEqual(t, got[1].at.Sub(first.at), backoff, "no earlier than the backoff")
	assert.GreaterOrEqual(t, got[2].at.Sub(got[1].at), backoff)
	assert.Equal(t, int64(3), tries.Load())
	assert.Zero(t, a.ready(t, q))

	// The count travels in the header: a retried message seen in its retry
	// queue carries its deliveries so far.
	q2 := a.queue(t, nil)
	a.publish(t, q2, "7")
	stop = run(t, url, q2, func(context.Context, int) (int, error) { return 0, errors.New("always") },
		rabbitmq.WithMaxDeliveries(3), rabbitmq.WithBackoff(func(int) time.Duration { return time.Hour }))
	retryQueue := q2 + ".retry.4194304ms" // an hour, rounded up to a power of two ms
	var d amqp.Delivery
	for ok := false; !ok; {
		var err error
		d, ok, err = a.ch.Get(retryQueue, true)
		if err != nil {
			require.ErrorContains(t, err, "NOT_FOUND", "the retry queue is declared on first use")
			a.ch, err = a.conn.Channel() // a failed Get closes the channel
			require.NoError(t, err)
		}
	}
	assert.Equal(t, int64(1), d.Headers[rabbitmq.DeliveriesHeader])
	assert.Equal(t, "7", string(d.Body))
	assert.Equal(t, uint8(amqp.Persistent), d.DeliveryMode, "kept persistent")
	require.NoError(t, stop())
}

// TestDeadLetters: a poison message, a permanent error and the last allowed
// delivery failing are rejected to the queue's dead-letter exchange, each
// reported with its reason.
func TestDeadLetters(t *testing.T) {
	url := brokerURL(t)
	a := newAdmin(t, url)
	dlq := a.queue(t, nil)
	q := a.queue(t, amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq})
	var mu sync.Mutex
	reasons := map[string]string{}
	stop := run(t, url, q, func(_ context.Context, v int) (int, error) {
		if v == 1 {
			return 0, workerpool.Permanent(errors.New("bad order"))
		}
		return 0, errors.New("still failing")
	}, rabbitmq.WithMaxDeliveries(3), rabbitmq.WithBackoff(func(int) time.Duration { return time.Millisecond }),
		rabbitmq.WithErrorHandler(func(d amqp.Delivery, err error) {
			mu.Lock()
			defer mu.Unlock()
			reasons[string(d.Body)] = err.Error()
		}))
	a.publish(t, q, "not a number", "1", "2")
	deadline := time.Now().Add(watchdog)
	for a.ready(t, dlq) < 3 {
		require.True(t, time.Now().Before(deadline), "dead letters did not arrive")
	}
	require.NoError(t, stop())
	mu.Lock()
	defer mu.Unlock()
	assert.Contains(t, reasons["not a number"], "poison")
	assert.Contains(t, reasons["1"], "permanent: bad order")
	assert.Contains(t, reasons["2"], "gave up after 3 deliveries: still failing")
	var got []string
	for range 3 {
		d, ok, err := a.ch.Get(dlq, true)
		require.NoError(t, err)
		require.True(t, ok)
		got = append(got, string(d.Body))
	}
	assert.ElementsMatch(t, []string{"not a number", "1", "2"}, got)
}

// TestSurvivesTheBrokerBeingKilled: the broker is killed with SIGKILL and
// started again mid-run; Consume reconnects by itself and every message of
// the durable queue is processed at least once.
func TestSurvivesTheBrokerBeingKilled(t *testing.T) {
	url := brokerURL(t)
	a := newAdmin(t, url)
	q := a.queue(t, nil)
	const n = 400
	a.publish(t, q, bodies(n)...)
	require.NoError(t, a.conn.Close()) // the broker's death would close it
	s := newSeen(n)
	var processed atomic.Int64
	halfway := make(chan struct{})
	var reports atomic.Int64
	stop := run(t, url, q, func(_ context.Context, v int) (int, error) {
		time.Sleep(2 * time.Millisecond) // work; this is the workload, not a wait
		s.add(v)
		if processed.Add(1) == n/4 {
			close(halfway)
		}
		return v, nil
	}, rabbitmq.WithWorkers(4),
		rabbitmq.WithReconnectBackoff(workerpool.ExponentialBackoff(50*time.Millisecond, time.Second)),
		rabbitmq.WithErrorHandler(func(amqp.Delivery, error) { reports.Add(1) }))
	select {
	case <-halfway:
	case <-time.After(watchdog):
		t.Fatal("no progress before the kill")
	}
	restartBroker(t)
	s.wait(t)
	require.NoError(t, stop())
	t.Logf("%d runs for %d messages, %d errors reported", processed.Load(), n, reports.Load())
	assert.Positive(t, reports.Load(), "the lost connection was reported")
	b := newAdmin(t, url)
	assert.Zero(t, b.ready(t, q))
}

// TestReconnectsAfterTheServerClosesConnections: rabbitmqctl
// close_all_connections mid-run; Consume reconnects and finishes the queue.
func TestReconnectsAfterTheServerClosesConnections(t *testing.T) {
	url := brokerURL(t)
	a := newAdmin(t, url)
	q := a.queue(t, nil)
	const n = 300
	a.publish(t, q, bodies(n)...)
	s := newSeen(n)
	var processed atomic.Int64
	halfway := make(chan struct{})
	stop := run(t, url, q, func(_ context.Context, v int) (int, error) {
		time.Sleep(time.Millisecond) // work, not a wait
		s.add(v)
		if processed.Add(1) == n/3 {
			close(halfway)
		}
		return v, nil
	}, rabbitmq.WithWorkers(2),
		rabbitmq.WithReconnectBackoff(workerpool.ExponentialBackoff(20*time.Millisecond, 500*time.Millisecond)))
	<-halfway
	rabbitmqctl(t, "close_all_connections", "closed by the test")
	s.wait(t)
	require.NoError(t, stop())
	b := newAdmin(t, url)
	assert.Zero(t, b.ready(t, q))
}

// TestGracefulDrain: when ctx ends, the jobs in flight (running, or waiting
// in the pool's buffer) finish and are acked, the deliveries not yet handed
// to the pool go back to the queue, and Consume returns nil.
func TestGracefulDrain(t *testing.T) {
	url := brokerURL(t)
	a := newAdmin(t, url)
	q := a.queue(t, nil)
	a.publish(t, q, bodies(10)...)
	started, release := make(chan int, 10), make(chan struct{})
	stop := run(t, url, q, func(_ context.Context, v int) (int, error) {
		started <- v
		<-release
		return v, nil
	}, rabbitmq.WithWorkers(2), rabbitmq.WithBufferSize(2))
	<-started
	<-started
	stopped := make(chan error)
	go func() { stopped <- stop() }()
	close(release)
	assert.NoError(t, <-stopped)
	ran := 2 + len(started) // the running two, and those waiting in the pool's buffer
	assert.LessOrEqual(t, ran, 2+2, "only the jobs in flight ran: workers plus buffer")
	assert.Equal(t, 10-ran, a.ready(t, q), "those acked, the others back in the queue")
	assert.Zero(t, unacked(t, q))
}

// TestDrainTimeoutCancelsJobs: jobs still running at the drain timeout see
// their ctx cancelled; their messages are retried, not lost.
func TestDrainTimeoutCancelsJobs(t *testing.T) {
	url := brokerURL(t)
	a := newAdmin(t, url)
	q := a.queue(t, nil)
	a.publish(t, q, "1")
	started := make(chan struct{})
	stop := run(t, url, q, func(ctx context.Context, v int) (int, error) {
		close(started)
		<-ctx.Done()
		return 0, ctx.Err()
	}, rabbitmq.WithDrainTimeout(50*time.Millisecond), rabbitmq.WithBackoff(func(int) time.Duration { return time.Hour }))
	<-started
	assert.NoError(t, stop())
	d, ok, err := a.ch.Get(q+".retry.4194304ms", true)
	require.NoError(t, err)
	require.True(t, ok, "the cancelled job's message waits in its retry queue")
	assert.Equal(t, "1", string(d.Body))
}

// TestUnfixableErrorsEndConsume: a queue that does not exist, or a login
// refused, ends Consume at once with the error.
func TestUnfixableErrorsEndConsume(t *testing.T) {
	url := brokerURL(t)
	err := rabbitmq.Consume(context.Background(), dialer(url), "no-such-queue", decodeInt,
		func(context.Context, int) (int, error) { return 0, nil })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "NOT_FOUND")

	bad := strings.Replace(url, "guest:guest", "guest:wrong", 1)
	err = rabbitmq.Consume(context.Background(), dialer(bad), "q", decodeInt,
		func(context.Context, int) (int, error) { return 0, nil })
	require.Error(t, err)
	var ae *amqp.Error
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, amqp.AccessRefused, ae.Code)
}

// TestReconnectsWhileTheBrokerIsDown: a broker that refuses connections is
// retried with backoff until ctx ends, and each failure is reported.
func TestReconnectsWhileTheBrokerIsDown(t *testing.T) {
	var reports atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- rabbitmq.Consume(ctx, dialer("amqp://guest:guest@127.0.0.1:1/"), "q", decodeInt,
			func(context.Context, int) (int, error) { return 0, nil },
			rabbitmq.WithReconnectBackoff(func(int) time.Duration { return time.Millisecond }),
			rabbitmq.WithErrorHandler(func(d amqp.Delivery, err error) {
				if reports.Add(1) == 3 {
					cancel()
				}
			}))
	}()
	select {
	case err := <-done:
		assert.NoError(t, err, "ctx ended: nil")
	case <-time.After(watchdog):
		t.Fatal("Consume did not return")
	}
	assert.GreaterOrEqual(t, reports.Load(), int64(3))
}

func TestOptionsRejectBadValues(t *testing.T) {
	cases := map[string]func(){
		"rabbitmq: WithWorkers(0): n must be at least 1":               func() { rabbitmq.WithWorkers(0) },
		"rabbitmq: WithBufferSize(-1): n must not be negative":         func() { rabbitmq.WithBufferSize(-1) },
		"rabbitmq: WithMaxDeliveries(0): n must be at least 1":         func() { rabbitmq.WithMaxDeliveries(0) },
		"rabbitmq: WithDrainTimeout(0s): d must be positive":           func() { rabbitmq.WithDrainTimeout(0) },
		"rabbitmq: WithBackoff(nil): backoff must not be nil":          func() { rabbitmq.WithBackoff(nil) },
		"rabbitmq: WithSetup(nil): f must not be nil":                  func() { rabbitmq.WithSetup(nil) },
		"rabbitmq: WithErrorHandler(nil): f must not be nil":           func() { rabbitmq.WithErrorHandler(nil) },
		"rabbitmq: WithReconnectBackoff(nil): backoff must not be nil": func() { rabbitmq.WithReconnectBackoff(nil) },
		"rabbitmq: WithPoolOptions(nil): options must not be nil":      func() { rabbitmq.WithPoolOptions(nil) },
	}
	for want, f := range cases {
		assert.PanicsWithValue(t, want, f)
	}
	assert.PanicsWithValue(t, "rabbitmq: Consume: dial, queue, decode and fn must be set", func() {
		_ = rabbitmq.Consume[int, int](context.Background(), nil, "q", decodeInt, nil)
	})
}
