package workerpool_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/workerpool-go/workerpool"
)

// The basic pattern: one goroutine submits, the caller reads Results until
// the pool is closed and drained.
func Example() {
	square := func(_ context.Context, n int) (int, error) { return n * n, nil }
	p := workerpool.New(square, workerpool.WithWorkers(4))

	go func() {
		defer p.Close() // no more jobs: Results closes once all are done
		for n := 1; n <= 5; n++ {
			if _, err := p.Submit(context.Background(), n); err != nil {
				fmt.Println("submit:", err)
				return
			}
		}
	}()

	var lines []string
	for r := range p.Results() { // completion order: sort before printing
		lines = append(lines, fmt.Sprintf("job %d: %d² = %d", r.Job.ID, r.Job.Value, r.Value))
	}
	slices.Sort(lines)
	fmt.Println(strings.Join(lines, "\n"))
	fmt.Printf("%+v\n", p.Stats())
	// Output:
	// job 1: 1² = 1
	// job 2: 2² = 4
	// job 3: 3² = 9
	// job 4: 4² = 16
	// job 5: 5² = 25
	// {Workers:4 Live:0 Running:0 Queued:0 Submitted:5 Completed:5 Failed:0 Panicked:0}
}

func ExampleMap() {
	words := []string{"pool", "worker", "go", "channel"}
	lengths, err := workerpool.Map(context.Background(), words, func(_ context.Context, w string) (int, error) {
		return len(w), nil
	})
	fmt.Println(lengths, err)

	// The first error stops the rest and is returned as it is.
	_, err = workerpool.Map(context.Background(), words, func(_ context.Context, w string) (int, error) {
		if len(w) < 3 {
			return 0, fmt.Errorf("%q is too short", w)
		}
		return len(w), nil
	})
	fmt.Println(err)
	// Output:
	// [4 6 2 7] <nil>
	// "go" is too short
}

func ExampleStream() {
	lines := make(chan string)
	go func() {
		defer close(lines)
		for _, l := range []string{"a b c", "d e", "f"} {
			lines <- l
		}
	}()
	countWords := func(_ context.Context, l string) (int, error) { return len(strings.Fields(l)), nil }

	total := 0
	for r := range workerpool.Stream(context.Background(), lines, countWords, workerpool.WithWorkers(2)) {
		total += r.Value
	}
	fmt.Println("words:", total)
	// Output:
	// words: 6
}

// A queue consumer stops gracefully on SIGTERM by closing Stream's input:
// every message read is processed and its Result delivered. Cancelling
// Stream's context instead would fail the jobs not yet started.
func ExampleStream_gracefulStop() {
	// Here the signal is simulated by cancelling the parent context.
	parent, sigterm := context.WithCancel(context.Background())
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()

	in := make(chan int)
	go func() { // the consumer's receive loop
		defer close(in) // the graceful stop
		for msg := 1; ; msg++ {
			if ctx.Err() != nil {
				return
			}
			in <- msg
			if msg == 5 {
				sigterm() // arrives after the fifth message
			}
		}
	}()
	square := func(_ context.Context, v int) (int, error) { return v * v, nil }
	sum, n := 0, 0
	for r := range workerpool.Stream(context.Background(), in, square) {
		sum += r.Value
		n++
	}
	fmt.Println(n, "messages processed, sum", sum)
	// Output:
	// 5 messages processed, sum 55
}

func ExampleWithOrderedResults() {
	slowFirst := func(_ context.Context, d time.Duration) (string, error) {
		time.Sleep(d) // the first job finishes last...
		return d.String(), nil
	}
	p := workerpool.New(slowFirst, workerpool.WithWorkers(3), workerpool.WithOrderedResults())
	go func() {
		defer p.Close()
		for _, d := range []time.Duration{30 * time.Millisecond, 20 * time.Millisecond, 0} {
			_, _ = p.Submit(context.Background(), d)
		}
	}()
	for r := range p.Results() { // ...but Results come in submission order
		fmt.Println(r.Job.ID, r.Value)
	}
	// Output:
	// 1 30ms
	// 2 20ms
	// 3 0s
}

