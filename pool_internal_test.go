package workerpool

import (
	"context"
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
