package workerpool

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
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
