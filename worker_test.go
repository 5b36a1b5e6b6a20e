package workerpool

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWorkersStartOnDemand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit = 200_000
		p := New(func(_ context.Context, v int) (int, error) { return v, nil }, WithWorkers(limit))
		assert.Zero(t, p.workers.Load(), "New starts no worker")
		for i := range 100 { // one job at a time: one worker is enough
			_, err := p.Submit(context.Background(), i)
			require.NoError(t, err)
			<-p.Results()
			synctest.Wait() // the worker is back waiting for a job
		}
		assert.Equal(t, int64(1), p.workers.Load())
		assert.Equal(t, limit, p.Stats().Workers)
		p.Close()
		for range p.Results() {
		}
	})
}

func TestWorkersGrowToLimitUnderLoad(t *testing.T) {
	const limit = 5
	release := make(chan struct{})
	started := make(chan struct{}, 100)
	p := New(func(_ context.Context, v int) (int, error) {
		started <- struct{}{}
		<-release
		return v, nil
	}, WithWorkers(limit), WithBufferSize(100))
	for i := range 50 {
		_, err := p.Submit(context.Background(), i)
		require.NoError(t, err)
	}
	for range limit {
		<-started
	}
	assert.Equal(t, int64(limit), p.workers.Load())
	close(release)
	p.Close()
	for range p.Results() {
	}
}

func TestDefaultBufferSizes(t *testing.T) {
	fn := func(_ context.Context, v int) (int, error) { return v, nil }
	cases := []struct {
		opts          []Option
		jobs, results int
	}{
		{[]Option{WithWorkers(1)}, 64, 64},        // at least 64
		{[]Option{WithWorkers(100)}, 400, 400},    // 4 per worker
		{[]Option{WithWorkers(5000)}, 4096, 4096}, // at most 4096
		{[]Option{WithWorkers(100), WithBufferSize(0), WithResultBufferSize(0)}, 0, 0},
		{[]Option{WithWorkers(100), WithBufferSize(7), WithResultBufferSize(3)}, 7, 3},
	}
	for _, c := range cases {
		p := New(fn, c.opts...)
		assert.Equal(t, c.jobs, cap(p.jobs), "jobs buffer")
		assert.Equal(t, c.results, cap(p.results), "results buffer")
		p.Close()
		for range p.Results() {
		}
	}
}
