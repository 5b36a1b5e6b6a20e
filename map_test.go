package workerpool_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/workerpool-go/workerpool"
	"go.uber.org/goleak"
)

func TestMapReturnsOutputsInInputOrder(t *testing.T) {
	t.Parallel()
	in := seq(1000)
	out, err := workerpool.Map(context.Background(), in, func(_ context.Context, v int) (string, error) {
		return strconv.Itoa(v), nil
	}, workerpool.WithWorkers(7))
	require.NoError(t, err)
	require.Len(t, out, len(in))
	for i, s := range out {
		require.Equal(t, strconv.Itoa(i), s)
	}
}

func TestMapEmptyInput(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	out, err := workerpool.Map(context.Background(), nil, func(_ context.Context, v int) (int, error) {
		calls.Add(1)
		return v, nil
	})
	require.NoError(t, err)
	require.NotNil(t, out)
	assert.Empty(t, out)
	assert.Zero(t, calls.Load())
}

func TestMapFailsFastWithTheJobsOwnError(t *testing.T) {
	t.Parallel()
	errBad := errors.New("bad input")
	var calls atomic.Int64
	out, err := workerpool.Map(context.Background(), seq(10000), func(ctx context.Context, v int) (int, error) {
		calls.Add(1)
		if v == 10 {
			return 0, errBad
		}
		return v, ctx.Err()
	}, workerpool.WithWorkers(1), workerpool.WithBufferSize(4))
	require.ErrorIs(t, err, errBad)
	assert.Nil(t, out)
	// One worker ran 0..10 in order; after the failure at most what was
	// already queued can have been pulled, and none of it runs.
	assert.Equal(t, int64(11), calls.Load())
}

func TestMapReportsAPanic(t *testing.T) {
	t.Parallel()
	_, err := workerpool.Map(context.Background(), seq(50), func(_ context.Context, v int) (int, error) {
		if v == 20 {
			panic("twenty")
		}
		return v, nil
	})
	var pe *workerpool.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "twenty", pe.Value)
}

func TestMapReturnsCallerContextError(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	g := newGate()
	done := make(chan error, 1)
	go func() {
		_, err := workerpool.Map(ctx, seq(100), func(ctx context.Context, v int) (int, error) {
			g.started <- v
			<-ctx.Done()
			return 0, errors.New("job saw: " + ctx.Err().Error())
		}, workerpool.WithWorkers(2))
		done <- err
	}()
	g.waitStarted(t, 2)
	cancel()
	err := <-done
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, context.Canceled, err, "ctx.Err() itself, not the job's echo of it")
}

func TestMapContextAlreadyDone(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var calls atomic.Int64
	out, err := workerpool.Map(ctx, seq(100), func(_ context.Context, v int) (int, error) {
		calls.Add(1)
		return v, nil
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.Nil(t, out)
	assert.Zero(t, calls.Load())
}

func TestMapRunsUnderItsContextArgument(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "from Map")
	out, err := workerpool.Map(ctx, []int{1, 2}, func(ctx context.Context, v int) (string, error) {
		return ctx.Value(key{}).(string), ctx.Err()
	}, workerpool.WithContext(cancelled))
	require.NoError(t, err)
	assert.Equal(t, []string{"from Map", "from Map"}, out)
}

// TestMapLeavesNothingBehindAfterAnError is not parallel: it checks for
// leaked goroutines the moment Map returns.
func TestMapLeavesNothingBehindAfterAnError(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	errFirst := errors.New("first")
	_, err := workerpool.Map(context.Background(), seq(1000), func(_ context.Context, v int) (int, error) {
		if v == 0 {
			return 0, errFirst
		}
		return v, nil
	}, workerpool.WithWorkers(2), workerpool.WithResultBufferSize(0))
	require.ErrorIs(t, err, errFirst)
	// Every job Map started has returned and delivered its Result: no worker
	// is left blocked on the results channel.
	goleak.VerifyNone(t, ignore)
}

// TestMapBuffersFitTheInput checks that Map sizes its default buffers to the
// input: a pool of 200,000 workers would otherwise allocate 65,536 Result
// slots (3 MiB here) for a handful of elements.
func TestMapBuffersFitTheInput(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out, err := workerpool.Map(context.Background(), seq(10), double, workerpool.WithWorkers(200_000))
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	require.Len(t, out, 10)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "bytes allocated by a Map over 10 elements")
}
