package workerpool

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMayHaveRoom checks the look at the jobs buffer that lets a Submit skip
// its fast path: no room once the buffer is full, room below that, and always
// possibly room without a buffer, where a worker may be waiting.
func TestMayHaveRoom(t *testing.T) {
	fn := func(_ context.Context, v int) (int, error) { return v, nil }

	p := New(fn, WithWorkers(1), WithBufferSize(2))
	defer p.Close()
	assert.True(t, p.mayHaveRoom(), "empty buffer")
	p.jobs <- envelope[int, int]{job: Job[int]{ID: 1}} // no worker has started to take it
	assert.True(t, p.mayHaveRoom(), "one of two slots taken")
	p.jobs <- envelope[int, int]{job: Job[int]{ID: 2}}
	assert.False(t, p.mayHaveRoom(), "full buffer")

	u := New(fn, WithWorkers(1), WithBufferSize(0))
	defer u.Close()
	assert.True(t, u.mayHaveRoom(), "unbuffered: only a send can tell")
}

// checkBuffer refuses a buffer only past 1 GiB: exactly 1 GiB of slots is
// allowed, one slot more is not, and zero-size slots never count.
func TestCheckBufferBoundary(t *testing.T) {
	const slot = 32
	n := int(maxBufferBytes / slot)
	assert.NotPanics(t, func() { checkBuffer("WithBufferSize", n, slot) })
	assert.PanicsWithValue(t,
		fmt.Sprintf("workerpool: WithBufferSize(%d): a buffer of %d slots of 32 bytes would take more than 1 GiB", n+1, n+1),
		func() { checkBuffer("WithBufferSize", n+1, slot) })
	assert.NotPanics(t, func() { checkBuffer("WithBufferSize", math.MaxInt, 0) }, "struct{} slots take no memory")
}

// lockWaiterPool returns a one-worker pool with a one-job buffer whose first
// job (ID 1) runs inner once it is told to go, with its own context, and
// blocks until release is closed; a second job fills the buffer and a third
// Submit waits under the acceptance lock for room. It returns once that
// Submit holds the lock (its job is claimed), and the Submit's error comes on
// waiting.
func lockWaiterPool(t *testing.T, inner func(ctx context.Context) error, goInner, release chan struct{}) (p *Pool[int, int], innerErr, waiting chan error) {
	started := make(chan struct{})
	innerErr = make(chan error, 1)
	p = New(func(ctx context.Context, v int) (int, error) {
		if v == 1 {
			close(started)
			<-goInner
			innerErr <- inner(ctx)
			<-release
		}
		return v, nil
	}, WithWorkers(1), WithBufferSize(1))
	bg := context.Background()
	_, err := p.Submit(bg, 1)
	require.NoError(t, err)
	<-started
	_, err = p.Submit(bg, 2)
	require.NoError(t, err)
	waiting = make(chan error, 1)
	go func() {
		_, err := p.Submit(bg, 3)
		waiting <- err
	}()
	deadline := time.Now().Add(10 * time.Second) // a watchdog, not a timing
	for p.eng.claimed.Load() < 3 {
		require.True(t, time.Now().Before(deadline), "the third Submit never claimed its job")
		runtime.Gosched()
	}
	return p, innerErr, waiting
}

// endLockWaiter lets the pool of lockWaiterPool finish: job 1 ends, the
// waiting Submit goes through, and the three Results come on Close.
func endLockWaiter(t *testing.T, p *Pool[int, int], release chan struct{}, waiting chan error) {
	close(release)
	require.NoError(t, <-waiting)
	p.Close()
	n := 0
	for range p.Results() {
		n++
	}
	assert.Equal(t, 3, n)
}

// A Submit waiting under the acceptance lock on a full pool lets go of it
// for a TrySubmit, and does not take it back before the TrySubmit has had
// it: TrySubmit answers ErrQueueFull without waiting for a job to finish.
// (Without the hand-over, the Submit took the lock straight back and the
// TrySubmit waited for job 1 in every round.)
func TestWaitingSubmitLetsTrySubmitThrough(t *testing.T) {
	for round := range 100 {
		goInner, release := make(chan struct{}), make(chan struct{})
		close(goInner)
		p, innerErr, waiting := lockWaiterPool(t, func(context.Context) error { return nil }, goInner, release)
		require.NoError(t, <-innerErr)
		tried := make(chan error, 1)
		go func() {
			_, err := p.TrySubmit(4)
			tried <- err
		}()
		select {
		case err := <-tried:
			require.ErrorIsf(t, err, ErrQueueFull, "round %d", round)
		case <-time.After(10 * time.Second):
			require.FailNowf(t, "TrySubmit waited for a job to finish", "round %d", round)
		}
		endLockWaiter(t, p, release, waiting)
	}
}

// The same for a Do made from inside the only worker's job: it runs inline
// while a Submit waits under the lock for that very worker, and would
// deadlock if the Submit kept the lock.
func TestWaitingSubmitLetsAnInlineDoThrough(t *testing.T) {
	for round := range 100 {
		goInner, release := make(chan struct{}), make(chan struct{})
		var p *Pool[int, int]
		inner := func(ctx context.Context) error {
			v, err := p.Do(ctx, 5)
			if err == nil && v != 5 {
				err = fmt.Errorf("inline Do returned %d, want 5", v)
			}
			return err
		}
		p, innerErr, waiting := lockWaiterPool(t, inner, goInner, release)
		close(goInner)
		select {
		case err := <-innerErr:
			require.NoErrorf(t, err, "round %d", round)
		case <-time.After(10 * time.Second):
			require.FailNowf(t, "the inline Do waited for the Submit that waits for it", "round %d", round)
		}
		endLockWaiter(t, p, release, waiting)
	}
}

// Map past mapDirectMax workers reads the Results of its pool itself, in no
// order: forMap gives that pool the default Results buffer, whatever
// WithResultBufferSize and WithOrderedResults the caller passed.
func TestForMapResetsTheResultsOptions(t *testing.T) {
	fn := func(_ context.Context, v int) (int, error) { return v, nil }
	plain := New(fn, WithWorkers(mapDirectMax+1))
	defer plain.Close()
	forMapPool := New(fn, WithWorkers(mapDirectMax+1), WithResultBufferSize(5), WithOrderedResults(), forMap())
	defer forMapPool.Close()
	assert.Equal(t, cap(plain.results), cap(forMapPool.results))
	assert.NotEqual(t, 5, cap(forMapPool.results))
	assert.Nil(t, forMapPool.order)
}
