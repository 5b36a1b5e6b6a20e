package workerpool_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/workerpool-go/workerpool"
	"go.uber.org/goleak"
)

// What a fuzzed job does, chosen by its value.
const (
	jobSucceed = iota
	jobFail
	jobPanic
	jobYield // runs a little longer, giving way to other goroutines
	jobGoexit
	jobKinds
)

// Operations a fuzzed goroutine performs, one per input byte.
const (
	opSubmit = iota
	opSubmitCancelled
	opTrySubmit
	opClose
	opCancelPool
	opResize
	opDo
	opTryDo
	opMap
	opKinds
)

var errFuzz = errors.New("fuzzed failure")

func fuzzJob(_ context.Context, v int) (int, error) {
	switch v % jobKinds {
	case jobFail:
		return v, errFuzz
	case jobPanic:
		panic(v)
	case jobYield:
		for range v % 7 {
			runtime.Gosched()
		}
	case jobGoexit:
		runtime.Goexit()
	}
	return v, nil
}

// FuzzPool decodes its input into a pool configuration and the operations of
// three goroutines that use the pool at once (Submit, TrySubmit, Do, TryDo,
// Pool.Map, Close, Resize, cancelling the pool context), while a reader
// takes Results (slowly, for some inputs). It then checks every invariant of
// the pool: nothing panics out, every accepted job finishes exactly once
// (the Observer sees IDs exactly 1..n), Results holds exactly the jobs of
// Submit and TrySubmit, in order in ordered mode, Do, TryDo and Map return
// their own jobs' outcomes, Results is closed, Stats adds up and no goroutine
// is left behind.
//
//	go test -run '^$' -fuzz FuzzPool -fuzztime 10m .
func FuzzPool(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3})
	f.Add([]byte{3, 4, 1, 0xff, 0, 2, 1, 5, 0, 0, 2, 2, 2, 3, 4, 4})
	f.Add([]byte{1, 0, 0, 1, 0, 0, 0, 0, 4, 0, 0, 0, 0, 3, 0})
	f.Add([]byte{2, 1, 0, 0x0e, 5, 5, 0, 2, 2, 0, 1, 0, 5, 0, 3})
	f.Add([]byte{0, 2, 2, 0x13, 0, 6, 12, 18, 24, 30, 36, 42, 48})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 4 {
			return
		}
		ignore := goleak.IgnoreCurrent()
		// A hang anywhere (a Submit that never returns, Results never
		// closed) becomes a crash with every goroutine's stack.
		watchdog := time.AfterFunc(time.Minute, func() {
			buf := make([]byte, 1<<20)
			panic("fuzz iteration hung:\n" + string(buf[:runtime.Stack(buf, true)]))
		})
		defer watchdog.Stop()
		flags := data[3]
		opts := []workerpool.Option{
			workerpool.WithWorkers(1 + int(data[0]%4)),
			workerpool.WithBufferSize(int(data[1] % 5)),
			workerpool.WithResultBufferSize(int(data[2] % 5)),
		}
		ordered := flags&1 != 0
		if ordered {
			opts = append(opts, workerpool.WithOrderedResults())
		}
		if flags&2 != 0 {
			opts = append(opts, workerpool.WithJobTimeout(time.Minute))
		}
		if flags&4 != 0 {
			opts = append(opts, workerpool.WithRetry(2, func(int) time.Duration { return 0 }))
		}
		slowReader := flags&8 != 0
		poolCtx, cancelPool := context.WithCancel(context.Background())
		defer cancelPool()
		obs := &idObserver{}
		opts = append(opts, workerpool.WithContext(poolCtx), workerpool.WithObserver(obs))
		p := workerpool.New(fuzzJob, opts...)

		cancelled, cancel := context.WithCancel(context.Background())
		cancel()

		ops := data[4:]
		var (
			mu       sync.Mutex
			accepted = map[uint64]int{} // ID -> value
			wg       sync.WaitGroup
		)
		for g := range 3 {
			wg.Go(func() {
				for i := g; i < len(ops); i += 3 {
					op, v := int(ops[i])%opKinds, int(ops[i])/opKinds+i
					var id uint64
					var err error
					switch op {
					case opSubmit:
						id, err = p.Submit(context.Background(), v)
					case opSubmitCancelled:
						id, err = p.Submit(cancelled, v)
						assert.ErrorIs(t, err, context.Canceled)
					case opTrySubmit:
						id, err = p.TrySubmit(v)
					case opClose:
						p.Close()
						continue
					case opCancelPool:
						cancelPool()
						continue
					case opResize:
						p.Resize(1 + v%4)
						continue
					case opDo, opTryDo:
						do := p.Do
						if op == opTryDo {
							do = p.TryDo
						}
						got, err := do(context.Background(), v)
						checkCallOutcome(t, v, got, err)
						continue
					case opMap:
						in := []int{v, v + jobKinds, v + 2*jobKinds} // one kind of job, three times
						out, err := p.Map(context.Background(), in)
						if err == nil {
							assert.Equal(t, in, out, "Map's outputs in order")
						} else {
							checkCallOutcome(t, v, 0, err)
						}
						continue
					}
					if err != nil {
						assert.Zero(t, id)
						if !errors.Is(err, workerpool.ErrClosed) && !errors.Is(err, workerpool.ErrQueueFull) {
							assert.ErrorIs(t, err, context.Canceled)
						}
						continue
					}
					mu.Lock()
					_, dup := accepted[id]
					accepted[id] = v
					mu.Unlock()
					assert.Falsef(t, dup, "ID %d returned twice", id)
				}
			})
		}
		results := make(chan []workerpool.Result[int, int])
		go func() {
			var rs []workerpool.Result[int, int]
			for r := range p.Results() {
				rs = append(rs, r)
				if slowReader {
					runtime.Gosched()
				}
			}
			results <- rs
		}()
		wg.Wait()
		p.Close()
		rs := <-results

		// The IDs of all accepted jobs are 1..all (checked below with the
		// Observer); those of Submit and TrySubmit are among them.
		n := uint64(len(accepted))
		require.Len(t, rs, int(n), "one Result on Results per job of Submit and TrySubmit")
		var failed, panicked uint64
		seen := map[uint64]bool{}
		for i, r := range rs {
			require.Falsef(t, seen[r.Job.ID], "two Results for job %d", r.Job.ID)
			seen[r.Job.ID] = true
			require.Contains(t, accepted, r.Job.ID, "a Result on Results that no Submit made")
			require.Equal(t, accepted[r.Job.ID], r.Job.Value)
			if ordered && i > 0 {
				require.Greater(t, r.Job.ID, rs[i-1].Job.ID, "ordered mode out of order")
			}
			if r.Err != nil {
				failed++
				var pe *workerpool.PanicError
				if errors.As(r.Err, &pe) {
					panicked++
				}
			}
		}
		st := p.Stats()
		all := st.Submitted // the jobs of Do, TryDo and Map too
		obs.requireOneToN(t, all)
		for id := range accepted {
			require.LessOrEqual(t, id, all)
		}
		require.GreaterOrEqual(t, all, n)
		require.Equal(t, all, st.Completed)
		require.GreaterOrEqual(t, st.Failed, failed)
		require.GreaterOrEqual(t, st.Panicked, panicked)
		require.Zero(t, st.Running)
		require.Zero(t, st.Queued)
		require.Zero(t, st.Live)
		goleak.VerifyNone(t, ignore)
	})
}

// checkCallOutcome checks what a Do, TryDo or Map of a fuzzed job of value v
// returned: the job's own outcome, or why it was not accepted.
func checkCallOutcome(t *testing.T, v, got int, err error) {
	t.Helper()
	var pe *workerpool.PanicError
	switch {
	case err == nil:
		assert.Equal(t, v, got, "a caller gets its own job's value")
		assert.Contains(t, []int{jobSucceed, jobYield}, v%jobKinds)
	case errors.Is(err, errFuzz):
		assert.Equal(t, jobFail, v%jobKinds)
	case errors.As(err, &pe):
		assert.Equal(t, jobPanic, v%jobKinds)
	case errors.Is(err, workerpool.ErrGoexit):
		assert.Equal(t, jobGoexit, v%jobKinds)
	default:
		if !errors.Is(err, workerpool.ErrClosed) && !errors.Is(err, workerpool.ErrQueueFull) {
			assert.ErrorIs(t, err, context.Canceled) // the pool context
		}
	}
}