// Cancelling the pool's context stops jobs that have not started: they still
// get a Result, with the context's error, and their Func is not called.
func ExampleWithContext() {
	ctx, cancel := context.WithCancel(context.Background())
	started, holding := make(chan struct{}), make(chan struct{})
	p := workerpool.New(func(_ context.Context, n int) (int, error) {
		started <- struct{}{}
		<-holding // keep the single worker busy while more jobs queue up
		return n, nil
	}, workerpool.WithWorkers(1), workerpool.WithContext(ctx), workerpool.WithOrderedResults())
	for n := 1; n <= 3; n++ {
		_, _ = p.Submit(context.Background(), n)
	}
	<-started // job 1 is running; jobs 2 and 3 wait in the buffer
	cancel()  // e.g. the program is shutting down
	close(holding)
	_, err := p.Submit(context.Background(), 4)
	fmt.Println("submit after cancel:", err)
	p.Close()
	for r := range p.Results() {
		fmt.Println(r.Job.ID, r.Value, r.Err)
	}
	// Output:
	// submit after cancel: context canceled
	// 1 1 <nil>
	// 2 0 context canceled
	// 3 0 context canceled
}

// A panicking job does not take the pool down: its Result carries a
// *PanicError with the panic value and stack.
func ExamplePanicError() {
	p := workerpool.New(func(_ context.Context, n int) (int, error) {
		if n == 0 {
			panic("division by zero")
		}
		return 100 / n, nil
	}, workerpool.WithWorkers(1), workerpool.WithOrderedResults())
	for _, n := range []int{0, 5} {
		_, _ = p.Submit(context.Background(), n)
	}
	p.Close()
	for r := range p.Results() {
		var pe *workerpool.PanicError
		if errors.As(r.Err, &pe) {
			fmt.Println(r.Job.ID, "panicked:", pe.Value, "stack captured:", len(pe.Stack) > 0)
			continue
		}
		fmt.Println(r.Job.ID, "=", r.Value)
	}
	// Output:
	// 1 panicked: division by zero stack captured: true
	// 2 = 20
}

// TrySubmit never blocks: when the buffer is full it says so, and the caller
// decides what to do (shed load, retry later, or Submit and wait).
func ExamplePool_TrySubmit() {
	holding := make(chan struct{})
	started := make(chan struct{})
	p := workerpool.New(func(_ context.Context, n int) (int, error) {
		if n == 1 {
			close(started)
		}
		<-holding
		return n, nil
	}, workerpool.WithWorkers(1), workerpool.WithBufferSize(1))

	_, err := p.TrySubmit(1) // taken by the worker
	fmt.Println(err)
	<-started
	_, err = p.TrySubmit(2) // waits in the buffer
	fmt.Println(err)
	_, err = p.TrySubmit(3) // no room
	fmt.Println(err)

	close(holding)
	p.Close()
	for range p.Results() {
	}
	_, err = p.TrySubmit(4)
	fmt.Println(err)
	// Output:
	// <nil>
	// <nil>
	// workerpool: jobs buffer is full
	// workerpool: pool is closed
}

