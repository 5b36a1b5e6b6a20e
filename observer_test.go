package workerpool_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/workerpool-go/workerpool"
)

type event struct {
	started  bool
	duration time.Duration
	err      error
}

// recorder is an Observer that keeps every call.
type recorder struct {
	mu     sync.Mutex
	events map[uint64][]event
}

func newRecorder() *recorder { return &recorder{events: map[uint64][]event{}} }

func (o *recorder) JobStarted(id uint64, waited time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events[id] = append(o.events[id], event{started: true, duration: waited})
}

func (o *recorder) JobFinished(id uint64, ran time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events[id] = append(o.events[id], event{duration: ran, err: err})
}

func TestObserverSeesEachJobStartAndFinishOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		errFail := errors.New("fail")
		o := newRecorder()
		p := workerpool.New(func(_ context.Context, v int) (int, error) {
			time.Sleep(time.Duration(v) * time.Second)
			switch v {
			case 2:
				return 0, errFail
			case 3:
				panic("three")
			case 4:
				runtime.Goexit()
			}
			return v, nil
		}, workerpool.WithWorkers(1), workerpool.WithObserver(o))
		submitAll(t, p, 1, 2, 3, 4)
		p.Close()
		require.Len(t, drain(p.Results()), 4)

		o.mu.Lock()
		defer o.mu.Unlock()
		require.Len(t, o.events, 4)
		// One worker: job n waits for jobs 1..n-1, which take 1+..+(n-1) s,
		// then runs n s.
		waited := time.Duration(0)
		for id := uint64(1); id <= 4; id++ {
			evs := o.events[id]
			require.Lenf(t, evs, 2, "job %d", id)
			assert.True(t, evs[0].started)
			assert.Equalf(t, waited, evs[0].duration, "job %d waited", id)
			assert.False(t, evs[1].started)
			assert.Equalf(t, time.Duration(id)*time.Second, evs[1].duration, "job %d ran", id)
			waited += time.Duration(id) * time.Second
		}
		assert.NoError(t, o.events[1][1].err)
		assert.ErrorIs(t, o.events[2][1].err, errFail)
		var pe *workerpool.PanicError
		assert.ErrorAs(t, o.events[3][1].err, &pe)
		assert.ErrorIs(t, o.events[4][1].err, workerpool.ErrGoexit)
	})
}

func TestObserverRanIncludesRetriesAndBackoff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		o := newRecorder()
		fn, _ := failing(2, errFlaky)
		p := workerpool.New(func(ctx context.Context, v int) (int, error) {
			time.Sleep(time.Second)
			return fn(ctx, v)
		}, workerpool.WithRetry(3, constantBackoff(10*time.Second)), workerpool.WithObserver(o))
		submitAll(t, p, 1)
		p.Close()
		drain(p.Results())
		o.mu.Lock()
		defer o.mu.Unlock()
		require.Len(t, o.events[1], 2)
		assert.Equal(t, 3*time.Second+2*10*time.Second, o.events[1][1].duration)
		assert.NoError(t, o.events[1][1].err)
	})
}

func TestObserverWaitedCountsFromSubmit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		o := newRecorder()
		release := make(chan struct{})
		p := workerpool.New(func(_ context.Context, v int) (int, error) {
			if v == 1 {
				<-release
			}
			return v, nil
		}, workerpool.WithWorkers(1), workerpool.WithObserver(o))
		time.Sleep(time.Hour) // the pool is old when the jobs come
		submitAll(t, p, 1, 2)
		time.Sleep(3 * time.Second) // job 2 waits behind job 1
		close(release)
		p.Close()
		drain(p.Results())
		o.mu.Lock()
		defer o.mu.Unlock()
		assert.Equal(t, time.Duration(0), o.events[1][0].duration, "job 1 started at once")
		assert.Equal(t, 3*time.Second, o.events[2][0].duration, "job 2 waited from its Submit")
		assert.Equal(t, 3*time.Second, o.events[1][1].duration, "job 1 ran 3s")
	})
}

// TestObserverWaitedCountsBlockedSubmit checks that a job's wait includes
// the time its Submit spent behind other submitters blocked on the full
// buffer, not only the time from when it reached the buffer.
func TestObserverWaitedCountsBlockedSubmit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		o := newRecorder()
		release := make(chan struct{})
		p := workerpool.New(func(_ context.Context, v int) (int, error) {
			if v == 1 {
				<-release
			}
			return v, nil
		}, workerpool.WithWorkers(1), workerpool.WithBufferSize(1), workerpool.WithObserver(o))
		submitAll(t, p, 1)
		synctest.Wait()    // the worker runs job 1
		submitAll(t, p, 2) // fills the buffer
		var wg sync.WaitGroup
		submit := func(v int) {
			wg.Go(func() {
				_, err := p.Submit(context.Background(), v)
				assert.NoError(t, err)
			})
			synctest.Wait() // blocked on the full buffer
		}
		submit(3)
		time.Sleep(time.Second)
		submit(4) // queues behind job 3's submitter
		time.Sleep(2 * time.Second)
		close(release)
		wg.Wait()
		p.Close()
		drain(p.Results())

		o.mu.Lock()
		defer o.mu.Unlock()
		assert.Equal(t, 3*time.Second, o.events[3][0].duration, "job 3 waited from its Submit")
		assert.Equal(t, 2*time.Second, o.events[4][0].duration, "job 4 waited from its Submit, behind job 3's")
	})
}

// panickyObserver panics in JobStarted for job 1 and in JobFinished for job 2.
type panickyObserver struct{}

func (panickyObserver) JobStarted(id uint64, _ time.Duration) {
	if id == 1 {
		panic("started")
	}
}

func (panickyObserver) JobFinished(id uint64, _ time.Duration, _ error) {
	if id == 2 {
		panic("finished")
	}
}

// TestObserverPanicIsRecovered: a panic in an Observer method costs neither
// a Result, nor a worker, nor the process. A panic in JobStarted fails the
// job with it, without calling the Func; one in JobFinished joins the
// Result's error; the jobs after them run as usual.
func TestObserverPanicIsRecovered(t *testing.T) {
	var calls atomic.Int64
	p := workerpool.New(func(_ context.Context, v int) (int, error) {
		calls.Add(1)
		return v, nil
	}, workerpool.WithWorkers(1), workerpool.WithObserver(panickyObserver{}))
	submitAll(t, p, 1, 2, 3)
	p.Close()
	rs := byID(t, collect(t, p.Results()))
	require.Len(t, rs, 3)
	var pe *workerpool.PanicError
	require.ErrorAs(t, rs[1].Err, &pe, "JobStarted panicked")
	assert.Equal(t, "started", pe.Value)
	assert.Zero(t, rs[1].Attempts, "the Func of job 1 was not called")
	require.ErrorAs(t, rs[2].Err, &pe, "JobFinished panicked")
	assert.Equal(t, "finished", pe.Value)
	assert.Equal(t, 2, rs[2].Value, "job 2's own value is kept")
	assert.NoError(t, rs[3].Err)
	assert.Equal(t, int64(2), calls.Load())
	assert.Equal(t, uint64(2), p.Stats().Failed)
}
