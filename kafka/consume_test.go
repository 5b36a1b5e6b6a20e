package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/workerpool-go/workerpool"
)

// decodeInt decodes a record's value, a decimal integer.
func decodeInt(r *kgo.Record) (int, error) { return strconv.Atoi(string(r.Value)) }

// ledger records what a test's jobs saw: every record run, and, per key, the
// offsets in the order they ran and whether two ever ran at once.
type ledger struct {
	mu       sync.Mutex
	seen     map[string]int            // "topic/partition@offset" -> runs
	byKey    map[string][]int64        // key -> offsets in the order they ran
	running  map[string]int            // key -> records running now
	overlaps int                       // a record started while another of its key ran
	values   map[int]int               // value -> runs
	notify   chan struct{}             // a record was run (capacity 1)
	hook     func(r *kgo.Record) error // optional: called for every record
}

func newLedger() *ledger {
	return &ledger{seen: map[string]int{}, byKey: map[string][]int64{}, running: map[string]int{},
		values: map[int]int{}, notify: make(chan struct{}, 1)}
}

// job returns a Func that runs records through the ledger. It reads the
// record from the job's value by its offset: the decode gives the value.
func (l *ledger) run(ctx context.Context, x item) (int, error) {
	r := x.r
	key := string(r.Key) + "@" + strconv.Itoa(int(r.Partition))
	l.mu.Lock()
	l.running[key]++
	if l.running[key] > 1 {
		l.overlaps++
	}
	l.byKey[key] = append(l.byKey[key], r.Offset)
	l.mu.Unlock()
	var err error
	if l.hook != nil {
		err = l.hook(r)
	}
	l.mu.Lock()
	l.running[key]--
	if err == nil {
		l.seen[fmt.Sprintf("%s/%d@%d", r.Topic, r.Partition, r.Offset)]++
		l.values[x.v]++
	}
	l.mu.Unlock()
	select {
	case l.notify <- struct{}{}:
	default:
	}
	return x.v, err
}

// item is a test job: the record and its decoded value.
type item struct {
	r *kgo.Record
	v int
}

func decodeItem(r *kgo.Record) (item, error) {
	v, err := decodeInt(r)
	return item{r, v}, err
}

// waitFor waits until cond holds for l, failing the test after the watchdog.
func (l *ledger) waitFor(t *testing.T, what string, cond func(l *ledger) bool) {
	t.Helper()
	deadline := time.After(watchdog)
	for {
		l.mu.Lock()
		ok := cond(l)
		l.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-l.notify:
		case <-deadline:
			l.mu.Lock()
			ran := len(l.values)
			l.mu.Unlock()
			require.FailNow(t, "timed out waiting: "+what, "%d distinct records ran", ran)
		case <-time.After(50 * time.Millisecond): // results of other members
		}
	}
}

// consume runs Consume in a goroutine and returns a function that stops it
// and returns its error.
func consume(t *testing.T, client []kgo.Opt, group string, topics []string, fn workerpool.Func[item, int],
	opts ...Option) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Consume(ctx, client, group, topics, decodeItem, fn, opts...) }()
	stopped := false
	var err error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case err = <-done:
			case <-time.After(watchdog):
				require.FailNow(t, "Consume did not return")
			}
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// checkKeys asserts that no two records of a key ran at once and that each
// key's offsets increased strictly while one member ran them.
func (l *ledger) checkKeys(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	assert.Zero(t, l.overlaps, "two records of one key ran at once")
	for key, offs := range l.byKey {
		for i := 1; i < len(offs); i++ {
			if !assert.Greater(t, offs[i], offs[i-1], "key %s: offsets out of order", key) {
				return
			}
		}
	}
}

