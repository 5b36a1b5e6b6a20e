package workerpool_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/workerpool-go/workerpool"
)

// Run with:
//
//	go test -run '^$' -bench . -benchmem -count 6 . | tee new.txt
//	go run golang.org/x/perf/cmd/benchstat@latest old.txt new.txt
//
// Jobs are trivial on purpose: what is measured is the pool's own cost per
// job, not the work.

func tiny(_ context.Context, v int) (int, error) { return 2*v + 1, nil }

func workerCounts() []int {
	return []int{1, runtime.GOMAXPROCS(0), 64}
}

// runPool pushes n jobs through p from one goroutine while the caller reads
// the Results, the way the package example uses a pool.
func runPool(b *testing.B, p *workerpool.Pool[int, int], n int) {
	go func() {
		defer p.Close()
		ctx := context.Background()
		for i := range n {
			if _, err := p.Submit(ctx, i); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	sum := 0
	for r := range p.Results() {
		sum += r.Value
	}
	if want := n * n; sum != want { // Σ(2i+1) over 0..n-1
		b.Fatalf("checksum %d, want %d", sum, want)
	}
}

// BenchmarkPool is the cost of one job through a Pool in steady state:
// Submit, a worker running a trivial Func, and reading its Result.
func BenchmarkPool(b *testing.B) {
	for _, w := range workerCounts() {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			b.ReportAllocs()
			p := workerpool.New(tiny, workerpool.WithWorkers(w))
			runPool(b, p, b.N)
		})
	}
}

// BenchmarkPoolOrdered is BenchmarkPool with WithOrderedResults.
func BenchmarkPoolOrdered(b *testing.B) {
	for _, w := range workerCounts() {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			b.ReportAllocs()
			p := workerpool.New(tiny, workerpool.WithWorkers(w), workerpool.WithOrderedResults())
			runPool(b, p, b.N)
		})
	}
}

// BenchmarkMap is the cost of one element through Map, whose setup is
// amortised over b.N elements.
func BenchmarkMap(b *testing.B) {
	for _, w := range workerCounts() {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			b.ReportAllocs()
			in := seq(b.N)
			b.ResetTimer()
			out, err := workerpool.Map(context.Background(), in, tiny, workerpool.WithWorkers(w))
			if err != nil || len(out) != b.N {
				b.Fatal(err, len(out))
			}
		})
	}
}

// BenchmarkTextbook is the hand-written pattern the pool replaces: N
// goroutines ranging over a buffered channel, results closed by a WaitGroup.
// It is the baseline for BenchmarkPool.
func BenchmarkTextbook(b *testing.B) {
	for _, w := range workerCounts() {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			b.ReportAllocs()
			jobs := make(chan int, w)
			results := make(chan int, w)
			var wg sync.WaitGroup
			for range w {
				wg.Go(func() {
					for j := range jobs {
						v, _ := tiny(context.Background(), j)
						results <- v
					}
				})
			}
			go func() { wg.Wait(); close(results) }()
			go func() {
				defer close(jobs)
				for i := range b.N {
					jobs <- i
				}
			}()
			sum := 0
			for v := range results {
				sum += v
			}
			if sum != b.N*b.N {
				b.Fatal("bad checksum")
			}
		})
	}
}

// BenchmarkChannelFloor is what BenchmarkPool cannot go below: the
// textbook pattern with the element types and default 1,024-slot buffers of a
// Pool's two channels, jobs and Results, which every job through a Pool
// crosses. What BenchmarkPool costs above it is the Pool's own bookkeeping.
func BenchmarkChannelFloor(b *testing.B) {
	for _, w := range workerCounts() {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			runFloor(b, w, 1024, false)
		})
	}
}

// BenchmarkTextbookShapeFloor is the floor of a Pool in the textbook's own
// shape (BenchmarkBufferSizes with buffers of N on N workers, where the
// submitter outruns its workers and finds the buffer full on most jobs): the
// textbook pattern with a Pool's element types and buffers of N. With
// send=plain its submitter waits in a plain send, as the textbook's does;
// with send=select it waits as a Pool's Submit must, in a select that also
// wakes it for something else (Close, a context, another caller), after a
// send that does not wait.
func BenchmarkTextbookShapeFloor(b *testing.B) {
	for _, w := range []int{runtime.GOMAXPROCS(0), 64} {
		for _, send := range []string{"plain", "select"} {
			b.Run(fmt.Sprintf("workers=%d/send=%s", w, send), func(b *testing.B) {
				runFloor(b, w, w, send == "select")
			})
		}
	}
}

// floorEnvelope is a job on its way to a worker, of the size a Pool sends.
type floorEnvelope struct {
	job      workerpool.Job[int]
	accepted time.Duration
	to       uint64
}

// runFloor runs b.N tiny jobs through the textbook pattern with a Pool's
// element types: w workers ranging over a jobs channel of buffer slots, fed
// by one goroutine, and Results of the same buffer read by the caller. The
// feeder waits for room in a plain send, or with waitInSelect as a Pool's
// Submit does: a send that does not wait, then a select that something else
// could end too.
func runFloor(b *testing.B, w, buffer int, waitInSelect bool) {
	b.ReportAllocs()
	jobs := make(chan floorEnvelope, buffer)
	results := make(chan workerpool.Result[int, int], buffer)
	wake := make(chan struct{}) // never ready: what else a Pool's Submit waits for
	var wg sync.WaitGroup
	for range w {
		wg.Go(func() {
			for e := range jobs {
				v, err := tiny(context.Background(), e.job.Value)
				results <- workerpool.Result[int, int]{Job: e.job, Value: v, Err: err, Attempts: 1}
			}
		})
	}
	go func() { wg.Wait(); close(results) }()
	go func() {
		defer close(jobs)
		for i := range b.N {
			e := floorEnvelope{job: workerpool.Job[int]{ID: uint64(i) + 1, Value: i}, accepted: 0, to: 0} // accepted, to: for the size
			if !waitInSelect {
				jobs <- e
				continue
			}
			select {
			case jobs <- e:
				continue
			default:
			}
			select {
			case jobs <- e:
			case <-wake:
			}
		}
	}()
	sum := 0
	for r := range results {
		sum += r.Value
	}
	if sum != b.N*b.N {
		b.Fatal("bad checksum")
	}
}

