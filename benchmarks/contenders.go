package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alitto/pond/v2"
	gzworkerpool "github.com/gammazero/workerpool"
	"github.com/panjf2000/ants/v2"
	"github.com/sourcegraph/conc/pool"
	"github.com/workerpool-go/workerpool"
	"golang.org/x/sync/errgroup"
)

// Task is the work of one job: it maps the job's number to its output.
type Task func(int) int

// Contender runs jobs 0..n-1 through one way of bounding concurrency, with
// the given number of workers, submitted from `submitters` goroutines at
// once, and returns how many outputs it got and their sum, so that every run
// can be checked for skipped or repeated work.
type Contender struct {
	Name string
	// Run is nil for shapes the contender has no API for.
	Run func(n, workers, submitters int, task Task) (count int, sum int)
	// Shared contenders run the shared workloads (callers waiting for
	// their own results, see shared.go) and no other; the others, all but
	// those.
	Shared bool
}

// split calls submit(i) for every i in 0..n-1 from `submitters` goroutines
// at once and returns when all have been submitted.
func split(n, submitters int, submit func(i int)) {
	if submitters <= 1 {
		for i := range n {
			submit(i)
		}
		return
	}
	var wg sync.WaitGroup
	per := (n + submitters - 1) / submitters
	for s := range submitters {
		lo, hi := s*per, min((s+1)*per, n)
		if lo >= hi {
			break
		}
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				submit(i)
			}
		})
	}
	wg.Wait()
}

// sumSlice adds up the outputs of the contenders that write them into a
// slice indexed by job.
func sumSlice(out []int) (int, int) {
	s := 0
	for _, v := range out {
		s += v
	}
	return len(out), s
}

var contenders = append([]Contender{
	{Name: "textbook", Run: runTextbook},
	{Name: "channel-floor", Run: runChannelFloor},
	{Name: "goroutine-per-job", Run: runGoroutinePerJob},
	{Name: "ants", Run: runAnts},
	{Name: "pond", Run: runPond},
	{Name: "conc", Run: runConc},
	{Name: "errgroup", Run: runErrgroup},
	{Name: "gammazero", Run: runGammazero},
	{Name: "workerpool", Run: runWorkerpool(1024)},
	{Name: "workerpool-textbook-buffers", Run: runWorkerpool(-1)},
	{Name: "workerpool-default", Run: runWorkerpool(0)},
	{Name: "workerpool-Map", Run: runMap},
}, sharedContenders...)

// runTextbook is the pattern of every Go tutorial: N goroutines range over a
// buffered jobs channel and send to a results channel that a WaitGroup
// closes.
func runTextbook(n, workers, submitters int, task Task) (int, int) {
	jobs := make(chan int, workers)
	results := make(chan int, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				results <- task(j)
			}
		})
	}
	go func() { wg.Wait(); close(results) }()
	go func() {
		split(n, submitters, func(i int) { jobs <- i })
		close(jobs)
	}()
	count, sum := 0, 0
	for r := range results {
		count++
		sum += r
	}
	return count, sum
}

// floorJob has the layout of a job in a Pool's jobs channel: the job and the
// time its Submit began.
type floorJob struct {
	job      workerpool.Job[int]
	accepted time.Duration
}

// floorMaxWorkers is the most workers the channel floor runs with as the
// workload asks; past it, it runs with floorWorkers.
const floorMaxWorkers = 1024

// floorWorkers is the channel floor's worker count on workloads with more
// than floorMaxWorkers workers (flag -floor-workers); 0 skips it there.
var floorWorkers int

// runChannelFloor is not a peer but a yardstick: the textbook pattern with
// the element types and the default 1,024-slot buffers of a Pool's two
// channels. Every job through a Pool crosses these two channels, so this is
// the least a Pool's job can cost. It is run up to 1,024 workers: past that
// it would only repeat the textbook pattern's 200,000 goroutines. There,
// -floor-workers runs it with fewer workers, all started up front, to show
// what the two channels cost at that load with no worker started on demand.
// It is no lower bound there: the worker count it needs depends on the task,
// and a Pool that starts workers as jobs arrive can beat a poor choice.
func runChannelFloor(n, workers, submitters int, task Task) (int, int) {
	if workers > floorMaxWorkers {
		if floorWorkers == 0 {
			return -1, 0 // not applicable
		}
		workers = floorWorkers
	}
	jobs := make(chan floorJob, 1024)
	results := make(chan workerpool.Result[int, int], 1024)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for e := range jobs {
				results <- workerpool.Result[int, int]{Job: e.job, Value: task(e.job.Value), Attempts: 1}
			}
		})
	}
	go func() { wg.Wait(); close(results) }()
	go func() {
		var id atomic.Uint64
		split(n, submitters, func(i int) {
			jobs <- floorJob{job: workerpool.Job[int]{ID: id.Add(1), Value: i}, accepted: 0} // accepted: for the size
		})
		close(jobs)
	}()
	count, sum := 0, 0
	for r := range results {
		count++
		sum += r.Value
	}
	return count, sum
}