// A per-job timeout: the job's context is done after the duration, and a
// job that respects it returns the context's error.
func ExampleWithJobTimeout() {
	p := workerpool.New(func(ctx context.Context, d time.Duration) (string, error) {
		select {
		case <-time.After(d):
			return "done", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}, workerpool.WithJobTimeout(50*time.Millisecond), workerpool.WithOrderedResults())
	_, _ = p.Submit(context.Background(), time.Millisecond)
	_, _ = p.Submit(context.Background(), time.Hour)
	p.Close()
	for r := range p.Results() {
		fmt.Printf("%d %q %v\n", r.Job.ID, r.Value, r.Err)
	}
	// Output:
	// 1 "done" <nil>
	// 2 "" context deadline exceeded
}

// A flaky call is retried with exponential backoff until it succeeds; the
// Result says how many attempts it took.
func ExampleWithRetry() {
	calls := 0 // one job, so no race
	flaky := func(_ context.Context, name string) (string, error) {
		calls++
		if calls < 3 {
			return "", errors.New("503 service unavailable")
		}
		return "hello, " + name, nil
	}
	p := workerpool.New(flaky, workerpool.WithRetry(5, workerpool.ExponentialBackoff(time.Millisecond, 10*time.Millisecond)))
	_, _ = p.Submit(context.Background(), "gopher")
	p.Close()
	for r := range p.Results() {
		fmt.Printf("%q after %d attempts, err=%v\n", r.Value, r.Attempts, r.Err)
	}
	// Output:
	// "hello, gopher" after 3 attempts, err=<nil>
}

// Permanent errors are not retried.
func ExamplePermanent() {
	p := workerpool.New(func(_ context.Context, id int) (string, error) {
		return "", workerpool.Permanent(fmt.Errorf("user %d not found", id))
	}, workerpool.WithRetry(5, workerpool.ExponentialBackoff(time.Second, time.Minute)))
	_, _ = p.Submit(context.Background(), 42)
	p.Close()
	for r := range p.Results() {
		fmt.Println(r.Err, "| attempts:", r.Attempts, "| permanent:", workerpool.IsPermanent(r.Err))
	}
	// Output:
	// user 42 not found | attempts: 1 | permanent: true
}

// Resize changes the worker limit while the pool runs.
func ExamplePool_Resize() {
	started, release := make(chan int), make(chan struct{})
	p := workerpool.New(func(_ context.Context, n int) (int, error) {
		started <- n
		<-release
		return n, nil
	}, workerpool.WithWorkers(1))
	for n := range 4 { // the buffer has room for all four
		_, _ = p.Submit(context.Background(), n)
	}
	<-started
	fmt.Println("workers:", p.Stats().Workers, "running:", p.Stats().Running)

	p.Resize(4) // more capacity: the queued jobs start at once
	for range 3 {
		<-started
	}
	fmt.Println("workers:", p.Stats().Workers, "running:", p.Stats().Running)
	close(release)
	p.Close()
	for range p.Results() {
	}
	// Output:
	// workers: 1 running: 1
	// workers: 4 running: 4
}

// latencies is an Observer that keeps how long each job ran.
type latencies struct {
	mu  sync.Mutex
	ran []time.Duration
}

func (l *latencies) JobStarted(uint64, time.Duration) {}

func (l *latencies) JobFinished(_ uint64, ran time.Duration, _ error) {
	l.mu.Lock()
	l.ran = append(l.ran, ran)
	l.mu.Unlock()
}

// An Observer feeds a latency summary.
func ExampleWithObserver() {
	obs := &latencies{}
	work := func(_ context.Context, d time.Duration) (struct{}, error) {
		time.Sleep(d)
		return struct{}{}, nil
	}
	in := []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond}
	if _, err := workerpool.Map(context.Background(), in, work, workerpool.WithObserver(obs)); err != nil {
		fmt.Println(err)
	}
	slices.Sort(obs.ran)
	fmt.Println("jobs:", len(obs.ran))
	fmt.Println("fastest >= 5ms:", obs.ran[0] >= 5*time.Millisecond)
	fmt.Println("slowest >= 20ms:", obs.ran[len(obs.ran)-1] >= 20*time.Millisecond)
	// Output:
	// jobs: 3
	// fastest >= 5ms: true
	// slowest >= 20ms: true
}

// One pool shared by many callers, as the request handlers of a server
// share it: the pool caps how many calls reach the backend at once, and
// each caller gets its own answer back.
func ExamplePool_Do() {
	lookup := func(_ context.Context, id int) (string, error) {
		return fmt.Sprintf("user-%d", id), nil // a query, an API call...
	}
	p := workerpool.New(lookup, workerpool.WithWorkers(4)) // at most 4 at once
	defer p.Close()

	names := make([]string, 5)
	var wg sync.WaitGroup
	for i := range names { // five handlers at once
		wg.Go(func() {
			name, err := p.Do(context.Background(), i+1) // the request's ctx in a server
			if err != nil {
				name = err.Error()
			}
			names[i] = name
		})
	}
	wg.Wait()
	fmt.Println(names)
	// Output: [user-1 user-2 user-3 user-4 user-5]
}