// TestConsumeRunsKeysInOrderAndCommitsTheEnd: keyed records on 6 partitions,
// 8 workers: every record runs once, no two of a key at once and each key in
// offset order; after a graceful stop the committed offset is the end of
// every partition, and a new member of the group processes nothing old.
func TestConsumeRunsKeysInOrderAndCommitsTheEnd(t *testing.T) {
	for _, proto := range []string{"classic", "kip848"} {
		t.Run(proto, func(t *testing.T) {
			const n, keys = 3000, 42 // each key on one of the 6 partitions
			seeds, cluster := newClusterWith(t, 6, "t")
			// Count the KIP-848 heartbeats the broker gets, and let it
			// answer them.
			var heartbeats atomic.Int64
			cluster.ControlKey(int16(kmsg.ConsumerGroupHeartbeat), func(kmsg.Request) (kmsg.Response, error, bool) {
				cluster.KeepControl()
				heartbeats.Add(1)
				return nil, nil, false
			})
			produce(t, seeds, "t", 6, n, func(i int) []byte { return []byte("key-" + strconv.Itoa(i%keys)) })
			client := clientOpts(seeds)
			if proto == "kip848" {
				client = append(client, kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer()))
			}
			l := newLedger()
			stop := consume(t, client, "g", []string{"t"}, l.run, WithWorkers(8), WithCommitInterval(50*time.Millisecond))
			l.waitFor(t, "every record ran", func(l *ledger) bool { return len(l.values) == n })
			require.NoError(t, stop())
			if proto == "kip848" {
				assert.Positive(t, heartbeats.Load(), "the member used the KIP-848 protocol")
			} else {
				assert.Zero(t, heartbeats.Load(), "the member used the classic protocol")
			}
			l.checkKeys(t)
			l.mu.Lock()
			for v, runs := range l.values {
				assert.Equal(t, 1, runs, "record %d ran %d times in a run without failures", v, runs)
			}
			l.mu.Unlock()
			end, committed := offsets(t, seeds, "g", "t")
			assert.Equal(t, end, committed, "committed = end on every partition")

			// A restart processes nothing old: one new record per key, and
			// only those run.
			produce(t, seeds, "t", 6, keys, func(i int) []byte { return []byte("key-" + strconv.Itoa(i)) })
			again := newLedger()
			stop = consume(t, client, "g", []string{"t"}, again.run)
			again.waitFor(t, "the new records ran", func(l *ledger) bool { return len(l.values) == keys })
			require.NoError(t, stop())
			again.mu.Lock()
			assert.Len(t, again.seen, keys, "only the new records ran after the restart")
			again.mu.Unlock()
		})
	}
}

// TestOrderPartitionRunsOneRecordOfAPartitionAtATime and OrderNone: the
// partition mode never overlaps within a partition; none lets a key's
// records overlap but still commits the end.
func TestOrderingModes(t *testing.T) {
	const n = 400
	seeds := newCluster(t, 2, "p", "u")
	produce(t, seeds, "p", 2, n, func(i int) []byte { return []byte(strconv.Itoa(i % 7)) })
	produce(t, seeds, "u", 2, n, func(int) []byte { return []byte("one key") })

	byPartition := newLedger()
	release := make(chan struct{})
	var once sync.Once
	stop := consume(t, clientOpts(seeds), "gp", []string{"p"}, func(ctx context.Context, x item) (int, error) {
		// Every record counts under one key per partition.
		x.r = &kgo.Record{Topic: x.r.Topic, Partition: x.r.Partition, Offset: x.r.Offset}
		return byPartition.run(ctx, x)
	}, WithOrdering(OrderPartition), WithWorkers(4))
	byPartition.waitFor(t, "every record ran", func(l *ledger) bool { return len(l.values) == n })
	require.NoError(t, stop())
	byPartition.checkKeys(t)

	// OrderNone: records of one key overlap. The first 4 block until 4 run
	// at once, which only OrderNone allows.
	none := newLedger()
	var mu sync.Mutex
	blocked := 0
	none.hook = func(r *kgo.Record) error {
		mu.Lock()
		blocked++
		if blocked == 4 {
			once.Do(func() { close(release) })
		}
		mu.Unlock()
		select {
		case <-release:
		case <-time.After(watchdog):
		}
		return nil
	}
	stop = consume(t, clientOpts(seeds), "gu", []string{"u"}, none.run, WithOrdering(OrderNone), WithWorkers(4))
	none.waitFor(t, "every record ran", func(l *ledger) bool { return len(l.values) == n })
	require.NoError(t, stop())
	none.mu.Lock()
	assert.Positive(t, none.overlaps, "records of one key overlapped")
	none.mu.Unlock()
	end, committed := offsets(t, seeds, "gu", "u")
	assert.Equal(t, end, committed)
}