// runGoroutinePerJob starts a goroutine for every job: no bound at all.
func runGoroutinePerJob(n, _, submitters int, task Task) (int, int) {
	out := make([]int, n)
	var wg sync.WaitGroup
	split(n, submitters, func(i int) {
		wg.Go(func() { out[i] = task(i) })
	})
	wg.Wait()
	return sumSlice(out)
}

// runAnts uses ants' fastest API: a generic pool with a fixed function.
func runAnts(n, workers, submitters int, task Task) (int, int) {
	out := make([]int, n)
	var wg sync.WaitGroup
	p, err := ants.NewPoolWithFuncGeneric(workers, func(i int) {
		out[i] = task(i)
		wg.Done()
	})
	if err != nil {
		panic(err)
	}
	defer p.Release()
	split(n, submitters, func(i int) {
		wg.Add(1)
		if err := p.Invoke(i); err != nil {
			panic(err)
		}
	})
	wg.Wait()
	return sumSlice(out)
}

// runPond uses pond v2's Go, which submits without creating a future.
func runPond(n, workers, submitters int, task Task) (int, int) {
	out := make([]int, n)
	p := pond.NewPool(workers)
	split(n, submitters, func(i int) {
		if err := p.Go(func() { out[i] = task(i) }); err != nil {
			panic(err)
		}
	})
	p.StopAndWait()
	return sumSlice(out)
}

// runConc uses conc's pool with results.
func runConc(n, workers, submitters int, task Task) (int, int) {
	p := pool.NewWithResults[int]().WithMaxGoroutines(workers)
	split(n, submitters, func(i int) {
		p.Go(func() int { return task(i) })
	})
	res := p.Wait()
	sum := 0
	for _, v := range res {
		sum += v
	}
	return len(res), sum
}

// runErrgroup uses errgroup with SetLimit.
func runErrgroup(n, workers, submitters int, task Task) (int, int) {
	out := make([]int, n)
	var g errgroup.Group
	g.SetLimit(workers)
	split(n, submitters, func(i int) {
		g.Go(func() error { out[i] = task(i); return nil })
	})
	if err := g.Wait(); err != nil {
		panic(err)
	}
	return sumSlice(out)
}

// runGammazero uses gammazero/workerpool, whose Submit never blocks (its
// queue is unbounded).
func runGammazero(n, workers, submitters int, task Task) (int, int) {
	out := make([]int, n)
	wp := gzworkerpool.New(workers)
	split(n, submitters, func(i int) {
		wp.Submit(func() { out[i] = task(i) })
	})
	wp.StopWait()
	return sumSlice(out)
}

// runWorkerpool submits to a Pool and reads its Results. buffers sets both
// buffers: 0 leaves the defaults, -1 makes them N, the textbook's shape.
func runWorkerpool(buffers int) func(n, workers, submitters int, task Task) (int, int) {
	return func(n, workers, submitters int, task Task) (int, int) {
		opts := []workerpool.Option{workerpool.WithWorkers(workers)}
		if b := buffers; b != 0 {
			if b < 0 {
				b = workers // the textbook's own shape
			}
			opts = append(opts, workerpool.WithBufferSize(b), workerpool.WithResultBufferSize(b))
		}
		p := workerpool.New(func(_ context.Context, i int) (int, error) { return task(i), nil }, opts...)
		go func() {
			defer p.Close()
			ctx := context.Background()
			split(n, submitters, func(i int) {
				if _, err := p.Submit(ctx, i); err != nil {
					panic(err)
				}
			})
		}()
		count, sum := 0, 0
		for r := range p.Results() {
			count++
			sum += r.Value
		}
		return count, sum
	}
}

// inputs is the input slice of Map, made once per size outside the timing.
var inputs = map[int][]int{}

func input(n int) []int {
	in, ok := inputs[n]
	if !ok {
		in = make([]int, n)
		for i := range in {
			in[i] = i
		}
		inputs[n] = in
	}
	return in
}

// runMap is Map over a slice: one submitter by construction.
func runMap(n, workers, submitters int, task Task) (int, int) {
	if submitters > 1 {
		return -1, 0 // not applicable
	}
	out, err := workerpool.Map(context.Background(), input(n), func(_ context.Context, i int) (int, error) {
		return task(i), nil
	}, workerpool.WithWorkers(workers))
	if err != nil {
		panic(err)
	}
	return sumSlice(out)
}
