package workerpool_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/workerpool-go/workerpool"
)

// watchdog bounds how long a test waits for something that must happen; it
// only turns a deadlock into a failure and never decides an outcome.
const watchdog = 10 * time.Second

// gate holds jobs until the test lets them go: each job reports its value on
// started, then waits for release (one job per receive, or all once closed).
type gate struct {
	started chan int
	release chan struct{}
	running atomic.Int64
	peak    atomic.Int64
}

func newGate() *gate {
	return &gate{started: make(chan int, 1024), release: make(chan struct{})}
}

// fn is a Func that passes through the gate and returns its input.
func (g *gate) fn(ctx context.Context, v int) (int, error) {
	n := g.running.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			break
		}
	}
	g.started <- v
	<-g.release
	g.running.Add(-1)
	return v, nil
}

// waitStarted waits for n jobs to pass the start of the gate and returns
// their values.
func (g *gate) waitStarted(t testing.TB, n int) []int {
	t.Helper()
	vs := make([]int, 0, n)
	for range n {
		select {
		case v := <-g.started:
			vs = append(vs, v)
		case <-time.After(watchdog):
			require.FailNowf(t, "jobs did not start", "%d of %d started", len(vs), n)
		}
	}
	return vs
}

func double(_ context.Context, v int) (int, error) { return 2 * v, nil }

// collect reads every Result until the channel is closed. It may be called
// from any goroutine: when the watchdog fires it marks the test failed and
// returns what it has, so that the test ends instead of hanging.
func collect[J, R any](t testing.TB, ch <-chan workerpool.Result[J, R]) []workerpool.Result[J, R] {
	t.Helper()
	var rs []workerpool.Result[J, R]
	timeout := time.After(watchdog)
	for {
		select {
		case r, ok := <-ch:
			if !ok {
				return rs
			}
			rs = append(rs, r)
		case <-timeout:
			assert.Failf(t, "results not closed", "after %d results", len(rs))
			return rs
		}
	}
}

// submitAll submits vs in order and checks that each is accepted. It may be
// called from any goroutine: on a refusal it marks the test failed and
// returns the IDs so far.
func submitAll[R any](t testing.TB, p *workerpool.Pool[int, R], vs ...int) []uint64 {
	t.Helper()
	ids := make([]uint64, 0, len(vs))
	for _, v := range vs {
		id, err := p.Submit(context.Background(), v)
		if !assert.NoError(t, err) {
			return ids
		}
		ids = append(ids, id)
	}
	return ids
}

func seq(n int) []int {
	vs := make([]int, n)
	for i := range vs {
		vs[i] = i
	}
	return vs
}

// byID indexes results by job ID, failing on a duplicate.
func byID[J, R any](t testing.TB, rs []workerpool.Result[J, R]) map[uint64]workerpool.Result[J, R] {
	t.Helper()
	m := make(map[uint64]workerpool.Result[J, R], len(rs))
	for _, r := range rs {
		_, dup := m[r.Job.ID]
		require.Falsef(t, dup, "two Results for job %d", r.Job.ID)
		m[r.Job.ID] = r
	}
	return m
}

// requireExactlyOnce checks that rs holds one Result for each of 1..n.
func requireExactlyOnce[J, R any](t testing.TB, rs []workerpool.Result[J, R], n uint64) {
	t.Helper()
	m := byID(t, rs)
	require.Len(t, m, int(n))
	for id := uint64(1); id <= n; id++ {
		if _, ok := m[id]; !ok {
			require.FailNowf(t, "missing Result", "no Result for job %d", id)
		}
	}
}

// drain is collect for tests inside a synctest bubble, where time is fake and
// a deadlock is reported by synctest itself, so no watchdog is needed.
func drain[J, R any](ch <-chan workerpool.Result[J, R]) []workerpool.Result[J, R] {
	var rs []workerpool.Result[J, R]
	for r := range ch {
		rs = append(rs, r)
	}
	return rs
}