// TestFailuresGoToTheDeadLetterTopic: a record that does not decode, one
// whose job fails with a Permanent error and one that fails every attempt go
// to the dead-letter topic with their source and the error in headers, after
// 0, 1 and max attempts; a record that fails once and then succeeds does
// not. All count as done.
func TestFailuresGoToTheDeadLetterTopic(t *testing.T) {
	seeds := newCluster(t, 1, "t", "t.dlt")
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds), kgo.DefaultProduceTopic("t"))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), watchdog)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx,
		&kgo.Record{Key: []byte("a"), Value: []byte("not a number")},
		&kgo.Record{Key: []byte("b"), Value: []byte("1")}, // permanent
		&kgo.Record{Key: []byte("c"), Value: []byte("2")}, // always fails
		&kgo.Record{Key: []byte("d"), Value: []byte("3")}, // fails once
		&kgo.Record{Key: []byte("e"), Value: []byte("4")}, // succeeds
	).FirstErr())

	var mu sync.Mutex
	tries := map[int]int{}
	var reported []error
	ok := make(chan int, 8)
	stop := consume(t, clientOpts(seeds), "g", []string{"t"}, func(_ context.Context, x item) (int, error) {
		mu.Lock()
		tries[x.v]++
		n := tries[x.v]
		mu.Unlock()
		switch {
		case x.v == 1:
			return 0, workerpool.Permanent(errors.New("permanent"))
		case x.v == 2, x.v == 3 && n == 1:
			return 0, errors.New("transient")
		}
		ok <- x.v
		return x.v, nil
	}, WithDeadLetter("t.dlt"), WithMaxAttempts(3),
		WithBackoff(func(int) time.Duration { return time.Millisecond }),
		WithErrorHandler(func(r *kgo.Record, err error) {
			if r != nil {
				mu.Lock()
				reported = append(reported, err)
				mu.Unlock()
			}
		}))

	dl, err := kgo.NewClient(kgo.SeedBrokers(seeds), kgo.ConsumeTopics("t.dlt"))
	require.NoError(t, err)
	defer dl.Close()
	got := map[string]map[string]string{}
	for len(got) < 3 {
		fs := dl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "the dead letters did not all come")
		fs.EachRecord(func(r *kgo.Record) {
			h := map[string]string{}
			for _, kv := range r.Headers {
				h[kv.Key] = string(kv.Value)
			}
			got[string(r.Key)] = h
		})
	}
	assert.ElementsMatch(t, []int{3, 4}, []int{<-ok, <-ok})
	require.NoError(t, stop())

	require.Contains(t, got, "a")
	assert.Equal(t, "t", got["a"][HeaderTopic])
	assert.Equal(t, "0", got["a"][HeaderPartition])
	assert.Equal(t, "0", got["a"][HeaderOffset])
	assert.Equal(t, "0", got["a"][HeaderAttempts], "a poison record never runs")
	assert.Contains(t, got["a"][HeaderError], "poison")
	require.Contains(t, got, "b")
	assert.Equal(t, "1", got["b"][HeaderOffset])
	assert.Equal(t, "1", got["b"][HeaderAttempts], "a permanent error is not retried")
	assert.Contains(t, got["b"][HeaderError], "permanent")
	require.Contains(t, got, "c")
	assert.Equal(t, "2", got["c"][HeaderOffset])
	assert.Equal(t, "3", got["c"][HeaderAttempts], "max attempts")
	assert.Contains(t, got["c"][HeaderError], "transient")
	assert.NotContains(t, got, "d", "a record that succeeds on retry is not dead-lettered")
	mu.Lock()
	assert.Equal(t, 2, tries[3], "the record that failed once ran twice")
	assert.Len(t, reported, 3, "each dead letter is reported")
	mu.Unlock()
	end, committed := offsets(t, seeds, "g", "t")
	assert.Equal(t, end, committed, "dead-lettered records count as done")
}

