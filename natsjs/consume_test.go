package natsjs_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/workerpool-go/workerpool"
	"github.com/workerpool-go/workerpool/natsjs"
)

const watchdog = 30 * time.Second

// runServer starts an embedded NATS server with JetStream on a free
// loopback port and a temporary store.
func runServer(t testing.TB) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true,
	})
	require.NoError(t, err)
	go s.Start()
	require.True(t, s.ReadyForConnections(10*time.Second), "server did not start")
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

func connect(t testing.TB, s *server.Server) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return nc, js
}

// setup makes a work-queue stream JOBS with the durable consumer "workers"
// and publishes n messages "0".."n-1" to it.
func setup(t testing.TB, js jetstream.JetStream, n int, cfg jetstream.ConsumerConfig) {
	t.Helper()
	ctx := context.Background()
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "JOBS", Subjects: []string{"jobs.>"}, Retention: jetstream.WorkQueuePolicy,
	})
	require.NoError(t, err)
	cfg.Durable = "workers"
	cfg.AckPolicy = jetstream.AckExplicitPolicy
	if cfg.AckWait == 0 {
		cfg.AckWait = 30 * time.Second
	}
	_, err = js.CreateOrUpdateConsumer(ctx, "JOBS", cfg)
	require.NoError(t, err)
	for i := range n {
		_, err := js.Publish(ctx, "jobs.work", []byte(strconv.Itoa(i)))
		require.NoError(t, err)
	}
}

func consumer(t testing.TB, js jetstream.JetStream) jetstream.Consumer {
	t.Helper()
	c, err := js.Consumer(context.Background(), "JOBS", "workers")
	require.NoError(t, err)
	return c
}

func streamMsgs(t testing.TB, js jetstream.JetStream) uint64 {
	t.Helper()
	st, err := js.Stream(context.Background(), "JOBS")
	require.NoError(t, err)
	info, err := st.Info(context.Background())
	require.NoError(t, err)
	return info.State.Msgs
}

// requireStreamEmpties waits until the stream holds no message. A Term is a
// fire-and-forget message that the server applies on its own time, and
// nothing reports when it has, so this asks the server until it agrees or
// the watchdog runs out. (Acks need no wait: WithDoubleAck waits for the
// server's confirmation.)
func requireStreamEmpties(t testing.TB, js jetstream.JetStream, msg string) {
	t.Helper()
	require.Eventually(t, func() bool { return streamMsgs(t, js) == 0 }, watchdog, time.Millisecond, msg)
}

// job is a decoded message: its number and how often it was delivered.
type job struct {
	n         int
	delivered uint64
}

func decode(msg jetstream.Msg) (job, error) {
	n, err := strconv.Atoi(string(msg.Data()))
	if err != nil {
		return job{}, err
	}
	md, err := msg.Metadata()
	if err != nil {
		return job{}, err
	}
	return job{n: n, delivered: md.NumDelivered}, nil
}

// tally records which jobs ran, and signals done once every one of want
// distinct jobs has succeeded.
type tally struct {
	mu   sync.Mutex
	runs map[int][]uint64 // job -> deliveries it ran on
	ok   map[int]bool
	want int
	done chan struct{}
}

func newTally(want int) *tally {
	return &tally{runs: map[int][]uint64{}, ok: map[int]bool{}, want: want, done: make(chan struct{})}
}

func (tl *tally) record(j job, succeeded bool) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.runs[j.n] = append(tl.runs[j.n], j.delivered)
	if succeeded && !tl.ok[j.n] {
		tl.ok[j.n] = true
		if len(tl.ok) == tl.want {
			close(tl.done)
		}
	}
}

func (tl *tally) wait(t testing.TB) {
	t.Helper()
	select {
	case <-tl.done:
	case <-time.After(watchdog):
		tl.mu.Lock()
		defer tl.mu.Unlock()
		require.FailNowf(t, "not every job succeeded", "%d of %d", len(tl.ok), tl.want)
	}
}

