package workerpool

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// closeAndCount closes p and reads its Results to the end, returning how
// many there were.
func closeAndCount[J, R any](p *Pool[J, R]) int {
	p.Close()
	n := 0
	for range p.Results() {
		n++
	}
	return n
}

func TestWorkersStartOnDemand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit = 200_000
		p := New(func(_ context.Context, v int) (int, error) { return v, nil }, WithWorkers(limit))
		assert.Zero(t, p.eng.live.Load(), "New starts no worker")
		for i := range 100 { // one job at a time: one worker is enough
			_, err := p.Submit(context.Background(), i)
			require.NoError(t, err)
			<-p.Results()
			synctest.Wait() // the worker is back waiting for a job
		}
		assert.Equal(t, int64(1), p.eng.live.Load())
		assert.Equal(t, limit, p.Stats().Workers)
		closeAndCount(p)
	})
}

// TestFreeWorkerIsCountedOn checks the accounting behind on-demand workers:
// a worker back from a job is counted as free, the next job counts on it
// instead of starting another, and a job with no free worker to count on
// starts one.
func TestFreeWorkerIsCountedOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		p := New(func(_ context.Context, v int) (int, error) {
			if v > 0 {
				<-release
			}
			return v, nil
		}, WithWorkers(10))
		_, err := p.Submit(context.Background(), 0)
		require.NoError(t, err)
		<-p.Results()
		synctest.Wait()
		assert.Equal(t, int64(1), p.eng.idle(), "the worker is back and counted as free")

		_, err = p.Submit(context.Background(), 1)
		require.NoError(t, err)
		synctest.Wait()
		assert.Zero(t, p.eng.idle(), "job 1 counted on the free worker")
		assert.Equal(t, int64(1), p.eng.live.Load(), "and started none")

		_, err = p.Submit(context.Background(), 2)
		require.NoError(t, err)
		synctest.Wait()
		assert.Equal(t, int64(2), p.eng.live.Load(), "job 2 had no free worker: one started")
		assert.Equal(t, 2, p.Stats().Running, "both jobs run at once")

		close(release)
		assert.Equal(t, 2, closeAndCount(p))
	})
}

// TestBurstStartsOneWorkerAtATime checks that jobs accepted while a worker is
// starting wait for it instead of starting more, and that the worker, once it
// runs, starts the next while jobs still wait: workers start as fast as the
// scheduler runs them, and all jobs get one.
func TestBurstStartsOneWorkerAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		p := New(func(_ context.Context, v int) (int, error) {
			<-release
			return v, nil
		}, WithWorkers(10), WithBufferSize(10))
		// A worker started as engine.grow does, not yet running.
		p.eng.live.Add(1)
		p.wg.Add(1)
		p.eng.starting.Add(1)
		p.eng.claim() // counts on the starting worker
		p.eng.claim() // not covered:
		p.eng.cover() // but a worker is starting: no second one yet
		assert.Equal(t, int64(1), p.eng.live.Load(), "no worker starts beside a starting one")
		assert.Equal(t, int64(-1), p.eng.idle(), "one job waits for a worker to start")

		// The two jobs are in the buffer, and the starting worker runs.
		for v := range 2 {
			p.jobs <- envelope[int, int]{job: Job[int]{ID: uint64(v + 1), Value: v}}
		}
		p.submitted.Store(2)
		go p.work(0)
		synctest.Wait()
		assert.Equal(t, int64(2), p.eng.live.Load(), "it started one more for the waiting job, and no third")
		assert.Equal(t, 2, p.Stats().Running)

		close(release)
		assert.Equal(t, 2, closeAndCount(p))
	})
}

// TestIdleCountIsExactAtTheLimit checks that the count of free workers is
// kept at the limit too, so that a job accepted after the limit rises never
// counts on a worker that is busy.
func TestIdleCountIsExactAtTheLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		p := New(func(_ context.Context, v int) (int, error) {
			<-release
			return v, nil
		}, WithWorkers(1))
		_, err := p.Submit(context.Background(), 0)
		require.NoError(t, err)
		synctest.Wait() // the only worker is busy with job 0
		assert.Zero(t, p.eng.idle(), "no worker is free, no job waits")
		_, err = p.Submit(context.Background(), 1)
		require.NoError(t, err)
		assert.Equal(t, int64(-1), p.eng.idle(), "one job waits for a busy worker")

		p.Resize(3)
		_, err = p.Submit(context.Background(), 2)
		require.NoError(t, err)
		synctest.Wait()
		assert.Equal(t, 3, p.Stats().Running, "jobs 1 and 2 start beside job 0")

		close(release)
		assert.Equal(t, 3, closeAndCount(p))
		assert.Zero(t, p.eng.live.Load())
	})
}