// TestRevokeNeverCommitsPastARunningRecord: member A runs the first record of
// both partitions and holds them; member B joins and one partition moves to
// it. A's revoke waits for its running job up to the revoke timeout, then
// commits without passing it: B runs that record again, from offset 0. A's
// result for it, when it comes, is dropped. Then B leaves mid-run and A takes
// its partition back from B's commit. Every record runs at least once and the
// group ends committed at the end.
func TestRevokeNeverCommitsPastARunningRecord(t *testing.T) {
	const n = 2000
	seeds := newCluster(t, 2, "t")
	produce(t, seeds, "t", 2, n, func(i int) []byte { return []byte(strconv.Itoa(i % 2)) })

	a, b := newLedger(), newLedger()
	release := make(chan struct{})
	holding := make(chan struct{}, 2)
	var watchdogFired atomic.Bool
	a.hook = func(r *kgo.Record) error {
		if r.Offset == 0 {
			select {
			case holding <- struct{}{}:
			default:
				return nil // run again after the revoke: no need to hold it
			}
			select {
			case <-release:
			case <-time.After(watchdog):
				watchdogFired.Store(true)
			}
		}
		return nil
	}
	stopA := consume(t, clientOpts(seeds), "g", []string{"t"}, a.run,
		WithRevokeTimeout(200*time.Millisecond), WithCommitInterval(20*time.Millisecond))
	<-holding
	<-holding // A holds offset 0 of both partitions

	b.hook = func(*kgo.Record) error {
		time.Sleep(time.Millisecond)
		return nil
	}
	stopB := consume(t, clientOpts(seeds), "g", []string{"t"}, b.run, WithCommitInterval(20*time.Millisecond))
	b.waitFor(t, "B runs the partition it was given, from offset 0", func(l *ledger) bool {
		for k, offs := range l.byKey {
			_ = k
			if len(offs) > 0 && offs[0] == 0 {
				return true
			}
		}
		return false
	})
	close(release)
	b.waitFor(t, "B runs some of its partition", func(l *ledger) bool { return len(l.values) >= 20 })
	require.NoError(t, stopB()) // B leaves mid-run: A takes its partition back
	all := func(*ledger) bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		seen := map[int]bool{}
		for v := range a.values {
			seen[v] = true
		}
		for v := range b.values {
			seen[v] = true
		}
		return len(seen) == n
	}
	b.waitFor(t, "every record ran at least once", all) // all locks a: wait on b
	require.NoError(t, stopA())
	end, committed := offsets(t, seeds, "g", "t")
	assert.Equal(t, end, committed)
	a.checkKeys(t)
	b.checkKeys(t)
	assert.False(t, watchdogFired.Load(), "a held record was let go by the watchdog, not by the test")
}

// TestBadInputPanicsWithAClearMessage: every option's bad value, and the
// kgo options Consume controls, panic with a message naming them.
func TestBadInputPanicsWithAClearMessage(t *testing.T) {
	cases := map[string]func(){
		"kafka: WithWorkers(0)":           func() { WithWorkers(0) },
		"kafka: WithBufferSize(-1)":       func() { WithBufferSize(-1) },
		"kafka: WithOrdering(7)":          func() { WithOrdering(7) },
		"kafka: WithPoolOptions(nil)":     func() { WithPoolOptions(nil) },
		"kafka: WithMaxInFlight(0)":       func() { WithMaxInFlight(0) },
		"kafka: WithCommitInterval(0s)":   func() { WithCommitInterval(0) },
		"kafka: WithBackoff(nil)":         func() { WithBackoff(nil) },
		"kafka: WithMaxAttempts(0)":       func() { WithMaxAttempts(0) },
		`kafka: WithDeadLetter("")`:       func() { WithDeadLetter("") },
		"kafka: WithErrorHandler(nil)":    func() { WithErrorHandler(nil) },
		"kafka: WithRevokeTimeout(-1s)":   func() { WithRevokeTimeout(-time.Second) },
		"kafka: WithDrainTimeout(0s)":     func() { WithDrainTimeout(0) },
		"kafka: nil Option":               func() { newConfig([]Option{nil}) },
		"kafka: Consume: nil Context":     func() { call(nilCtx, nil, "g", []string{"t"}) },
		`kafka: Consume(group "")`:        func() { call(context.Background(), nil, "", []string{"t"}) },
		`kafka: Consume(topics [])`:       func() { call(context.Background(), nil, "g", nil) },
		`kafka: Consume(topics ["t" ""])`: func() { call(context.Background(), nil, "g", []string{"t", ""}) },
		"kafka: Consume: nil kgo.Opt":     func() { call(context.Background(), []kgo.Opt{nil}, "g", []string{"t"}) },
		"kgo.ConsumerGroup":               func() { call(context.Background(), []kgo.Opt{kgo.ConsumerGroup("x")}, "g", []string{"t"}) },
		"kgo.ConsumeTopics":               func() { call(context.Background(), []kgo.Opt{kgo.ConsumeTopics("x")}, "g", []string{"t"}) },
		"kgo.DisableAutoCommit":           func() { call(context.Background(), []kgo.Opt{kgo.DisableAutoCommit()}, "g", []string{"t"}) },
		"kgo.BlockRebalanceOnPoll":        func() { call(context.Background(), []kgo.Opt{kgo.BlockRebalanceOnPoll()}, "g", []string{"t"}) },
		"kgo.OnPartitionsRevoked":         func() { call(context.Background(), []kgo.Opt{kgo.OnPartitionsRevoked(nil)}, "g", []string{"t"}) },
		"kgo.AutoCommitMarks":             func() { call(context.Background(), []kgo.Opt{kgo.AutoCommitMarks()}, "g", []string{"t"}) },
	}
	for want, f := range cases {
		t.Run(want, func(t *testing.T) {
			msg := func() (msg string) {
				defer func() { msg = fmt.Sprint(recover()) }()
				f()
				return ""
			}()
			assert.Contains(t, msg, want)
			assert.Contains(t, msg, "kafka:")
		})
	}
	// Options Consume does not control pass.
	assert.Equal(t, "SeedBrokers", optName(kgo.SeedBrokers("x")))
	assert.Equal(t, "FetchMaxWait", optName(kgo.FetchMaxWait(time.Second)))
}