func TestTwoAdaptersShareOneDurableConsumer(t *testing.T) {
	const n = 300
	s := runServer(t)
	_, js := connect(t, s)
	setup(t, js, n, jetstream.ConsumerConfig{})

	tl := newTally(n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	var counts [2]atomic.Int64
	errs := make(chan error, 2)
	for a := range 2 {
		_, jsA := connect(t, s) // a connection of its own, as another process would have
		var once sync.Once
		go func() {
			errs <- natsjs.Consume(ctx, consumer(t, jsA), decode, func(_ context.Context, j job) (int, error) {
				// Neither adapter may finish the batch alone: each holds its
				// first job until the other has started one.
				once.Do(func() {
					close(started[a])
					select {
					case <-started[1-a]:
					case <-time.After(watchdog):
					}
				})
				counts[a].Add(1)
				tl.record(j, true)
				return j.n, nil
			}, natsjs.WithWorkers(4), natsjs.WithBufferSize(4), natsjs.WithDoubleAck())
		}()
	}
	tl.wait(t)
	cancel()
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)

	assert.Positive(t, counts[0].Load(), "adapter 0 did work")
	assert.Positive(t, counts[1].Load(), "adapter 1 did work")
	assert.Equal(t, int64(n), counts[0].Load()+counts[1].Load(), "each message processed once")
	for i := range n {
		assert.Equalf(t, []uint64{1}, tl.runs[i], "job %d ran once, on its first delivery", i)
	}
	assert.Zero(t, streamMsgs(t, js), "every message was acked")
}

func TestFailingJobIsRedeliveredUntilItSucceeds(t *testing.T) {
	s := runServer(t)
	_, js := connect(t, s)
	setup(t, js, 3, jetstream.ConsumerConfig{MaxDeliver: 5})
	tl := newTally(3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- natsjs.Consume(ctx, consumer(t, js), decode, func(_ context.Context, j job) (int, error) {
			if j.n == 1 && j.delivered <= 2 {
				tl.record(j, false)
				return 0, errors.New("transient")
			}
			tl.record(j, true)
			return j.n, nil
		}, natsjs.WithBackoff(func(int) time.Duration { return 10 * time.Millisecond }), natsjs.WithDoubleAck())
	}()
	tl.wait(t)
	cancel()
	require.NoError(t, <-errc)
	assert.Equal(t, []uint64{1, 2, 3}, tl.runs[1], "failed twice, redelivered, then succeeded")
	assert.Equal(t, []uint64{1}, tl.runs[0])
	assert.Zero(t, streamMsgs(t, js))
}

func TestPermanentFailureAndPoisonMessageAreTerminated(t *testing.T) {
	s := runServer(t)
	_, js := connect(t, s)
	setup(t, js, 3, jetstream.ConsumerConfig{MaxDeliver: 5})
	_, err := js.Publish(context.Background(), "jobs.work", []byte("not a number"))
	require.NoError(t, err)
	_, err = js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "DEAD", Subjects: []string{"dead.>"}})
	require.NoError(t, err)

	errBad := errors.New("bad job")
	type report struct {
		data string
		err  error
	}
	reports := make(chan report, 10)
	tl := newTally(2) // jobs 0 and 2 succeed
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- natsjs.Consume(ctx, consumer(t, js), decode, func(_ context.Context, j job) (int, error) {
			if j.n == 1 {
				tl.record(j, false)
				return 0, workerpool.Permanent(errBad)
			}
			tl.record(j, true)
			return j.n, nil
		}, natsjs.WithDoubleAck(),
			natsjs.WithErrorHandler(func(msg jetstream.Msg, err error) {
				reports <- report{string(msg.Data()), err}
			}),
			natsjs.WithDeadLetter(js, "dead.jobs"))
	}()
	tl.wait(t)
	got := map[string]error{}
	for range 2 {
		select {
		case r := <-reports:
			got[r.data] = r.err
		case <-time.After(watchdog):
			require.FailNow(t, "terminated messages were not reported")
		}
	}
	cancel()
	require.NoError(t, <-errc)

	assert.ErrorIs(t, got["1"], errBad, "the permanent failure is reported")
	assert.ErrorContains(t, got["not a number"], "natsjs: decode", "the poison message is reported")
	assert.Equal(t, []uint64{1}, tl.runs[1], "a permanent failure runs once")
	requireStreamEmpties(t, js, "terminated messages leave the work queue")

	dead, err := js.Stream(context.Background(), "DEAD")
	require.NoError(t, err)
	info, err := dead.Info(context.Background())
	require.NoError(t, err)
	assert.Equal(t, uint64(2), info.State.Msgs, "both went to the dead letter subject")
	m, err := dead.GetMsg(context.Background(), 1)
	require.NoError(t, err)
	assert.NotEmpty(t, m.Header.Get("Natsjs-Error"))
	assert.Equal(t, "jobs.work", m.Header.Get("Natsjs-Subject"))
}

