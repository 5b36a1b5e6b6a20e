package workerpool_test

import (
	"context"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/workerpool-go/workerpool"
)

// TestSteadyStateAllocatesNothingPerJob checks the promise behind the
// benchmarks' 0 allocs/op: once its workers run, a pool allocates nothing
// for a job of small value types, in either delivery mode, nor for timing
// its calls for an adaptive limit (held at 2 here: a limit that moves up
// starts a goroutine). Not parallel: AllocsPerRun counts every allocation in
// the process.
func TestSteadyStateAllocatesNothingPerJob(t *testing.T) {
	modes := map[string][]workerpool.Option{
		"unordered": nil,
		"ordered":   {workerpool.WithOrderedResults()},
		"adaptive":  {workerpool.WithAdaptiveLimit(2, 2)},
	}
	for name, opts := range modes {
		t.Run(name, func(t *testing.T) {
			p := workerpool.New(tiny, append(opts, workerpool.WithWorkers(2))...)
			ctx := context.Background()
			job := func() {
				_, err := p.Submit(ctx, 1)
				require.NoError(t, err)
				r := <-p.Results()
				require.NoError(t, r.Err)
			}
			for range 100 { // warm up: start the workers
				job()
			}
			assert.Zero(t, testing.AllocsPerRun(1000, job))
			p.Close()
			for range p.Results() {
			}
		})
	}
}

// TestBlockedSubmitFitsTheStartingStack checks that a Submit blocked on a
// full buffer runs within a new goroutine's starting stack. Pools fed by a
// goroutine per job (the matrix with 1,000,000 submitters) start many
// goroutines that block in Submit; a slow path that needs more than the
// starting stack makes each of them copy its stack to one twice the size,
// which cost about a quarter of that workload's time. The starting size
// adapts to the stacks the GC has seen: when it is already larger, the check
// holds trivially. Not parallel: MemStats counts every stack in the process.
func TestBlockedSubmitFitsTheStartingStack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		p := workerpool.New(func(_ context.Context, v int) (int, error) {
			<-release
			return v, nil
		}, workerpool.WithWorkers(1), workerpool.WithBufferSize(1))
		submitAll(t, p, 1, 2) // one running, one in the buffer

		const n = 1000
		runtime.GC()
		starting := []metrics.Sample{{Name: "/gc/stack/starting-size:bytes"}}
		metrics.Read(starting)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		before := ms.StackInuse
		var wg sync.WaitGroup
		for v := range n {
			wg.Go(func() {
				_, err := p.Submit(context.Background(), v)
				assert.NoError(t, err)
			})
		}
		synctest.Wait() // every submitter is blocked in Submit
		runtime.ReadMemStats(&ms)
		perSubmitter := (int64(ms.StackInuse) - int64(before)) / n
		size := int64(starting[0].Value.Uint64())
		assert.Less(t, perSubmitter, size*3/2,
			"stack bytes per blocked submitter, against a starting size of %d", size)

		close(release)
		go func() {
			wg.Wait()
			p.Close()
		}()
		assert.Len(t, drain(p.Results()), n+2)
	})
}