// nilCtx is the nil Context the bad-input test passes.
var nilCtx context.Context

// call calls Consume with a done ctx (unless nil), so that a case that does
// not panic returns at once instead of consuming.
func call(ctx context.Context, client []kgo.Opt, group string, topics []string) {
	if ctx != nil {
		done, cancel := context.WithCancel(ctx)
		cancel()
		ctx = done
	}
	_ = Consume(ctx, client, group, topics, decodeInt, func(context.Context, int) (int, error) { return 0, nil })
}

// TestUnknownTopicEndsConsume: a topic that does not exist is not something
// reconnecting fixes: Consume returns an error at once.
func TestUnknownTopicEndsConsume(t *testing.T) {
	seeds := newCluster(t, 1, "t")
	ctx, cancel := context.WithTimeout(context.Background(), watchdog)
	defer cancel()
	err := Consume(ctx, clientOpts(seeds), "g", []string{"t", "nope"}, decodeInt,
		func(context.Context, int) (int, error) { return 0, nil })
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"nope"`)
	assert.NoError(t, ctx.Err(), "returned before the watchdog")
}

// TestRetryHoldsNoWorkerAndBlocksOnlyItsKey: with one worker, a record of key
// "a" fails and waits out a backoff far longer than the test; the other keys'
// records all run on the one worker meanwhile, the next record of "a" does
// not, and after the stop the partition is committed up to the waiting
// record, not past it.
func TestRetryHoldsNoWorkerAndBlocksOnlyItsKey(t *testing.T) {
	seeds := newCluster(t, 1, "t")
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds), kgo.DefaultProduceTopic("t"))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), watchdog)
	defer cancel()
	rs := []*kgo.Record{{Key: []byte("a"), Value: []byte("0")}} // fails: waits an hour
	for i := 1; i <= 20; i++ {
		rs = append(rs, &kgo.Record{Key: []byte("b" + strconv.Itoa(i%4)), Value: []byte(strconv.Itoa(i))})
	}
	rs = append(rs, &kgo.Record{Key: []byte("a"), Value: []byte("21")}) // behind the first
	require.NoError(t, cl.ProduceSync(ctx, rs...).FirstErr())

	var mu sync.Mutex
	ran := map[int]int{}
	others := make(chan struct{}, 32)
	stop := consume(t, clientOpts(seeds), "g", []string{"t"}, func(_ context.Context, x item) (int, error) {
		mu.Lock()
		ran[x.v]++
		mu.Unlock()
		if x.v == 0 {
			return 0, errors.New("try again in an hour")
		}
		others <- struct{}{}
		return x.v, nil
	}, WithWorkers(1), WithBufferSize(0), WithMaxInFlight(30),
		WithBackoff(func(int) time.Duration { return time.Hour }), WithErrorHandler(func(*kgo.Record, error) {}))
	for range 20 {
		select {
		case <-others:
		case <-time.After(watchdog):
			require.FailNow(t, "the other keys did not all run while the retry waited")
		}
	}
	require.NoError(t, stop())
	mu.Lock()
	assert.Equal(t, 1, ran[0], "the failed record waits out its backoff")
	assert.Zero(t, ran[21], "the next record of its key waits behind it")
	mu.Unlock()
	_, committed := offsets(t, seeds, "g", "t")
	assert.Equal(t, int64(0), committed[0], "committed up to the waiting record, not past it")
}