func TestLastDeliveryFailingIsTerminatedAndReported(t *testing.T) {
	s := runServer(t)
	_, js := connect(t, s)
	setup(t, js, 1, jetstream.ConsumerConfig{MaxDeliver: 3})
	reported := make(chan error, 1)
	var runs atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- natsjs.Consume(ctx, consumer(t, js), decode, func(_ context.Context, j job) (int, error) {
			runs.Add(1)
			return 0, fmt.Errorf("always fails (delivery %d)", j.delivered)
		}, natsjs.WithBackoff(func(int) time.Duration { return time.Millisecond }), natsjs.WithDoubleAck(),
			natsjs.WithErrorHandler(func(_ jetstream.Msg, err error) { reported <- err }))
	}()
	select {
	case err := <-reported:
		assert.ErrorContains(t, err, "giving up after 3 deliveries")
	case <-time.After(watchdog):
		require.FailNow(t, "the last failure was not reported")
	}
	cancel()
	require.NoError(t, <-errc)
	assert.Equal(t, int64(3), runs.Load(), "MaxDeliver bounds the runs")
	requireStreamEmpties(t, js, "the terminated message leaves the work queue")
}

func TestCrashedAdapterLosesNothing(t *testing.T) {
	const n = 40
	s := runServer(t)
	_, js := connect(t, s)
	setup(t, js, n, jetstream.ConsumerConfig{AckWait: time.Second})

	// Adapter A takes messages and dies holding them: its connection closes
	// mid-flight and nothing it took is settled.
	ncA, jsA := connect(t, s)
	tookA := make(chan int, n)
	hold := make(chan struct{})
	ctxA, cancelA := context.WithCancel(context.Background())
	errA := make(chan error, 1)
	go func() {
		errA <- natsjs.Consume(ctxA, consumer(t, jsA), decode, func(_ context.Context, j job) (int, error) {
			tookA <- j.n
			<-hold
			return j.n, nil
		}, natsjs.WithWorkers(2), natsjs.WithBufferSize(2), natsjs.WithInProgressInterval(time.Hour))
	}()
	for range 2 { // A holds 4 messages: these 2 running, 2 more queued
		select {
		case <-tookA:
		case <-time.After(watchdog):
			require.FailNow(t, "adapter A took no messages")
		}
	}
	ncA.Close()
	close(hold)
	cancelA()
	<-errA

	// Adapter B gets everything, A's messages once their AckWait runs out.
	tl := newTally(n)
	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	errB := make(chan error, 1)
	_, jsB := connect(t, s)
	go func() {
		errB <- natsjs.Consume(ctxB, consumer(t, jsB), decode, func(_ context.Context, j job) (int, error) {
			tl.record(j, true)
			return j.n, nil
		}, natsjs.WithDoubleAck())
	}()
	tl.wait(t)
	cancelB()
	require.NoError(t, <-errB)
	redelivered := 0
	for _, d := range tl.runs {
		if d[0] > 1 {
			redelivered++
		}
	}
	assert.GreaterOrEqual(t, redelivered, 2, "A's messages came back to B")
	assert.Zero(t, streamMsgs(t, js), "the stream ends empty")
}

