package workerpool_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/workerpool-go/workerpool"
	"github.com/workerpool-go/workerpool/internal/backend"
)

// limitLog is a LimitObserver that records every change of the limit.
type limitLog struct {
	mu      sync.Mutex
	changes []limitChange
}

type limitChange struct {
	old, new int
	reason   string
}

func (l *limitLog) JobStarted(uint64, time.Duration)         {}
func (l *limitLog) JobFinished(uint64, time.Duration, error) {}

func (l *limitLog) LimitChanged(old, new int, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.changes = append(l.changes, limitChange{old: old, new: new, reason: reason})
}

// all returns the changes so far.
func (l *limitLog) all() []limitChange {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.changes)
}

// sim drives a pool with an adaptive limit in front of a simulated backend
// with callers goroutines calling Do in a closed loop, through phases of
// (capacity, duration), on the fake clock. It returns the limit sampled
// every tick, per phase.
type sim struct {
	callers  int
	min, max int
	workers  int
	collapse bool
	phases   []phase
	opts     []workerpool.Option
	fixed    bool // a fixed limit of workers, for comparison
}

type phase struct {
	capacity int
	d        time.Duration
}

type simRun struct {
	limits [][]int         // per phase, the limit every 50 ms
	p99    []time.Duration // per phase, the backend's p99
	calls  []int64         // per phase, the calls served
	pool   *workerpool.Pool[int, time.Duration]
}

func (s sim) run(t *testing.T) simRun {
	t.Helper()
	be := backend.New(s.phases[0].capacity, 2*time.Millisecond, 0.3, s.collapse, 1)
	opts := append([]workerpool.Option{workerpool.WithWorkers(s.workers)}, s.opts...)
	if !s.fixed {
		opts = append(opts, workerpool.WithAdaptiveLimit(s.min, s.max))
	}
	var lmu sync.Mutex
	var inside []time.Duration
	p := workerpool.New(func(ctx context.Context, _ int) (time.Duration, error) {
		d, err := be.Call(ctx)
		lmu.Lock()
		inside = append(inside, d)
		lmu.Unlock()
		return d, err
	}, opts...)
	var stop atomic.Bool
	var calls atomic.Int64
	var wg sync.WaitGroup
	for range s.callers {
		wg.Go(func() {
			for !stop.Load() {
				if _, err := p.Do(context.Background(), 0); err == nil {
					calls.Add(1)
				}
			}
		})
	}
	var out simRun
	out.pool = p
	for _, ph := range s.phases {
		be.SetCapacity(ph.capacity)
		lmu.Lock()
		inside = inside[:0]
		lmu.Unlock()
		before := calls.Load()
		var ls []int
		for range ph.d / (50 * time.Millisecond) {
			time.Sleep(50 * time.Millisecond)
			ls = append(ls, p.Stats().Workers)
		}
		out.limits = append(out.limits, ls)
		out.calls = append(out.calls, calls.Load()-before)
		lmu.Lock()
		slices.Sort(inside)
		out.p99 = append(out.p99, inside[len(inside)*99/100])
		lmu.Unlock()
	}
	stop.Store(true)
	wg.Wait()
	p.Close()
	for range p.Results() {
	}
	return out
}