func TestWorkersGrowToLimitUnderLoad(t *testing.T) {
	// 3*chainYield+2: a chain of starts that yields three times on the way.
	for _, limit := range []int{5, 3*chainYield + 2} {
		t.Run(fmt.Sprint("workers=", limit), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				release := make(chan struct{})
				p := New(func(_ context.Context, v int) (int, error) {
					<-release
					return v, nil
				}, WithWorkers(limit), WithBufferSize(10*limit))
				for i := range 10 * limit {
					_, err := p.Submit(context.Background(), i)
					require.NoError(t, err)
				}
				synctest.Wait()
				assert.Equal(t, int64(limit), p.eng.live.Load(), "exactly the limit: no goroutine more")
				assert.Equal(t, limit, p.Stats().Running, "every worker runs a job")
				close(release)
				assert.Equal(t, 10*limit, closeAndCount(p))
			})
		})
	}
}

func TestDefaultBufferSizes(t *testing.T) {
	fn := func(_ context.Context, v int) (int, error) { return v, nil }
	cases := []struct {
		opts          []Option
		jobs, results int
	}{
		{[]Option{WithWorkers(1)}, 1024, 1024},        // small pools: 1024
		{[]Option{WithWorkers(1000)}, 1024, 1024},     // up to 1024 workers
		{[]Option{WithWorkers(2000)}, 2000, 2000},     // then 1 per worker
		{[]Option{WithWorkers(5000)}, 4096, 5000},     // jobs: at most 4096
		{[]Option{WithWorkers(200_000)}, 4096, 65536}, // results: at most 65536
		{[]Option{WithWorkers(200_000), withJobCount(10)}, 10, 10},
		{[]Option{withJobCount(10), WithBufferSize(100)}, 100, 10}, // explicit wins
		{[]Option{WithWorkers(100), WithBufferSize(0), WithResultBufferSize(0)}, 0, 0},
		{[]Option{WithWorkers(100), WithBufferSize(7), WithResultBufferSize(3)}, 7, 3},
	}
	for _, c := range cases {
		p := New(fn, c.opts...)
		assert.Equal(t, c.jobs, cap(p.jobs), "jobs buffer")
		assert.Equal(t, c.results, cap(p.results), "results buffer")
		closeAndCount(p)
	}

	// Large jobs and Results: 64 KiB worth of slots, but at least 64.
	type page [4096]byte
	big := New(func(_ context.Context, v [256]byte) (page, error) { return page{}, nil })
	assert.Equal(t, 64<<10/(256+24), cap(big.jobs), "a job takes 256 bytes and its ID, time and sink")
	assert.Equal(t, 64, cap(big.results), "a Result takes over 4 KiB: the minimum")
	big.Close()
	for range big.Results() {
	}
}

// TestTrySubmitWhileLockIsHeld pins down TrySubmit's answer when another
// submitter holds the acceptance lock: it waits for the holder, which never
// holds it while waiting for a job to finish, and then answers by the state
// of the pool: accepted with room in the buffer, ErrQueueFull once the worker
// is busy and the buffer full, ErrClosed after Close.
func TestTrySubmitWhileLockIsHeld(t *testing.T) {
	started, release := make(chan int, 10), make(chan struct{})
	p := New(func(_ context.Context, v int) (int, error) {
		started <- v
		<-release
		return v, nil
	}, WithWorkers(1), WithBufferSize(2), WithResultBufferSize(10))

	// A submitter in its critical section, letting go a little later. The
	// delay only makes it likely that TrySubmit meets the lock held; the
	// assertion holds either way.
	p.mu.Lock()
	time.AfterFunc(20*time.Millisecond, p.mu.Unlock)
	_, err := p.TrySubmit(1)
	require.NoError(t, err, "TrySubmit waits for a brief holder")
	require.Equal(t, 1, <-started)

	for range 2 { // fill the buffer behind the busy worker
		_, err := p.TrySubmit(3)
		require.NoError(t, err)
	}
	p.mu.Lock()
	time.AfterFunc(20*time.Millisecond, p.mu.Unlock)
	_, err = p.TrySubmit(4)
	assert.ErrorIs(t, err, ErrQueueFull, "the worker busy and the buffer full")

	close(release)
	closeAndCount(p)
	_, err = p.TrySubmit(5)
	assert.ErrorIs(t, err, ErrClosed)
}

// TestOrderedRingStaysWithinTheWindow checks that the ring of parked Results
// is sized by the distance from the oldest unfinished job, not by how many
// jobs came before it.
func TestOrderedRingStaysWithinTheWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const workers, resultBuf = 4, 24
		const window = 2*workers + resultBuf // 32
		release := make(chan struct{})
		p := New(func(_ context.Context, v int) (int, error) {
			if v == 1000 {
				<-release
			}
			return v, nil
		}, WithWorkers(workers), WithOrderedResults(), WithBufferSize(2000), WithResultBufferSize(resultBuf))
		var ids []uint64
		read := make(chan struct{})
		go func() {
			defer close(read)
			for r := range p.Results() {
				ids = append(ids, r.Job.ID)
			}
		}()
		for i := range 1100 {
			_, err := p.Submit(context.Background(), i)
			require.NoError(t, err)
		}
		synctest.Wait() // job 1001 holds back the line; the window is full
		p.order.mu.Lock()
		ring := len(p.order.ring)
		p.order.mu.Unlock()
		assert.Equal(t, window, ring, "parked Results need the window (a power of two here)")
		assert.Len(t, ids, 1000, "every Result before job 1001 was read")
		close(release)
		p.Close()
		<-read
		require.Len(t, ids, 1100)
		for i, id := range ids {
			require.Equal(t, uint64(i+1), id)
		}
	})
}