func TestCancelDrainsInFlightJobs(t *testing.T) {
	const n = 20
	s := runServer(t)
	_, js := connect(t, s)
	setup(t, js, n, jetstream.ConsumerConfig{})
	started := make(chan int, n)
	release := make(chan struct{})
	var finished atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- natsjs.Consume(ctx, consumer(t, js), decode, func(_ context.Context, j job) (int, error) {
			started <- j.n
			<-release
			finished.Add(1)
			return j.n, nil
		}, natsjs.WithWorkers(3), natsjs.WithBufferSize(2), natsjs.WithDoubleAck())
	}()
	for range 3 {
		<-started
	}
	cancel() // stop pulling; the 3 running and 2 queued jobs still finish
	close(release)
	select {
	case err := <-errc:
		require.NoError(t, err)
	case <-time.After(watchdog):
		require.FailNow(t, "Consume did not return after cancel")
	}
	done := finished.Load()
	assert.GreaterOrEqual(t, done, int64(3))
	assert.LessOrEqual(t, done, int64(5), "never more in flight than workers + buffer")
	assert.Equal(t, uint64(n)-uint64(done), streamMsgs(t, js), "every finished job was acked before Consume returned")
}

func TestConsumeRejectsBadInput(t *testing.T) {
	assert.PanicsWithValue(t, "natsjs: WithWorkers(0): n must be at least 1", func() { natsjs.WithWorkers(0) })
	assert.PanicsWithValue(t, "natsjs: WithPoolOptions(nil): options must not be nil", func() { natsjs.WithPoolOptions(nil) })
	assert.PanicsWithValue(t, "natsjs: Consume: consumer, decode and fn must not be nil", func() {
		_ = natsjs.Consume[int, int](context.Background(), nil, nil, nil)
	})
}

func TestLongJobIsKeptAliveWithInProgress(t *testing.T) {
	s := runServer(t)
	_, js := connect(t, s)
	const ackWait = time.Second
	setup(t, js, 1, jetstream.ConsumerConfig{AckWait: ackWait})
	tl := newTally(1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- natsjs.Consume(ctx, consumer(t, js), decode, func(_ context.Context, j job) (int, error) {
			// Outlive AckWait more than twice over: without InProgress the
			// server would redeliver, and the second worker would run it.
			time.Sleep(5 * ackWait / 2)
			tl.record(j, true)
			return j.n, nil
		}, natsjs.WithWorkers(2), natsjs.WithInProgressInterval(ackWait/4), natsjs.WithDoubleAck())
	}()
	tl.wait(t)
	cancel()
	require.NoError(t, <-errc)
	assert.Equal(t, []uint64{1}, tl.runs[0], "delivered once, kept alive while it ran")
	assert.Zero(t, streamMsgs(t, js))
}

func TestDrainTimeoutCancelsJobsThatDoNotFinish(t *testing.T) {
	s := runServer(t)
	_, js := connect(t, s)
	setup(t, js, 1, jetstream.ConsumerConfig{MaxDeliver: 5})
	started := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- natsjs.Consume(ctx, consumer(t, js), decode, func(jobCtx context.Context, j job) (int, error) {
			close(started)
			<-jobCtx.Done() // never finishes on its own
			return 0, jobCtx.Err()
		}, natsjs.WithDrainTimeout(50*time.Millisecond), natsjs.WithBackoff(func(int) time.Duration { return time.Hour }))
	}()
	<-started
	cancel()
	select {
	case err := <-errc:
		require.NoError(t, err)
	case <-time.After(watchdog):
		require.FailNow(t, "the drain timeout did not cancel the job")
	}
	assert.Equal(t, uint64(1), streamMsgs(t, js), "the cancelled job's message was nak'ed, not lost")
}