// BenchmarkGoroutinePerSubmit is the cost of one job submitted from a
// goroutine of its own, as code that fans out with "go submit(v)" does: most
// of those goroutines find the buffer full and block in Submit.
func BenchmarkGoroutinePerSubmit(b *testing.B) {
	b.ReportAllocs()
	p := workerpool.New(tiny)
	go func() {
		defer p.Close()
		var wg sync.WaitGroup
		for i := range b.N {
			wg.Go(func() {
				if _, err := p.Submit(context.Background(), i); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}()
	sum := 0
	for r := range p.Results() {
		sum += r.Value
	}
	if sum != b.N*b.N {
		b.Fatalf("checksum %d, want %d", sum, b.N*b.N)
	}
}

// BenchmarkBufferSizes is one input to the default buffer sizes: the
// per-job cost for jobs and results buffers of several sizes.
func BenchmarkBufferSizes(b *testing.B) {
	for _, w := range []int{runtime.GOMAXPROCS(0), 64} {
		sizes := []int{0, 1, w, 4 * w, 64, 256, 1024, 4096}
		slices.Sort(sizes)
		for _, size := range slices.Compact(sizes) {
			b.Run(fmt.Sprintf("workers=%d/buffer=%d", w, size), func(b *testing.B) {
				b.ReportAllocs()
				p := workerpool.New(tiny, workerpool.WithWorkers(w),
					workerpool.WithBufferSize(size), workerpool.WithResultBufferSize(size))
				runPool(b, p, b.N)
			})
		}
	}
}

// BenchmarkStartup is the fixed cost of a pool apart from its jobs: New, one
// job (which starts a worker), Close and the end of Results.
func BenchmarkStartup(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		p := workerpool.New(tiny)
		if _, err := p.TrySubmit(1); err != nil {
			b.Fatal(err)
		}
		p.Close()
		for range p.Results() {
		}
	}
}

// doShapes are the shapes of BenchmarkDo: callers sharing one pool of
// workers, each making its calls one after another.
func doShapes() [][2]int {
	procs := runtime.GOMAXPROCS(0)
	return [][2]int{{1, procs}, {64, procs}, {512, 64}}
}

// runCallers splits n calls among callers goroutines, each calling call(i)
// for its share one after another, and waits for them all.
func runCallers(b *testing.B, callers, n int, call func(i int) (int, error)) {
	var wg sync.WaitGroup
	for c := range callers {
		lo, hi := n*c/callers, n*(c+1)/callers
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				v, err := call(i)
				if err != nil || v != 2*i+1 {
					b.Errorf("call %d: %d, %v", i, v, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkDo is the cost of one call of Do on a pool that many callers
// share: the job's hand-over to a worker, the trivial Func, and the Result's
// way back to its caller.
func BenchmarkDo(b *testing.B) {
	for _, s := range doShapes() {
		callers, workers := s[0], s[1]
		b.Run(fmt.Sprintf("callers=%d/workers=%d", callers, workers), func(b *testing.B) {
			b.ReportAllocs()
			p := workerpool.New(tiny, workerpool.WithWorkers(workers))
			defer p.Close()
			ctx := context.Background()
			b.ResetTimer()
			runCallers(b, callers, b.N, func(i int) (int, error) { return p.Do(ctx, i) })
		})
	}
}

// BenchmarkTextbookReply is BenchmarkDo's baseline: the textbook pool with a
// reply channel in every job, the way a shared pool is written by hand.
func BenchmarkTextbookReply(b *testing.B) {
	type job struct {
		v     int
		reply chan int
	}
	for _, s := range doShapes() {
		callers, workers := s[0], s[1]
		b.Run(fmt.Sprintf("callers=%d/workers=%d", callers, workers), func(b *testing.B) {
			b.ReportAllocs()
			jobs := make(chan job, workers)
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for j := range jobs {
						v, _ := tiny(context.Background(), j.v)
						j.reply <- v
					}
				})
			}
			b.ResetTimer()
			runCallers(b, callers, b.N, func(i int) (int, error) {
				reply := make(chan int, 1)
				jobs <- job{i, reply}
				return <-reply, nil
			})
			close(jobs)
			wg.Wait()
		})
	}
}

// BenchmarkPoolMap is the cost of one element through Pool.Map on a pool
// that stays open, with calls of 1,000 elements each; ns/op is per element.
func BenchmarkPoolMap(b *testing.B) {
	const size = 1000
	for _, w := range workerCounts() {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			b.ReportAllocs()
			p := workerpool.New(tiny, workerpool.WithWorkers(w))
			defer p.Close()
			in := seq(size)
			ctx := context.Background()
			b.ResetTimer()
			for done := 0; done < b.N; done += size {
				out, err := p.Map(ctx, in)
				if err != nil || out[size-1] != 2*size-1 {
					b.Fatal(err)
				}
			}
		})
	}
}