func TestShardCount(t *testing.T) {
	cases := []struct{ workers, procs, want int }{
		{1, 2, 1},      // one worker needs one shard
		{3, 2, 4},      // fewer workers than 2×procs: rounded up
		{100, 2, 4},    // 2×procs
		{100, 3, 8},    // 2×procs rounded up to a power of two
		{100, 16, 32},  // 2×procs
		{1000, 64, 64}, // at most 64
		{5, 64, 8},     // the workers bound it
	}
	for _, c := range cases {
		assert.Equalf(t, c.want, shardCount(c.workers, c.procs), "workers=%d procs=%d", c.workers, c.procs)
	}
}

// TestResizeStartsAndRetiresWorkers pins down how many worker goroutines
// Resize leaves: growing a pool with no job waiting starts none, as its doc
// says, resizing to the same limit starts none, and after a shrink
// the surplus workers retire as jobs reach them.
func TestResizeStartsAndRetiresWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		p := New(func(_ context.Context, v int) (int, error) {
			if v < 0 {
				<-release
			}
			return v, nil
		}, WithWorkers(4), WithResultBufferSize(100))
		_, err := p.Submit(context.Background(), 1)
		require.NoError(t, err)
		synctest.Wait()
		require.Equal(t, int64(1), p.eng.live.Load())

		p.Resize(4) // the same limit: nothing to start
		assert.Equal(t, int64(1), p.eng.live.Load())
		p.Resize(8) // no job waiting: no worker to start
		assert.Equal(t, int64(1), p.eng.live.Load())

		for range 8 { // eight held jobs: eight workers
			_, err := p.Submit(context.Background(), -1)
			require.NoError(t, err)
		}
		synctest.Wait()
		require.Equal(t, int64(8), p.eng.live.Load())
		p.Resize(2)
		close(release) // the jobs end; the surplus workers retire
		synctest.Wait()
		assert.Equal(t, int64(2), p.eng.live.Load())
		closeAndCount(p)
	})
}

func TestOrdererRingSize(t *testing.T) {
	var limit atomic.Int64
	limit.Store(100)
	for _, c := range []struct {
		id   uint64
		ring int
	}{{2, 8}, {8, 8}, {9, 16}, {16, 16}, {17, 32}, {64, 64}} {
		o := newOrderer(make(chan Result[int, int], 1), &limit)
		o.park(c.id, Result[int, int]{Job: Job[int]{ID: c.id}})
		assert.Equalf(t, c.ring, len(o.ring), "first parked ID %d, next 1", c.id)
	}
}

func TestResizeGrowStopsAtTheLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		p := New(func(_ context.Context, v int) (int, error) {
			<-release
			return v, nil
		}, WithWorkers(1), WithBufferSize(20))
		for i := range 20 {
			_, err := p.Submit(context.Background(), i)
			require.NoError(t, err)
		}
		synctest.Wait()
		p.Resize(4) // 19 jobs wait: start 3 workers, not 19 nor 4
		synctest.Wait()
		assert.Equal(t, int64(4), p.eng.live.Load())
		assert.Equal(t, 4, p.Stats().Running)
		close(release)
		closeAndCount(p)
	})
}

// TestStreamPoolAcceptsAfterContextEnds covers the moment Stream has read a
// value just as ctx ends: the value is still accepted and its Result carries
// ctx's error, where a plain pool would refuse it and the value would be lost.
func TestStreamPoolAcceptsAfterContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var calls atomic.Int64
	p := newStreamPool(ctx, func(_ context.Context, v int) (int, error) {
		calls.Add(1)
		return v, nil
	}, nil)
	id, err := p.Submit(context.Background(), 7)
	require.NoError(t, err)
	p.Close()
	r := <-p.Results()
	assert.Equal(t, id, r.Job.ID)
	assert.ErrorIs(t, r.Err, context.Canceled)
	assert.Zero(t, calls.Load(), "the Func is not called")
	for range p.Results() {
	}
}

// TestSpawnAfterCloseStartsNothing checks grow's guard: after Close, a
// start that no worker makes (by a submitter or a Resize that raced Close)
// must not add to the WaitGroup that Close's goroutine may be waiting on.
func TestSpawnAfterCloseStartsNothing(t *testing.T) {
	p := New(func(_ context.Context, v int) (int, error) { return v, nil }, WithWorkers(4))
	p.Close()
	assert.False(t, p.eng.grow(0))
	assert.Equal(t, int64(0), p.eng.live.Load(), "a start after Close by a submitter or Resize")
	assert.Equal(t, 0, closeAndCount(p))
}