// TryDo sheds load: when the pool's buffer is full it answers at once, as a
// server answers 503 rather than queueing without bound.
func ExamplePool_TryDo() {
	started, release := make(chan struct{}), make(chan struct{})
	p := workerpool.New(func(_ context.Context, v int) (int, error) {
		if v == 1 {
			close(started)
			<-release // a slow call holds the only worker
		}
		return 10 * v, nil
	}, workerpool.WithWorkers(1), workerpool.WithBufferSize(1))

	var wg sync.WaitGroup
	wg.Go(func() {
		v, err := p.Do(context.Background(), 1)
		fmt.Println("slow call:", v, err)
	})
	<-started
	if _, err := p.Submit(context.Background(), 2); err != nil { // fills the buffer
		fmt.Println(err)
	}
	if _, err := p.TryDo(context.Background(), 3); errors.Is(err, workerpool.ErrQueueFull) {
		fmt.Println("busy: answer 503 with Retry-After")
	}
	close(release)
	wg.Wait()
	p.Close()
	for r := range p.Results() {
		fmt.Println("submitted job:", r.Value)
	}
	// Output:
	// busy: answer 503 with Retry-After
	// slow call: 10 <nil>
	// submitted job: 20
}

// Pool.Map runs a slice on a shared pool's workers, within its limit, and
// keeps at most that many of its elements queued, so the other callers of
// the pool are not starved by a large batch.
func ExamplePool_Map() {
	square := func(_ context.Context, n int) (int, error) { return n * n, nil }
	p := workerpool.New(square, workerpool.WithWorkers(2))
	defer p.Close()

	squares, err := p.Map(context.Background(), []int{1, 2, 3, 4, 5})
	fmt.Println(squares, err)
	// Output: [1 4 9 16 25] <nil>
}

// Workers idle for the timeout exit, and start again on demand: a pool that
// saw one burst does not keep its goroutines for ever.
func ExampleWithIdleTimeout() {
	p := workerpool.New(func(_ context.Context, v int) (int, error) { return 2 * v, nil },
		workerpool.WithWorkers(8), workerpool.WithIdleTimeout(20*time.Millisecond))
	defer p.Close()

	if _, err := p.Map(context.Background(), make([]int, 1000)); err != nil { // a burst
		fmt.Println(err)
	}
	for p.Stats().Live > 0 { // they retire 20-40 ms after going idle
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Println("workers alive after the burst:", p.Stats().Live)
	v, err := p.Do(context.Background(), 21)
	fmt.Println("a new job starts one again:", v, err)
	// Output:
	// workers alive after the burst: 0
	// a new job starts one again: 42 <nil>
}

// limitLogger is an Observer that also implements LimitObserver: it prints
// each change of an adaptive pool's limit.
type limitLogger struct{}

func (limitLogger) JobStarted(uint64, time.Duration)         {}
func (limitLogger) JobFinished(uint64, time.Duration, error) {}
func (limitLogger) LimitChanged(old, new int, reason string) {
	fmt.Printf("limit %d -> %d (%s)\n", old, new, reason)
}

// A pool that finds its limit by itself: here a backend that answers 503
// to every call, marked Overloaded, brings the limit down to its minimum.
// Under load the limit also follows the calls' run time: docs/design.md.
func ExampleWithAdaptiveLimit() {
	call := func(_ context.Context, id int) (string, error) {
		return "", workerpool.Overloaded(fmt.Errorf("call %d: 503 Service Unavailable", id))
	}
	p := workerpool.New(call,
		workerpool.WithWorkers(4),           // where the limit starts
		workerpool.WithAdaptiveLimit(2, 64), // and its bounds
		workerpool.WithObserver(limitLogger{}))
	defer p.Close()
	for id := range 200 {
		if _, err := p.Do(context.Background(), id); err == nil {
			fmt.Println("unexpected success")
		}
	}
	fmt.Println("workers:", p.Stats().Workers)
	// Output:
	// limit 4 -> 3 (overloaded)
	// limit 3 -> 2 (overloaded)
	// workers: 2
}
