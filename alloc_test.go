package workerpool_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/workerpool-go/workerpool"
)

// TestSteadyStateAllocatesNothingPerJob checks the promise behind the
// benchmarks' 0 allocs/op: once its workers run, a pool allocates nothing
// for a job of small value types, in either delivery mode. Not parallel:
// AllocsPerRun counts every allocation in the process.
func TestSteadyStateAllocatesNothingPerJob(t *testing.T) {
	modes := map[string][]workerpool.Option{
		"unordered": nil,
		"ordered":   {workerpool.WithOrderedResults()},
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
