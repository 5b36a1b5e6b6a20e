package workerpool_test

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/workerpool-go/workerpool"
)

func TestStreamProcessesEveryValue(t *testing.T) {
	t.Parallel()
	in := make(chan int)
	go func() {
		defer close(in)
		for i := range 500 {
			in <- i
		}
	}()
	rs := collect(t, workerpool.Stream(context.Background(), in, double, workerpool.WithWorkers(4)))
	requireExactlyOnce(t, rs, 500)
	for _, r := range rs {
		require.NoError(t, r.Err)
		require.Equal(t, int(r.Job.ID)-1, r.Job.Value, "IDs follow the order values were read")
		require.Equal(t, 2*r.Job.Value, r.Value)
	}
}

func TestStreamOrdered(t *testing.T) {
	t.Parallel()
	in := make(chan int, 100)
	for i := range 100 {
		in <- i
	}
	close(in)
	rs := collect(t, workerpool.Stream(context.Background(), in, double, workerpool.WithOrderedResults()))
	requireAscending(t, rs, 100)
}

func TestStreamStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		in := make(chan int) // never closed
		g := newGate()
		out := workerpool.Stream(ctx, in, g.fn, workerpool.WithWorkers(1))
		in <- 1
		in <- 2 // read and queued behind job 1
		<-g.started
		cancel()
		close(g.release)
		rs := byID(t, drain(out))
		require.Len(t, rs, 2, "every value read has its Result")
		assert.NoError(t, rs[1].Err)
		assert.ErrorIs(t, rs[2].Err, context.Canceled, "queued when ctx ended: not run")
	})
}

func TestStreamRunsUnderItsContextArgument(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	in := make(chan int, 1)
	in <- 1
	close(in)
	rs := collect(t, workerpool.Stream(context.Background(), in, double, workerpool.WithContext(cancelled)))
	require.Len(t, rs, 1)
	assert.NoError(t, rs[0].Err)
}
